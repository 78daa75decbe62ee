"""Run by torchrun in the DDP test: train on every rank, save each rank's weights."""

import os
import sys
from pathlib import Path

from accelerate import PartialState
from safetensors.torch import save_file

from tasks.vision import preprocess
from tasks.vision.ingest import IMAGES, write_digits
from tasks.vision.preprocess import PreprocessParams
from tasks.vision.train import train
from tests.vision.conftest import TINY_MODEL, TINY_TRAIN, subset
from tests.vision.test_train import CLASSES, accuracy

if __name__ == "__main__":
    out, rank = Path(sys.argv[1]), os.environ["RANK"]
    root = out / f"data{rank}"
    write_digits(root / "raw" / IMAGES)
    (root / "processed").mkdir()
    preprocess.write(root / "raw", PreprocessParams(), root / "processed")
    data = {s: preprocess.load(root / "processed", s) for s in ("train", "val")}
    model, _ = train(
        subset(data["train"], 640), data["val"], CLASSES, TINY_MODEL, TINY_TRAIN, out / "ckpt"
    )
    assert PartialState().num_processes == 2  # the ranks really joined one group
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, out / f"rank{rank}.safetensors"
    )
    if rank == "0":
        (out / "accuracy.txt").write_text(str(accuracy(model, data["val"])))
