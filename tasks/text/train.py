"""Fine-tune a sequence classifier on the shared loop, to the best validation macro F1.

AdamW with linear warmup and decay, gradient clipping and accumulation, length-grouped batches
padded per batch, bf16 on a GPU, and DDP (each process takes its stride of every global batch).
"""

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import f1_score
from transformers import PreTrainedModel, PreTrainedTokenizerBase, get_linear_schedule_with_warmup

from models.text import ModelParams, build_model, with_padding
from tasks.common.io import atomic_dir
from tasks.common.paths import DomainPaths
from tasks.common.runtime import (
    Trainable,
    clear_checkpoints,
    fit,
    make_accelerator,
    seed_everything,
    shard,
)
from tasks.common.training import (
    described,
    fingerprint,
    learning_rate,
    model_and_train_params,
    write_summary,
)
from tasks.text import preprocess
from tasks.text.batches import collate, training_batches
from tasks.text.classify import predict_proba
from tasks.text.preprocess import TOKENIZER, Encoded

RATES = (1e-3, 5e-5)  # the default learning rate: from scratch, fine-tuning a checkpoint


@dataclass(frozen=True)
class TrainParams:
    max_epochs: int = 6  # also the length of the linear warmup-and-decay schedule
    patience: int = 2  # epochs without a better validation macro F1 before stopping
    batch_size: int = 32  # the global batch, shared out among DDP processes
    grad_accum: int = 1  # batches per optimizer step
    lr: float | None = None  # null: 1e-3 from scratch, 5e-5 fine-tuning a pretrained checkpoint
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1  # of all optimizer steps (over max_epochs)
    max_grad_norm: float = 1.0
    group_by_length: bool = True
    seed: int = 0


@dataclass(frozen=True)
class Data:
    train: Encoded
    val: Encoded
    labels: list[str]
    tokenizer: PreTrainedTokenizerBase  # its model_max_length is preprocess's max_length


def cross_entropy(model: PreTrainedModel, batch: dict) -> tuple[torch.Tensor, int]:
    return model(**batch).loss, len(batch["labels"])


def validation_f1_macro(data: Data, model: PreTrainedModel) -> dict[str, float]:
    predicted = predict_proba(model, data.tokenizer, data.val.ids, device=model.device).argmax(1)
    return {"val_f1_macro": float(f1_score(data.val.labels, predicted, average="macro"))}


def make_optimizer(
    model: PreTrainedModel, p: TrainParams, pretrained: bool
) -> torch.optim.Optimizer:
    """AdamW without weight decay on biases and norms, as in GPT-2's and BERT's recipes;
    frozen weights are left out."""
    weights = [w for w in model.parameters() if w.requires_grad]
    groups = [
        {"params": [w for w in weights if w.ndim >= 2], "weight_decay": p.weight_decay},
        {"params": [w for w in weights if w.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=learning_rate(p.lr, pretrained, RATES))


def train(
    data: Data, model_params: ModelParams, p: TrainParams, checkpoints: Path, live_dir=None
) -> tuple[PreTrainedModel, dict]:
    """Train to the best validation macro F1 (resuming a matching checkpoint); (model, summary)."""
    acc = make_accelerator()
    seed_everything(p.seed)
    model = build_model(model_params, data.tokenizer, data.labels)
    optimizer = make_optimizer(model, p, pretrained=model_params.name_or_path is not None)
    lengths = data.train.lengths
    steps_per_epoch = max(len(lengths) // p.batch_size // p.grad_accum, 1)
    total_steps = steps_per_epoch * p.max_epochs
    # Not prepared by accelerate, which would step it once per process: one step per update.
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(p.warmup_fraction * total_steps), total_steps
    )
    model, optimizer = acc.prepare(model, optimizer)
    labels = torch.from_numpy(data.train.labels)

    def batch(index: np.ndarray) -> dict:
        mine = shard(index, acc)
        inputs = collate(data.train.ids, mine, data.tokenizer)
        return {k: v.to(acc.device) for k, v in {**inputs, "labels": labels[mine]}.items()}

    def steps(epoch: int):
        rng = np.random.default_rng([p.seed, epoch])
        batches = training_batches(lengths, p.batch_size, rng, p.group_by_length)
        for step in range(steps_per_epoch):
            yield [batch(b) for b in batches[step * p.grad_accum : (step + 1) * p.grad_accum]]

    return fit(
        acc,
        Trainable(model, optimizer, scheduler, max_grad_norm=p.max_grad_norm),
        steps=steps,
        loss_fn=cross_entropy,
        validate=partial(validation_f1_macro, data),
        monitor="val_f1_macro",
        p=p,
        config=fingerprint(model_params, p, *data.train.ids, data.train.labels, *data.val.ids),
        checkpoints=checkpoints,
        live_dir=live_dir,
    )


def load_model(folder: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A trained model folder, as `save_pretrained` wrote it, with its tokenizer."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(folder)
    return model.eval(), with_padding(AutoTokenizer.from_pretrained(folder))


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
    model_params, p = model_and_train_params(paths, PARAMS)
    data = load_data(paths.processed)
    model, summary = train(data, model_params, p, paths.checkpoints, paths.live)
    with atomic_dir(paths.model) as tmp:
        model.save_pretrained(tmp)
        data.tokenizer.save_pretrained(tmp)
        write_summary(tmp, summary)
    clear_checkpoints(paths.checkpoints)
    print(f"trained on {len(data.train.ids)} texts: {described(summary)} -> {paths.model}")
