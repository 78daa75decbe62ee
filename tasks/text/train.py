"""Fine-tune a sequence classifier with an accelerate loop.

AdamW with linear warmup and decay, gradient clipping and accumulation, length-grouped batches
padded per batch, bf16 on a GPU, and DDP: each process takes its stride of every global batch,
so any number of processes computes the one-process step.
"""

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase, get_linear_schedule_with_warmup

from models.text import ModelParams, build_model, with_padding
from tasks.common.io import atomic_dir
from tasks.common.params import load_params, parse
from tasks.common.paths import DomainPaths
from tasks.common.runtime import (
    Trainable,
    clear_checkpoints,
    fit,
    make_accelerator,
    run_config,
    seed_everything,
)
from tasks.text import preprocess
from tasks.text.batches import collate, training_batches
from tasks.text.classify import predict_proba
from tasks.text.preprocess import TOKENIZER, Encoded


@dataclass(frozen=True)
class TrainParams:
    epochs: int = 4
    batch_size: int = 32  # the global batch, shared out among DDP processes
    grad_accum: int = 1  # batches per optimizer step
    lr: float = 0.001
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1  # of all optimizer steps
    max_grad_norm: float = 1.0
    group_by_length: bool = True
    seed: int = 0


@dataclass(frozen=True)
class Data:
    train: Encoded
    val: Encoded
    labels: list[str]
    tokenizer: PreTrainedTokenizerBase  # its model_max_length is preprocess's max_length


def train(
    data: Data,
    model_params: ModelParams,
    p: TrainParams,
    checkpoints: Path,
    live_dir: Path | None = None,
    stop_after: int | None = None,
) -> PreTrainedModel | None:
    """Train (resuming a matching checkpoint); the model, or None if stopped early."""
    acc = make_accelerator()
    seed_everything(p.seed)
    model = build_model(model_params, data.tokenizer, data.labels)
    # no weight decay on biases and norms, as in GPT-2's own recipe
    decay = [w for w in model.parameters() if w.ndim >= 2]
    no_decay = [w for w in model.parameters() if w.ndim < 2]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": p.weight_decay},
            {"params": no_decay, "weight_decay": 0},
        ],
        lr=p.lr,
    )
    lengths = data.train.lengths
    steps_per_epoch = max(len(lengths) // p.batch_size // p.grad_accum, 1)
    total_steps = steps_per_epoch * p.epochs
    # Not prepared by accelerate, which would step it once per process: one step per update.
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(p.warmup_fraction * total_steps), total_steps
    )
    model, optimizer = acc.prepare(model, optimizer)
    labels = torch.from_numpy(data.train.labels)

    def run_epoch(epoch: int) -> dict[str, float]:
        rng = np.random.default_rng([p.seed, epoch])
        batches = training_batches(lengths, p.batch_size, rng, p.group_by_length)
        model.train()
        total = torch.zeros((), device=acc.device)
        for step in range(steps_per_epoch):
            group = batches[step * p.grad_accum : (step + 1) * p.grad_accum]
            for n, batch in enumerate(group):
                mine = batch[acc.process_index :: acc.num_processes]
                inputs = {
                    k: v.to(acc.device)
                    for k, v in collate(data.train.ids, mine, data.tokenizer).items()
                }
                # Gradients sync across processes once per update, on its last batch.
                last = n == len(group) - 1
                with nullcontext() if last else acc.no_sync(model), acc.autocast():
                    loss = model(**inputs, labels=labels[mine].to(acc.device)).loss
                acc.backward(loss / len(group))
                total += loss.detach() * len(mine)
            acc.clip_grad_norm_(model.parameters(), p.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        seen = steps_per_epoch * p.grad_accum * p.batch_size
        val = predict_proba(
            acc.unwrap_model(model), data.tokenizer, data.val.ids, device=acc.device
        )
        return {
            "train_loss": acc.reduce(total, "sum").item() / seen,
            "val_accuracy": float((val.argmax(1) == data.val.labels).mean()),
            "lr": scheduler.get_last_lr()[0],
        }

    done = fit(
        acc,
        Trainable(model, optimizer, scheduler),
        epochs=p.epochs,
        seed=p.seed,
        config=run_config(model_params, p, *data.train.ids, data.train.labels),
        checkpoints=checkpoints,
        run_epoch=run_epoch,
        live_dir=live_dir,
        stop_after=stop_after,
    )
    return acc.unwrap_model(model) if done else None


def load_data(processed: Path) -> Data:
    from transformers import AutoTokenizer

    tokenizer = with_padding(AutoTokenizer.from_pretrained(processed / TOKENIZER))
    return Data(
        train=preprocess.load(processed, "train"),
        val=preprocess.load(processed, "val"),
        labels=preprocess.load_labels(processed),
        tokenizer=tokenizer,
    )


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"model": ModelParams, "train": TrainParams}


def run(paths: DomainPaths) -> None:
    params = load_params(paths.root)["text"]
    model_params = parse(ModelParams, params["model"], "text.model")
    p = parse(TrainParams, params["train"], "text.train")
    data = load_data(paths.processed)
    model = train(data, model_params, p, paths.checkpoints, paths.live)
    with atomic_dir(paths.model) as tmp:
        model.save_pretrained(tmp)
        data.tokenizer.save_pretrained(tmp)
    clear_checkpoints(paths.checkpoints)
    print(f"trained for {p.epochs} epochs on {len(data.train.ids)} texts -> {paths.model}")
