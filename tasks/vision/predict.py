"""Label, probability and top-5 for every image in a folder or an archive."""

import argparse
import tempfile
from pathlib import Path

from tasks.common.errors import InputError
from tasks.common.images import visible_files
from tasks.common.io import atomic_path, file_name
from tasks.common.paths import DomainPaths
from tasks.common.registry import open_registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input", required=True, help="a folder of images (searched recursively) or an archive"
    )
    parser.add_argument("--batch-size", type=int, default=256)


def main(paths: DomainPaths, args: argparse.Namespace) -> str:
    import pandas as pd

    from tasks.common.archives import extract, is_archive
    from tasks.common.images import decode_image
    from tasks.common.limits import load_limits
    from tasks.common.sources import fetched
    from tasks.vision.predictor import Predictor

    folder, record = open_registry(paths).fetch(args.model)
    limits = load_limits(paths.root)
    formats = tuple(record["params"]["ingest"]["formats"])  # what the model was trained on
    predictor = Predictor.load(folder, record)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        if is_archive(args.input):
            with fetched(args.input, limits) as archive:
                extract(archive, args.input, Path(scratch), limits)
            root = Path(scratch)
        else:
            root = Path(args.input)
            if not root.is_dir():
                raise InputError(f"{args.input}: not a folder or an archive")
        files = visible_files(root)
        if not files:
            raise InputError(f"{args.input}: no images")
        for start in range(0, len(files), args.batch_size):
            chunk = files[start : start + args.batch_size]
            rows += predictor.predict([decode_image(p, "RGB", limits, formats) for p in chunk])
    preds = pd.DataFrame(rows, columns=["label", "probability", "top5", "top5_probability"])
    preds.insert(0, "file", [file_name(path.relative_to(root)) for path in files])
    with atomic_path(Path(args.output)) as tmp:
        preds.to_parquet(tmp, index=False)
    return f"labelled {len(preds)} images -> {args.output}"
