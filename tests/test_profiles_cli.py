import json
import subprocess
import sys
import time

import pytest

from neglabel_core import cli
from neglabel_core.profiles import ProfileError, available_profiles, load_profile


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
