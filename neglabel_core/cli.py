"""The ``neglabel`` command line. Subcommands that need the benchmark and profiles
(fetch, train, evaluate) arrive with the embedded default."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence

from . import __version__


def _cmd_wordnet(args: argparse.Namespace) -> int:
    from .corpus import OFFICIAL_EXCLUDED_LEXNAMES, wordnet_corpus

    excluded = OFFICIAL_EXCLUDED_LEXNAMES if args.official_exclusions else ()
    corpus = wordnet_corpus(tuple(args.parts), exclude_lexnames=excluded)
    print(json.dumps({"name": corpus.name, "size": len(corpus), "by_pos": Counter(corpus.pos)}, indent=1))
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from .files import cache_root

    print(cache_root())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neglabel", description=__doc__)
    parser.add_argument("--version", action="version", version=f"neglabel {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    wn = sub.add_parser("wordnet", help="count the WordNet candidate corpus")
    wn.add_argument("--parts", nargs="+", default=["noun", "adj"], choices=["noun", "adj"])
    wn.add_argument("--official-exclusions", action="store_true", help="leave out noun.animal and noun.food")
    wn.set_defaults(func=_cmd_wordnet)
    cache = sub.add_parser("cache-dir", help="print the cache folder ($NEGLABEL_CACHE)")
    cache.set_defaults(func=_cmd_cache)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"neglabel: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
