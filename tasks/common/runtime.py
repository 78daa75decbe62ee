"""The one torch training loop (recsys, text, vision), with its devices, seeds and checkpoints.

In the style of torchvision's references: `train_one_epoch` runs one pass of optimizer steps,
`fit` runs epochs until early stopping, checkpoints each one and resumes only the run it
belongs to. A domain supplies its model, its batches, its loss and its validation metric.
DDP: each process takes its stride of every global batch (`shard`), so any number of processes
computes the one-process step.
"""

import pickle
import random
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import broadcast_object_list

from tasks.common.errors import InputError
from tasks.common.io import atomic_path
from tasks.common.training import EpochClock, Progress, interrupt_after

CHECKPOINT = "last.pt"

Batch = Any  # whatever a domain's loss takes
Step = Sequence[Batch]  # the micro-batches of one optimizer step (gradient accumulation)
LossFn = Callable[[torch.nn.Module, Batch], tuple[torch.Tensor, int]]  # (mean loss, samples)


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


def shard(batch, acc: Accelerator):
    """This process's stride of a global batch (indices, an array or a tensor)."""
    return batch[acc.process_index :: acc.num_processes]


@dataclass
class Trainable:
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any = None  # stepped once per optimizer step
    max_grad_norm: float | None = None
    train_mode: Callable[[torch.nn.Module], None] = torch.nn.Module.train


def train_one_epoch(
    acc: Accelerator, parts: Trainable, steps: Iterable[Step], loss_fn: LossFn
) -> tuple[float, int]:
    """One pass of optimizer steps: (mean training loss, samples seen by all processes)."""
    parts.train_mode(parts.model)
    total = torch.zeros((), device=acc.device)
    count = torch.zeros((), device=acc.device)
    for step in steps:
        for n, batch in enumerate(step):
            # Gradients sync across processes once per step, on its last micro-batch.
            last = n == len(step) - 1
            with nullcontext() if last else acc.no_sync(parts.model), acc.autocast():
                loss, size = loss_fn(parts.model, batch)
            acc.backward(loss / len(step))
            total += loss.detach().float() * size
            count += size
        if parts.max_grad_norm is not None:
            acc.clip_grad_norm_(parts.model.parameters(), parts.max_grad_norm)
        parts.optimizer.step()
        if parts.scheduler is not None:
            parts.scheduler.step()
        parts.optimizer.zero_grad(set_to_none=True)
    total, count = acc.reduce(total, "sum").item(), int(acc.reduce(count, "sum").item())
    return total / max(count, 1), count


def cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def save_checkpoint(
    path: Path, acc: Accelerator, parts: Trainable, epoch: int, config: dict, progress, best
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
        "progress": vars(progress),
        "best": best,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def resume(path: Path, acc: Accelerator, parts: Trainable, config: dict) -> dict | None:
    """Load the checkpoint if it was written for this exact config; its state, or None."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # not plain tensors: possibly planted, never run
        raise InputError(f"{path}: refused, not a weights-only checkpoint ({e!s:.120})") from e
    if state.get("config") != config:
        return None
    acc.unwrap_model(parts.model).load_state_dict(state["model"])
    parts.optimizer.load_state_dict(state["optimizer"])
    if parts.scheduler and state["scheduler"]:
        parts.scheduler.load_state_dict(state["scheduler"])
    if acc.scaler and state["scaler"]:
        acc.scaler.load_state_dict(state["scaler"])
    return state


def fit(
    acc: Accelerator,
    parts: Trainable,
    *,
    steps: Callable[[int], Iterable[Step]],
    loss_fn: LossFn,
    validate: Callable[[torch.nn.Module], dict[str, float]],
    monitor: str,
    p: Any,  # a domain's TrainParams: max_epochs, patience, seed
    config: dict,
    checkpoints: Path,
    live_dir: Path | None = None,
) -> tuple[torch.nn.Module, dict]:
    """Train until `patience` epochs bring no better `monitor`; (best model, summary).

    Each epoch reseeds from (seed, epoch), so a resumed run draws the same samples, dropout
    masks and shuffles as an uninterrupted one, and the checkpoint carries the best weights and
    the early-stopping state. Curves go to DVCLive, continued on resume.
    """
    ckpt = checkpoints / CHECKPOINT
    state = resume(ckpt, acc, parts, config)
    progress, best = Progress(monitor), None
    start = 0
    if state:
        progress, best, start = Progress(**state["progress"]), state["best"], state["epoch"] + 1
        if acc.is_main_process:
            print(f"resuming after epoch {start} from {ckpt}", flush=True)
    live = _live(live_dir, resume=start > 0) if live_dir and acc.is_main_process else None
    clock, epoch = EpochClock(p.max_epochs), start
    try:
        while epoch < p.max_epochs and progress.waited < p.patience:
            seed_everything(p.seed * 10_007 + epoch)
            clock.start()
            loss, samples = train_one_epoch(acc, parts, steps(epoch), loss_fn)
            logs = {"train_loss": loss, **validate(acc.unwrap_model(parts.model))}
            # Every process follows the main one's scores: batch norm statistics may differ
            # per process, and the processes must stop at the same epoch.
            logs = broadcast_object_list([logs])[0] if acc.num_processes > 1 else logs
            if parts.scheduler is not None:
                logs["lr"] = parts.scheduler.get_last_lr()[0]
            if progress.update(epoch, logs[monitor]):
                best = cpu_state(acc.unwrap_model(parts.model))
            if live:
                for name, value in logs.items():
                    live.log_metric(name, value)
                live.next_step()
            save_checkpoint(ckpt, acc, parts, epoch, config, progress, best)
            acc.wait_for_everyone()
            epoch += 1
            if acc.is_main_process:
                print(clock.line(epoch, logs, samples), flush=True)
            interrupt_after(epoch)
    finally:
        if live:
            live.end()
    model = acc.unwrap_model(parts.model)
    if best is not None:  # None only if every score was NaN: keep the last weights
        model.load_state_dict(best)
    return model, progress.summary(epoch, p.patience)


def _live(folder: Path, resume: bool):
    from dvclive import Live  # imported late: it pulls in DVC, which stages without curves skip

    return Live(str(folder), resume=resume, save_dvc_exp=False, dvcyaml=False)


def clear_checkpoints(checkpoints: Path) -> None:
    """Once the final model is saved, a later run must train afresh, not resume."""
    (checkpoints / CHECKPOINT).unlink(missing_ok=True)
