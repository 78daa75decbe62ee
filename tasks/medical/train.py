"""The screening CNN, trained with class weights, checkpoints every epoch and DVCLive curves."""

import dataclasses
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import keras  # noqa: E402  (after models.medical, which picks the backend)
import numpy as np
import tensorflow as tf  # noqa: E402
from safetensors.numpy import load_file, save_file
from sklearn.utils.class_weight import compute_class_weight

from models.medical import ScreeningConfig, build_screening_model
from tasks.common.io import atomic_dir, read_json, write_json
from tasks.common.params import load_params, parse
from tasks.common.paths import DomainPaths
from tasks.medical import preprocess
from tasks.medical.preprocess import Arrays

WEIGHTS, CONFIG, RUN_CONFIG, BACKUP = "model.safetensors", "model.json", "run.json", "backup"


@dataclass(frozen=True)
class TrainParams:
    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.001
    class_weights: bool = True
    seed: int = 0


def dataset(a: Arrays, batch: int, seed: int | None = None) -> tf.data.Dataset:
    """uint8 arrays in memory -> batches; shuffled (seeded, each epoch anew) when seed is set."""
    ds = tf.data.Dataset.from_tensor_slices((a.images, a.labels.astype(np.float32)))
    if seed is not None:
        ds = ds.shuffle(len(a.labels), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch).prefetch(tf.data.AUTOTUNE)


def class_weight(labels: np.ndarray) -> dict[int, float]:
    """Balanced weights, so the minority (positive) class counts as much as the majority."""
    weights = compute_class_weight("balanced", classes=np.array([0, 1]), y=labels)
    return {0: float(weights[0]), 1: float(weights[1])}


def distribution() -> tf.distribute.Strategy:
    """bf16 on a GPU, and all GPUs through MirroredStrategy when there are several."""
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def run_config(train: Arrays, cfg: ScreeningConfig, p: TrainParams) -> dict:
    data = hashlib.sha256(train.images.tobytes() + train.labels.tobytes()).hexdigest()
    return {"model": dataclasses.asdict(cfg), "train": dataclasses.asdict(p), "data": data}


def restorable(backup: Path) -> bool:
    """Keras can restore it: its weights open, or the previous epoch's copy is there (a kill
    while saving truncates the first; `double_checkpoint` keeps the second)."""
    import h5py

    weights = backup / "latest.weights.h5"
    try:
        with h5py.File(weights, "r"):
            return True
    except OSError:
        return weights.with_name(weights.name + ".bkp").is_file()


def keep_matching_backup(checkpoints: Path, config: dict) -> bool:
    """A backup from other params or data, or one too damaged to restore, is removed; True if
    a matching one remains."""
    marker = checkpoints / RUN_CONFIG
    if marker.is_file() and read_json(marker) == config and restorable(checkpoints / BACKUP):
        return True
    shutil.rmtree(checkpoints, ignore_errors=True)
    checkpoints.mkdir(parents=True)
    write_json(marker, config)
    return False


class CrashAfter(keras.callbacks.Callback):
    """Ends training with an error after an epoch's backup, as a killed process would."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.epochs:
            raise KeyboardInterrupt(f"stopped after epoch {epoch + 1}")


def train(
    train: Arrays,
    val: Arrays,
    cfg: ScreeningConfig,
    p: TrainParams,
    checkpoints: Path,
    live_dir: Path | None = None,
    stop_after: int | None = None,
) -> keras.Model | None:
    """Fit (resuming a matching backup); the model, or None if stopped by `stop_after`."""
    keras.utils.set_random_seed(p.seed)
    tf.config.experimental.enable_op_determinism()
    resuming = keep_matching_backup(checkpoints, run_config(train, cfg, p))
    if resuming:
        print(f"resuming from the backup in {checkpoints}", flush=True)
    with distribution().scope():
        model = build_screening_model(cfg, train.images.shape[1], p.seed)
        model.compile(
            optimizer=keras.optimizers.Adam(p.lr),
            loss="binary_crossentropy",
            metrics=[keras.metrics.AUC(name="auc")],
        )
    callbacks = [
        keras.callbacks.BackupAndRestore(str(checkpoints / BACKUP), double_checkpoint=True)
    ]
    if live_dir:
        from dvclive import Live
        from dvclive.keras import DVCLiveCallback

        live = Live(str(live_dir), resume=resuming, save_dvc_exp=False, dvcyaml=False)
        callbacks.append(DVCLiveCallback(live=live))
    if stop_after is not None:
        callbacks.append(CrashAfter(stop_after))
    try:
        model.fit(
            dataset(train, p.batch_size, seed=p.seed),
            validation_data=dataset(val, p.batch_size),
            epochs=p.epochs,
            class_weight=class_weight(train.labels) if p.class_weights else None,
            callbacks=callbacks,
            verbose=2,
        )
    except KeyboardInterrupt:
        if stop_after is None:
            raise
        return None
    shutil.rmtree(checkpoints, ignore_errors=True)
    return model


def save_model(model: keras.Model, cfg: ScreeningConfig, folder: Path) -> None:
    """Weights as safetensors (byte-stable, no pickle) and the config that rebuilds the net."""
    save_file({f"{i:04d}": np.asarray(w) for i, w in enumerate(model.weights)}, folder / WEIGHTS)
    write_json(folder / CONFIG, {"size": model.input_shape[1], **dataclasses.asdict(cfg)})


def load_model(folder: Path) -> keras.Model:
    meta = read_json(folder / CONFIG)
    size = meta.pop("size")
    model = build_screening_model(ScreeningConfig(**meta), size)
    weights = load_file(folder / WEIGHTS)
    for i, w in enumerate(model.weights):
        w.assign(weights[f"{i:04d}"])
    return model


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"model": ScreeningConfig, "train": TrainParams}


def run(paths: DomainPaths) -> None:
    params = load_params(paths.root)["medical"]
    cfg = parse(ScreeningConfig, params["model"], "medical.model")
    p = parse(TrainParams, params["train"], "medical.train")
    model = train(
        preprocess.load(paths.processed, "train"),
        preprocess.load(paths.processed, "val"),
        cfg,
        p,
        paths.checkpoints,
        paths.live,
    )
    with atomic_dir(paths.model) as tmp:
        save_model(model, cfg, tmp)
    print(f"trained {model.name} for {p.epochs} epochs -> {paths.model}")
