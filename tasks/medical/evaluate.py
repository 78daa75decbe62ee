"""Screening metrics on the test split, at a threshold chosen on validation data.

Class-weighted training inflates the probability of a finding, so the validation split first
fits a Platt calibration (a monotone map: AUC is unchanged). The threshold is then the highest
whose calibrated validation sensitivity reaches the target, which gives the best specificity at
that sensitivity. All metrics come from scikit-learn.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    roc_auc_score,
    roc_curve,
)

from tasks.common.io import atomic_dir
from tasks.common.metrics import describe, write_metrics
from tasks.common.params import stage_params
from tasks.common.paths import DomainPaths
from tasks.medical import preprocess
from tasks.medical.train import load_model, probabilities

ROC, CONFUSION = "roc.csv", "confusion.csv"


@dataclass(frozen=True)
class EvaluateParams:
    target_sensitivity: float = 0.9
    batch_size: int = 256


EPS = 1e-6


def fit_calibration(labels: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """Platt scaling on the logit: (slope, intercept)."""
    fit = LogisticRegression(C=1e6).fit(logit(np.clip(probs, EPS, 1 - EPS))[:, None], labels)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def calibrate(probs: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    return expit(slope * logit(np.clip(probs, EPS, 1 - EPS)) + intercept)


def choose_threshold(labels: np.ndarray, probs: np.ndarray, target: float) -> float:
    _, tpr, thresholds = roc_curve(labels, probs)
    reach = np.flatnonzero(tpr >= target)
    return float(min(thresholds[reach[0]], 1.0))  # roc_curve's first threshold is +inf


def screening_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float) -> dict:
    predicted = (probs >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    return {
        "auc": roc_auc_score(labels, probs),
        "pr_auc": average_precision_score(labels, probs),
        "accuracy": accuracy_score(labels, predicted),
        "sensitivity": tp / (tp + fn),
        "specificity": tn / (tn + fp),
        "threshold": threshold,
        "brier": brier_score_loss(labels, probs),
        "positives": int(labels.sum()),
        "scans": len(labels),
    }


def plots(labels: np.ndarray, probs: np.ndarray, threshold: float) -> dict[str, pd.DataFrame]:
    fpr, tpr, _ = roc_curve(labels, probs)
    names = np.array(["negative", "positive"])
    return {
        ROC: pd.DataFrame({"fpr": fpr, "tpr": tpr}),
        CONFUSION: pd.DataFrame(
            {"actual": names[labels], "predicted": names[(probs >= threshold).astype(int)]}
        ),
    }


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"evaluate": EvaluateParams}


def run(paths: DomainPaths) -> None:
    p = stage_params(paths.root, EvaluateParams, "medical.evaluate")
    model = load_model(paths.model)
    val, test = (preprocess.load(paths.processed, s) for s in ("val", "test"))

    val_probs = probabilities(model, val.images, p.batch_size)
    slope, intercept = fit_calibration(val.labels, val_probs)
    threshold = choose_threshold(
        val.labels, calibrate(val_probs, slope, intercept), p.target_sensitivity
    )
    test_probs = calibrate(probabilities(model, test.images, p.batch_size), slope, intercept)
    metrics = screening_metrics(test.labels, test_probs, threshold)
    metrics |= {"calibration_slope": slope, "calibration_intercept": intercept}
    with atomic_dir(paths.plots) as tmp:
        for name, frame in plots(test.labels, test_probs, threshold).items():
            frame.round(6).to_csv(tmp / name, index=False)
    write_metrics(paths, metrics)
    print(describe(metrics))
