"""Scans in, one Parquet table out: id, label, split, height, width and uint8 pixels (gray, or
RGB with `color`: 3 bytes a pixel).

Sources: the default generator, a MedMNIST-style .npz, a DICOM folder with a labels CSV, or a
folder of PNG/JPEG files in class sub-folders. Each may be a local path or (npz) a URL.
Scans stream through in chunks of CHUNK, one Parquet row group each, so memory does not grow
with the dataset (an .npz is read whole: its arrays are compressed together).
"""

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.ndimage import gaussian_filter

from tasks.common.errors import InputError
from tasks.common.images import class_folders, decode_image, source_name, to_uint8
from tasks.common.io import atomic_path, file_name
from tasks.common.limits import DEFAULT_LIMITS, Limits, load_limits
from tasks.common.params import stage_params
from tasks.common.paths import DomainPaths
from tasks.common.sources import check_source, read_source
from tasks.common.splits import SPLITS, check_split

OUTPUT = "scans.parquet"
CHUNK = 512  # scans decoded and held at once, here and in preprocess
SCHEMA = pa.schema(
    {
        "id": pa.string(),
        "label": pa.int8(),
        "split": pa.string(),
        "height": pa.int64(),
        "width": pa.int64(),
        "pixels": pa.binary(),
    }
)


@dataclass(frozen=True)
class Synthetic:
    shape: str = "default"  # or medmnist: 28 px scans, half of them positive
    count: int = 2000
    size: int = 64
    positive_rate: float = 0.2
    seed: int = 0


SHAPES = {"default": {}, "medmnist": {"size": 28, "positive_rate": 0.5}}


def shaped(p: Synthetic) -> Synthetic:
    if p.shape not in SHAPES:
        raise InputError(
            f"medical.ingest.synthetic.shape {p.shape!r} is unknown; choose: {', '.join(SHAPES)}"
        )
    return replace(p, **SHAPES[p.shape])


@dataclass(frozen=True)
class Window:
    """A CT window in Hounsfield units: values outside are clipped."""

    center: float = -600.0
    width: float = 1500.0


@dataclass(frozen=True)
class IngestParams:
    source: str = "default"  # "default", an .npz path/URL, a DICOM folder, or an image folder
    labels: str = "labels.csv"  # DICOM: a CSV of file,label[,split] inside the folder
    classes: tuple[str, ...] = ("negative", "positive")  # image folders: negative first
    positive_from: int | None = None  # graded labels (e.g. DR 0-4): this grade and up are positive
    color: bool = False  # keep RGB (fundus photos, skin) instead of reading scans as gray
    window: Window = Window()
    synthetic: Synthetic = Synthetic()


@dataclass(frozen=True)
class Scans:
    ids: list[str]
    images: list[np.ndarray]  # (H, W) uint8 each; sizes may differ until preprocess
    labels: np.ndarray
    splits: list[str | None]


def synthesize(
    p: Synthetic, start: int = 0, count: int | None = None, rng: np.random.Generator | None = None
) -> Scans:
    """Textured tissue in two lung fields, vessels everywhere, and a round nodule in ~20%.

    Nodules vary in radius and contrast, and vessels look like faint small nodules, so the
    task is learnable but not trivial. Scans start..start+count (all by default), drawn from
    `rng` (by default a new one from the seed).
    """
    p = shaped(p)
    rng = rng or np.random.default_rng(p.seed)
    n, s = p.count if count is None else count, p.size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    noise = rng.standard_normal((n, s, s), dtype=np.float32)
    tissue = gaussian_filter(noise, sigma=(0, 2, 2)) * 4
    lungs = sum(
        ((xx - cx) / (0.2 * s)) ** 2 + ((yy - s / 2) / (0.38 * s)) ** 2 < 1
        for cx in (0.3 * s, 0.7 * s)
    )
    image = 0.55 - 0.3 * lungs + 0.08 * tissue

    def blobs(count_per_image, radius, contrast):
        centers_x = (
            rng.choice([0.3 * s, 0.7 * s], size=count_per_image)
            + rng.uniform(-0.12, 0.12, count_per_image) * s
        )
        centers_y = s / 2 + rng.uniform(-0.28, 0.28, count_per_image) * s
        d2 = (xx - centers_x[:, None, None]) ** 2 + (yy - centers_y[:, None, None]) ** 2
        return contrast[:, None, None] * np.exp(-d2 / (2 * radius[:, None, None] ** 2))

    for _ in range(3):  # vessels: small and faint
        image += blobs(n, rng.uniform(0.8, 1.6, n), rng.uniform(0.05, 0.25, n))
    labels = (rng.random(n) < p.positive_rate).astype(np.int8)
    pos = np.flatnonzero(labels)
    image[pos] += blobs(len(pos), rng.uniform(1.8, 4.5, len(pos)), rng.uniform(0.2, 0.6, len(pos)))
    image += rng.normal(scale=0.03, size=image.shape).astype(np.float32)
    pixels = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    ids = [f"synthetic/{i:05d}" for i in range(start, start + n)]
    return Scans(ids, list(pixels), labels, [None] * n)


def chunks(count: int) -> Iterator[slice]:
    """Rows 0..count, CHUNK at a time."""
    return (slice(start, min(start + CHUNK, count)) for start in range(0, count, CHUNK))


def synthetic_chunks(p: Synthetic) -> Iterator[Scans]:
    """The scans of one seeded stream, CHUNK at a time."""
    rng = np.random.default_rng(p.seed)
    for rows in chunks(p.count):
        yield synthesize(p, rows.start, rows.stop - rows.start, rng)


def check_labels(labels: np.ndarray, source: str, positive_from: int | None) -> np.ndarray:
    """0/1 labels; or grades (whole numbers from 0), positive from `positive_from` up."""
    labels = np.asarray(labels).reshape(-1)
    if positive_from is None:
        bad, want = ~np.isin(labels, (0, 1)), "0 or 1 (graded labels: set positive_from)"
    else:
        bad, want = ~((labels >= 0) & (labels == np.floor(labels))), "a grade 0, 1, 2, ..."
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(f"{source}: row {row + 1}: label {labels[row]} is not {want}")
    return (labels if positive_from is None else labels >= positive_from).astype(np.int8)


def to_pixels(images: np.ndarray, where: str) -> np.ndarray:
    """(N, H, W) or RGB (N, H, W, 3) scans of any numeric dtype -> uint8, channels kept."""
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] not in (1, 3)):
        raise InputError(f"{where}: array of shape {images.shape}: want (N, H, W[, 1 or 3])")
    pixels = to_uint8(images, where)
    return pixels[..., 0] if pixels.ndim == 4 and pixels.shape[-1] == 1 else pixels


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """An (H, W) gray or (H, W, 3) RGB scan as (H, W, channels): gray is repeated, RGB
    averaged (as MedMNIST's RGB sets are read in gray)."""
    gray = image.ndim == 2
    if channels == 3:
        return np.repeat(image[..., None], 3, axis=-1) if gray else image
    return (image if gray else image.mean(axis=-1).round().astype(np.uint8))[..., None]


def npz_array(arrays, key: str, source: str) -> np.ndarray:
    """One array of an .npz, read without unpickling (object arrays are refused by name)."""
    try:
        return arrays[key]
    except (OSError, ValueError) as e:
        raise InputError(f"{source}: array {key!r} cannot be read: {e}") from e


def read_npz(
    source: str, limits: Limits = DEFAULT_LIMITS, positive_from: int | None = None
) -> Scans:
    raw = read_source(source, limits)
    try:
        arrays = np.load(io.BytesIO(raw), allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read {source}: {e}") from e
    needed = [f"{s}_{k}" for s in SPLITS for k in ("images", "labels")]
    missing = [k for k in needed if k not in arrays.files]
    if missing:
        raise InputError(
            f"{source}: missing key(s) {', '.join(missing)}; found {', '.join(arrays.files)}"
        )
    ids, images, labels, splits = [], [], [], []
    for split in SPLITS:
        key = f"{split}_images"
        imgs = to_pixels(npz_array(arrays, key, source), f"{source} {key}")
        key = f"{split}_labels"
        labels.append(
            check_labels(npz_array(arrays, key, source), f"{source} {key}", positive_from)
        )
        ids += [f"{split}/{i}" for i in range(len(imgs))]
        images += list(imgs)
        splits += [split] * len(imgs)
    return Scans(ids, images, np.concatenate(labels), splits)


def window_hu(hu: np.ndarray, window: Window) -> np.ndarray:
    """Hounsfield units to uint8 through a window: low edge -> 0, high edge -> 255."""
    low = window.center - window.width / 2
    return (np.clip((hu - low) / window.width, 0, 1) * 255).round().astype(np.uint8)


def read_dicom(source: Path | io.BytesIO, window: Window) -> np.ndarray:
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = source_name(source)
    try:
        ds = pydicom.dcmread(source)
    except (InvalidDicomError, OSError) as e:
        raise InputError(f"{path}: not a readable DICOM file ({e})") from e
    if "PixelData" not in ds:
        raise InputError(f"{path}: DICOM file has no pixel data")
    try:  # compressed syntaxes decode through pylibjpeg's plugins
        pixels = ds.pixel_array
    except Exception as e:  # pydicom's decoders raise many kinds, all meaning "cannot decode"
        syntax = ds.file_meta.get("TransferSyntaxUID", "unknown")
        name = getattr(syntax, "name", syntax)
        raise InputError(
            f"{path}: cannot decode its pixels (transfer syntax {name}, {syntax}): "
            f"{type(e).__name__}"
        ) from None
    slope = float(getattr(ds, "RescaleSlope", 1.0))
    intercept = float(getattr(ds, "RescaleIntercept", 0.0))
    return window_hu(pixels.astype(np.float32) * slope + intercept, window)


def read_dicom_folder(folder: Path, p: IngestParams) -> Iterator[Scans]:
    """The labels CSV is checked whole before the first file is decoded."""
    table_path = folder / p.labels
    if not table_path.is_file():
        raise InputError(f"{table_path}: labels CSV not found (file,label[,split])")
    table = pd.read_csv(table_path, dtype={"file": str})
    if not {"file", "label"} <= set(table.columns):
        raise InputError(
            f"{table_path}: needs columns file and label; found {', '.join(table.columns)}"
        )
    labels = check_labels(
        pd.to_numeric(table.label, errors="coerce").to_numpy(), str(table_path), p.positive_from
    )
    for row, name in enumerate(table.file, start=1):
        if not (folder / name).is_file():
            raise InputError(f"{table_path}: row {row}: file {name} does not exist")
    given = table.split.tolist() if "split" in table else [None] * len(table)
    splits = [check_split(s, f"{table_path}: row {row}") for row, s in enumerate(given, start=1)]
    files = table.file.tolist()
    return (
        Scans(
            files[rows],
            [read_dicom(folder / name, p.window) for name in files[rows]],
            labels[rows],
            splits[rows],
        )
        for rows in chunks(len(files))
    )


def read_image_folder(folder: Path, p: IngestParams, limits: Limits) -> Iterator[Scans]:
    files = class_folders(folder)
    unknown = sorted({c for _, c in files} - set(p.classes))
    if unknown:
        raise InputError(
            f"{folder}: unknown class folder(s) {unknown}; "
            f"medical.ingest.classes is {list(p.classes)}"
        )
    mode = "RGB" if p.color else "L"
    return (
        Scans(
            [file_name(path.relative_to(folder)) for path, _ in files[rows]],
            [decode_image(path, mode, limits) for path, _ in files[rows]],
            np.array([p.classes.index(c) for _, c in files[rows]], dtype=np.int8),
            [None] * (rows.stop - rows.start),
        )
        for rows in chunks(len(files))
    )


def load(p: IngestParams, limits: Limits = DEFAULT_LIMITS) -> Iterator[Scans]:
    """The source's scans in chunks; what can be checked before decoding is checked now."""
    if p.source == "default":
        return synthetic_chunks(p.synthetic)
    check_source(p.source, limits)
    if p.source.endswith(".npz"):
        return iter([read_npz(p.source, limits, p.positive_from)])
    folder = Path(p.source)
    if not folder.is_dir():
        raise InputError(f"cannot read {p.source}: not an .npz file or a folder")
    if (folder / p.labels).is_file():
        return read_dicom_folder(folder, p)
    return read_image_folder(folder, p, limits)


def check_classes(labels: np.ndarray, source: str) -> None:
    if not len(labels):
        raise InputError(f"{source}: no scans")
    if len(np.unique(labels)) < 2:
        raise InputError(
            f"{source}: every scan has label {labels[0]}; screening needs both 0 and 1"
        )


def to_table(scans: Scans, channels: int = 1) -> pa.Table:
    images = [to_channels(image, channels) for image in scans.images]
    columns = {
        "id": scans.ids,
        "label": scans.labels,
        "split": scans.splits,
        "height": [im.shape[0] for im in images],
        "width": [im.shape[1] for im in images],
        "pixels": [np.ascontiguousarray(im).tobytes() for im in images],
    }
    return pa.table(columns, schema=SCHEMA)


def write(chunks: Iterable[Scans], path: Path, source: str, channels: int = 1) -> np.ndarray:
    """Every chunk as a row group of one Parquet file; the labels of all, checked."""
    labels = []
    with pq.ParquetWriter(path, SCHEMA) as writer:
        for scans in chunks:
            writer.write_table(to_table(scans, channels))
            labels.append(scans.labels)
    labels = np.concatenate(labels) if labels else np.empty(0, np.int8)
    check_classes(labels, source)
    return labels


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"ingest": IngestParams}


def run(paths: DomainPaths) -> None:
    p = stage_params(paths.root, IngestParams, "medical.ingest")
    chunks = load(p, load_limits(paths.root))
    with atomic_path(paths.raw / OUTPUT) as tmp:
        labels = write(chunks, tmp, p.source, 3 if p.color else 1)
    print(f"ingested {len(labels)} scans ({int(labels.sum())} positive) -> {paths.raw / OUTPUT}")
