"""vision training throughput on full-size photos, where decoding once should pay:
`python -m bench.photos`.

The cats-and-dogs photos in ../shared/realdata (VERTICALS_REALDATA names another folder), or,
when that is absent, the generator's `photos` preset (300-500 px JPEGs), at 112 and 224 px:
ours (decoded and resized once by preprocess) against the seed-style loop (ImageFolder, PIL
decode and resize every epoch), both fine-tuning the model `architecture: auto` picks.
"""

import subprocess
import tempfile
from pathlib import Path

from bench import vision
from bench.machine import cpu_model
from bench.quality import REALDATA
from flows.overrides import apply_overrides
from flows.report import table
from flows.repro import stage_env
from tests.workspace import clone_workspace

REPO = Path(__file__).resolve().parents[1]
SIZES = (112, 224)
PHOTOS = REALDATA / "vision" / "cats_vs_dogs_subset"


def source() -> tuple[str, str]:
    """(the params override naming the photos, what they are)."""
    if PHOTOS.is_dir():
        return f"vision.ingest.source={PHOTOS}", f"{PHOTOS.name} (real photos)"
    print(f"{PHOTOS} is absent: generated photos instead (vision.ingest.synthetic.shape=photos)")
    return "vision.ingest.synthetic.shape=photos", "generated 300-500 px JPEGs"


def measure(size: int, photos: str, scratch: Path) -> tuple[float, float]:
    ws = clone_workspace(REPO, scratch / f"ws{size}")
    apply_overrides(ws, [photos, f"vision.preprocess.size={size}"])
    subprocess.run(
        ["dvc", "repro", "preprocess@vision"], cwd=ws, env=stage_env(), check=True,
        capture_output=True,
    )  # fmt: skip
    return vision.throughput(ws)


def main() -> None:
    photos, what = source()
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for size in SIZES:
            ours, seed = measure(size, photos, Path(tmp))
            rows.append([f"{size} px", f"{ours:,.1f}", f"{seed:,.1f}", f"{ours / seed:.2f}x"])
    print(cpu_model(), "\n", sep="")
    print(f"vision on {what}: training images/s, {vision.EPOCHS} epochs each side (target 3x)\n")
    print(table(["size", "ours", "seed-style", "ratio"], rows))


if __name__ == "__main__":
    main()
