"""Images in, one checked ImageFolder out: `raw/images/[<split>/]<class>/<file>`.

Sources: scikit-learn's bundled handwritten digits (the default); an ImageFolder directory,
optionally under train/ val/ test/; a zip or tar archive of one, from a path or URL; or a CSV
of path,label[,split] with paths relative to the CSV. Every file is decoded once to check it:
a file that is corrupt or not in an accepted format fails the stage, or is skipped and named
in `raw/ingest.json`, as `bad_files` says.
"""

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from tasks.common.archives import extract, is_archive
from tasks.common.errors import InputError
from tasks.common.images import UNREADABLE, class_folders, entries, oversized
from tasks.common.io import atomic_dir, file_name, write_json
from tasks.common.limits import DEFAULT_LIMITS, Limits, load_limits
from tasks.common.params import stage_params
from tasks.common.paths import DomainPaths
from tasks.common.sources import check_source, fetched
from tasks.common.splits import SPLITS, check_split

IMAGES, REPORT = "images", "ingest.json"
POLICIES = ("fail", "skip")


@dataclass(frozen=True)
class Synthetic:
    """What `source: default` makes: digits, or generated photos (full-size JPEGs)."""

    shape: str = "digits"  # or photos: 300-500 px JPEGs of mixed sizes, balls against boxes
    count: int = 400  # photos only: digits are always scikit-learn's 1,797
    seed: int = 0


@dataclass(frozen=True)
class IngestParams:
    source: str = "default"  # "default" (generated), a folder, an archive path or URL, or a CSV
    formats: tuple[str, ...] = ("JPEG", "PNG")  # PIL format names accepted
    bad_files: str = "fail"  # or "skip": leave out corrupt files and other formats, named
    synthetic: Synthetic = Synthetic()


SHAPES = ("digits", "photos")


@dataclass(frozen=True)
class Item:
    path: Path
    label: str
    split: str | None = None


def write_digits(folder: Path) -> list[Item]:
    """scikit-learn's 1,797 8x8 digits (real scans, shipped in the package) as PNGs."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    items = []
    for i, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        path = folder / str(label) / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255 / 16).round().astype(np.uint8)).save(path)
        items.append(Item(path, str(label)))
    return items


def photo(label: str, rng: np.random.Generator) -> Image.Image:
    """A photo-like scene of mixed size: a lit gradient, texture, and one ball or box."""
    w, h = (int(v) for v in rng.integers(300, 501, 2))
    py, px = np.mgrid[0:h, 0:w]
    m = max(w, h)
    light = rng.uniform(0.2, 0.8, 3) + rng.uniform(-0.4, 0.4, 3) * (px / m + py / m)[..., None]
    scene = np.clip(light + rng.normal(0, 0.05, (h, w, 3)), 0, 1)
    r = rng.uniform(0.12, 0.3) * min(w, h)
    cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
    if label == "ball":
        inside = (px - cx) ** 2 + (py - cy) ** 2 < r**2
        shade = 1 - 0.5 * np.hypot(px - cx + r / 3, py - cy + r / 3) / (1.5 * r)
    else:
        inside = (abs(px - cx) < r) & (abs(py - cy) < r * rng.uniform(0.6, 1.0))
        shade = np.full((h, w), rng.uniform(0.6, 1.0))
    scene[inside] = np.clip(rng.uniform(0, 1, 3) * shade[inside, None], 0, 1)
    return Image.fromarray((scene * 255).astype(np.uint8))


def write_photos(folder: Path, p: Synthetic) -> list[Item]:
    rng = np.random.default_rng(p.seed)
    items = []
    for i in range(p.count):
        label = ("ball", "box")[i % 2]
        path = folder / label / f"{i:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        photo(label, rng).save(path, quality=int(rng.integers(70, 95)))
        items.append(Item(path, label))
    return items


def write_default(folder: Path, p: Synthetic) -> list[Item]:
    if p.shape not in SHAPES:
        raise InputError(
            f"vision.ingest.synthetic.shape {p.shape!r} is unknown; choose: {', '.join(SHAPES)}"
        )
    return write_photos(folder, p) if p.shape == "photos" else write_digits(folder)


def image_folder(root: Path) -> list[Item]:
    """Class sub-folders, or train/ val/ test/ folders of class sub-folders."""
    folders = [p for p in entries(root) if p.is_dir()]
    if len(folders) == len(entries(root)) == 1 and any(p.is_dir() for p in entries(folders[0])):
        return image_folder(folders[0])  # a single top folder, as archives often have
    split_names = {p.name for p in folders}
    if split_names and split_names <= set(SPLITS) and "train" in split_names:
        return [
            Item(item.path, item.label, split.name)
            for split in folders
            for item in class_items(split)
        ]
    return class_items(root)


def class_items(root: Path) -> list[Item]:
    return [Item(path, label) for path, label in class_folders(root)]


def csv_items(path: Path) -> list[Item]:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if not {"path", "label"} <= set(table.columns):
        raise InputError(f"{path}: needs columns path and label; found {', '.join(table.columns)}")
    splits = table["split"] if "split" in table else [None] * len(table)
    rows = zip(table.path, table.label, splits, strict=True)
    items = []
    for row, (file, label, given) in enumerate(rows, start=1):
        split = check_split(given, f"{path}: row {row}")
        if not (path.parent / file).is_file():
            raise InputError(f"{path}: row {row}: file {file} does not exist")
        items.append(Item(path.parent / file, label, split))
    return items


def problem(path: Path, formats: tuple[str, ...], limits: Limits = DEFAULT_LIMITS) -> str | None:
    """Why the file is not an acceptable image, or None. It is decoded in full, so a
    truncated file fails here and not in a later stage."""
    try:
        with Image.open(path) as image:
            if image.format not in formats:
                return f"a {image.format} image, not {' or '.join(formats)}"
            if why := oversized(image, limits):
                return why
            image.load()
    except UNREADABLE as e:
        return f"not a readable image ({type(e).__name__}: {e})"
    return None


def check(
    items: list[Item], p: IngestParams, source: str, limits: Limits = DEFAULT_LIMITS
) -> tuple[list[Item], dict[str, str]]:
    """The good items, and the skipped ones with why (under the skip policy)."""
    if p.bad_files not in POLICIES:
        raise InputError(f"vision.ingest.bad_files is {p.bad_files!r}; choose fail or skip")
    good, skipped = [], {}
    for item in items:
        why = problem(item.path, p.formats, limits)
        if why and p.bad_files == "fail":
            raise InputError(
                f"{file_name(item.path)}: {why} (vision.ingest.bad_files: skip leaves it out)"
            )
        if why:
            skipped[file_name(item.path)] = why
        else:
            good.append(item)
    if not good:
        raise InputError(f"{source}: no images")
    labels = {item.label for item in good}
    if len(labels) < 2:
        raise InputError(
            f"{source}: every image is in class {labels.pop()!r}; classification needs two or more"
        )
    return good, skipped


def gather(p: IngestParams, scratch: Path, limits: Limits = DEFAULT_LIMITS) -> list[Item]:
    """The source's items; archives and generated images are first written under `scratch`."""
    if p.source == "default":
        return write_default(scratch, p.synthetic)
    if is_archive(p.source):
        with fetched(p.source, limits) as archive:
            extract(archive, p.source, scratch, limits)
        return image_folder(scratch)
    check_source(p.source, limits)
    path = Path(p.source)
    if path.suffix.lower() == ".csv" and path.is_file():
        return csv_items(path)
    if path.is_dir():
        return image_folder(path)
    raise InputError(f"cannot read {p.source}: not a folder, an archive or a CSV of path,label")


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"ingest": IngestParams}


def run(paths: DomainPaths) -> None:
    p = stage_params(paths.root, IngestParams, "vision.ingest")
    limits = load_limits(paths.root)
    with tempfile.TemporaryDirectory() as scratch:
        items, skipped = check(gather(p, Path(scratch), limits), p, p.source, limits)
        with atomic_dir(paths.raw) as tmp:
            for n, item in enumerate(items):
                dest = tmp / IMAGES / (item.split or "") / item.label / f"{n:05d}_{item.path.name}"
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(item.path, dest)
            counts = pd.Series([i.label for i in items]).value_counts().sort_index()
            write_json(
                tmp / REPORT,
                {"images": len(items), "classes": counts.to_dict(), "skipped": skipped},
            )
    note = f"; skipped {len(skipped)} bad file(s), named in {REPORT}" if skipped else ""
    print(f"ingested {len(items)} images in {len(counts)} classes{note} -> {paths.raw / IMAGES}")
    for path, why in skipped.items():
        print(f"  skipped {path}: {why}")
