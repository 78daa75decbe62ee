"""`--set key=value`: change leaf values of params.yaml, as `dvc exp run -S` does.

Values are YAML 1.2 scalars or flow collections (`1e-3` is a float, `010` is 10, `on` is a
string). Only the changed values' bytes change; the whole file is validated against every
touched domain's stage dataclasses before it is written, atomically, so a bad value never lands.
"""

import importlib
import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from tasks.common.errors import InputError
from tasks.common.io import atomic_path
from tasks.common.limits import SECTION as LIMITS
from tasks.common.limits import Limits
from tasks.common.params import PARAMS_FILE, parse, section
from tasks.common.paths import DOMAINS, STEPS, stage_module
from tasks.common.sources import check_source

EXAMPLE = "e.g. recsys.train.max_epochs=3"


def parse_value(text: str, value: str) -> Any:
    try:
        return YAML(typ="safe", pure=True).load(value)
    except YAMLError as e:
        why = str(e).strip().splitlines()[0]
        raise InputError(
            f"--set {text!r}: not a YAML value ({why}); quote a string, e.g. key='\"{value}\"'"
        ) from None


def parse_override(text: str) -> tuple[list[str], Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise InputError(f"--set {text!r}: expected KEY=VALUE, {EXAMPLE}")
    return key.split("."), parse_value(text, value)


def flow_text(value: Any) -> str:
    """`value` as one line of YAML 1.2 (flow style), quoted where it must be."""
    yaml = YAML()
    yaml.default_flow_style = True
    yaml.width = 1 << 20
    out = io.StringIO()
    yaml.dump({"k": value}, out)
    return out.getvalue().strip()[len("{k: ") : -1]


def scan_end(line: str, start: int, in_flow: bool) -> int:
    """Where the YAML value starting at `line[start]` ends on its line."""
    first = line[start]
    if first in "[{":
        depth, quote, i = 0, None, start
        while i < len(line):
            c = line[i]
            if quote:
                quote = None if c == quote else quote
            elif c in "'\"":
                quote = c
            elif c in "[{":
                depth += 1
            elif c in "]}":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        return -1  # spans lines
    if first in "'\"":
        i = start + 1
        while i < len(line):
            if line[i] == first and not (first == '"' and line[i - 1] == "\\"):
                if first == "'" and line[i + 1 : i + 2] == "'":  # '' inside single quotes
                    i += 2
                    continue
                return i + 1
            i += 1
        return -1
    stops = [len(line)]
    if (comment := line.find(" #", start)) >= 0:
        stops.append(comment)
    if in_flow:
        stops += [i for c in ",}]" if (i := line.find(c, start)) >= 0]
    return len(line[: min(stops)].rstrip())


def set_leaf(lines: list[str], doc, keys: list[str], value: Any, text: str) -> None:
    """Replace one leaf's text in `lines` (and its value in `doc`)."""
    node, where = doc, []
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            where.append(key)
            raise InputError(f"--set {text!r}: {'.'.join(where)} is not in {PARAMS_FILE}")
        parent, node = node, node[key]
        where.append(key)
    dotted = ".".join(keys)
    if isinstance(node, dict) and node and not isinstance(value, dict):
        raise InputError(f"--set {text!r}: {dotted} is a section: set its keys, {EXAMPLE}")
    row, col = parent.lc.value(keys[-1])
    key_row, _ = parent.lc.key(keys[-1])
    line = lines[row]
    end = scan_end(line, col, parent.fa.flow_style()) if row == key_row else -1
    if end < 0 or line[col] in "|>&*!":
        raise InputError(f"--set {text!r}: {dotted} spans several lines: edit {PARAMS_FILE}")
    lines[row] = line[:col] + flow_text(value) + line[end:]
    parent[keys[-1]] = value


def validate(params: dict, domains: set[str]) -> None:
    """Parse every section the touched domains' stages read into their dataclasses; a source
    with credentials is refused here, before params.yaml could keep it."""
    limits = parse(Limits, section(params, LIMITS), LIMITS)
    # The stage modules import their frameworks. Once TensorFlow is loaded (by this call or an
    # earlier one in the process), torch's dynamo, which torch.optim loads lazily, segfaults on
    # import: load it first.
    import torch._dynamo  # noqa: F401

    for domain in sorted(domains):
        source = section(params, f"{domain}.ingest").get("source", "default")
        if source != "default":
            check_source(str(source), limits)
        for step in STEPS:
            module = importlib.import_module(stage_module(domain, step))
            for name, cls in module.PARAMS.items():
                dotted = f"{domain}.{name}"
                parse(cls, section(params, dotted), dotted)


def apply_overrides(root: Path, overrides: list[str]) -> None:
    if not overrides:
        return
    path = root / PARAMS_FILE
    original = path.read_text()
    doc = YAML().load(original)
    lines = original.split("\n")
    for text in overrides:
        keys, value = parse_override(text)
        set_leaf(lines, doc, keys, value, text)
    edited = "\n".join(lines)
    params = load_plain(edited)
    if params != load_plain(dump(doc)):  # the text edit must mean what the edited tree means
        raise InputError(f"--set: could not edit {PARAMS_FILE} in place; edit it by hand")
    validate(params, {text.split(".", 1)[0] for text in overrides} & set(DOMAINS))
    with atomic_path(path) as tmp:
        tmp.write_text(edited)


def load_plain(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


def dump(doc) -> str:
    out = io.StringIO()
    YAML().dump(doc, out)
    return out.getvalue()
