"""Seeds, devices and precision, and checkpoints that resume only the run they belong to."""

import dataclasses
import hashlib
import pickle
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator

from tasks.common.errors import InputError
from tasks.common.io import atomic_path

CHECKPOINT = "last.pt"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_accelerator() -> Accelerator:
    """CUDA, then MPS, then CPU (accelerate's order); bf16 autocast only on CUDA."""
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    # cpu=True where there is no accelerator: only then does accelerate join torchrun's
    # processes into one gloo group, instead of running them as independent copies.
    cpu = not (torch.cuda.is_available() or torch.backends.mps.is_available())
    return Accelerator(mixed_precision="bf16" if bf16 else "no", cpu=cpu)


@dataclass
class Trainable:
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any = None


def run_config(model_params: Any, train_params: Any, *data: np.ndarray) -> dict:
    """What a checkpoint must match to be resumed: the params and a fingerprint of the data."""
    digest = hashlib.sha256()
    for array in data:
        digest.update(np.ascontiguousarray(array).tobytes())
    return {
        "model": dataclasses.asdict(model_params),
        "train": dataclasses.asdict(train_params),
        "data": digest.hexdigest(),
    }


def save_checkpoint(
    path: Path, acc: Accelerator, parts: Trainable, epoch: int, config: dict
) -> None:
    """Everything a resume needs, in a file `torch.load(weights_only=True)` can read."""
    if not acc.is_main_process:
        return
    state = {
        "model": acc.unwrap_model(parts.model).state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict() if parts.scheduler else None,
        "scaler": acc.scaler.state_dict() if acc.scaler else None,
        "epoch": epoch,
        "config": config,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def resume(path: Path, acc: Accelerator, parts: Trainable, config: dict) -> int:
    """Load the checkpoint if it was written for this exact config; return the next epoch."""
    if not path.is_file():
        return 0
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # not plain tensors: possibly planted, never run
        raise InputError(f"{path}: refused, not a weights-only checkpoint ({e!s:.120})") from e
    if state.get("config") != config:
        return 0
    acc.unwrap_model(parts.model).load_state_dict(state["model"])
    parts.optimizer.load_state_dict(state["optimizer"])
    if parts.scheduler and state["scheduler"]:
        parts.scheduler.load_state_dict(state["scheduler"])
    if acc.scaler and state["scaler"]:
        acc.scaler.load_state_dict(state["scaler"])
    return state["epoch"] + 1


def fit(
    acc: Accelerator,
    parts: Trainable,
    *,
    epochs: int,
    seed: int,
    config: dict,
    checkpoints: Path,
    run_epoch: Callable[[int], dict[str, float]],
    live_dir: Path | None = None,
    stop_after: int | None = None,
) -> bool:
    """Run the remaining epochs with a checkpoint after each; True once all epochs are done.

    Each epoch reseeds from (seed, epoch), so a resumed run draws the same samples, dropout
    masks and shuffles as an uninterrupted one. `stop_after` ends this call early, as a crash
    would. Curves go to DVCLive in `live_dir`, continued on resume and restarted otherwise.
    """
    ckpt = checkpoints / CHECKPOINT
    start = resume(ckpt, acc, parts, config)
    if start and acc.is_main_process:
        print(f"resuming after epoch {start} from {ckpt}", flush=True)
    live = _live(live_dir, resume=start > 0) if live_dir and acc.is_main_process else None
    try:
        for epoch in range(start, epochs):
            seed_everything(seed * 10_007 + epoch)
            logs = run_epoch(epoch)
            if live:
                for name, value in logs.items():
                    live.log_metric(name, value)
                live.next_step()
            save_checkpoint(ckpt, acc, parts, epoch, config)
            acc.wait_for_everyone()
            if stop_after is not None and epoch + 1 >= stop_after and epoch + 1 < epochs:
                return False
        return True
    finally:
        if live:
            live.end()


def _live(folder: Path, resume: bool):
    from dvclive import Live  # imported late: it pulls in DVC, which stages without curves skip

    return Live(str(folder), resume=resume, save_dvc_exp=False, dvcyaml=False)


def clear_checkpoints(checkpoints: Path) -> None:
    """Once the final model is saved, a later run must train afresh, not resume."""
    (checkpoints / CHECKPOINT).unlink(missing_ok=True)
