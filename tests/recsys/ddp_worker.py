"""Run by torchrun in test_ddp: train tiny NeuMF on every rank, save the weights from rank 0."""

import dataclasses
import os
import sys
from pathlib import Path

from accelerate import PartialState
from safetensors.torch import save_file

from tasks.recsys.train import TrainParams, train
from tests.recsys.test_train import CFG, tiny_split

DDP_PARAMS = TrainParams(max_epochs=2, batch_size=512, lr=0.01)
DDP_CFG = dataclasses.replace(CFG, dropout=0.0)  # dropout masks differ with the batch split

if __name__ == "__main__":
    out = Path(sys.argv[1])
    model, _ = train(tiny_split(), DDP_CFG, DDP_PARAMS, out / "ckpt")
    if os.environ.get("RANK", "0") == "0":
        weights = {k: v.contiguous() for k, v in model.state_dict().items()}
        world = str(PartialState().num_processes)  # proves the ranks really joined one group
        save_file(weights, out / "weights.safetensors", metadata={"world_size": world})
