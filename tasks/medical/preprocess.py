"""Decode once, resize to the params size, split (stratified unless the source has a split).

Writes uint8 arrays per split, so no epoch decodes an image again; the model rescales to [0, 1].
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.common.errors import InputError
from tasks.common.images import resize
from tasks.common.io import atomic_dir, write_json
from tasks.common.params import stage_params
from tasks.common.paths import DomainPaths
from tasks.common.splits import SPLITS, assign_splits
from tasks.medical.ingest import OUTPUT as RAW

STATS = "stats.json"


@dataclass(frozen=True)
class PreprocessParams:
    size: int = 64
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0


@dataclass(frozen=True)
class Arrays:
    images: np.ndarray  # (N, size, size, channels) uint8: 1 gray, 3 RGB
    labels: np.ndarray  # (N,) int8


def decode(table: pa.Table, size: int) -> np.ndarray:
    """Raw pixel bytes -> (N, size, size, channels) uint8, resized where needed."""
    columns = [table[c].to_pylist() for c in ("pixels", "height", "width")]
    images = []
    for px, h, w in zip(*columns, strict=True):
        c = len(px) // (h * w)  # 1 gray or 3 RGB
        pixels = np.frombuffer(px, np.uint8).reshape(h, w, c)
        images.append(resize(pixels[..., 0] if c == 1 else pixels, size).reshape(size, size, c))
    return np.stack(images)


def split_arrays(
    images: np.ndarray, labels: np.ndarray, parts: dict[str, np.ndarray], source: str
) -> dict[str, Arrays]:
    out = {}
    for name in SPLITS:
        index = np.sort(parts[name])  # scans in source order within a split
        classes = np.unique(labels[index])
        if len(classes) < 2:
            raise InputError(
                f"{source}: the {name} split has {len(index)} scans of class(es) "
                f"{classes.tolist()}; screening needs both 0 and 1 (AUC is undefined otherwise)"
            )
        out[name] = Arrays(images[index], labels[index])
    return out


def prepare(table: pa.Table, p: PreprocessParams, source: str) -> dict[str, Arrays]:
    labels = table["label"].to_numpy().astype(np.int8)
    if len(np.unique(labels)) < 2:
        raise InputError(
            f"{source}: every scan has label {labels[0]}; screening needs both 0 and 1"
        )
    parts = assign_splits(labels, table["split"].to_pylist(), p, source)
    return split_arrays(decode(table, p.size), labels, parts, source)


def save(arrays: dict[str, Arrays], folder: Path) -> None:
    for name, a in arrays.items():
        np.save(folder / f"{name}_images.npy", a.images)
        np.save(folder / f"{name}_labels.npy", a.labels)
    write_json(
        folder / STATS,
        {
            name: {"scans": len(a.labels), "positive": int(a.labels.sum())}
            for name, a in arrays.items()
        },
    )


def load(folder: Path, split: str) -> Arrays:
    return Arrays(
        np.load(folder / f"{split}_images.npy", allow_pickle=False),
        np.load(folder / f"{split}_labels.npy", allow_pickle=False),
    )


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"preprocess": PreprocessParams}


def run(paths: DomainPaths) -> None:
    p = stage_params(paths.root, PreprocessParams, "medical.preprocess")
    source = paths.raw / RAW
    arrays = prepare(pq.read_table(source), p, str(source))
    with atomic_dir(paths.processed) as tmp:
        save(arrays, tmp)
    print(
        ", ".join(
            f"{k}: {len(a.labels)} ({int(a.labels.sum())} positive)" for k, a in arrays.items()
        )
    )
