"""Profiles: configs as data. A profile holds, as the schema's top-level keys: ``name`` and
``description``; ``model`` (an open_clip name and its weights: a pretrained tag, ``@train`` for
the embedded model trained here, ``@align`` for a frozen backbone with a projection aligned here);
``benchmark`` (the ID, OOD and domain-shift data); ``id_templates`` (the prompts); ``corpus`` (the
candidate words and their prompts); ``params`` (every method's defaults); ``methods`` (those its
tables show); ``graded_shifts`` (chapter 05's graded study); ``train`` (the embedded model's
training run). Switching profile is one parameter everywhere (CLI, notebooks, ``make book PROFILE=...``).

Built-in profiles are the JSON files in ``neglabel_core/profiles/builtin/``; a path to a JSON file
of the same shape works too (``neglabel init-profile`` writes one for a reader's own folders). Their
format is defined once, in ``schema.json`` beside this module, and checked before any work.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..files import kept_json

PROFILE_DIR = Path(__file__).parent / "builtin"
SCHEMA_PATH = Path(__file__).parent / "schema.json"
DEFAULT_PROFILE = "emoji-tiny"
REQUIRED_KEYS = ("name", "model", "benchmark", "id_templates", "corpus", "params")


class ProfileError(ValueError):
    """An unknown or malformed profile."""


@lru_cache(maxsize=1)
def profile_schema() -> dict[str, Any]:
    """The JSON Schema of a profile (``neglabel_core/profiles/schema.json``): every key, its type,
    its allowed values or range. The one place the profile format is defined."""
    return json.loads(SCHEMA_PATH.read_text("utf-8"))


def _key_path(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path) or "(the profile)"


def _describe(error: Any) -> list[str]:
    """One line per problem: the key path, what is wrong, what is allowed."""
    where = _key_path(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return [f"{_key_path([*error.absolute_path, key])}: unknown key; expected one of {allowed}" for key in extra]
    if error.validator == "enum":
        return [f"{where}: {error.instance!r} is not allowed; expected one of {error.validator_value}"]
    if error.validator == "type":
        return [f"{where}: {error.instance!r} is of type {type(error.instance).__name__}; expected "
                f"{' or '.join(error.validator_value) if isinstance(error.validator_value, list) else error.validator_value}"]
    if "propertyNames" in error.schema_path:
        return [f"{where}: set name {error.instance!r} is reserved for the summary rows ['average', 'pooled']; rename the set"]
    if error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return [f"{where}: {error.instance!r} is out of range; expected {_range(error.schema)}"]
    if error.validator in ("pattern", "maxLength") and "description" in error.schema:
        shown = error.instance if len(error.instance) <= 60 else error.instance[:57] + "..."
        return [f"{where}: {shown!r} is not allowed; expected {error.schema['description']}"
                + (f", at most {error.schema['maxLength']} characters" if "maxLength" in error.schema else "")]
    return [f"{where}: {error.message}"]


def _range(schema: Mapping[str, Any]) -> str:
    """A property's allowed range as text, e.g. ``0 < value < 1`` or ``value >= 1``."""
    low = next(((f"{schema[k]} {op} ", f"{op.replace('<', '>')} {schema[k]}") for k, op in
                (("exclusiveMinimum", "<"), ("minimum", "<=")) if k in schema), None)
    high = next((f" {op} {schema[k]}" for k, op in (("exclusiveMaximum", "<"), ("maximum", "<=")) if k in schema), "")
    if low is None:
        return f"value{high}"
    return f"{low[0]}value{high}" if high else f"value {low[1]}"


def _validator_class():
    """Draft 2020-12 with one change: an integer is a JSON integer, never a float such as 1000.0
    (the schema's integers are counts and seeds, used as Python ints)."""
    from jsonschema import Draft202012Validator, validators

    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool))
    return validators.extend(Draft202012Validator, type_checker=checker)


def _schema_problems(data: dict) -> list[str]:
    """One line per problem the schema finds in ``data`` (:func:`_describe`), in key-path order."""
    validator = _validator_class()(profile_schema())
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        if error.validator in ("if", "allOf"):
            continue  # their sub-errors are reported themselves
        problems += _describe(error)
    return problems


def _check_payload(data: dict) -> dict[str, Any]:
    """What the schema check of ``data`` is a function of: the profile, the schema, this module's
    source and jsonschema's release. Its answer is kept (``<cache>/profile-checks``), so a
    notebook's kernel or a CLI call on a profile checked before does not import jsonschema (a
    second and more of start-up)."""
    from importlib.metadata import version

    return {"profile": data, "schema": hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest(),
            "code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(), "jsonschema": version("jsonschema")}


def validate_profile(data: Any, source: str = "profile") -> None:
    """Check a profile (after overrides) against :func:`profile_schema` and the rules across
    keys, before any work: unknown keys, wrong types and out-of-range values are one
    :class:`ProfileError` naming each key path and what is allowed."""
    if not isinstance(data, dict):
        raise ProfileError(f"{source} must be a JSON object, got {type(data).__name__}")
    problems = list(kept_json("profile-checks", _check_payload(data), lambda: _schema_problems(data), best_effort=True))
    params = data.get("params")
    if not problems and isinstance(params, dict) and params.get("pos_fraction") is None:
        if params["n_groups"] > params["m"]:
            problems.append(f"params.n_groups: {params['n_groups']} is more than params.m ({params['m']}); "
                            "expected n_groups <= m")
    if problems:
        problems = list(dict.fromkeys(problems))
        raise ProfileError(f"{source} is invalid:\n  - " + "\n  - ".join(problems))


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.json"))


WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")  # a model.pretrained that names a local weights file
# The paths a profile file may give relative to its own folder: (section, key, whether a value is a path)
FILE_RELATIVE = (("benchmark", "root", lambda value: True),
                 ("model", "pretrained", lambda value: Path(value).suffix in WEIGHT_SUFFIXES))

# Values replaced whole by an override, never merged key by key: a split or a prompt set is one thing.
ATOMIC_KEYS = frozenset({"split", "prompts"})


def _merge(base: dict, overrides: Mapping) -> dict:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if key == "benchmark" and isinstance(value, Mapping) and isinstance(out.get(key), dict) and \
                value.get("kind", out[key].get("kind")) != out[key].get("kind"):
            out[key] = copy.deepcopy(value)  # another kind of benchmark: none of the old one's keys apply
        elif isinstance(value, Mapping) and isinstance(out.get(key), dict) and key not in ATOMIC_KEYS:
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
        ``prompts`` value replaces the old one whole. The result is validated."""
        if not isinstance(overrides, Mapping):
            raise ProfileError(f"overrides must be a JSON object such as {{\"params\": {{\"eta\": 0.1}}}}, "
                               f"got {type(overrides).__name__} {overrides!r}")
        merged = _merge(self.data, overrides)
        validate_profile(merged, f"profile {merged.get('name', self.name)!r} with overrides {json.dumps(overrides)}")
        return Profile(merged)

    def to_json(self) -> str:
        return json.dumps(self.data, indent=1, sort_keys=True, ensure_ascii=False)


def load_profile(name_or_path: str | Path = DEFAULT_PROFILE, overrides: Mapping[str, Any] | None = None) -> Profile:
    """A built-in profile by name, or a profile JSON file by path, with optional overrides.

    A profile may start from another: ``"extends": "emoji-tiny"`` (a built-in name) or
    ``"extends": "base.json"`` (a file, relative to the extending file's folder) takes that
    profile and applies the file's other keys to it as overrides (a variant is its differences,
    nothing more). A chain that comes back to a file it started from is an error naming the cycle."""
    data = _load_data(_profile_path(name_or_path), ())
    profile = Profile(data)
    return profile.with_overrides(overrides) if overrides else profile


def _profile_path(name_or_path: str | Path, relative_to: Path | None = None) -> Path:
    """The file of a profile: a path ending in ``.json`` (relative to ``relative_to``, the folder
    of the file that extends it, where given), else a built-in name."""
    path = Path(name_or_path)
    if path.suffix == ".json":
        path = relative_to / path if relative_to is not None and not path.is_absolute() else path
        if path.is_file():
            return path
    else:
        path = PROFILE_DIR / f"{name_or_path}.json"
        if path.is_file():
            return path
    raise ProfileError(f"unknown profile {str(name_or_path)!r}; expected one of {available_profiles()} or a JSON file"
                       + (f" (relative to {relative_to})" if relative_to is not None and Path(name_or_path).suffix == ".json"
                          else ""))


def _load_data(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """A profile file's settings with its ``extends`` chain applied, validated."""
    here = path.resolve()
    if here in chain:
        names = " -> ".join(p.name for p in (*chain[chain.index(here):], here))
        raise ProfileError(f"profile {chain[0].name}: extends cycle {names}; expected a chain that ends in a profile "
                           "without extends")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"profile file {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                           "save it as UTF-8") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProfileError(f"profile file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"profile {path} must hold a JSON object, got {type(data).__name__}")
    for section, key, is_path in FILE_RELATIVE:  # relative to this file, not to the working folder
        value = data[section].get(key) if isinstance(data.get(section), dict) else None
        if isinstance(value, str) and value and is_path(value) and not Path(value).expanduser().is_absolute():
            data[section][key] = str((path.parent / value).resolve())
    if "extends" in data:
        base = data.pop("extends")
        if not isinstance(base, str) or not base:
            raise ProfileError(f"profile {path}: extends must be a profile's name or a JSON file, got {base!r}")
        data = _merge(_load_data(_profile_path(base, path.parent), (*chain, here)), data)
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ProfileError(f"profile {path} lacks {missing}; expected keys {list(REQUIRED_KEYS)}")
    validate_profile(data, f"profile {path}")
    return data
