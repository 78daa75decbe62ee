"""What every training loop shares, without importing a framework: when to stop, the run's
fingerprint (which checkpoints it may resume), the crash hook tests use, and the summary.

Every domain trains up to `max_epochs`, scores its validation split after each epoch on the
metric its gate uses, stops once `patience` epochs pass without improvement, and keeps the
best epoch's weights. The summary (`training.json` beside the weights) says which epoch that
was and why training stopped; evaluate copies it into metrics.json.
"""

import dataclasses
import hashlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tasks.common.errors import InputError
from tasks.common.io import read_json, write_json
from tasks.common.params import PARAMS_FILE, load_params, parse
from tasks.common.paths import DomainPaths

SUMMARY = "training.json"
STOP_AFTER = "VERTICALS_STOP_AFTER_EPOCH"  # tests: end training after this epoch, as a crash


class Interrupted(Exception):
    """Training ended before it finished, on purpose (the STOP_AFTER hook)."""


def interrupt_after(epochs_done: int) -> None:
    """The one crash hook: raise once `epochs_done` reaches STOP_AFTER, if it is set."""
    limit = os.environ.get(STOP_AFTER)
    if limit and epochs_done >= int(limit):
        raise Interrupted(f"stopped after epoch {epochs_done} ({STOP_AFTER}={limit})")


def check_stopping(p: Any, where: str) -> None:
    for name in ("max_epochs", "patience"):
        value = getattr(p, name)
        if value < 1:
            raise InputError(f"{PARAMS_FILE}: {where}.{name} is {value}; it must be at least 1")


def model_and_train_params(paths: DomainPaths, declared: dict[str, type]) -> tuple[Any, Any]:
    """A train stage's two sections (its PARAMS), parsed, with the stopping rules checked."""
    params = load_params(paths.root)[paths.domain]
    model, train = (
        parse(declared[name], params[name], f"{paths.domain}.{name}") for name in ("model", "train")
    )
    check_stopping(train, f"{paths.domain}.train")
    return model, train


def learning_rate(lr: float | None, pretrained: bool, rates: tuple[float, float]) -> float:
    """The params' rate, or with null the domain's default: (from scratch, fine-tuning)."""
    return lr if lr is not None else rates[pretrained]


def fingerprint(model_params: Any, train_params: Any, *data: np.ndarray) -> dict:
    """What a checkpoint must match to be resumed: the params and a digest of the data."""
    digest = hashlib.sha256()
    for array in data:
        digest.update(np.ascontiguousarray(array).tobytes())
    return {
        "model": dataclasses.asdict(model_params),
        "train": dataclasses.asdict(train_params),
        "data": digest.hexdigest(),
    }


@dataclass
class Progress:
    """Early stopping's state: checkpointed with the weights, so a resume continues it."""

    monitor: str
    best: float = -math.inf
    best_epoch: int = -1  # 0-based
    waited: int = 0  # epochs since the best

    def update(self, epoch: int, score: float) -> bool:
        """Record an epoch's score; True if it is the best so far (NaN never is)."""
        if score > self.best:
            self.best, self.best_epoch, self.waited = score, epoch, 0
            return True
        self.waited += 1
        return False

    def summary(self, epochs_run: int, patience: int) -> dict:
        stopped = (
            f"no {self.monitor} improvement in {patience} epochs"
            if self.waited >= patience
            else f"reached max_epochs ({epochs_run})"
        )
        return {
            "best_epoch": self.best_epoch + 1,
            "epochs_run": epochs_run,
            f"best_{self.monitor}": round(float(self.best), 6),
            "stopped": stopped,
        }


class EpochClock:
    """Times the epochs of one training run for its progress line."""

    def __init__(self, max_epochs: int):
        self.max_epochs, self.began, self.tic, self.epochs = max_epochs, None, 0.0, 0

    def start(self) -> None:
        self.tic = time.monotonic()
        self.began = self.began or self.tic

    def line(self, epoch: int, logs: dict, samples: int) -> str:
        """One line per epoch (1-based `epoch`, just finished) in every domain, through the
        stage's log to the Prefect UI: the loss, the validation score, samples/s and an upper
        bound on the time left (the mean epoch so far, times the epochs left)."""
        from tasks.common.metrics import describe  # metrics reads training summaries

        now, self.epochs = time.monotonic(), self.epochs + 1
        rate = samples / max(now - self.tic, 1e-9)
        eta = (now - self.began) / self.epochs * (self.max_epochs - epoch)
        shown = f"{describe(logs)} {rate:,.0f} samples/s eta<={eta:.0f}s"
        return f"epoch {epoch}/{self.max_epochs} {shown}"


def described(summary: dict) -> str:
    return f"best epoch {summary['best_epoch']} of {summary['epochs_run']} ({summary['stopped']})"


def write_summary(folder: Path, summary: dict) -> None:
    write_json(folder / SUMMARY, summary)


def read_summary(model_folder: Path) -> dict:
    """The training summary, for metrics.json; empty for a model folder from before it."""
    path = model_folder / SUMMARY
    return read_json(path) if path.is_file() else {}
