"""Fine-tune a CNN on the shared loop, on memory-mapped uint8 tensors, to the best validation
accuracy.

Augmentation (RandomResizedCrop, optional flip) runs per epoch on those tensors with
torchvision.transforms.v2. SGD with momentum or AdamW, a cosine schedule per step, label
smoothing, channels_last, bf16 on a GPU, and DDP: each process takes its stride of every global
batch.
"""

import dataclasses
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from torchvision.transforms import v2

from models.vision import NORMALIZE, ModelParams, build_model, resolve
from tasks.common.errors import InputError
from tasks.common.io import atomic_dir, read_json, write_json
from tasks.common.paths import DomainPaths
from tasks.common.runtime import Trainable, clear_checkpoints, fit, make_accelerator, shard
from tasks.common.training import (
    described,
    fingerprint,
    learning_rate,
    model_and_train_params,
    write_summary,
)
from tasks.vision import preprocess
from tasks.vision.classify import predict_proba
from tasks.vision.preprocess import Images, Sizes

WEIGHTS, CONFIG = "model.safetensors", "model.json"
OPTIMIZERS = ("sgd", "adamw")
RATES = (0.05, 0.005)  # the default learning rate: from scratch, fine-tuning pretrained weights


@dataclass(frozen=True)
class Augment:
    crop_scale: tuple[float, ...] = (0.7, 1.0)  # RandomResizedCrop's area range
    flip: bool = False  # horizontal flips: off for digits, whose mirror images are not digits


@dataclass(frozen=True)
class TrainParams:
    max_epochs: int = 20
    patience: int = 3  # epochs without a better validation accuracy before stopping
    batch_size: int = 64  # the global batch, shared out among DDP processes
    optimizer: str = "sgd"  # or adamw
    lr: float | None = None  # null: 0.05 from scratch, 0.005 fine-tuning pretrained weights
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    augment: Augment = Augment()
    seed: int = 0


def augmentation(size: int, a: Augment) -> v2.Compose:
    steps = [v2.RandomResizedCrop(size, scale=a.crop_scale, antialias=True)]
    return v2.Compose(steps + [v2.RandomHorizontalFlip()] if a.flip else steps)


def make_optimizer(params, p: TrainParams, pretrained: bool) -> torch.optim.Optimizer:
    lr = learning_rate(p.lr, pretrained, RATES)
    if p.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=p.momentum, weight_decay=p.weight_decay)
    if p.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=p.weight_decay)
    raise InputError(f"vision.train.optimizer {p.optimizer!r}: choose from {', '.join(OPTIMIZERS)}")


def frozen_backbone_mode(model: nn.Module) -> None:
    """Training mode, except that a frozen backbone keeps its batch-norm statistics."""
    model.train()
    model.apply(lambda m: m.eval() if isinstance(m, nn.modules.batchnorm._BatchNorm) else None)


def validation_accuracy(val_set: Images, model: nn.Module) -> dict[str, float]:
    device = next(model.parameters()).device
    predicted = predict_proba(model, val_set.images, device=device).argmax(1)
    return {"val_accuracy": float((predicted == val_set.labels).mean())}


def train(
    train_set: Images,
    val_set: Images,
    classes: list[str],
    model_params: ModelParams,
    p: TrainParams,
    checkpoints: Path,
    live_dir: Path | None = None,
) -> tuple[nn.Module, dict]:
    """Train to the best validation accuracy (resuming a matching checkpoint); (model, summary)."""
    acc = make_accelerator()
    torch.manual_seed(p.seed)
    model = build_model(model_params, len(classes))
    trainable = [w for w in model.parameters() if w.requires_grad]
    optimizer = make_optimizer(trainable, p, pretrained=model_params.weights is not None)
    steps_per_epoch = len(train_set.labels) // p.batch_size
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, steps_per_epoch * p.max_epochs
    )
    model, optimizer = acc.prepare(model, optimizer)
    augment = augmentation(train_set.images.shape[-1], p.augment)
    labels = torch.from_numpy(train_set.labels)

    def loss_fn(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]):
        x, y = batch
        out = model(x).float()
        return F.cross_entropy(out, y, label_smoothing=p.label_smoothing), len(y)

    def steps(epoch: int):
        order = np.random.default_rng([p.seed, epoch]).permutation(len(labels))
        for step in range(steps_per_epoch):
            mine = shard(np.sort(order[step * p.batch_size : (step + 1) * p.batch_size]), acc)
            images = torch.from_numpy(train_set.images[mine])  # one read of the memmap
            images = torch.stack([augment(image) for image in images])
            x = NORMALIZE(images).to(acc.device, memory_format=torch.channels_last)
            yield [(x, labels[mine].to(acc.device))]

    mode = frozen_backbone_mode if model_params.freeze_backbone else nn.Module.train
    return fit(
        acc,
        Trainable(model, optimizer, scheduler, train_mode=mode),
        steps=steps,
        loss_fn=loss_fn,
        validate=partial(validation_accuracy, val_set),
        monitor="val_accuracy",
        p=p,
        config=fingerprint(model_params, p, train_set.images, train_set.labels, val_set.labels),
        checkpoints=checkpoints,
        live_dir=live_dir,
    )


def save_model(model: nn.Module, p: ModelParams, classes: list[str], s: Sizes, folder: Path):
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, folder / WEIGHTS)
    config = {"architecture": p.architecture, "classes": classes, **dataclasses.asdict(s)}
    write_json(folder / CONFIG, config)


def load_model(folder: Path) -> tuple[nn.Module, list[str], Sizes]:
    """A trained model folder: the architecture with our head, weights from safetensors, and
    the sizes it was trained at."""
    config = read_json(folder / CONFIG)
    model = build_model(ModelParams(architecture=config["architecture"]), len(config["classes"]))
    model.load_state_dict(load_file(folder / WEIGHTS))
    return (
        model.eval(),
        config["classes"],
        Sizes(config["size"], config["resize"], config["photos"]),
    )


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"model": ModelParams, "train": TrainParams}


def run(paths: DomainPaths) -> None:
    model_params, p = model_and_train_params(paths, PARAMS)
    sizes = preprocess.load_sizes(paths.processed)
    model_params = resolve(model_params, sizes.photos)
    classes = preprocess.load_classes(paths.processed)
    train_set, val_set = (preprocess.load(paths.processed, s) for s in ("train", "val"))
    model, summary = train(
        train_set, val_set, classes, model_params, p, paths.checkpoints, paths.live
    )
    with atomic_dir(paths.model) as tmp:
        save_model(model, model_params, classes, sizes, tmp)
        write_summary(tmp, summary)
    clear_checkpoints(paths.checkpoints)
    print(
        f"trained {model_params.architecture} on {len(train_set.labels)} images: "
        f"{described(summary)} -> {paths.model}"
    )
