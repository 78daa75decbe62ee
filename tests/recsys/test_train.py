import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from models.recsys import NeuMF, NeuMFConfig
from tasks.recsys.evaluate import EvaluateParams, evaluate
from tasks.recsys.ingest import Synthetic, synthesize
from tasks.recsys.preprocess import PreprocessParams, split
from tasks.recsys.train import TrainParams, epoch_samples, load_model, save_model, train
from tests.conftest import assert_same_weights, stops_after

CFG = NeuMFConfig(gmf_dim=8, mlp_layers=(32, 16, 8), dropout=0.1)


def tiny_split():
    return split(synthesize(Synthetic(users=300, items=200, seed=1)), PreprocessParams())


@pytest.fixture(scope="module")
def tiny():
    return tiny_split()


def test_neumf_returns_one_logit_per_pair():
    model = NeuMF(5, 7, CFG)
    out = model(torch.tensor([0, 1, 4]), torch.tensor([6, 0, 3]))
    assert out.shape == (3,)  # the seed's model returned (B, 1) against (B,) labels


def test_epoch_samples_hold_positives_and_fresh_negatives(tiny):
    users, items, labels = epoch_samples(tiny, 3, np.random.default_rng(0))
    assert len(labels) == 4 * len(tiny.train) and labels.sum() == len(tiny.train)
    _, items_next, _ = epoch_samples(tiny, 3, np.random.default_rng(1))
    assert not np.array_equal(items, items_next)


def test_training_beats_popularity_on_tiny_data(tiny, tmp_path):
    model, summary = train(tiny, CFG, TrainParams(max_epochs=6, batch_size=512, lr=0.01), tmp_path)
    assert 1 <= summary["best_epoch"] <= summary["epochs_run"] <= 6
    metrics, curve = evaluate(tiny, model, EvaluateParams())
    assert metrics["hr_at_10"] > 1.2 * metrics["baseline_hr_at_10"]
    assert metrics["full_hr_at_10"] > metrics["baseline_full_hr_at_10"]
    assert curve.neumf.is_monotonic_increasing


def test_resume_after_a_stop_matches_an_uninterrupted_run(tiny, tmp_path):
    p = TrainParams(max_epochs=3, batch_size=512)
    straight, summary = train(tiny, CFG, p, tmp_path / "a")
    with stops_after(1):
        train(tiny, CFG, p, tmp_path / "b")
    assert (tmp_path / "b" / "last.pt").is_file()
    resumed, resumed_summary = train(tiny, CFG, p, tmp_path / "b")
    assert_same_weights(straight, resumed)
    assert resumed_summary == summary


def test_a_checkpoint_for_other_params_is_not_resumed(tiny, tmp_path):
    with stops_after(1):
        train(tiny, CFG, TrainParams(max_epochs=2, batch_size=512, lr=0.01), tmp_path)
    fresh, _ = train(tiny, CFG, TrainParams(max_epochs=2, batch_size=512), tmp_path / "clean")
    other, _ = train(tiny, CFG, TrainParams(max_epochs=2, batch_size=512), tmp_path)
    assert_same_weights(fresh, other)


def test_saved_model_round_trips(tiny, tmp_path):
    model, _ = train(tiny, CFG, TrainParams(max_epochs=1, batch_size=512), tmp_path / "ckpt")
    folder = tmp_path / "model"
    folder.mkdir()
    src = tmp_path / "src"
    src.mkdir()
    pd.DataFrame({"user": tiny.users}).to_parquet(src / "users.parquet")
    pd.DataFrame({"item": tiny.items}).to_parquet(src / "items.parquet")
    save_model(model, CFG, tiny, src, folder)
    loaded = load_model(folder)
    u, i = torch.arange(10), torch.arange(10)
    model.eval()
    assert torch.equal(model(u, i), loaded(u, i))


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_matches_one_process(tmp_path):
    """gloo DDP through accelerate: the two ranks' half-batches make the one-process batch.

    Float summation order differs, and Adam amplifies that in rarely-updated embedding rows,
    so the stated tolerance is 0.05 absolute on every weight (one process against two measured
    0.014) and 0.02 on HR@10. Doubling the batch, or ranks that never joined, breaks both.
    """
    from safetensors import safe_open

    from tests.conftest import REPO, sh
    from tests.recsys.ddp_worker import DDP_CFG, DDP_PARAMS

    sh(
        "torchrun",
        "--nproc_per_node",
        "2",
        str(REPO / "tests/recsys/ddp_worker.py"),
        str(tmp_path),
        cwd=REPO,
        env={"PYTHONPATH": str(REPO)},
    )
    with safe_open(tmp_path / "weights.safetensors", "pt") as f:
        assert f.metadata()["world_size"] == "2"
    data = tiny_split()
    ddp = NeuMF(len(data.users), len(data.items), DDP_CFG)
    ddp.load_state_dict(load_file(tmp_path / "weights.safetensors"))
    single, _ = train(data, DDP_CFG, DDP_PARAMS, tmp_path / "single")
    for name, weight in single.state_dict().items():
        torch.testing.assert_close(ddp.state_dict()[name], weight, rtol=0, atol=0.05, msg=name)
    hr = [evaluate(data, m.eval(), EvaluateParams())[0]["hr_at_10"] for m in (ddp, single)]
    assert abs(hr[0] - hr[1]) <= 0.02
