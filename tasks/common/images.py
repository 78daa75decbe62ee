"""Image files in, arrays out, with an error that names the file when one is not an image."""

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from tasks.common.errors import InputError


def decode_image(path: Path, mode: str) -> np.ndarray:
    """Decode fully (so truncated files fail here, not later) into `mode` ("L" or "RGB")."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert(mode))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise InputError(f"{path}: not a readable image ({e.__class__.__name__}: {e})") from e


def resize(array: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of an (H, W) or (H, W, C) uint8 array to (size, size)."""
    if array.shape[:2] == (size, size):
        return array
    return np.asarray(Image.fromarray(array).resize((size, size), Image.Resampling.BILINEAR))


def class_folders(root: Path) -> list[tuple[Path, str]]:
    """(file, class name) for every file in root/<class>/, sorted, hidden files left out."""
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    found = [
        (path, folder.name)
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    ]
    if not found:
        raise InputError(f"{root}: no images in class sub-folders")
    return found
