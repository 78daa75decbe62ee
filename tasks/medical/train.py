"""The screening CNN, trained with class weights to the best validation AUC, with a backup
every epoch and DVCLive curves."""

# models.medical picks Keras's backend and quiets TensorFlow: it is imported before Keras.
from models.medical import ScreeningConfig, build_screening_model

# isort: split
import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from safetensors.numpy import load_file, save_file
from sklearn.utils.class_weight import compute_class_weight

from tasks.common.io import atomic_dir, read_json, write_json
from tasks.common.paths import DomainPaths
from tasks.common.training import (
    EpochClock,
    Progress,
    described,
    fingerprint,
    interrupt_after,
    model_and_train_params,
    write_summary,
)
from tasks.medical import preprocess
from tasks.medical.preprocess import Arrays

WEIGHTS, CONFIG, RUN_CONFIG, BACKUP = "model.safetensors", "model.json", "run.json", "backup"


@dataclass(frozen=True)
class TrainParams:
    max_epochs: int = 40
    patience: int = 6  # epochs without a better validation AUC before stopping
    batch_size: int = 32
    lr: float = 0.001  # the start of a cosine decay over max_epochs
    class_weights: bool = True
    seed: int = 0


def dataset(a: Arrays, batch: int, seed: int | None = None) -> tf.data.Dataset:
    """uint8 arrays in memory -> batches; shuffled (seeded, each epoch anew) when seed is set.

    Without tf.data's autotuning: `fit` makes a new iterator every epoch, and deleting the last
    one waited for its autotuning thread, about 2 s at the start of one epoch in two here (a
    third of the training time on 1,400 scans). In-memory batches need no tuning.
    """
    ds = tf.data.Dataset.from_tensor_slices((a.images, a.labels.astype(np.float32)))
    if seed is not None:
        ds = ds.shuffle(len(a.labels), seed=seed, reshuffle_each_iteration=True)
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.batch(batch).prefetch(2).with_options(options)


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


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's early stopping, keeping the best weights, whose state (best score, epochs
    waited, best weights) is saved after every epoch so that a resumed fit continues it.

    It runs before BackupAndRestore, so a kill between the two leaves the state one epoch
    ahead of the backup: the states of the last two epochs are kept, and the resumed fit picks
    the one for the epoch it restarts at."""

    def __init__(self, folder: Path, patience: int):
        super().__init__(
            monitor="val_auc", mode="max", patience=patience, restore_best_weights=True
        )
        self.folder, self.epochs_run, self.resumed = folder, 0, False

    def on_epoch_begin(self, epoch, logs=None):
        if not self.resumed:  # the first epoch of this fit: BackupAndRestore has chosen it
            self.resumed = True
            self.load(epoch)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        self.epochs_run = epoch + 1
        if self.best_weights is not None and self.best_epoch == epoch:  # this epoch is the best
            weights = {f"{i:04d}": np.asarray(w) for i, w in enumerate(self.best_weights)}
            save_file(weights, self.folder / f"best-{self.best_epoch}.safetensors")
        state = {"wait": self.wait, "best": self.best, "best_epoch": self.best_epoch}
        write_json(self.folder / f"stopping-{epoch + 1}.json", state)
        for old in self.folder.glob(f"stopping-{epoch - 1}.json"):
            old.unlink()

    def load(self, epochs_done: int) -> None:
        path = self.folder / f"stopping-{epochs_done}.json"
        if not epochs_done or not path.is_file():
            return
        state = read_json(path)
        self.wait, self.best, self.best_epoch = state["wait"], state["best"], state["best_epoch"]
        saved = load_file(self.folder / f"best-{self.best_epoch}.safetensors")
        self.best_weights = [saved[f"{i:04d}"] for i in range(len(saved))]
        self.epochs_run = epochs_done

    def summary(self) -> dict:
        progress = Progress("val_auc", float(self.best), self.best_epoch, self.wait)
        return progress.summary(self.epochs_run, self.patience)


class EpochLine(keras.callbacks.Callback):
    """The line every domain prints per epoch, in place of Keras's own."""

    def __init__(self, samples: int, max_epochs: int):
        super().__init__()
        self.samples, self.clock = samples, EpochClock(max_epochs)

    def on_epoch_begin(self, epoch, logs=None):
        self.clock.start()

    def on_epoch_end(self, epoch, logs=None):
        shown = {"train_loss": logs["loss"], "val_auc": logs["val_auc"]}
        print(self.clock.line(epoch + 1, shown, self.samples), flush=True)


class Interrupt(keras.callbacks.Callback):
    """The loop's crash hook, after each epoch's backup."""

    def on_epoch_end(self, epoch, logs=None):
        interrupt_after(epoch + 1)


def train(
    train: Arrays,
    val: Arrays,
    cfg: ScreeningConfig,
    p: TrainParams,
    checkpoints: Path,
    live_dir: Path | None = None,
) -> tuple[keras.Model, dict]:
    """Fit to the best validation AUC (resuming a matching backup); (model, summary)."""
    keras.utils.set_random_seed(p.seed)
    tf.config.experimental.enable_op_determinism()
    config = fingerprint(cfg, p, train.images, train.labels, val.labels)
    resuming = keep_matching_backup(checkpoints, config)
    if resuming:
        print(f"resuming from the backup in {checkpoints}", flush=True)
    steps = -(-len(train.labels) // p.batch_size)
    with distribution().scope():
        model = build_screening_model(cfg, train.images.shape[1], p.seed, train.images.shape[-1])
        model.compile(
            optimizer=keras.optimizers.Adam(
                keras.optimizers.schedules.CosineDecay(p.lr, steps * p.max_epochs)
            ),
            loss="binary_crossentropy",
            metrics=[keras.metrics.AUC(name="auc")],
        )
    stopping = ResumableEarlyStopping(checkpoints, p.patience)
    callbacks = [
        stopping,
        keras.callbacks.BackupAndRestore(str(checkpoints / BACKUP), double_checkpoint=True),
    ]
    if live_dir:
        from dvclive import Live
        from dvclive.keras import DVCLiveCallback

        live = Live(str(live_dir), resume=resuming, save_dvc_exp=False, dvcyaml=False)
        callbacks.append(DVCLiveCallback(live=live))
    callbacks += [EpochLine(len(train.labels), p.max_epochs), Interrupt()]
    model.fit(
        dataset(train, p.batch_size, seed=p.seed),
        validation_data=dataset(val, p.batch_size),
        epochs=p.max_epochs,
        class_weight=class_weight(train.labels) if p.class_weights else None,
        callbacks=callbacks,
        verbose=0,
    )
    shutil.rmtree(checkpoints, ignore_errors=True)
    return model, stopping.summary()


def save_model(model: keras.Model, cfg: ScreeningConfig, folder: Path) -> None:
    """Weights as safetensors (byte-stable, no pickle) and the config that rebuilds the net."""
    save_file({f"{i:04d}": np.asarray(w) for i, w in enumerate(model.weights)}, folder / WEIGHTS)
    size, channels = model.input_shape[1], model.input_shape[-1]
    write_json(folder / CONFIG, {"size": size, "channels": channels, **dataclasses.asdict(cfg)})


def load_model(folder: Path) -> keras.Model:
    meta = read_json(folder / CONFIG)
    size, channels = meta.pop("size"), meta.pop("channels", 1)
    model = build_screening_model(ScreeningConfig(**meta), size, channels=channels)
    weights = load_file(folder / WEIGHTS)
    for i, w in enumerate(model.weights):
        w.assign(weights[f"{i:04d}"])
    return model


def probabilities(model: keras.Model, images: np.ndarray, batch: int) -> np.ndarray:
    """The model's probability per scan, `batch` scans a call. Not `predict`: it builds a
    tf.data pipeline per call, ~80 ms even for one scan (evaluate and serving share this)."""
    calls = [model.predict_on_batch(images[i : i + batch]) for i in range(0, len(images), batch)]
    return np.concatenate(calls).reshape(-1)


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"model": ScreeningConfig, "train": TrainParams}


def run(paths: DomainPaths) -> None:
    cfg, p = model_and_train_params(paths, PARAMS)
    model, summary = train(
        preprocess.load(paths.processed, "train"),
        preprocess.load(paths.processed, "val"),
        cfg,
        p,
        paths.checkpoints,
        paths.live,
    )
    with atomic_dir(paths.model) as tmp:
        save_model(model, cfg, tmp)
        write_summary(tmp, summary)
    print(f"trained {model.name}: {described(summary)} -> {paths.model}")
