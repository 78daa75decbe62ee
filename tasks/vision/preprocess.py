"""Decode every image once, resize its shorter side and centre-crop it square, and store uint8
tensors per split, which training memory-maps: no epoch decodes an image again.

Keeps the source's split when it has one (a missing test split evaluates on val); otherwise
makes a stratified one. Sizes left to the data (null) follow what the images are: small ones
(digits, icons) are seen at 32 px, photos at 128 px, which a pretrained network needs.
"""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.transforms.v2 import functional as F

from tasks.common.errors import InputError
from tasks.common.images import decode_image
from tasks.common.io import atomic_dir, read_json, write_json
from tasks.common.params import stage_params
from tasks.common.paths import DomainPaths
from tasks.common.splits import SPLITS, assign_splits
from tasks.vision.ingest import IMAGES, image_folder

CLASSES, STATS = "classes.json", "stats.json"
PHOTO_SIDE = 96  # a median shorter side at least this long: the images are photos
SIZES = {False: 32, True: 128}  # the square the model sees, by photos or not


@dataclass(frozen=True)
class PreprocessParams:
    size: int | None = None  # the square the model sees; null: 32, or 128 for photos
    resize: int | None = None  # the shorter side before the centre crop; null: size x 8/7
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0


@dataclass(frozen=True)
class Sizes:
    """What a model is trained and served at: saved with it."""

    size: int
    resize: int
    photos: bool


def sizes(p: PreprocessParams, short_sides: list[int]) -> Sizes:
    photos = bool(short_sides) and float(np.median(short_sides)) >= PHOTO_SIDE
    size = p.size or SIZES[photos]
    return Sizes(size, p.resize or round(size * 8 / 7), photos)


def short_side(path: Path) -> int:
    """From the header alone; the full decode (and its checks) comes later."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return min(image.size)
    except (OSError, ValueError, Image.DecompressionBombError):
        return 0


@dataclass(frozen=True)
class Images:
    images: np.ndarray  # (N, 3, size, size) uint8, possibly memory-mapped
    labels: np.ndarray  # (N,) int64


def fit(rgb: np.ndarray, s: Sizes) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, size, size) uint8: resize the shorter side, then crop the centre,
    in training and at inference alike."""
    image = torch.tensor(rgb).permute(2, 0, 1)  # a writable copy
    return F.center_crop(F.resize(image, [s.resize], antialias=True), [s.size, s.size])


def to_tensor(path: Path, s: Sizes) -> torch.Tensor:
    return fit(decode_image(path, "RGB"), s)


def write(raw: Path, p: PreprocessParams, folder: Path) -> dict:
    items = image_folder(raw / IMAGES)
    classes = sorted({item.label for item in items})
    labels = np.array([classes.index(item.label) for item in items])
    parts = assign_splits(labels, [item.split for item in items], p, str(raw / IMAGES))
    s = sizes(p, [short_side(item.path) for item in items])
    stats = {"classes": len(classes), **dataclasses.asdict(s)}
    for name in SPLITS:
        index = np.sort(parts[name])
        if not len(index):
            continue
        images = torch.stack([to_tensor(items[i].path, s) for i in index]).numpy()
        np.save(folder / f"{name}_images.npy", images)
        np.save(folder / f"{name}_labels.npy", labels[index])
        stats[name] = int(len(index))
    if "train" not in stats or "val" not in stats:
        raise InputError(f"{raw / IMAGES}: needs train and val images; found {list(stats)[2:]}")
    write_json(folder / CLASSES, classes)
    write_json(folder / STATS, stats)
    return stats


def load(folder: Path, split: str) -> Images:
    """A split, memory-mapped; "test" falls back to "val" when the source had no test split."""
    if split == "test" and not (folder / "test_labels.npy").is_file():
        split = "val"
    return Images(
        np.load(folder / f"{split}_images.npy", mmap_mode="r"),
        np.load(folder / f"{split}_labels.npy"),
    )


def load_classes(folder: Path) -> list[str]:
    return read_json(folder / CLASSES)


def load_sizes(folder: Path) -> Sizes:
    stats = read_json(folder / STATS)
    return Sizes(stats["size"], stats["resize"], stats["photos"])


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"preprocess": PreprocessParams}


def run(paths: DomainPaths) -> None:
    p = stage_params(paths.root, PreprocessParams, "vision.preprocess")
    with atomic_dir(paths.processed) as tmp:
        stats = write(paths.raw, p, tmp)
    parts = ", ".join(f"{s} {stats[s]}" for s in SPLITS if s in stats)
    size, kind = stats["size"], "photos" if stats["photos"] else "small images"
    print(f"{parts} {kind} at {size}x{size} in {stats['classes']} classes -> {paths.processed}")
