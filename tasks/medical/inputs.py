"""Scans to screen, from a folder of PNG/JPEG/DICOM files or an .npz: (ids, uint8 images)."""

from pathlib import Path

import numpy as np

from tasks.common.errors import InputError
from tasks.common.images import decode_image, visible_files
from tasks.common.io import file_name
from tasks.common.limits import DEFAULT_LIMITS, Limits
from tasks.common.splits import SPLITS
from tasks.medical.ingest import Window, npz_array, read_dicom, to_pixels

DICOM_SUFFIXES = (".dcm", ".dicom")


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
    images = [
        read_dicom(f, window)
        if f.suffix.lower() in DICOM_SUFFIXES
        else decode_image(f, mode, limits)
        for f in files
    ]
    return names, images
