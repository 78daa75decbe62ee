"""`--set key=value`: edit params.yaml in place, keeping its comments, as `dvc exp run -S` does."""

from pathlib import Path

import yaml
from ruamel.yaml import YAML

from tasks.common.errors import InputError
from tasks.common.params import PARAMS_FILE


def parse_override(text: str) -> tuple[list[str], object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise InputError(f"--set {text!r}: expected KEY=VALUE, e.g. recsys.train.epochs=3")
    return key.split("."), yaml.safe_load(value)


def apply_overrides(root: Path, overrides: list[str]) -> None:
    if not overrides:
        return
    rt = YAML()
    path = root / PARAMS_FILE
    doc = rt.load(path.read_text())
    for text in overrides:
        keys, value = parse_override(text)
        node = doc
        for depth, key in enumerate(keys[:-1]):
            if not isinstance(node, dict) or key not in node:
                raise InputError(f"--set {text!r}: {'.'.join(keys[: depth + 1])} is not in {path}")
            node = node[key]
        if not isinstance(node, dict) or keys[-1] not in node:
            raise InputError(f"--set {text!r}: {'.'.join(keys)} is not in {path}")
        node[keys[-1]] = value
    with path.open("w") as f:
        rt.dump(doc, f)
