"""medical training throughput: ours against a plain seed-style `model.fit` on numpy arrays."""

import tempfile
import time
from functools import partial
from pathlib import Path

from models.medical import ScreeningConfig, build_screening_model  # before Keras: the backend

# isort: split
import keras

from bench.epochs import fixed_epochs
from bench.machine import keras_flops
from tasks.common.params import load_params, parse
from tasks.common.paths import domain_paths
from tasks.medical import preprocess
from tasks.medical.preprocess import Arrays
from tasks.medical.train import TrainParams, train

EPOCHS = 10  # fixed, so that both sides train as many epochs
ROUNDS = 2


TARGET = "1.3x"  # our training throughput over the seed-style `fit`
SIZE_KNOB = "ingest.synthetic.count"  # the generator's size, scaled for the memory benchmark


def quality(m: dict) -> str:
    return f"auc {m['auc']:.3f} (>= 0.9)"


def throughput(ws: Path) -> tuple[float, float]:
    """Training images per second: (ours, seed-style), on the clone's processed data, each
    side trained ROUNDS times in turn so that a slow spell of the machine falls on both."""
    params = load_params(ws)["medical"]
    cfg = parse(ScreeningConfig, params["model"], "medical.model")
    p = fixed_epochs(parse(TrainParams, params["train"], "medical.train"), EPOCHS)
    folder = domain_paths("medical", ws).processed
    tr, va = preprocess.load(folder, "train"), preprocess.load(folder, "val")
    images = len(tr.labels) * p.max_epochs * ROUNDS
    sides = {"ours": partial(ours, tr, va, cfg, p), "seed": partial(seed_style, tr, va, cfg, p)}
    seconds = {side: 0.0 for side in sides}
    for _ in range(ROUNDS):
        for side, fit in sides.items():
            start = time.perf_counter()
            fit()
            seconds[side] += time.perf_counter() - start
    return images / seconds["ours"], images / seconds["seed"]


def ours(tr: Arrays, va: Arrays, cfg: ScreeningConfig, p: TrainParams) -> None:
    with tempfile.TemporaryDirectory() as ckpt:
        train(tr, va, cfg, p, Path(ckpt))


def seed_style(tr: Arrays, va: Arrays, cfg: ScreeningConfig, p: TrainParams) -> None:
    keras.utils.set_random_seed(p.seed)
    model = build_screening_model(cfg, tr.images.shape[1], p.seed)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(
        tr.images.astype("float32"),
        tr.labels.astype("float32"),
        validation_data=(va.images.astype("float32"), va.labels.astype("float32")),
        epochs=p.max_epochs,
        batch_size=32,
        verbose=0,
    )


def train_flops(ws: Path) -> float:
    """FLOPs per training scan, forward and backward."""
    params = load_params(ws)["medical"]
    cfg = parse(ScreeningConfig, params["model"], "medical.model")
    images = preprocess.load(domain_paths("medical", ws).processed, "train").images
    return keras_flops(build_screening_model(cfg, images.shape[1], 0, images.shape[-1]))
