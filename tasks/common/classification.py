"""What text and vision report for a classifier on its test split: accuracy, macro F1, top-5
(with 5 classes or more), per-class precision and recall, the majority-class baseline, and the
confusion matrix as a DVC plot."""

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)

from tasks.common.io import atomic_dir
from tasks.common.metrics import describe, write_metrics
from tasks.common.paths import DomainPaths

CONFUSION = "confusion.csv"


def classification_metrics(
    actual: np.ndarray, probs: np.ndarray, train_labels: np.ndarray, names: list[str]
) -> dict:
    """`probs` (N, classes); the baseline always answers the training split's majority."""
    classes = np.arange(len(names))
    predicted = probs.argmax(axis=1)
    precision, recall, _, _ = precision_recall_fscore_support(
        actual, predicted, labels=classes, zero_division=0
    )
    majority = np.bincount(train_labels, minlength=len(names)).argmax()
    metrics = {
        "accuracy": accuracy_score(actual, predicted),
        "f1_macro": f1_score(actual, predicted, labels=classes, average="macro", zero_division=0),
        "baseline_accuracy": float(np.mean(actual == majority)),
    }
    if len(names) >= 5:
        metrics["top5_accuracy"] = top_k_accuracy_score(actual, probs, k=5, labels=classes)
    return {
        **metrics,
        **{f"precision_{name}": v for name, v in zip(names, precision, strict=True)},
        **{f"recall_{name}": v for name, v in zip(names, recall, strict=True)},
        "examples": len(actual),
    }


def write_report(
    paths: DomainPaths, actual: np.ndarray, probs: np.ndarray, train_labels, names: list[str]
) -> None:
    metrics = classification_metrics(actual, probs, train_labels, names)
    labels = np.asarray(names)
    confusion = pd.DataFrame({"actual": labels[actual], "predicted": labels[probs.argmax(1)]})
    with atomic_dir(paths.plots) as tmp:
        confusion.to_csv(tmp / CONFUSION, index=False)
    write_metrics(paths, metrics)
    print(describe(metrics))
