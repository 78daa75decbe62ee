"""medical training throughput: ours against a plain seed-style `model.fit` on numpy arrays."""

import tempfile
import time
from pathlib import Path

from models.medical import ScreeningConfig, build_screening_model  # before Keras: the backend

# isort: split
import keras

from bench.epochs import fixed_epochs
from bench.machine import keras_flops
from tasks.common.params import load_params, parse
from tasks.common.paths import domain_paths
from tasks.medical import preprocess
from tasks.medical.train import TrainParams, train

EPOCHS = 10  # fixed, so that both sides train as many epochs


TARGET = "1.3x"  # our training throughput over the seed-style `fit`
SIZE_KNOB = "ingest.synthetic.count"  # the generator's size, scaled for the memory benchmark


def quality(m: dict) -> str:
    return f"auc {m['auc']:.3f} (>= 0.9)"


def throughput(ws: Path) -> tuple[float, float]:
    """Training images per second: (ours, seed-style), on the clone's processed data."""
    params = load_params(ws)["medical"]
    cfg = parse(ScreeningConfig, params["model"], "medical.model")
    p = fixed_epochs(parse(TrainParams, params["train"], "medical.train"), EPOCHS)
    folder = domain_paths("medical", ws).processed
    tr, va = preprocess.load(folder, "train"), preprocess.load(folder, "val")
    images = len(tr.labels) * p.max_epochs

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as ckpt:
        train(tr, va, cfg, p, Path(ckpt))
    ours = images / (time.perf_counter() - start)

    keras.utils.set_random_seed(p.seed)
    model = build_screening_model(cfg, tr.images.shape[1], p.seed)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(
        tr.images.astype("float32"),
        tr.labels.astype("float32"),
        validation_data=(va.images.astype("float32"), va.labels.astype("float32")),
        epochs=p.max_epochs,
        batch_size=32,
        verbose=0,
    )
    return ours, images / (time.perf_counter() - start)


def train_flops(ws: Path) -> float:
    """FLOPs per training scan, forward and backward."""
    params = load_params(ws)["medical"]
    cfg = parse(ScreeningConfig, params["model"], "medical.model")
    images = preprocess.load(domain_paths("medical", ws).processed, "train").images
    return keras_flops(build_screening_model(cfg, images.shape[1], 0, images.shape[-1]))
