"""The ``neglabel`` command line: ``fetch``, ``train``, ``evaluate`` and helpers.

Every command takes ``--profile`` (default ``emoji-tiny``); errors print one clear line and exit
with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Sequence

from . import __version__
from .files import check_cache_root
from .profiles import DEFAULT_PROFILE, ProfileError, available_profiles, load_profile


def _profile(args: argparse.Namespace):
    """The profile named by ``--profile``, with ``--overrides`` and ``--data-root`` applied."""
    try:
        overrides = json.loads(args.overrides) if getattr(args, "overrides", "") else {}
    except json.JSONDecodeError as exc:
        raise ProfileError(f"--overrides is not valid JSON ({exc}); expected an object such as "
                           '{"params": {"eta": 0.1}}') from None
    if not isinstance(overrides, dict):
        raise ProfileError(f"--overrides must be a JSON object such as {{\"params\": {{\"eta\": 0.1}}}}, got "
                           f"{type(overrides).__name__} {args.overrides}")
    if getattr(args, "data_root", None):
        kind = load_profile(args.profile).benchmark.get("kind")
        if kind not in ("imagenet", "folders"):
            raise ProfileError(f"--data-root applies to profiles that read local data (benchmark kinds 'imagenet', 'folders'); "
                               f"profile {args.profile!r} has kind {kind!r}, whose data is fetched and cached by itself")
        benchmark = overrides.get("benchmark", {})
        overrides = {**overrides, "benchmark": {**(benchmark if isinstance(benchmark, dict) else {}), "root": args.data_root}}
    profile = load_profile(args.profile, overrides)
    if profile.data.get("methods"):  # named methods are checked here, before the pipeline (and its models) is imported
        from .ood import methods as registry

        registry.check_methods(profile.data["methods"])
    return profile, overrides


def _cmd_fetch(args: argparse.Namespace) -> int:
    profile = _profile(args)[0]
    from .pipeline import prepare_data

    print(prepare_data(profile, progress=not args.quiet))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .models import alignment
    from .models.emoji_training import PACKAGED, package_weights
    from .pipeline import trained_checkpoint

    profile = _profile(args)[0]
    pretrained = profile.model.get("pretrained")
    if pretrained not in ("@train", alignment.TAG):
        print(f"profile {profile.name!r} uses pretrained weights ({pretrained}); nothing to train")
        return 0
    if pretrained == alignment.TAG:  # the projection of a pinned backbone, aligned here
        path = alignment.aligned_checkpoint(profile, progress=not args.quiet, force=args.force)
        package_weights = alignment.package_weights
    else:
        path = trained_checkpoint(profile, progress=not args.quiet, force=args.force)
    manifest = json.loads(path.with_suffix(".json").read_text())
    print(f"checkpoint {path}\nID top-1 on the evaluation styles: {100 * manifest['id_top1_eval_styles']:.1f}% "
          f"({manifest['steps']} steps, {manifest['wall_s']:.0f} s)")
    packaged = PACKAGED / f"{path.stem}.json"
    if "installed_from" in manifest:
        print(f"installed from the packaged weights {packaged.name} (train again with --force)")
    elif packaged.is_file():
        same = json.loads(packaged.read_text())["state_sha256"] == manifest["state_sha256"]
        print(f"the packaged weights {packaged.name}: {'bit-identical to this run' if same else 'DIFFER from this run'}")
    if args.package:
        print(f"packaged: {package_weights(path)}")
    return 0


def _format_table(result: dict) -> str:
    methods = list(result["results"]["average"])
    lines = [f"profile {result['profile']}: {result['id_classes']} ID classes, {result['id_images']} ID images, "
             f"ID top-1 {100 * result['id_top1']:.1f}%",
             f"M={result['params']['m']}, eta={result['params']['eta']}, tau={result['params']['tau']}, "
             f"n_groups={result['params']['n_groups']}; corpus {result['corpus']['name']} ({result['corpus']['size']:,})",
             "",
             f"{'OOD set':<20}" + "".join(f"{m + ' AUROC/FPR95':>24}" for m in methods)]
    for name, row in result["results"].items():
        cells = "".join(f"{row[m]['auroc']:>14.2f} / {row[m]['fpr95']:>6.2f}" for m in methods)
        lines.append(f"{name:<20}{cells}")
    lines += ["", f"average: the mean over the {len(result['ood_images'])} OOD sets (as the paper's tables); pooled: all "
              f"OOD images as one set (weighted by set size). FPR95 rule: {result['params']['fpr_rule']}."]
    return "\n".join(lines)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    profile = _profile(args)[0]  # checked before the pipeline's imports (seconds)
    from .pipeline import evaluate

    result = evaluate(profile, progress=not args.quiet and not args.json)
    print(json.dumps(result, indent=1) if args.json else _format_table(result))
    return 0


def _cmd_embed_corpus(args: argparse.Namespace) -> int:
    profile = _profile(args)[0]
    from .pipeline import embed_corpus

    emb = embed_corpus(profile, progress=not args.quiet)
    print(f"corpus embeddings ready: {emb.shape[0]:,} x {emb.shape[1]}")
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    root = Path(args.root).resolve()
    if not (root / "_config.yml").is_file():
        raise FileNotFoundError(f"{root} holds no _config.yml; run from the repository root or pass --root")
    start = time.perf_counter()
    profile, overrides = _profile(args)  # checked before the book's and the pipeline's imports
    from .pipeline import embed_profile
    from .site import build as book
    from .site.browser_check import check_book

    emb = embed_profile(profile, progress=not args.quiet)  # data, model, every embedding: cached before any notebook runs
    extra = json.loads(args.notebook_params) if args.notebook_params else {}
    images = {"ID": len(emb.id_emb), **{k: len(v) for k, v in {**emb.ood_emb, **emb.shift_emb}.items()}}
    context = {"profile": profile.data, "model": emb.model_identity, "images": images, "code": book.code_fingerprint(root)}
    status = book.execute_notebooks(args.profile, root / "book", source_dir=root / "notebooks", overrides=overrides,
                                    extra=extra, notebooks=args.notebooks or book.NOTEBOOKS, context=context, force=args.force,
                                    jobs=args.jobs or book.default_jobs(),
                                    cell_timeout=args.cell_timeout or book.CELL_TIMEOUT_S)
    counts = Counter(status.values())
    print(f"notebooks: {', '.join(f'{n} {state}' for state, n in counts.items())} "
          f"({time.perf_counter() - start:.0f} s so far)")
    html = book.build_html(root)
    print(f"built the HTML book in {html}")
    if not args.no_check:
        reports = check_book(html, root / "book" / "_build" / "screenshots")
        print(f"browser check passed: {len(reports)} pages, {sum(r.images for r in reports)} images, "
              f"{sum(r.math for r in reports)} formulas; screenshots in {root / 'book' / '_build' / 'screenshots'}")
    print(f"open {html / 'index.html'}  ({time.perf_counter() - start:.0f} s in all)")
    return 0


def _cmd_check_html(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .site.browser_check import check_book

    reports = check_book(Path(args.html), Path(args.screenshots))
    print(f"browser check passed: {len(reports)} pages")
    return 0


def _cmd_wordnet(args: argparse.Namespace) -> int:
    from .analysis.corpora import wordnet_counts

    print(json.dumps(wordnet_counts(args.parts, official_exclusions=args.official_exclusions), indent=1))
    return 0


def _cmd_compare_list(args: argparse.Namespace) -> int:
    from .analysis.corpora import compare_with_list

    table, reason = compare_with_list(_profile(args)[0], args.list, with_mining=not args.no_mining, progress=not args.quiet)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    if reason:
        print(f"\nno Jaccard overlap of the mined labels: {reason}")
    return 0


def _named_folders(values: Sequence[str], flag: str) -> dict[str, str]:
    out = {}
    for value in values or ():
        name, sep, folder = value.partition("=")
        if not sep or not name or not folder:
            raise ValueError(f"{flag} {value!r}: expected NAME=FOLDER, e.g. {flag} textures=data/ood/textures")
        if name in out:
            raise ValueError(f"{flag} {name!r} is given twice; expected one folder per set name")
        out[name] = folder
    return out


def _cmd_init_profile(args: argparse.Namespace) -> int:
    """A folders profile from the reader's folders: checked (schema and the folders themselves),
    with what was found counted on stderr; the JSON on stdout or in ``--output``."""
    import os
    import tempfile
    from pathlib import Path

    from .data.benchmarks import folders_benchmark_data
    from .files import atomic_write_text

    ood, shift = _named_folders(args.ood, "--ood"), _named_folders(args.shift, "--shift")
    if not ood:
        raise ValueError("init-profile needs at least one --ood NAME=FOLDER")
    folders = [Path(args.id), *map(Path, ood.values()), *map(Path, shift.values())]
    absolute = [f.expanduser().resolve() for f in folders]
    root = Path(os.path.commonpath([str(f.parent) for f in absolute]))
    here = Path(args.output).expanduser().resolve().parent if args.output else None

    def rel(folder: Path) -> str:
        return os.path.relpath(folder.expanduser().resolve(), root)

    benchmark = {"kind": "folders", "root": os.path.relpath(root, here) if here else str(root),
                 "id": {"path": rel(Path(args.id)), **({"names": os.path.relpath(Path(args.names).resolve(), root)}
                                                     if args.names else {})},
                 "ood": {name: {"path": rel(Path(f))} for name, f in ood.items()}}
    if shift:
        benchmark["shift"] = {name: {"path": rel(Path(f))} for name, f in shift.items()}
    if args.near:
        benchmark["near"] = list(args.near)
    extends, extends_file = args.extends, None
    if Path(args.extends).suffix == ".json":  # a profile file: relative to where the user stands
        extends_file = Path(args.extends).expanduser().resolve()
        if not extends_file.is_file():
            raise ProfileError(f"--extends {args.extends!r}: no profile file at {extends_file}; expected a built-in "
                               f"profile (one of {available_profiles()}) or a JSON file")
        extends = os.path.relpath(extends_file, here) if here else str(extends_file)
    data = {"name": args.name or Path(args.id).resolve().parent.name or "my-benchmark",
            "description": f"a folders benchmark made by neglabel init-profile from {root}",
            "extends": extends, "benchmark": benchmark}
    if args.model:
        data["model"] = {"name": args.model, "pretrained": args.pretrained}
    text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
    with tempfile.TemporaryDirectory() as tmp:  # check it as it will be read: from its own folder
        check = Path(tmp) / "profile.json"
        check.write_text(json.dumps({**data, "benchmark": {**benchmark, "root": str(root)},
                                     "extends": str(extends_file or extends)}), "utf-8")
        try:
            profile = load_profile(check)
        except ProfileError as exc:  # name what the user wrote, not the temporary file it was checked as
            what = f"the profile for {args.output}" if args.output else "the profile init-profile writes"
            raise ProfileError(str(exc).replace(f"profile {check}", what).replace(str(check), what)) from None
    found = folders_benchmark_data(profile)
    sets = ", ".join(f"{n} {len(f):,}" for n, f in found.ood.items())
    print(f"found {len(found.class_names)} ID classes ({len(found.id_images):,} images); OOD sets: {sets}"
          + (f"; shift sets: {', '.join(f'{n} {len(f):,}' for n, f in found.shift.items())}" if found.shift else ""),
          file=sys.stderr)
    if args.output:
        atomic_write_text(args.output, text)
        print(f"wrote {args.output}: run `neglabel evaluate --profile {args.output}` or "
              f"`make book PROFILE={args.output}`", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from .files import cache_root

    print(cache_root())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neglabel", description="Zero-shot OOD detection with negative labels.")
    parser.add_argument("--version", action="version", version=f"neglabel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, func, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.add_argument("--profile", default=DEFAULT_PROFILE, help=f"one of {available_profiles()} or a JSON file")
        p.add_argument("--data-root", help="the folder that holds a local benchmark's data (paper profile: imagenet/, ood/)")
        p.add_argument("--overrides", default="", help='profile overrides as JSON, e.g. {"params": {"eta": 0.1}}')
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.set_defaults(func=func)
        return p

    command("fetch", _cmd_fetch, "fetch and prepare the profile's benchmark data (emoji: npm packages)")
    train = command("train", _cmd_train, "train the embedded model's image tower, or align a backbone's projection (cached)")
    train.add_argument("--force", action="store_true", help="train again even if the checkpoint exists")
    train.add_argument("--package", action="store_true",
                       help="write the run's weights as the packaged ones (neglabel_core/weights/; developers)")
    evaluate = command("evaluate", _cmd_evaluate, "ID top-1 and the OOD table of every method")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    command("embed-corpus", _cmd_embed_corpus, "embed the profile's candidate corpus (cached; text tower only)")
    bk = command("book", _cmd_book, "execute the notebooks with a profile, build the HTML book, check it in a browser")
    bk.add_argument("--root", default=".", help="the repository root (holds _config.yml, notebooks/, book/)")
    bk.add_argument("--force", action="store_true", help="execute every notebook even where its executed copy is current")
    bk.add_argument("--notebook-params", default="", help='extra parameters per notebook as JSON: {"03_corpus_ablation": {...}}')
    bk.add_argument("--notebooks", nargs="*", help="run only these notebooks (names without .ipynb)")
    bk.add_argument("--no-check", action="store_true", help="skip the browser check")
    bk.add_argument("--jobs", type=int, default=0, help="notebooks run at once (default: one per 2 cores)")
    bk.add_argument("--cell-timeout", type=int, default=0,
                    help="seconds a notebook cell may run before the build fails naming it (default: an hour)")
    cl = command("compare-list", _cmd_compare_list, "compare a released negative-label list (e.g. the official "
                 "ImageNet-1k one) with the profile's corpus and mined labels")
    cl.add_argument("list", help="the list file: one label per line in its prompt ('the nice {}', 'This is a {} photo')")
    cl.add_argument("--no-mining", action="store_true", help="only the corpus coverage (no model needed)")
    ch = sub.add_parser("check-html", help="open every page of a built book in headless Chromium and check it")
    ch.add_argument("html", help="the built HTML folder")
    ch.add_argument("--screenshots", default="book/_build/screenshots")
    ch.set_defaults(func=_cmd_check_html)
    wn = sub.add_parser("wordnet", help="count the WordNet candidate corpus")
    wn.add_argument("--parts", nargs="+", default=["noun", "adj"], choices=["noun", "adj"])
    wn.add_argument("--official-exclusions", action="store_true", help="leave out noun.animal and noun.food")
    wn.set_defaults(func=_cmd_wordnet)
    ip = sub.add_parser("init-profile", help="write a profile for your own folders of images (kind 'folders'), checked")
    ip.add_argument("--id", required=True, help="the ID folder: one sub-folder per class")
    ip.add_argument("--ood", action="append", default=[], metavar="NAME=FOLDER", help="an OOD set (repeat for more)")
    ip.add_argument("--shift", action="append", default=[], metavar="NAME=FOLDER",
                    help="the ID classes in another domain (the same class sub-folders; repeat for more)")
    ip.add_argument("--near", nargs="*", default=[], metavar="NAME", help="the OOD sets that are near OOD")
    ip.add_argument("--names", help="class names: folder<TAB>name per line, or a CSV folder,name")
    ip.add_argument("--name", help="the profile's name (default: the ID folder's parent folder)")
    ip.add_argument("--model", help="an open_clip model name (default: the embedded model of --extends)")
    ip.add_argument("--pretrained", help="an open_clip pretrained tag or a local weights file (with --model)")
    ip.add_argument("--extends", default=DEFAULT_PROFILE, help="the profile whose model, prompts, corpus and "
                    "parameters it starts from (default: %(default)s)")
    ip.add_argument("--output", help="write the profile here (paths relative to its folder) instead of stdout")
    ip.set_defaults(func=_cmd_init_profile)
    cache = sub.add_parser("cache-dir", help="print the cache folder ($NEGLABEL_CACHE)")
    cache.set_defaults(func=_cmd_cache)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if not getattr(args, "quiet", False) else logging.WARNING,
                        format="neglabel: %(message)s")
    try:
        if args.func is not _cmd_check_html:
            check_cache_root()
        status = args.func(args)
        sys.stdout.flush()  # a reader that has gone (`| head -1`) shows here, inside the handler below
        return status
    except BrokenPipeError:
        # The reader stopped reading, as `head` does: quiet, as Unix tools are. Point stdout at
        # /dev/null so that the interpreter's own flush at exit raises nothing either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, FileNotFoundError, RuntimeError, OSError) as exc:
        print(f"neglabel: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neglabel: interrupted", file=sys.stderr)  # partial files were removed on the way out
        return 130


if __name__ == "__main__":
    sys.exit(main())
