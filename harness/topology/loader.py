"""Read a topology from a built-in profile name or a YAML file, with errors that name file and field."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import ConfigError
from harness.topology.model import Topology

_PROFILES = "harness.topology.profiles"
M = TypeVar("M", bound=BaseModel)


def builtin_profiles() -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in resources.files(_PROFILES).iterdir() if p.name.endswith(".yaml"))


def profile_path(name_or_path: str | Path) -> Path:
    """A built-in profile name (`dev`, `hdinsight`) or a path to a YAML file of the same form."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.exists():
            raise ConfigError(f"profile file {candidate} does not exist", hint=f"built-in profiles: {', '.join(builtin_profiles())}")
        return candidate
    ref = resources.files(_PROFILES) / f"{name_or_path}.yaml"
    if not ref.is_file():
        raise ConfigError(
            f"no built-in profile named {str(name_or_path)!r}",
            hint=f"use one of {', '.join(builtin_profiles())}, or a path to a YAML file (copy a built-in one: `harness profile show dev > my.yaml`)",
        )
    return Path(str(ref))


def load_profile(name_or_path: str | Path) -> Topology:
    path = profile_path(name_or_path)
    return load_model(path, Topology)


def load_model(path: Path, model: type[M]) -> M:
    """Parse YAML and validate it; every problem is reported with the file and the dotted field path."""
    data = read_yaml(path)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid {model.__name__.lower()}", detail=describe_validation_error(exc, data)) from None


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        raise ConfigError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields at the top level, found {type(data).__name__}")
    return data


def describe_validation_error(exc: ValidationError, data: Any) -> str:
    lines = []
    errors = exc.errors()
    for error in errors:
        if error["type"] == "too_short" and _has_deeper_error(error["loc"], errors):
            continue  # the real problem is inside; "list is empty" would only mislead
        field = _dotted(error["loc"], data)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field (a typo?); remove it or check the spelling against the built-in profiles"
        elif error["type"] == "missing":
            message = "required field is missing"
        lines.append(f"  {field or '(top level)'}: {message}")
    return "\n".join(lines)


def _has_deeper_error(loc: tuple[Any, ...], errors: list[Any]) -> bool:
    return any(len(e["loc"]) > len(loc) and tuple(e["loc"][: len(loc)]) == tuple(loc) for e in errors)


def _dotted(loc: tuple[Any, ...], data: Any) -> str:
    """`('clusters', 0, 'nodes', 1, 'count')` -> `clusters[0](kafka-dev).nodes[1].count`."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and "name" in node:
                out += f"({node['name']})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out
