import json
import subprocess
import sys
import time

import pytest

from neglabel_core import cli
from neglabel_core.profiles import ProfileError, available_profiles, load_profile, profile_schema


def test_builtin_profiles_load():
    assert {"emoji-tiny", "emoji-clip"} <= set(available_profiles())
    tiny = load_profile("emoji-tiny")
    assert tiny.model == {"name": "emoji-tiny-rn16", "pretrained": "@train"}
    assert tiny.params["m"] == 10000 and tiny.params["eta"] == 0.05 and tiny.params["n_groups"] == 100
    assert tiny.benchmark["eval_styles"] == ["apple", "facebook"]
    assert not set(tiny.benchmark["train_styles"]) & set(tiny.benchmark["eval_styles"])  # never tune on evaluation styles


def test_overrides_are_deep_and_leave_the_original():
    base = load_profile("emoji-tiny")
    changed = base.with_overrides({"params": {"eta": 0.2}})
    assert changed.params["eta"] == 0.2 and changed.params["m"] == base.params["m"] and base.params["eta"] == 0.05
    split = {"id": ["Food & Drink"], "ood": {"sym": ["Symbols"]}}
    assert base.with_overrides({"benchmark": {"split": split}}).benchmark["split"] == split


def test_profile_from_file_and_errors(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(load_profile("emoji-tiny").with_overrides({"name": "mine"}).to_json())
    assert load_profile(str(path)).name == "mine"
    with pytest.raises(ProfileError, match=r"^unknown profile 'nope'; expected one of \["):
        load_profile("nope")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x"}))
    with pytest.raises(ProfileError, match=r"lacks \['model', 'benchmark', 'id_templates', 'corpus', 'params'\]"):
        load_profile(str(bad))


def test_cli_unknown_profile_exits_2_without_traceback(capsys):
    assert cli.main(["evaluate", "--profile", "nope", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neglabel: error: unknown profile 'nope'") and "Traceback" not in err


def test_emoji_clip_fails_fast_offline(monkeypatch, tmp_path):
    """The real console script: no weights here, so a clear one-line error in seconds, exit 2."""
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin"}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "neglabel_core.cli", "evaluate", "--profile", "emoji-clip", "--quiet"],
                          capture_output=True, text=True, env={**env, "NEGLABEL_CACHE": str(tmp_path / "c")})
    assert done.returncode == 2
    assert "weights for 'ViT-B-32' / 'openai'" in done.stderr and "Traceback" not in done.stderr
    assert time.monotonic() - start < 60


# The list an unknown parameter's error names: the schema's, which the registry's methods fill
# (:func:`test_the_schema_holds_every_registry_parameter_and_no_other`): no hand-kept list here.
ALLOWED_PARAMS = str(sorted(profile_schema()["properties"]["params"]["properties"]))
# Parameters the pipeline reads for every method (NegMining's bank size, its rule, the FPR95 rule)
PIPELINE_PARAMS = {"m", "pos_fraction", "fpr_rule"}


@pytest.mark.parametrize("overrides, problem", [
    ('{"params": {"etaa": 0.1}}', f"params.etaa: unknown key; expected one of {ALLOWED_PARAMS}"),
    ('{"parms": {"eta": 0.1}}', "parms: unknown key; expected one of ['benchmark', 'corpus', 'description', "
                                "'graded_shifts', 'id_templates', 'methods', 'model', 'name', 'params', 'train']"),
    ('{"benchmark": 5}', "benchmark: 5 is of type int; expected object"),
    ('{"params": 5}', "params: 5 is of type int; expected object"),
    ('{"model": "str"}', "model: 'str' is of type str; expected object"),
    ('{"params": {"tau": "0.01"}}', "params.tau: '0.01' is of type str; expected number"),
    ('{"params": {"eta": "0.1"}}', "params.eta: '0.1' is of type str; expected number"),
    ('{"params": {"m": 0}}', "params.m: 0 is out of range; expected 1 <= value <= 10000000"),
    ('{"params": {"m": 1000000000}}', "params.m: 1000000000 is out of range; expected 1 <= value <= 10000000"),
    ('{"params": {"adaneg_memory_length": 1000000}}',
     "params.adaneg_memory_length: 1000000 is out of range; expected 2 <= value <= 100"),
    ('{"params": {"adaneg_n_groups": 1000000000}}',
     "params.adaneg_n_groups: 1000000000 is out of range; expected 1 <= value <= 1000000"),
    ('{"params": {"tau": 1e308}}', "params.tau: 1e+308 is out of range; expected 0.001 <= value <= 100"),
    ('{"params": {"mcm_tau": 1e-06}}', "params.mcm_tau: 1e-06 is out of range; expected 0.001 <= value <= 100"),
    ('{"params": {"energy_tau": 1e300}}', "params.energy_tau: 1e+300 is out of range; expected 0.001 <= value <= 100"),
    ('{"id_templates": ["{0:>300000000}"]}', "id_templates.0: '{0:>300000000}' is not allowed; expected a prompt with one "
     "{} where the word goes (no other replacement field; a literal brace is written {{ or }}), at most 200 characters"),
    ('{"id_templates": ["a {0.__class__} of {}"]}', "id_templates.0: 'a {0.__class__} of {}' is not allowed; expected a "
     "prompt with one {} where the word goes (no other replacement field; a literal brace is written {{ or }}), at most "
     "200 characters"),
    ('{"params": {"eta": 1.0}}', "params.eta: 1.0 is out of range; expected 0 < value < 1"),
    ('{"params": {"fpr_rule": "nearest"}}', "params.fpr_rule: 'nearest' is not allowed; expected one of ['closest', 'at_least']"),
    ('{"params": {"m": 50}}', "params.n_groups: 100 is more than params.m (50); expected n_groups <= m"),
    ('{"benchmark": {"split": {"id": ["Food & Drink"], "ood": {"average": ["Symbols"]}}}}',
     "benchmark.split.ood: set name 'average' is reserved for the summary rows ['average', 'pooled']; rename the set"),
    ('{"train": {"epochs": 1.5}}', "train.epochs: 1.5 is of type float; expected integer"),
])
def test_bad_overrides_are_one_error_before_any_work(overrides, problem, capsys, monkeypatch):
    from neglabel_core.pipeline import scoring

    monkeypatch.setattr(scoring, "embed_profile", lambda *a, **k: pytest.fail("work started before validation"))
    assert cli.main(["evaluate", "--quiet", "--overrides", overrides]) == 2
    err = capsys.readouterr().err
    source = f"profile 'emoji-tiny' with overrides {json.dumps(json.loads(overrides))}"
    assert err == f"neglabel: error: {source} is invalid:\n  - {problem}\n"


@pytest.mark.parametrize("overrides, message", [
    ("[1,2]", "--overrides must be a JSON object such as {\"params\": {\"eta\": 0.1}}, got list [1,2]"),
    ('"x"', "--overrides must be a JSON object such as {\"params\": {\"eta\": 0.1}}, got str \"x\""),
    ("{eta: 1}", "--overrides is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1)); "
                 "expected an object such as {\"params\": {\"eta\": 0.1}}"),
])
def test_overrides_must_be_a_json_object(overrides, message, capsys):
    assert cli.main(["evaluate", "--quiet", "--overrides", overrides]) == 2
    assert capsys.readouterr().err == f"neglabel: error: {message}\n"


def test_data_root_with_a_fetching_profile_is_an_error(capsys, tmp_path):
    assert cli.main(["evaluate", "--quiet", "--data-root", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "neglabel: error: --data-root applies to profiles that read local data (benchmark kinds 'imagenet', 'folders'); profile "
        "'emoji-tiny' has kind 'emoji', whose data is fetched and cached by itself\n")


def test_the_schema_holds_every_registry_parameter_and_no_other():
    """A method is added by its registry entry and its parameters' definitions in the schema; no
    other list names them. A parameter no method and no pipeline step reads is refused."""
    from neglabel_core.ood import methods as registry

    read = {p for m in registry.REGISTRY.values() for p in m.params} | {
        m.bank_param for m in registry.REGISTRY.values() if m.bank_param} | PIPELINE_PARAMS
    assert set(profile_schema()["properties"]["params"]["properties"]) == read
    assert "'negrefine_mm_weight'" in ALLOWED_PARAMS and "'eta'" in ALLOWED_PARAMS


def test_every_builtin_profile_passes_the_schema_and_every_key_is_documented():
    from neglabel_core.profiles import validate_profile

    for name in available_profiles():
        validate_profile(load_profile(name).data)
    params = profile_schema()["properties"]["params"]["properties"]
    assert {k for name in available_profiles() for k in load_profile(name).params} <= set(params)
    with pytest.raises(ProfileError, match=r"^profile must be a JSON object, got list$"):
        validate_profile([1])


def test_a_checked_profile_is_not_checked_again_and_its_errors_stay_exact(isolated_cache, monkeypatch):
    """The schema check's answer is kept: the same profile again (another process, same cache) does
    not import jsonschema; a bad value gives the same message from the kept answer; a read-only
    cache still checks."""
    import os
    import subprocess
    import sys

    from neglabel_core import profiles

    env = {**os.environ, "NEGLABEL_CACHE": str(isolated_cache)}
    probe = ("import sys; from neglabel_core.profiles import load_profile; load_profile('emoji-tiny', {'params': {'m': 5000}}); "
             "print('jsonschema' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    assert runs == ["True\n", "False\n"]
    bad = {"params": {"eta": 1.5}}
    expected = r"params\.eta: 1\.5 is out of range; expected 0 < value < 1"
    with pytest.raises(ProfileError, match=expected):
        load_profile("emoji-tiny", bad)
    calls = []
    monkeypatch.setattr(profiles, "_schema_problems", lambda data: calls.append(data) or ["never used"])
    with pytest.raises(ProfileError, match=expected):  # the kept answer, not a new check
        load_profile("emoji-tiny", bad)
    assert calls == []
    monkeypatch.undo()
    from neglabel_core import files

    def read_only(path, text):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(files, "atomic_write_text", read_only)
    with pytest.raises(ProfileError, match=r"params\.eta: 2\.5 is out of range"):
        load_profile("emoji-tiny", {"params": {"eta": 2.5}})  # new: checked, not written, no error of its own
    assert load_profile("emoji-tiny", {"params": {"m": 4000}}).params["m"] == 4000


def test_an_unknown_method_is_refused_before_the_pipeline_is_imported(isolated_cache):
    import os
    import subprocess
    import sys

    probe = ("import sys; from neglabel_core import cli; "
             "rc = cli.main(['evaluate', '--quiet', '--overrides', '{\"methods\": [\"neglabel\", \"odin\"]}']); "
             "print(rc, 'neglabel_core.pipeline' in sys.modules, 'open_clip' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "NEGLABEL_CACHE": str(isolated_cache)},
                         capture_output=True, text=True, timeout=120)
    assert run.stdout == "2 False False\n", run.stderr
    assert "unknown method(s) ['odin']; expected some of ['neglabel', 'mcm', " in run.stderr


def test_a_reader_that_stops_reading_ends_the_command_quietly():
    import subprocess
    import sys

    # The pipe's reading end is closed before the command writes: its first write meets a gone reader.
    child = subprocess.Popen([sys.executable, "-m", "neglabel_core.cli", "cache-dir"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    child.stdout.close()
    _, err = child.communicate(timeout=120)
    assert (child.returncode, err.decode()) == (0, "")


def test_m_larger_than_the_corpus_is_refused_before_the_model_loads(capsys, monkeypatch):
    import re

    from neglabel_core.pipeline import embedded

    from .test_end_to_end import REAL_DATA

    monkeypatch.setenv("NEGLABEL_DATA", REAL_DATA)  # the prepared emoji data, not a fresh fetch
    monkeypatch.setattr(embedded, "ensure_model", lambda *a, **k: pytest.fail("the model loaded before the check"))
    overrides = {"params": {"m": 9_000_000}, "corpus": {"sample": 500}}
    assert cli.main(["evaluate", "--quiet", "--overrides", json.dumps(overrides)]) == 2
    assert re.fullmatch(r"neglabel: error: params\.m=9,000,000 is larger than the corpus 'wordnet-noun\+adj-sample500' "
                        r"\(500 candidates\); expected at most 500\n", capsys.readouterr().err)
