"""Checkpoints are read as plain tensors: a pickle that would run code is refused, unrun."""

import pickle

import pytest
import torch

from tasks.common.errors import InputError
from tasks.common.runtime import CHECKPOINT, Trainable, make_accelerator, resume

RAN = []


def mark(what: str) -> None:
    RAN.append(what)


class Planted:
    def __reduce__(self):
        return (mark, ("ran",))


def test_a_planted_pickle_checkpoint_is_refused_and_never_runs(tmp_path):
    with open(tmp_path / CHECKPOINT, "wb") as f:
        pickle.dump({"model": Planted(), "config": {}}, f)
    model = torch.nn.Linear(2, 1)
    parts = Trainable(model, torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(InputError, match=f"{CHECKPOINT}: refused, not a weights-only checkpoint"):
        resume(tmp_path / CHECKPOINT, make_accelerator(), parts, config={})
    assert RAN == []
    pickle.loads((tmp_path / CHECKPOINT).read_bytes())  # unpickled blindly, the file runs code
    assert RAN == ["ran"]
