"""recsys training throughput: ours against the seed's loop, on the same model and data."""

import random
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from bench.epochs import fixed_epochs
from bench.machine import torch_flops
from models.recsys import NeuMF, NeuMFConfig
from tasks.common.params import load_params, parse
from tasks.common.paths import domain_paths
from tasks.recsys import preprocess
from tasks.recsys.preprocess import Split
from tasks.recsys.train import TrainParams, train

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SEED_BATCH = 256  # a typical tutorial DataLoader batch; the seed names none


EPOCHS = 10  # fixed, so that both sides train as many epochs


TARGET = "1.5x"  # our training throughput over the seed-style loop
SIZE_KNOB = "ingest.synthetic.users"  # the generator's size, scaled for the memory benchmark


def quality(m: dict) -> str:
    return f"hr@10 {m['hr_at_10'] / m['baseline_hr_at_10']:.2f}x popularity (>= 1.5x)"


def seed_style_epoch(split: Split, model: NeuMF, ratio: int, optimizer) -> int:
    """The seed's loop, fixed to run: per-row Python negative sampling, a DataLoader, fp32."""
    seen = set(zip(split.train.user.tolist(), split.train.item.tolist(), strict=True))
    seen |= set(zip(split.test.user.tolist(), split.test.item.tolist(), strict=True))
    users, items, labels = [], [], []
    for u, i in zip(split.train.user.tolist(), split.train.item.tolist(), strict=True):
        users.append(u), items.append(i), labels.append(1.0)
        for _ in range(ratio):
            j = random.randrange(len(split.items))
            while (u, j) in seen:
                j = random.randrange(len(split.items))
            users.append(u), items.append(j), labels.append(0.0)
    data = TensorDataset(torch.tensor(users), torch.tensor(items), torch.tensor(labels))
    criterion = torch.nn.BCEWithLogitsLoss()
    for u, i, y in DataLoader(data, batch_size=SEED_BATCH, shuffle=True):
        model.zero_grad()
        loss = criterion(model(u, i), y)
        loss.backward()
        optimizer.step()
    return len(labels)


def throughput(ws: Path) -> tuple[float, float]:
    """Training samples per second: (ours, seed-style), on the clone's processed data."""
    params = load_params(ws)["recsys"]
    cfg = parse(NeuMFConfig, params["model"], "recsys.model")
    p = fixed_epochs(parse(TrainParams, params["train"], "recsys.train"), EPOCHS)
    split = preprocess.load(domain_paths("recsys", ws).processed)
    samples = len(split.train) * (1 + p.negatives_per_positive) * p.max_epochs

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as ckpt:
        train(split, cfg, p, Path(ckpt))
    ours = samples / (time.perf_counter() - start)

    torch.manual_seed(p.seed)
    model = NeuMF(len(split.users), len(split.items), cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=p.lr)
    start = time.perf_counter()
    done = sum(
        seed_style_epoch(split, model, p.negatives_per_positive, optimizer)
        for _ in range(p.max_epochs)
    )
    return ours, done / (time.perf_counter() - start)


def train_flops(ws: Path) -> float:
    """FLOPs per training sample (user-item pair), forward and backward."""
    cfg = parse(NeuMFConfig, load_params(ws)["recsys"]["model"], "recsys.model")
    split = preprocess.load(domain_paths("recsys", ws).processed)
    model = NeuMF(len(split.users), len(split.items), cfg)
    ids, labels = torch.zeros(SEED_BATCH, dtype=torch.long), torch.zeros(SEED_BATCH)
    loss = torch.nn.BCEWithLogitsLoss()
    return torch_flops(lambda: loss(model(ids, ids), labels).backward(), SEED_BATCH)
