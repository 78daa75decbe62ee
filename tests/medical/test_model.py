import dataclasses
import re

import numpy as np
import pytest

from models.medical import ScreeningConfig
from tasks.common.errors import InputError
from tasks.common.io import read_json
from tasks.medical.evaluate import calibrate, choose_threshold, fit_calibration, screening_metrics
from tasks.medical.ingest import Synthetic, synthesize, write
from tasks.medical.inputs import read_inputs
from tasks.medical.predictor import Predictor
from tasks.medical.train import TrainParams, load_model, save_model, train
from tests.conftest import stops_after
from tests.medical.scans import prepared


def test_platt_calibration_is_monotone_and_fixes_inflated_probabilities():
    rng = np.random.default_rng(0)
    labels = (rng.random(2000) < 0.2).astype(int)
    true = np.where(labels == 1, 0.7, 0.1) + rng.normal(0, 0.05, 2000).clip(-0.09, 0.09)
    inflated = np.sqrt(true)  # the same ranking, every probability too high
    slope, intercept = fit_calibration(labels, inflated)
    fixed = calibrate(inflated, slope, intercept)
    assert np.array_equal(np.argsort(fixed), np.argsort(inflated))
    from sklearn.metrics import brier_score_loss

    assert brier_score_loss(labels, fixed) < brier_score_loss(labels, inflated)


def test_threshold_is_the_highest_that_reaches_the_target_sensitivity():
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    probs = np.array([0.1, 0.2, 0.6, 0.3, 0.7, 0.8, 0.9, 0.4])
    assert choose_threshold(labels, probs, 0.75) == 0.7  # 3 of 4 positives at >= 0.7
    assert choose_threshold(labels, probs, 1.0) == 0.3
    m = screening_metrics(labels, probs, 0.7)
    assert m["sensitivity"] == 0.75 and m["specificity"] == 1.0 and m["accuracy"] == 0.875


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return prepared(synthesize(Synthetic(count=1000, seed=2)), tmp_path_factory.mktemp("tiny"))


def test_preprocess_stratifies_and_keeps_uint8(tiny):
    assert {k: a.images.shape[1:] for k, a in tiny.items()} == {s: (64, 64, 1) for s in tiny}
    rates = [a.labels.mean() for a in tiny.values()]
    assert max(rates) - min(rates) < 0.03
    assert tiny["train"].images.dtype == np.uint8


def test_a_single_class_dataset_is_refused(tmp_path):
    scans = synthesize(Synthetic(count=50, positive_rate=0.0))
    with pytest.raises(InputError, match="source.npz: every scan has label 0"):
        write([scans], tmp_path / "scans.parquet", "source.npz")


def test_a_split_without_both_classes_is_refused(tmp_path):
    scans = synthesize(Synthetic(count=40, seed=1))
    labels = scans.labels
    splits = ["train"] * 30 + ["val" if y == 0 else "test" for y in labels[30:]]
    with pytest.raises(InputError, match=r"raw.parquet: the val split holds only class 0"):
        prepared(dataclasses.replace(scans, splits=splits), tmp_path / "p")


def test_training_reaches_auc_08_and_the_model_round_trips(tiny, tmp_path, capsys):
    from sklearn.metrics import roc_auc_score

    p = TrainParams(max_epochs=12, patience=4)
    model, summary = train(tiny["train"], tiny["val"], ScreeningConfig(), p, tmp_path / "ckpt")
    assert 1 <= summary["best_epoch"] <= summary["epochs_run"] <= 12
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == summary["epochs_run"]  # the line every domain prints, one per epoch
    assert re.fullmatch(
        r"epoch 1/12 train_loss=\S+ val_auc=\S+ [\d,]+ samples/s eta<=\d+s", lines[0]
    )
    probs = model.predict(tiny["test"].images, verbose=0).reshape(-1)
    assert roc_auc_score(tiny["test"].labels, probs) >= 0.8
    save_model(model, ScreeningConfig(), tmp_path)
    again = load_model(tmp_path).predict(tiny["test"].images, verbose=0).reshape(-1)
    np.testing.assert_array_equal(probs, again)
    assert not (tmp_path / "ckpt").exists()  # a finished run leaves no backup to resume


def test_resume_continues_from_the_last_epoch_and_its_early_stopping_state(tiny, tmp_path):
    cfg, p = ScreeningConfig(), TrainParams(max_epochs=4, patience=4)
    with stops_after(2):
        train(tiny["train"], tiny["val"], cfg, p, tmp_path / "ckpt")
    saved = read_json(tmp_path / "ckpt" / "stopping-2.json")
    resumed, summary = train(tiny["train"], tiny["val"], cfg, p, tmp_path / "ckpt")
    assert resumed.optimizer.iterations.numpy() == 4 * int(
        np.ceil(len(tiny["train"].labels) / p.batch_size)
    )
    assert summary["epochs_run"] == 4
    assert summary["best_val_auc"] >= round(saved["best"], 6)  # continued, not restarted
    straight, _ = train(tiny["train"], tiny["val"], cfg, p, tmp_path / "other")
    # Keras' BackupAndRestore does not restore the data shuffle's RNG, so a resumed run sees
    # other batch orders after the restart: close, not bit-identical.
    a = resumed.predict(tiny["test"].images, verbose=0)
    b = straight.predict(tiny["test"].images, verbose=0)
    assert np.abs(a - b).mean() < 0.1


def test_predict_resizes_other_sizes(tmp_path, tiny):
    p = TrainParams(max_epochs=1)
    model, _ = train(tiny["train"], tiny["val"], ScreeningConfig(), p, tmp_path / "c")
    (tmp_path / "m").mkdir()
    save_model(model, ScreeningConfig(), tmp_path / "m")
    images = {"images": np.zeros((3, 100, 80), np.uint8)}
    np.savez(tmp_path / "in.npz", **images)
    operating = {"threshold": 0.5, "calibration_slope": 1.0, "calibration_intercept": 0.0}
    ids, scans = read_inputs(str(tmp_path / "in.npz"), window=None)
    rows = Predictor.load(tmp_path / "m", {"metrics": operating}).predict(scans)
    assert ids == ["images/0", "images/1", "images/2"]
    assert all(0 <= r["probability"] <= 1 and r["label"] in (0, 1) for r in rows)


def test_training_is_deterministic_on_cpu_for_a_seed(tiny, tmp_path):
    p = TrainParams(max_epochs=1)
    a, _ = train(tiny["train"], tiny["val"], ScreeningConfig(), p, tmp_path / "a")
    b, _ = train(tiny["train"], tiny["val"], ScreeningConfig(), p, tmp_path / "b")
    for wa, wb in zip(a.weights, b.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(wa), np.asarray(wb))


def test_a_keras_applications_backbone_loads_local_weights(tmp_path):
    from models.medical import build_screening_model

    cfg = ScreeningConfig(architecture="MobileNetV2", augment=False)
    first = build_screening_model(cfg, 32)
    backbone = next(layer for layer in first.layers if layer.name.startswith("mobilenet"))
    backbone.save_weights(tmp_path / "backbone.weights.h5")
    loaded = build_screening_model(
        dataclasses.replace(cfg, weights=str(tmp_path / "backbone.weights.h5")), 32
    )
    twin = next(layer for layer in loaded.layers if layer.name.startswith("mobilenet"))
    for wa, wb in zip(backbone.weights, twin.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(wa), np.asarray(wb))
    with pytest.raises(InputError, match="unknown medical.model.architecture 'ResNet9000'"):
        build_screening_model(ScreeningConfig(architecture="ResNet9000"), 32)


def test_a_backup_truncated_by_a_kill_is_discarded_not_restored(tmp_path):
    from tasks.common.io import write_json
    from tasks.medical.train import BACKUP, RUN_CONFIG, keep_matching_backup

    config = {"train": 1}
    write_json(tmp_path / RUN_CONFIG, config)
    (tmp_path / BACKUP).mkdir()
    (tmp_path / BACKUP / "latest.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 88)
    assert not keep_matching_backup(tmp_path, config)
    assert not (tmp_path / BACKUP).exists()  # training starts afresh
