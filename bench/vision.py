"""vision training throughput: ours against the seed's loop, on the same model and data."""

import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from bench.epochs import fixed_epochs
from bench.machine import torch_flops
from models.vision import MEAN, STD, ModelParams, build_model, resolve
from tasks.common.params import load_params, parse
from tasks.common.paths import domain_paths
from tasks.common.training import learning_rate
from tasks.vision import preprocess
from tasks.vision.ingest import IMAGES
from tasks.vision.train import RATES, TrainParams, train

SEED_BATCH = 32
EPOCHS = 2  # each side's warm-up is the same, and the figure is per image


TARGET = "3x"  # our training throughput over the seed-style loop
SIZE_KNOB = None  # the digits are fixed: the memory benchmark repeats them (bench/memory.py)


def quality(m: dict) -> str:
    return f"accuracy {m['accuracy']:.3f} (>= 0.95)"


def seed_style_epoch(folder: Path, size: int, model, optimizer) -> int:
    """The seed's loop, fixed to run: ImageFolder decoding every JPEG/PNG with PIL and
    resizing it every epoch, a plain DataLoader, batch 32, fp32."""
    tf = transforms.Compose(
        [transforms.Resize((size, size)), transforms.ToTensor(), transforms.Normalize(MEAN, STD)]
    )
    loader = DataLoader(
        datasets.ImageFolder(folder, transform=tf), batch_size=SEED_BATCH, shuffle=True
    )
    criterion = torch.nn.CrossEntropyLoss()
    model.train()
    seen = 0
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        seen += len(y)
    return seen


def throughput(ws: Path) -> tuple[float, float]:
    """Training images per second: (ours, seed-style), on the clone's data."""
    params = load_params(ws)["vision"]
    paths = domain_paths("vision", ws)
    photos = preprocess.load_sizes(paths.processed).photos
    model_params = resolve(parse(ModelParams, params["model"], "vision.model"), photos)
    p = fixed_epochs(parse(TrainParams, params["train"], "vision.train"), EPOCHS)
    classes = preprocess.load_classes(paths.processed)
    train_set, val_set = (preprocess.load(paths.processed, s) for s in ("train", "val"))

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as ckpt:
        train(train_set, val_set, classes, model_params, p, Path(ckpt))
    ours = len(train_set.labels) // p.batch_size * p.batch_size * EPOCHS
    ours /= time.perf_counter() - start

    torch.manual_seed(p.seed)
    model = build_model(model_params, len(classes)).to(memory_format=torch.contiguous_format)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=learning_rate(p.lr, model_params.weights is not None, RATES),
        momentum=p.momentum,
    )
    size = train_set.images.shape[-1]
    start = time.perf_counter()
    # the seed trains on every image ingest wrote; ours on the train split only
    done = sum(seed_style_epoch(paths.raw / IMAGES, size, model, optimizer) for _ in range(EPOCHS))
    return ours, done / (time.perf_counter() - start)


def train_flops(ws: Path) -> float:
    """FLOPs per training image at the trained size, forward and backward."""
    paths = domain_paths("vision", ws)
    photos = preprocess.load_sizes(paths.processed).photos
    params = load_params(ws)["vision"]["model"]
    model_params = resolve(parse(ModelParams, params, "vision.model"), photos)
    model = build_model(model_params, len(preprocess.load_classes(paths.processed)))
    size = preprocess.load(paths.processed, "train").images.shape[-1]
    x, y = torch.zeros(SEED_BATCH, 3, size, size), torch.zeros(SEED_BATCH, dtype=torch.long)
    loss = torch.nn.CrossEntropyLoss()
    return torch_flops(lambda: loss(model(x), y).backward(), SEED_BATCH)
