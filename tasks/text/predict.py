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
    import numpy as np

    from models.text import load_classifier
    from tasks.text.classify import predict_proba

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
    model, tokenizer = load_classifier(open_registry(paths).fetch(args.model)[0])
    # truncated as in training: preprocess saved max_length as the tokenizer's model_max_length
    ids = tokenizer(list(texts.astype(str)), truncation=True)["input_ids"]
    probs = predict_proba(model, tokenizer, [np.asarray(x) for x in ids], args.batch_size)
    best = probs.argmax(axis=1)
    out = frame.assign(
        label=[model.config.id2label[int(i)] for i in best],
        probability=probs[np.arange(len(best)), best].round(6),
    )
    with atomic_path(Path(args.output)) as tmp:
        out.to_parquet(tmp, index=False)
    return f"wrote {len(out)} predictions -> {args.output}"
