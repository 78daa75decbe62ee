"""Peak RSS of every stage at the default data size and at 10x, one process per stage.

Each scale runs in a clone of its own with one training epoch: an epoch's count changes the
time, not the memory. Vision has no size knob (its default is scikit-learn's 1,797 digits), so
both of its scales read a generated ImageFolder: the digits, 1 or 10 shifted copies of each.
"""

import importlib
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from flows.overrides import apply_overrides
from flows.repro import stage_env
from tasks.common.params import load_params, section
from tasks.common.paths import STEPS
from tests.workspace import clone_workspace

REPO = Path(__file__).resolve().parents[1]
SCALES = (1, 10)


def shifted_digits(folder: Path, copies: int) -> Path:
    """The digits as an ImageFolder, each repeated `copies` times, rolled one pixel further."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    for copy in range(copies):
        for i, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
            pixels = np.roll((image * 255 / 16).round().astype(np.uint8), copy, axis=1)
            path = folder / str(label) / f"{copy}-{i:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path)
    return folder


def overrides(domain: str, scale: int, scratch: Path) -> list[str]:
    knob = importlib.import_module(f"bench.{domain}").SIZE_KNOB  # scaled from params.yaml's
    if knob is None:
        size = f"vision.ingest.source={shifted_digits(scratch / 'digits', scale)}"
    else:
        default = section(load_params(REPO), f"{domain}.{knob}")
        size = f"{domain}.{knob}={default * scale}"
    return [size, f"{domain}.train.max_epochs=1"]


def peak_rss_mb(cmd: list[str], cwd: Path) -> float:
    """The command's own peak resident set, measured by bench.peak_rss."""
    probe = [sys.executable, "-m", "bench.peak_rss", *cmd]
    env = {**stage_env(), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(probe, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return float(proc.stderr.strip().splitlines()[-1].removeprefix("peak_rss_mb="))


def stage_peaks(domain: str, scale: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        ws = clone_workspace(REPO, Path(tmp) / "ws")
        apply_overrides(ws, overrides(domain, scale, Path(tmp)))
        return {s: peak_rss_mb(["verticals", "stage", domain, s], ws) for s in STEPS}


def measure(domain: str) -> dict[int, dict[str, float]]:
    return {scale: stage_peaks(domain, scale) for scale in SCALES}
