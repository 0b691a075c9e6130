"""Profiles: configs as data. A profile names the model (and checkpoint), the benchmark (ID, OOD
and domain-shift data), the prompts, the candidate corpus and the default parameters. Switching
profile is one parameter everywhere (CLI, notebooks, ``make book PROFILE=...``).

Built-in profiles are the JSON files in ``neglabel_core/profiles/``; a path to a JSON file of the
same shape works too.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROFILE_DIR = Path(__file__).parent / "profiles"
DEFAULT_PROFILE = "emoji-tiny"
REQUIRED_KEYS = ("name", "model", "benchmark", "id_templates", "corpus", "params")


class ProfileError(ValueError):
    """An unknown or malformed profile."""


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.json"))


# Values replaced whole by an override, never merged key by key: a split or a prompt set is one thing.
ATOMIC_KEYS = frozenset({"split", "prompts"})


def _merge(base: dict, overrides: Mapping) -> dict:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict) and key not in ATOMIC_KEYS:
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass(frozen=True)
class Profile:
    """A profile's settings (``data``, a JSON-able dict) with typed accessors."""

    data: dict[str, Any]

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def model(self) -> dict[str, Any]:
        return self.data["model"]

    @property
    def benchmark(self) -> dict[str, Any]:
        return self.data["benchmark"]

    @property
    def params(self) -> dict[str, Any]:
        return self.data["params"]

    @property
    def corpus(self) -> dict[str, Any]:
        return self.data["corpus"]

    @property
    def id_templates(self) -> list[str]:
        return list(self.data["id_templates"])

    def with_overrides(self, overrides: Mapping[str, Any]) -> Profile:
        """A copy with nested keys replaced, e.g. ``{"params": {"eta": 0.1}}``; a ``split`` or
        ``prompts`` value replaces the old one whole."""
        return Profile(_merge(self.data, overrides))

    def to_json(self) -> str:
        return json.dumps(self.data, indent=1, sort_keys=True, ensure_ascii=False)


def load_profile(name_or_path: str | Path = DEFAULT_PROFILE, overrides: Mapping[str, Any] | None = None) -> Profile:
    """A built-in profile by name, or a profile JSON file by path, with optional overrides."""
    path = Path(name_or_path)
    if not (path.suffix == ".json" and path.is_file()):
        path = PROFILE_DIR / f"{name_or_path}.json"
        if not path.is_file():
            raise ProfileError(f"unknown profile {str(name_or_path)!r}; expected one of {available_profiles()} or a JSON file")
    try:
        data = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise ProfileError(f"profile file {path} is not valid JSON: {exc}") from None
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ProfileError(f"profile {path} lacks {missing}; expected keys {list(REQUIRED_KEYS)}")
    profile = Profile(data)
    return profile.with_overrides(overrides) if overrides else profile
