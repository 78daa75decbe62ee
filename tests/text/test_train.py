import numpy as np
import pytest
import torch

from models.text import ModelParams
from tasks.text.classify import predict_proba
from tasks.text.train import TrainParams, train
from tests.conftest import assert_same_weights, stops_after
from tests.text.conftest import TINY_MODEL, TINY_TRAIN, processed


def held_out_accuracy(model, data) -> float:
    predicted = predict_proba(model, data.tokenizer, data.val.ids).argmax(1)
    return float((predicted == data.val.labels).mean())


def majority_accuracy(data) -> float:
    return float(np.bincount(data.val.labels).max() / len(data.val.labels))


def test_training_from_scratch_beats_the_majority_class(tiny_data, tmp_path):
    model, _ = train(tiny_data, TINY_MODEL, TINY_TRAIN, tmp_path)
    assert held_out_accuracy(model, tiny_data) > majority_accuracy(tiny_data) + 0.3


def test_fine_tuning_a_local_checkpoint(local_checkpoint, tmp_path):
    params = ModelParams(name_or_path=str(local_checkpoint))
    data = processed(tmp_path / "processed", params)
    model, _ = train(data, params, TINY_TRAIN, tmp_path / "ckpt")
    assert held_out_accuracy(model, data) > majority_accuracy(data) + 0.3


def test_resume_after_a_stop_matches_an_uninterrupted_run(tiny_data, tmp_path):
    p = TrainParams(max_epochs=2, batch_size=16, grad_accum=2, lr=0.003)
    straight = train(tiny_data, TINY_MODEL, p, tmp_path / "a")
    with stops_after(1):
        train(tiny_data, TINY_MODEL, p, tmp_path / "b")
    assert (tmp_path / "b" / "last.pt").is_file()
    resumed = train(tiny_data, TINY_MODEL, p, tmp_path / "b")
    assert_same_weights(straight[0], resumed[0])
    assert straight[1] == resumed[1]


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_matches_one_process(tmp_path):
    """gloo DDP through accelerate: each rank pads and runs half of every global batch.

    The two halves' gradients are averaged instead of summed in one pass, so the weights
    differ by float rounding only: stated tolerance 1e-3 absolute (measured 4.3e-5).
    """
    from safetensors.torch import load_file

    from tests.conftest import REPO, sh
    from tests.text.ddp_worker import DDP_TRAIN, data_folder

    sh(
        "torchrun",
        "--nproc_per_node",
        "2",
        str(REPO / "tests/text/ddp_worker.py"),
        str(tmp_path),
        cwd=REPO,
        env={"PYTHONPATH": str(REPO)},
    )
    ddp = load_file(tmp_path / "weights.safetensors")
    single, _ = train(processed(data_folder(tmp_path)), TINY_MODEL, DDP_TRAIN, tmp_path / "single")
    for name, weight in single.state_dict().items():
        torch.testing.assert_close(ddp[name], weight, rtol=0, atol=1e-3, msg=name)
