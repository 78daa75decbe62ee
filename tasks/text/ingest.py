"""Labelled texts in, one validated Parquet file out: `text, label`.

Sources: the default generator, or a CSV, TSV, Parquet or JSONL file from a path or URL, with
configurable column names, separator and header (headerless files name columns by position).
"""

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tasks.common.errors import InputError
from tasks.common.io import atomic_dir, write_json
from tasks.common.limits import DEFAULT_LIMITS, Limits, load_limits
from tasks.common.params import stage_params
from tasks.common.paths import DomainPaths
from tasks.common.sources import expand, read_source
from tasks.text.synthetic import Synthetic, synthesize

OUTPUT, REPORT = "texts.parquet", "ingest.json"
FORMATS = ("csv", "tsv", "parquet", "jsonl")
QUOTING = {"csv": csv.QUOTE_MINIMAL, "none": csv.QUOTE_NONE}
EMPTY_POLICIES = ("fail", "skip")


@dataclass(frozen=True)
class TableFormat:
    """How to read a text table; shared by ingest and predict."""

    format: str = "auto"  # auto (from the extension), csv, tsv, parquet or jsonl
    separator: str | None = None  # csv/tsv: overrides "," or a tab
    header: bool = True  # false: columns are named by position, 0 first
    # csv/tsv: "csv" lets "..." hold separators and newlines ("" is a quote), as spreadsheets
    # write both; "none" reads quotes as text (raw TSV dumps where a text may begin with ")
    quoting: str = "csv"


@dataclass(frozen=True)
class IngestParams:
    source: str = "default"  # "default" (generated), or a local path or URL
    table: TableFormat = TableFormat()
    columns: dict[str, Any] = field(default_factory=lambda: {"text": "text", "label": "label"})
    empty_texts: str = "fail"  # or "skip": drop empty or missing texts and count them
    synthetic: Synthetic = Synthetic()


def detect_format(source: str, fmt: str) -> str:
    if fmt != "auto":
        if fmt not in FORMATS:
            raise InputError(
                f"unknown table format {fmt!r}; choose from auto, {', '.join(FORMATS)}"
            )
        return fmt
    name = source.rsplit("/", 1)[-1].lower().removesuffix(".gz")
    for ext, found in ((".tsv", "tsv"), (".txt", "tsv"), (".parquet", "parquet")):
        if name.endswith(ext):
            return found
    return "jsonl" if name.endswith((".jsonl", ".json")) else "csv"


def decode_utf8(raw: bytes, source: str, header: bool) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        where = f"row {line - 1}" if header else f"row {line}"
        raise InputError(
            f"{source}: {where} (line {line}): byte 0x{raw[e.start]:02x} is not UTF-8"
        ) from e


def read_jsonl(content: str, source: str) -> pd.DataFrame:
    rows = []
    for number, line in enumerate(content.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise InputError(f"{source}: row {number}: not a JSON object ({e.msg})") from e
    return pd.DataFrame(rows)


def read_table(source: str, table: TableFormat, limits: Limits = DEFAULT_LIMITS) -> pd.DataFrame:
    """Any supported table, every value as read (strings stay strings, missing stays None)."""
    fmt = detect_format(source, table.format)
    if table.quoting not in QUOTING:
        raise InputError(f"text table.quoting is {table.quoting!r}; choose csv or none")
    raw = read_source(source, limits)
    if not raw.strip():
        raise InputError(f"{source}: the file is empty")
    try:
        if fmt == "parquet":
            return pd.read_parquet(io.BytesIO(raw))
        content = decode_utf8(raw, source, table.header)
        if fmt == "jsonl":
            return read_jsonl(content, source)
        return pd.read_csv(
            io.StringIO(content),
            sep=table.separator or ("\t" if fmt == "tsv" else ","),
            header=0 if table.header else None,
            dtype=str,
            keep_default_na=False,  # "NA" is a word in a ticket, not a missing value
            quoting=QUOTING[table.quoting],
        )
    except (ValueError, OSError, pd.errors.ParserError) as e:
        raise InputError(f"{source}: cannot parse as {fmt}: {str(e).splitlines()[0]}") from e


def pick_columns(frame: pd.DataFrame, columns: dict[str, Any], source: str) -> pd.DataFrame:
    """Our names (text, label, ...) from the source's, with an error naming what is missing."""
    missing = [repr(src) for src in columns.values() if src not in frame.columns]
    if missing:
        raise InputError(
            f"{source}: missing column(s) {', '.join(missing)}; "
            f"found {', '.join(map(str, frame.columns)) or 'none'}"
        )
    return frame[list(columns.values())].set_axis(list(columns), axis=1)


def blank(values: pd.Series) -> pd.Series:
    return values.isna() | (values.astype(str).str.strip() == "")


def clean(frame: pd.DataFrame, policy: str, source: str) -> tuple[pd.DataFrame, int]:
    """Texts and string labels, checked; returns the frame and how many empty texts it skipped."""
    if policy not in EMPTY_POLICIES:
        raise InputError(f"text.ingest.empty_texts is {policy!r}; choose fail or skip")
    no_label = blank(frame.label)
    if no_label.any():
        raise InputError(f"{source}: row {int(no_label.argmax()) + 1}: missing label")
    empty = blank(frame.text)
    if empty.any() and policy == "fail":
        raise InputError(
            f"{source}: row {int(empty.argmax()) + 1}: empty text "
            "(text.ingest.empty_texts: skip drops such rows)"
        )
    kept = frame[~empty]
    if kept.empty:
        raise InputError(f"{source}: no texts (0 data rows with text)")
    labels = kept.label.astype(str).str.strip()
    if labels.nunique() < 2:
        raise InputError(
            f"{source}: every row has label {labels.iloc[0]!r}; classification needs two or more"
        )
    out = pd.DataFrame({"text": kept.text.astype(str), "label": labels})
    return out.reset_index(drop=True), int(empty.sum())


def load(p: IngestParams, limits: Limits = DEFAULT_LIMITS) -> tuple[pd.DataFrame, int]:
    if p.source == "default":
        return synthesize(p.synthetic), 0
    frame = pd.concat(
        [
            pick_columns(read_table(src, p.table, limits), p.columns, src)
            for src in expand(p.source)
        ],
        ignore_index=True,
    )
    return clean(frame, p.empty_texts, p.source)


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"ingest": IngestParams}


def run(paths: DomainPaths) -> None:
    p = stage_params(paths.root, IngestParams, "text.ingest")
    frame, skipped = load(p, load_limits(paths.root))
    counts = frame.label.value_counts().sort_index()
    with atomic_dir(paths.raw) as tmp:
        frame.to_parquet(tmp / OUTPUT, index=False)
        write_json(
            tmp / REPORT,
            {"rows": len(frame), "skipped_empty_texts": skipped, "labels": counts.to_dict()},
        )
    note = f", skipped {skipped} empty text(s)" if skipped else ""
    print(f"ingested {len(frame)} texts in {len(counts)} classes{note} -> {paths.raw / OUTPUT}")
