"""Screening CNNs in Keras: the seed's small CNN, or a keras.applications backbone."""

import os
from dataclasses import dataclass

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ chatter, e.g. "no CUDA driver"

import keras  # noqa: E402
from keras import layers  # noqa: E402

from tasks.common.errors import InputError  # noqa: E402


@dataclass(frozen=True)
class ScreeningConfig:
    architecture: str = "seed_cnn"  # or a keras.applications name, e.g. "MobileNetV2"
    weights: str | None = None  # for a backbone: None or a local .weights.h5 file
    dense: int = 128
    dropout: float = 0.2
    augment: bool = True


def augmentation(seed: int) -> keras.Sequential:
    """Light, label-preserving changes; active only while training."""
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomTranslation(0.05, 0.05, seed=seed),
            layers.RandomContrast(0.1, seed=seed),
        ],
        name="augment",
    )


def seed_cnn(x):
    """The seed's network, two conv-and-pool blocks then Dense 128, with two changes: batch
    norm, which makes small-data training converge reliably, and a global max pool instead
    of Flatten, so a finding anywhere in the scan fires the same features."""
    for filters in (32, 64):
        x = layers.Conv2D(filters, 3, use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D()(x)
    return layers.GlobalMaxPooling2D()(x)


def backbone(x, cfg: ScreeningConfig, size: int):
    try:
        build = getattr(keras.applications, cfg.architecture)
    except AttributeError as e:
        raise InputError(f"unknown medical.model.architecture {cfg.architecture!r}") from e
    if x.shape[-1] == 1:
        x = layers.Concatenate()([x, x, x])  # grayscale to the three channels backbones expect
    net = build(include_top=False, weights=None, input_shape=(size, size, 3), pooling="avg")
    if cfg.weights:
        net.load_weights(cfg.weights)
    return net(x)


def build_screening_model(
    cfg: ScreeningConfig, size: int, seed: int = 0, channels: int = 1
) -> keras.Model:
    """Input: (size, size, channels) uint8 scans, 0-255, gray (1) or RGB (3); output: the
    probability of a finding."""
    inputs = keras.Input((size, size, channels), name="scan")
    x = layers.Rescaling(1 / 255)(inputs)
    if cfg.augment:
        x = augmentation(seed)(x)
    x = seed_cnn(x) if cfg.architecture == "seed_cnn" else backbone(x, cfg, size)
    x = layers.Dense(cfg.dense, activation="relu")(x)
    x = layers.Dropout(cfg.dropout, seed=seed)(x)
    # float32 output keeps the probabilities exact under mixed_bfloat16
    outputs = layers.Dense(1, activation="sigmoid", dtype="float32", name="probability")(x)
    return keras.Model(inputs, outputs, name=f"screening_{cfg.architecture}")
