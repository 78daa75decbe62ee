"""text training throughput: ours against the seed's loop, on the same model and data."""

import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from bench.epochs import fixed_epochs
from bench.machine import torch_flops
from models.text import ModelParams, build_model
from tasks.common.params import load_params, parse
from tasks.common.paths import domain_paths
from tasks.common.training import learning_rate
from tasks.text.train import RATES, Data, TrainParams, load_data, train

SEED_BATCH = 32


EPOCHS = 4  # fixed, so that both sides train as many epochs


TARGET = "2x"  # our training throughput over the seed-style loop
SIZE_KNOB = "ingest.synthetic.count"  # the generator's size, scaled for the memory benchmark


def quality(m: dict) -> str:
    return f"accuracy {m['accuracy']:.3f} (>= 0.9)"


def seed_style_epoch(data: Data, model, optimizer) -> int:
    """The seed's loop, fixed to run: every text padded to the longest in the whole dataset
    (`padding=True` on all of it at once), a plain DataLoader, batch 32, fp32."""
    batch = data.tokenizer.pad({"input_ids": data.train.ids}, return_tensors="pt")
    labels = torch.from_numpy(data.train.labels)
    loader = DataLoader(
        TensorDataset(batch["input_ids"], batch["attention_mask"], labels),
        batch_size=SEED_BATCH,
        shuffle=True,
    )
    model.train()
    for ids, mask, y in loader:
        loss = model(input_ids=ids, attention_mask=mask, labels=y).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return len(labels)


def throughput(ws: Path) -> tuple[float, float]:
    """Training samples per second: (ours, seed-style), on the clone's processed data."""
    params = load_params(ws)["text"]
    model_params = parse(ModelParams, params["model"], "text.model")
    p = fixed_epochs(parse(TrainParams, params["train"], "text.train"), EPOCHS)
    data = load_data(domain_paths("text", ws).processed)

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as ckpt:
        train(data, model_params, p, Path(ckpt))
    samples = len(data.train.ids) // p.batch_size * p.batch_size * p.max_epochs
    ours = samples / (time.perf_counter() - start)

    torch.manual_seed(p.seed)
    model = build_model(model_params, data.tokenizer, data.labels)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=learning_rate(p.lr, model_params.name_or_path is not None, RATES)
    )
    start = time.perf_counter()
    done = sum(seed_style_epoch(data, model, optimizer) for _ in range(p.max_epochs))
    return ours, done / (time.perf_counter() - start)


def train_flops(ws: Path) -> float:
    """FLOPs per training text, forward and backward, on texts of the data's own lengths
    (one at a time: no padding counted)."""
    params = load_params(ws)["text"]
    data = load_data(domain_paths("text", ws).processed)
    model = build_model(
        parse(ModelParams, params["model"], "text.model"), data.tokenizer, data.labels
    )
    texts = [torch.tensor(ids, dtype=torch.long)[None] for ids in data.train.ids[:SEED_BATCH]]
    labels = torch.from_numpy(data.train.labels[:SEED_BATCH]).long()

    def step() -> None:
        for ids, label in zip(texts, labels, strict=False):
            model(input_ids=ids, labels=label[None]).loss.backward()

    return torch_flops(step, len(texts))
