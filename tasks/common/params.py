"""params.yaml, parsed into frozen dataclasses: each stage reads only the section it declares."""

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from tasks.common.errors import InputError

T = TypeVar("T")
PARAMS_FILE = "params.yaml"


def load_params(root: Path) -> dict[str, Any]:
    """YAML 1.2, as DVC reads it: `no` is a string and `1e-3` a float, for both of us."""
    from ruamel.yaml import YAML

    with open(root / PARAMS_FILE) as f:
        return YAML(typ="safe", pure=True).load(f) or {}


def section(params: dict[str, Any], dotted: str) -> dict[str, Any]:
    node: Any = params
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            raise InputError(f"{PARAMS_FILE}: missing section {dotted!r}")
        node = node[key]
    return node


def parse(cls: type[T], raw: dict[str, Any], where: str) -> T:
    """Build a frozen dataclass from a params mapping, refusing unknown or missing keys."""
    if not isinstance(raw, dict):
        raise InputError(f"{PARAMS_FILE}: {where} must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(raw) - set(fields)
    if unknown:
        raise InputError(f"{PARAMS_FILE}: unknown key(s) {sorted(unknown)} in {where}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, field in fields.items():
        if name in raw:
            values[name] = _convert(hints[name], raw[name], f"{where}.{name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise InputError(f"{PARAMS_FILE}: missing key {where}.{name}")
    return cls(**values)


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return parse(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(inner[0], value, where)
    if origin is tuple:
        return tuple(_convert(typing.get_args(hint)[0], v, where) for v in value)
    if origin is dict or hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise InputError(f"{PARAMS_FILE}: {where} should be {hint.__name__}, got {value!r}")
    return value


def stage_params(root: Path, cls: type[T], dotted: str) -> T:
    return parse(cls, section(load_params(root), dotted), dotted)
