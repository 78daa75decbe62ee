"""Label vocabulary, a stratified split, and token ids computed once with the model's tokenizer.

Writes `labels.json`, the tokenizer, and one Parquet file of unpadded token ids per split:
batches are padded when they are drawn, to their own longest text.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from models.text import load_tokenizer, train_tokenizer
from tasks.common.io import atomic_dir, read_json, write_json
from tasks.common.params import load_params, parse
from tasks.common.paths import DomainPaths
from tasks.common.splits import SPLITS, assign_splits
from tasks.text.ingest import OUTPUT as RAW

LABELS, TOKENIZER, STATS = "labels.json", "tokenizer", "stats.json"


@dataclass(frozen=True)
class PreprocessParams:
    max_length: int = 64  # tokens; longer texts are truncated
    vocab_size: int = 2000  # of the tokenizer trained when there is no checkpoint
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    seed: int = 0


@dataclass(frozen=True)
class Encoded:
    """One split: unpadded token ids per text, and label indices."""

    ids: list[np.ndarray]
    labels: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.ids), np.int64, len(self.ids))


def split_table(ids: list[list[int]], labels: np.ndarray, texts: pd.Series) -> pa.Table:
    return pa.table(
        {
            "input_ids": pa.array(ids, pa.list_(pa.int32())),
            "label": pa.array(labels, pa.int16()),
            "text": pa.array(texts, pa.string()),
        }
    )


def load(folder: Path, split: str) -> Encoded:
    table = pq.read_table(folder / f"{split}.parquet", columns=["input_ids", "label"])
    column = table.column("input_ids").combine_chunks()
    values = column.values.to_numpy()
    offsets = column.offsets.to_numpy()
    ids = [values[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    return Encoded(ids, table.column("label").to_numpy().astype(np.int64))


def load_labels(folder: Path) -> list[str]:
    return read_json(folder / LABELS)


def write(frame: pd.DataFrame, p: PreprocessParams, name_or_path: str | None, folder: Path) -> dict:
    """Labels, tokenizer and one Parquet file per split into `folder`; returns the stats.

    The tokenizer is the checkpoint's (`name_or_path`), or with None one trained here."""
    labels = sorted(frame.label.unique())
    y = frame.label.map({name: i for i, name in enumerate(labels)}).to_numpy()
    parts = assign_splits(frame.label, [None] * len(frame), p, "text")
    if name_or_path is None:
        tokenizer = train_tokenizer(frame.text.iloc[parts["train"]], p.vocab_size, p.max_length)
    else:
        tokenizer = load_tokenizer(name_or_path)
    tokenizer.model_max_length = p.max_length  # so every later tokenizer call truncates alike
    write_json(folder / LABELS, labels)
    tokenizer.save_pretrained(folder / TOKENIZER)
    stats = {"labels": len(labels), "max_length": p.max_length}
    for name, index in parts.items():
        texts = frame.text.iloc[index]
        ids = tokenizer(list(texts), truncation=True)["input_ids"]
        pq.write_table(split_table(ids, y[index], texts), folder / f"{name}.parquet")
        lengths = np.array([len(x) for x in ids])
        stats[name] = {
            "texts": len(index),
            "mean_tokens": round(float(lengths.mean()), 2),
            "truncated": int((lengths >= p.max_length).sum()),
        }
    write_json(folder / STATS, stats)
    return stats


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"preprocess": PreprocessParams}


def run(paths: DomainPaths) -> None:
    params = load_params(paths.root)["text"]
    p = parse(PreprocessParams, params["preprocess"], "text.preprocess")
    # only the checkpoint: dvc.yaml declares text.model.name_or_path for this stage
    name_or_path = params["model"]["name_or_path"]
    frame = pd.read_parquet(paths.raw / RAW)
    with atomic_dir(paths.processed) as tmp:
        stats = write(frame, p, name_or_path, tmp)
    print(
        f"split {len(frame)} texts into "
        + ", ".join(f"{s} {stats[s]['texts']}" for s in SPLITS)
        + f"; mean {stats['train']['mean_tokens']} tokens -> {paths.processed}"
    )
