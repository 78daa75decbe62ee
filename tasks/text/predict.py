"""Label and probability for every text in a CSV, TSV, Parquet or JSONL file."""

import argparse
from pathlib import Path

from tasks.common.errors import InputError
from tasks.common.io import atomic_path
from tasks.common.limits import load_limits
from tasks.common.paths import DomainPaths
from tasks.common.registry import open_registry
from tasks.text.ingest import TableFormat, blank, read_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="a table of texts: path or URL")
    parser.add_argument("--text-column", default="text", help="(default: text)")
    parser.add_argument("--batch-size", type=int, default=128)


def main(paths: DomainPaths, args: argparse.Namespace) -> str:
    from tasks.text.predictor import Predictor

    frame = read_table(args.input, TableFormat(), load_limits(paths.root))
    if args.text_column not in frame.columns:
        raise InputError(
            f"{args.input}: no column {args.text_column!r} (--text-column); "
            f"found {', '.join(map(str, frame.columns))}"
        )
    texts = frame[args.text_column]
    empty = blank(texts)
    if empty.any():
        raise InputError(f"{args.input}: row {int(empty.argmax()) + 1}: empty text")
    predictor = Predictor.load(*open_registry(paths).fetch(args.model))
    rows = []
    for start in range(0, len(texts), args.batch_size):
        rows += predictor.predict(list(texts.iloc[start : start + args.batch_size].astype(str)))
    out = frame.assign(
        label=[r["label"] for r in rows], probability=[r["probability"] for r in rows]
    )
    with atomic_path(Path(args.output)) as tmp:
        out.to_parquet(tmp, index=False)
    return f"wrote {len(out)} predictions -> {args.output}"
