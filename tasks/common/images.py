"""Image files in, arrays out, with an error that names the file when one is not an image."""

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from tasks.common.errors import InputError, TooLarge
from tasks.common.limits import DEFAULT_LIMITS, Limits

# What PIL raises on a file that is not a whole, sane image (a decompression bomb included)
UNREADABLE = (
    UnidentifiedImageError,
    Image.DecompressionBombError,
    OSError,
    ValueError,
    SyntaxError,
)
# 16-bit grayscale: `convert("L")` would clip every value above 255 to white
WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def to_uint8(pixels: np.ndarray, where: str) -> np.ndarray:
    """Pixels of any numeric dtype as uint8, or one clear error: never a silent wrap or clip.

    Integers must already lie in 0..255; floats in [0, 1] are scaled by 255, floats in
    [0, 255] are rounded. Anything else is refused with its dtype and range.
    """
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.bool_:
        return pixels.astype(np.uint8) * 255
    floating = pixels.dtype.kind == "f"
    if pixels.dtype.kind not in "iuf":  # timedelta64 counts as an integer to numpy
        raise InputError(f"{where}: pixels of dtype {pixels.dtype} are not real numbers")
    if pixels.size == 0:
        return pixels.astype(np.uint8)
    if floating and not np.isfinite(pixels).all():
        raise InputError(f"{where}: {pixels.dtype} pixels include NaN or infinite values")
    low, high = pixels.min(), pixels.max()
    if floating and low >= 0 and high <= 1:
        return np.round(pixels * 255).astype(np.uint8)
    if low >= 0 and high <= 255:
        return np.round(pixels).astype(np.uint8)
    raise InputError(
        f"{where}: {pixels.dtype} pixel values from {low} to {high} fit neither 0-255 nor "
        "0-1: rescale them to 8 bits first"
    )


def wide_to_uint8(pixels: np.ndarray, where: str) -> np.ndarray:
    """16-bit grayscale to 8 bits by its full scale (65535 -> 255), as a viewer shows it."""
    if pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
        raise InputError(
            f"{where}: pixel values from {pixels.min()} to {pixels.max()} are not 16-bit"
        )
    return np.round(pixels.astype(np.float32) / 257).astype(np.uint8)


def oversized(image: Image.Image, limits: Limits) -> str | None:
    """Why an image is too big to decode, from its header alone, or None."""
    width, height = image.size
    if width * height > limits.image_pixels:
        return f"{width}x{height} pixels, over limits.image_pixels ({limits.image_pixels})"
    if max(width, height) > limits.image_aspect * max(min(width, height), 1):
        return f"{width}x{height} pixels, more elongated than limits.image_aspect"
    return None


def in_memory(data: bytes, name: str) -> io.BytesIO:
    """Bytes that arrived over HTTP, read like a file of that name."""
    buffer = io.BytesIO(data)
    buffer.name = name
    return buffer


def source_name(source: Path | str | io.BytesIO) -> str:
    return source.name if isinstance(source, io.BytesIO) else str(source)


def decode_image(
    source: Path | io.BytesIO,
    mode: str,
    limits: Limits = DEFAULT_LIMITS,
    formats: tuple[str, ...] | None = None,
) -> np.ndarray:
    """Decode fully (so truncated files fail here, not later) into `mode` ("L" or "RGB");
    `formats` (PIL's names: JPEG, PNG) are the only ones accepted, when given."""
    where = source_name(source)
    try:
        with Image.open(source) as image:
            if formats and image.format not in formats:
                raise InputError(f"{where}: a {image.format} image, not {' or '.join(formats)}")
            if why := oversized(image, limits):
                raise TooLarge(f"{where}: {why}")
            if image.mode in (*WIDE_MODES, "F"):  # 16-bit or float grayscale
                convert = to_uint8 if image.mode == "F" else wide_to_uint8
                gray = convert(np.asarray(image), where)
                return gray if mode == "L" else np.repeat(gray[..., None], 3, axis=-1)
            return np.asarray(image.convert(mode))
    except UNREADABLE as e:
        why = str(e).replace(f" {source!r}", "")  # PIL names a file object by its repr
        raise InputError(f"{where}: not a readable image ({e.__class__.__name__}: {why})") from e


def resize(array: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of an (H, W) or (H, W, C) uint8 array to (size, size)."""
    if array.shape[:2] == (size, size):
        return array
    return np.asarray(Image.fromarray(array).resize((size, size), Image.Resampling.BILINEAR))


def hidden(name: str) -> bool:
    """Dot files and folders, and archivers' extras such as __MACOSX."""
    return name.startswith((".", "__"))


def entries(folder: Path) -> list[Path]:
    """A folder's visible files and sub-folders, sorted."""
    return sorted(p for p in folder.iterdir() if not hidden(p.name))


def visible_files(root: Path) -> list[Path]:
    """Every file under root, sorted, leaving out hidden files and anything in hidden folders."""
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file() and not any(hidden(part) for part in path.relative_to(root).parts)
    )


def class_folders(root: Path) -> list[tuple[Path, str]]:
    """(file, class name) for every visible file in root/<class>/, sorted."""
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    found = [
        (path, folder.name)
        for folder in entries(root)
        if folder.is_dir()
        for path in visible_files(folder)
    ]
    if not found:
        raise InputError(f"{root}: no images in class sub-folders")
    return found
