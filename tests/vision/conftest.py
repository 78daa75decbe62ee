from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.vision import ModelParams
from tasks.vision import preprocess
from tasks.vision.ingest import IMAGES, write_digits
from tasks.vision.preprocess import Images, PreprocessParams
from tasks.vision.train import TrainParams

TINY_MODEL = ModelParams(architecture="resnet18")
TINY_TRAIN = TrainParams(max_epochs=4, batch_size=32, lr=0.05)


@pytest.fixture(scope="session")
def digits(tmp_path_factory) -> dict[str, Images]:
    """The default data, preprocessed: train, val and test splits of 32x32 digits."""
    root = tmp_path_factory.mktemp("digits")
    write_digits(root / "raw" / IMAGES)
    (root / "processed").mkdir()
    preprocess.write(root / "raw", PreprocessParams(), root / "processed")
    return {s: preprocess.load(root / "processed", s) for s in ("train", "val", "test")}


def subset(images: Images, n: int) -> Images:
    return Images(np.array(images.images[:n]), images.labels[:n])


def png(path: Path, value: int = 0, size: int = 12, fmt: str = "PNG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path, format=fmt)
    return path
