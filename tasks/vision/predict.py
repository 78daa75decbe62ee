"""Label, probability and top-5 for every image in a folder or an archive."""

import argparse
import tempfile
from pathlib import Path

from tasks.common.errors import InputError
from tasks.common.io import atomic_path, file_name
from tasks.common.paths import DomainPaths
from tasks.common.registry import open_registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input", required=True, help="a folder of images (searched recursively) or an archive"
    )
    parser.add_argument("--batch-size", type=int, default=256)


def image_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and not p.name.startswith((".", "__"))
    )


def main(paths: DomainPaths, args: argparse.Namespace) -> str:
    import numpy as np
    import pandas as pd
    import torch

    from tasks.common.archives import extract, is_archive
    from tasks.common.limits import load_limits
    from tasks.common.params import parse
    from tasks.common.sources import fetched
    from tasks.vision.classify import predict_proba
    from tasks.vision.ingest import problem
    from tasks.vision.preprocess import PreprocessParams, to_tensor
    from tasks.vision.train import load_model

    folder, record = open_registry(paths).fetch(args.model)
    limits = load_limits(paths.root)
    p = parse(PreprocessParams, record["params"]["preprocess"], "vision.preprocess")
    formats = tuple(record["params"]["ingest"]["formats"])  # what the model was trained on
    model, classes = load_model(folder)
    with tempfile.TemporaryDirectory() as scratch:
        if is_archive(args.input):
            with fetched(args.input, limits) as archive:
                extract(archive, args.input, Path(scratch), limits)
            root = Path(scratch)
        else:
            root = Path(args.input)
            if not root.is_dir():
                raise InputError(f"{args.input}: not a folder or an archive")
        files = image_files(root)
        if not files:
            raise InputError(f"{args.input}: no images")
        for path in files:
            if why := problem(path, formats, limits):
                raise InputError(f"{file_name(path.relative_to(root))}: {why}")
        images = torch.stack([to_tensor(path, p) for path in files]).numpy()
        names = [file_name(path.relative_to(root)) for path in files]
    probs = predict_proba(model, images, args.batch_size)
    k = min(5, len(classes))
    top = np.argsort(-probs, axis=1)[:, :k]
    labels = np.asarray(classes)
    preds = pd.DataFrame(
        {
            "file": names,
            "label": labels[top[:, 0]],
            "probability": probs[np.arange(len(files)), top[:, 0]].round(6),
            "top5": [list(labels[row]) for row in top],
            "top5_probability": [list(probs[i, row].round(6)) for i, row in enumerate(top)],
        }
    )
    with atomic_path(Path(args.output)) as tmp:
        preds.to_parquet(tmp, index=False)
    return f"labelled {len(preds)} images -> {args.output}"
