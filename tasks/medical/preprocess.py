"""Decode once, resize to the params size, split (stratified unless the source has a split).

Writes uint8 arrays per split, so no epoch decodes an image again; the model rescales to [0, 1].
Scans are decoded a chunk at a time and appended to the output files.
"""

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.lib import format as npy

from tasks.common.errors import InputError
from tasks.common.images import resize
from tasks.common.io import atomic_dir, write_json
from tasks.common.params import stage_params
from tasks.common.paths import DomainPaths
from tasks.common.splits import SPLITS, assign_splits
from tasks.medical.ingest import CHUNK, check_classes
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


def decode(batch: pa.RecordBatch, size: int) -> np.ndarray:
    """Raw pixel bytes -> (N, size, size, channels) uint8, resized where needed."""
    columns = [batch[c].to_pylist() for c in ("pixels", "height", "width")]
    images = []
    for px, h, w in zip(*columns, strict=True):
        c = len(px) // (h * w)  # 1 gray or 3 RGB
        pixels = np.frombuffer(px, np.uint8).reshape(h, w, c)
        images.append(resize(pixels[..., 0] if c == 1 else pixels, size).reshape(size, size, c))
    return np.stack(images)


def split_index(
    raw: pq.ParquetFile, p: PreprocessParams, source: str
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Every label, and the row numbers per split: sorted (scans in source order), each split
    with both classes."""
    table = raw.read(columns=["label", "split"])
    labels = table["label"].to_numpy().astype(np.int8)
    check_classes(labels, source)
    parts = assign_splits(labels, table["split"].to_pylist(), p, source)
    for name in SPLITS:
        classes = np.unique(labels[parts[name]])
        if len(classes) < 2:
            raise InputError(
                f"{source}: the {name} split has {len(parts[name])} scans of class(es) "
                f"{classes.tolist()}; screening needs both 0 and 1 (AUC is undefined otherwise)"
            )
    return labels, {name: np.sort(parts[name]) for name in SPLITS}


def prepare(raw: Path, p: PreprocessParams, folder: Path, source: str) -> dict[str, dict]:
    """Each split's images and labels as .npy files in `folder`; its counts as the return value
    (and stats.json). A chunk's scans are appended to their splits' files: each split's rows
    are sorted, so every file grows in order."""
    file = pq.ParquetFile(raw)
    labels, parts = split_index(file, p, source)
    with ExitStack() as stack:
        images, start = {}, 0
        for batch in file.iter_batches(CHUNK, columns=["pixels", "height", "width"]):
            decoded, stop = decode(batch, p.size), start + batch.num_rows
            for name, index in parts.items():
                if name not in images:  # the first chunk tells the channels
                    images[name] = stack.enter_context(open(folder / f"{name}_images.npy", "wb"))
                    header = {"shape": (len(index), *decoded.shape[1:]), "fortran_order": False}
                    npy.write_array_header_1_0(images[name], header | {"descr": "|u1"})
                lo, hi = np.searchsorted(index, (start, stop))
                images[name].write(decoded[index[lo:hi] - start].tobytes())
            start = stop
    stats = {}
    for name, index in parts.items():
        np.save(folder / f"{name}_labels.npy", labels[index])
        stats[name] = {"scans": len(index), "positive": int(labels[index].sum())}
    write_json(folder / STATS, stats)
    return stats


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
    with atomic_dir(paths.processed) as tmp:
        stats = prepare(source, p, tmp, str(source))
    print(", ".join(f"{k}: {s['scans']} ({s['positive']} positive)" for k, s in stats.items()))
