"""Scans to screen, from a folder of PNG/JPEG/DICOM files or an .npz: (ids, uint8 images)."""

import io
from pathlib import Path

import numpy as np

from tasks.common.errors import InputError
from tasks.common.images import decode_image, source_name, visible_files
from tasks.common.io import file_name
from tasks.common.limits import DEFAULT_LIMITS, Limits
from tasks.common.splits import SPLITS
from tasks.medical.ingest import Window, npz_array, read_dicom, to_pixels

DICOM_SUFFIXES = (".dcm", ".dicom")
DICOM_MAGIC = (128, b"DICM")  # after the preamble, in files written to the standard


def is_dicom(source: Path | io.BytesIO) -> bool:
    if Path(source_name(source)).suffix.lower() in DICOM_SUFFIXES:
        return True
    offset, magic = DICOM_MAGIC
    if isinstance(source, Path):
        with source.open("rb") as f:
            head = f.read(offset + len(magic))
    else:
        head = source.getvalue()[: offset + len(magic)]
    return head[offset:] == magic


def trained_window(record: dict) -> Window:
    """The DICOM window a registered version was trained with: its scans get the same."""
    from tasks.common.params import parse

    return parse(Window, record["params"]["ingest"]["window"], "medical.ingest.window")


def read_scan(source: Path | io.BytesIO, window: Window, limits: Limits, mode: str) -> np.ndarray:
    """One scan: DICOM through the window, an image file decoded in `mode`."""
    return read_dicom(source, window) if is_dicom(source) else decode_image(source, mode, limits)


def read_inputs(
    source: str, window: Window, limits: Limits = DEFAULT_LIMITS, mode: str = "L"
) -> tuple[list[str], list[np.ndarray]]:
    """(ids, scans): image files decoded in `mode` ("L" or "RGB", as the model was trained),
    DICOM through the window, .npz arrays as they are."""
    path = Path(source)
    if path.suffix == ".npz":
        try:
            arrays = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise InputError(f"cannot read {path}: {e}") from e
        keys = (
            ["images"]
            if "images" in arrays.files
            else [f"{s}_images" for s in SPLITS if f"{s}_images" in arrays.files]
        )
        if not keys:
            raise InputError(
                f"{path}: no 'images' or '<split>_images' array; found {', '.join(arrays.files)}"
            )
        ids, images = [], []
        for key in keys:
            stack = to_pixels(npz_array(arrays, key, str(path)), f"{path} {key}")
            ids += [f"{key}/{i}" for i in range(len(stack))]
            images += list(stack)
        return ids, images
    if not path.is_dir():
        raise InputError(f"cannot read {path}: not an .npz file or a folder")
    files = visible_files(path)
    if not files:
        raise InputError(f"{path}: no files to screen")
    names = [file_name(f.relative_to(path)) for f in files]
    return names, [read_scan(f, window, limits, mode) for f in files]
