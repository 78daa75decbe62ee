"""Fine-tune a ResNet with an accelerate loop on memory-mapped uint8 tensors.

Augmentation (RandomResizedCrop, optional flip) runs per epoch on those tensors with
torchvision.transforms.v2. SGD with momentum or AdamW, a cosine schedule per step, label
smoothing, channels_last, bf16 on a GPU, and DDP: each process takes its stride of every global
batch.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torchvision.transforms import v2

from models.vision import NORMALIZE, ModelParams, build_model
from tasks.common.errors import InputError
from tasks.common.io import atomic_dir, read_json, write_json
from tasks.common.params import load_params, parse
from tasks.common.paths import DomainPaths
from tasks.common.runtime import Trainable, clear_checkpoints, fit, make_accelerator, run_config
from tasks.vision import preprocess
from tasks.vision.classify import predict_proba
from tasks.vision.preprocess import Images

WEIGHTS, CONFIG = "model.safetensors", "model.json"
OPTIMIZERS = ("sgd", "adamw")


@dataclass(frozen=True)
class Augment:
    crop_scale: tuple[float, ...] = (0.7, 1.0)  # RandomResizedCrop's area range
    flip: bool = False  # horizontal flips: off for digits, whose mirror images are not digits


@dataclass(frozen=True)
class TrainParams:
    epochs: int = 8
    batch_size: int = 64  # the global batch, shared out among DDP processes
    optimizer: str = "sgd"  # or adamw
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    augment: Augment = Augment()
    seed: int = 0


def augmentation(size: int, a: Augment) -> v2.Compose:
    steps = [v2.RandomResizedCrop(size, scale=a.crop_scale, antialias=True)]
    return v2.Compose(steps + [v2.RandomHorizontalFlip()] if a.flip else steps)


def make_optimizer(params, p: TrainParams) -> torch.optim.Optimizer:
    if p.optimizer == "sgd":
        return torch.optim.SGD(params, lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay)
    if p.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=p.lr, weight_decay=p.weight_decay)
    raise InputError(f"vision.train.optimizer {p.optimizer!r}: choose from {', '.join(OPTIMIZERS)}")


def train(
    train_set: Images,
    val_set: Images,
    classes: list[str],
    model_params: ModelParams,
    p: TrainParams,
    checkpoints: Path,
    live_dir: Path | None = None,
    stop_after: int | None = None,
) -> nn.Module | None:
    """Train (resuming a matching checkpoint); the model, or None if stopped early."""
    acc = make_accelerator()
    torch.manual_seed(p.seed)
    model = build_model(model_params, len(classes))
    optimizer = make_optimizer([w for w in model.parameters() if w.requires_grad], p)
    steps_per_epoch = len(train_set.labels) // p.batch_size
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps_per_epoch * p.epochs)
    model, optimizer = acc.prepare(model, optimizer)
    augment = augmentation(train_set.images.shape[-1], p.augment)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=p.label_smoothing)
    labels = torch.from_numpy(train_set.labels)

    def run_epoch(epoch: int) -> dict[str, float]:
        order = np.random.default_rng([p.seed, epoch]).permutation(len(labels))
        model.train()
        if model_params.freeze_backbone:  # a frozen backbone keeps its batch-norm statistics
            model.apply(lambda m: m.eval() if isinstance(m, nn.BatchNorm2d) else None)
        total = torch.zeros((), device=acc.device)
        for step in range(steps_per_epoch):
            batch = np.sort(order[step * p.batch_size : (step + 1) * p.batch_size])
            mine = batch[acc.process_index :: acc.num_processes]
            images = torch.from_numpy(train_set.images[mine])  # one read of the memmap
            images = torch.stack([augment(image) for image in images])
            x = NORMALIZE(images).to(acc.device, memory_format=torch.channels_last)
            with acc.autocast():
                loss = loss_fn(model(x).float(), labels[mine].to(acc.device))
            optimizer.zero_grad(set_to_none=True)
            acc.backward(loss)
            optimizer.step()
            scheduler.step()
            total += loss.detach() * len(mine)
        val = predict_proba(acc.unwrap_model(model), val_set.images, device=acc.device)
        return {
            "train_loss": acc.reduce(total, "sum").item() / (steps_per_epoch * p.batch_size),
            "val_accuracy": float((val.argmax(1) == val_set.labels).mean()),
            "lr": scheduler.get_last_lr()[0],
        }

    done = fit(
        acc,
        Trainable(model, optimizer, scheduler),
        epochs=p.epochs,
        seed=p.seed,
        config=run_config(model_params, p, train_set.images, train_set.labels),
        checkpoints=checkpoints,
        run_epoch=run_epoch,
        live_dir=live_dir,
        stop_after=stop_after,
    )
    return acc.unwrap_model(model) if done else None


def save_model(model: nn.Module, model_params: ModelParams, classes: list[str], folder: Path):
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, folder / WEIGHTS)
    write_json(folder / CONFIG, {"architecture": model_params.architecture, "classes": classes})


def load_model(folder: Path) -> tuple[nn.Module, list[str]]:
    """A trained model folder: the architecture with our head, weights from safetensors."""
    config = read_json(folder / CONFIG)
    model = build_model(ModelParams(architecture=config["architecture"]), len(config["classes"]))
    model.load_state_dict(load_file(folder / WEIGHTS))
    return model.eval(), config["classes"]


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"model": ModelParams, "train": TrainParams}


def run(paths: DomainPaths) -> None:
    params = load_params(paths.root)["vision"]
    model_params = parse(ModelParams, params["model"], "vision.model")
    p = parse(TrainParams, params["train"], "vision.train")
    classes = preprocess.load_classes(paths.processed)
    train_set, val_set = (preprocess.load(paths.processed, s) for s in ("train", "val"))
    model = train(train_set, val_set, classes, model_params, p, paths.checkpoints, paths.live)
    with atomic_dir(paths.model) as tmp:
        save_model(model, model_params, classes, tmp)
    clear_checkpoints(paths.checkpoints)
    print(
        f"trained {model_params.architecture} for {p.epochs} epochs on "
        f"{len(train_set.labels)} images -> {paths.model}"
    )
