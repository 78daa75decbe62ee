"""Scans through ingest's writer and preprocess into a folder, as the two stages do."""

from pathlib import Path

from tasks.medical import preprocess
from tasks.medical.ingest import Scans, write
from tasks.medical.preprocess import Arrays, PreprocessParams


def prepared(
    scans: Scans, folder: Path, p: PreprocessParams | None = None, channels: int = 1
) -> dict[str, Arrays]:
    folder.mkdir(parents=True, exist_ok=True)
    write([scans], folder / "scans.parquet", "raw.parquet", channels)
    preprocess.prepare(folder / "scans.parquet", p or PreprocessParams(), folder, "raw.parquet")
    return {s: preprocess.load(folder, s) for s in ("train", "val", "test")}
