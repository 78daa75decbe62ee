"""Run by torchrun in the DDP test: train the tiny model on every rank, save from rank 0."""

import os
import sys
from pathlib import Path

from accelerate import PartialState
from safetensors.torch import save_file

from tasks.text.train import TrainParams, train
from tests.text.conftest import TINY_MODEL, processed

DDP_TRAIN = TrainParams(max_epochs=2, batch_size=16, grad_accum=2, lr=0.003)


def data_folder(out: Path) -> Path:
    return out / f"processed-{os.environ.get('RANK', 'single')}"


if __name__ == "__main__":
    out = Path(sys.argv[1])
    model, _ = train(processed(data_folder(out)), TINY_MODEL, DDP_TRAIN, out / "ckpt")
    if os.environ["RANK"] == "0":
        assert PartialState().num_processes == 2  # the ranks really joined one group
        weights = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(weights, out / "weights.safetensors")
