"""Screen scans with a registered model: probability and label at its registered threshold."""

import argparse
from pathlib import Path

from tasks.common.io import atomic_path
from tasks.common.limits import load_limits
from tasks.common.paths import DomainPaths
from tasks.common.registry import open_registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        required=True,
        help="a folder of PNG/JPEG/DICOM files (searched recursively), or an .npz with "
        "'images' or '<split>_images' arrays; other sizes are resized to the model's",
    )


def main(paths: DomainPaths, args: argparse.Namespace) -> str:
    import pandas as pd

    from tasks.medical.inputs import read_inputs, trained_window
    from tasks.medical.predictor import Predictor  # TensorFlow loads only when predicting

    folder, record = open_registry(paths).fetch(args.model)
    threshold = record["metrics"]["threshold"]
    predictor = Predictor.load(folder, record)
    limits = load_limits(paths.root)
    ids, images = read_inputs(args.input, trained_window(record), limits, predictor.mode)
    rows = predictor.predict(images)
    preds = pd.DataFrame(rows, columns=["probability", "label"])
    preds.insert(0, "id", ids)
    with atomic_path(Path(args.output)) as tmp:
        preds.to_parquet(tmp, index=False)
    positive = int(preds.label.sum())
    return f"screened {len(preds)} scans, {positive} flagged at {threshold:.4f} -> {args.output}"
