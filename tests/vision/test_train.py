import numpy as np
import pytest
import torch

from tasks.vision.classify import predict_proba
from tasks.vision.preprocess import Sizes
from tasks.vision.train import TrainParams, load_model, save_model, train
from tests.conftest import assert_same_weights, stops_after
from tests.vision.conftest import TINY_MODEL, TINY_TRAIN, subset

CLASSES = [str(d) for d in range(10)]


def accuracy(model, images) -> float:
    return float((predict_proba(model, images.images).argmax(1) == images.labels).mean())


def test_training_on_tiny_data_is_well_above_chance(digits, tmp_path):
    model, _ = train(
        subset(digits["train"], 640), digits["val"], CLASSES, TINY_MODEL, TINY_TRAIN, tmp_path
    )
    assert accuracy(model, digits["test"]) > 0.4  # chance is 0.1
    sizes = Sizes(32, 36, photos=False)
    save_model(model, TINY_MODEL, CLASSES, sizes, tmp_path)
    loaded, classes, loaded_sizes = load_model(tmp_path)
    assert classes == CLASSES and loaded_sizes == sizes
    x = torch.from_numpy(np.array(digits["test"].images[:4]))
    np.testing.assert_array_equal(predict_proba(model, x.numpy()), predict_proba(loaded, x.numpy()))


def test_resume_after_a_stop_matches_an_uninterrupted_run(digits, tmp_path):
    data, p = subset(digits["train"], 128), TrainParams(max_epochs=2, batch_size=32)
    straight = train(data, digits["val"], CLASSES, TINY_MODEL, p, tmp_path / "a")
    with stops_after(1):
        train(data, digits["val"], CLASSES, TINY_MODEL, p, tmp_path / "b")
    resumed = train(data, digits["val"], CLASSES, TINY_MODEL, p, tmp_path / "b")
    assert_same_weights(straight[0], resumed[0])
    assert straight[1] == resumed[1]


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(tmp_path):
    """Two gloo ranks through accelerate: they join one group, hold identical weights after
    every update, and learn. Batch norm normalises each rank's half-batch on its own, so the
    weights are not compared with one process's."""
    from safetensors.torch import load_file

    from tests.conftest import REPO, sh

    worker = str(REPO / "tests/vision/ddp_worker.py")
    sh(
        "torchrun", "--nproc_per_node", "2", worker, str(tmp_path),
        cwd=REPO, env={"PYTHONPATH": str(REPO)},
    )  # fmt: skip
    ranks = [load_file(tmp_path / f"rank{r}.safetensors") for r in (0, 1)]
    for name, weight in ranks[0].items():
        if "running" not in name and "num_batches" not in name:
            assert torch.equal(weight, ranks[1][name]), name
    assert float((tmp_path / "accuracy.txt").read_text()) > 0.3  # chance is 0.1
