"""Scans from files or an .npz, resized to the model's input, scored in batches."""

from pathlib import Path

import numpy as np
import pandas as pd

from tasks.common.errors import InputError
from tasks.common.images import decode_image, resize
from tasks.common.io import file_name, read_json
from tasks.common.limits import DEFAULT_LIMITS, Limits
from tasks.common.splits import SPLITS
from tasks.medical.evaluate import calibrate
from tasks.medical.ingest import Window, npz_array, read_dicom, to_gray
from tasks.medical.train import CONFIG, load_model

DICOM_SUFFIXES = (".dcm", ".dicom")


def read_inputs(source: str, window: Window, limits: Limits) -> tuple[list[str], list[np.ndarray]]:
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
            stack = to_gray(npz_array(arrays, key, str(path)), f"{path} {key}")
            ids += [f"{key}/{i}" for i in range(len(stack))]
            images += list(stack)
        return ids, images
    if not path.is_dir():
        raise InputError(f"cannot read {path}: not an .npz file or a folder")
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise InputError(f"{path}: no files to screen")
    names = [file_name(f.relative_to(path)) for f in files]
    images = [
        read_dicom(f, window)
        if f.suffix.lower() in DICOM_SUFFIXES
        else decode_image(f, "L", limits)
        for f in files
    ]
    return names, images


def screen(
    model_dir: Path, source: str, operating: dict, window: Window, limits: Limits = DEFAULT_LIMITS
) -> pd.DataFrame:
    """`operating`: the registered metrics, with the threshold and the calibration."""
    size = read_json(model_dir / CONFIG)["size"]
    ids, images = read_inputs(source, window, limits)
    batch = np.stack([resize(im, size) for im in images])[..., None]
    raw = load_model(model_dir).predict(batch, batch_size=256, verbose=0).reshape(-1)
    # versions registered before calibration existed chose their threshold on raw probabilities
    slope = operating.get("calibration_slope", 1.0)
    probs = calibrate(raw, slope, operating.get("calibration_intercept", 0.0))
    threshold = operating["threshold"]
    return pd.DataFrame(
        {"id": ids, "probability": probs, "label": (probs >= threshold).astype(np.int8)}
    )
