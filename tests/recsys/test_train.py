import numpy as np
import pandas as pd
import pytest
import torch

from models.recsys import NeuMF, NeuMFConfig
from tasks.recsys.evaluate import EvaluateParams, evaluate
from tasks.recsys.ingest import Synthetic, synthesize
from tasks.recsys.preprocess import PreprocessParams, split
from tasks.recsys.train import TrainParams, epoch_samples, load_model, save_model, train

CFG = NeuMFConfig(gmf_dim=8, mlp_layers=(32, 16, 8), dropout=0.1)


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


@pytest.fixture(scope="module")
def tiny():
    return split(synthesize(Synthetic(users=300, items=200, seed=1)), PreprocessParams())


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
    model = train(tiny, CFG, TrainParams(epochs=6, batch_size=512, lr=0.01), tmp_path)
    metrics, curve = evaluate(tiny, model, EvaluateParams())
    assert metrics["hr_at_10"] > 1.2 * metrics["baseline_hr_at_10"]
    assert metrics["full_hr_at_10"] > metrics["baseline_full_hr_at_10"]
    assert curve.neumf.is_monotonic_increasing


def test_resume_after_a_stop_matches_an_uninterrupted_run(tiny, tmp_path):
    p = TrainParams(epochs=3, batch_size=512)
    straight = train(tiny, CFG, p, tmp_path / "a")
    assert train(tiny, CFG, p, tmp_path / "b", stop_after=1) is None
    assert (tmp_path / "b" / "last.pt").is_file()
    resumed = train(tiny, CFG, p, tmp_path / "b")
    assert_same_weights(straight, resumed)


def test_a_checkpoint_for_other_params_is_not_resumed(tiny, tmp_path):
    train(tiny, CFG, TrainParams(epochs=2, batch_size=512, lr=0.01), tmp_path, stop_after=1)
    fresh = train(tiny, CFG, TrainParams(epochs=2, batch_size=512), tmp_path / "clean")
    other = train(tiny, CFG, TrainParams(epochs=2, batch_size=512), tmp_path)
    assert_same_weights(fresh, other)


def test_saved_model_round_trips(tiny, tmp_path):
    model = train(tiny, CFG, TrainParams(epochs=1, batch_size=512), tmp_path / "ckpt")
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
