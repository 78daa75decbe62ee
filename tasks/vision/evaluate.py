"""Top-1, top-5 (with 5 or more classes) and per-class accuracy on the test split, against the
majority class; the confusion matrix is a DVC plot."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, top_k_accuracy_score

from tasks.common.io import atomic_dir
from tasks.common.metrics import describe, write_metrics
from tasks.common.params import stage_params
from tasks.common.paths import DomainPaths
from tasks.vision import preprocess
from tasks.vision.classify import predict_proba
from tasks.vision.train import load_model

CONFUSION = "confusion.csv"


@dataclass(frozen=True)
class EvaluateParams:
    batch_size: int = 256


def classification_metrics(
    actual: np.ndarray, probs: np.ndarray, train_labels: np.ndarray, classes: list[str]
) -> dict:
    index = np.arange(len(classes))
    predicted = probs.argmax(axis=1)
    matrix = confusion_matrix(actual, predicted, labels=index)
    per_class = matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1)
    majority = np.bincount(train_labels, minlength=len(classes)).argmax()
    metrics = {"accuracy": accuracy_score(actual, predicted)}
    if len(classes) >= 5:
        metrics["top5_accuracy"] = top_k_accuracy_score(actual, probs, k=5, labels=index)
    return {
        **metrics,
        "baseline_accuracy": float(np.mean(actual == majority)),
        **{f"accuracy_{name}": v for name, v in zip(classes, per_class, strict=True)},
        "images": len(actual),
    }


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"evaluate": EvaluateParams}


def run(paths: DomainPaths) -> None:
    p = stage_params(paths.root, EvaluateParams, "vision.evaluate")
    model, classes, _ = load_model(paths.model)
    test = preprocess.load(paths.processed, "test")
    train_labels = preprocess.load(paths.processed, "train").labels
    probs = predict_proba(model, test.images, p.batch_size)
    metrics = classification_metrics(test.labels, probs, train_labels, classes)
    names = np.asarray(classes)
    confusion = pd.DataFrame({"actual": names[test.labels], "predicted": names[probs.argmax(1)]})
    with atomic_dir(paths.plots) as tmp:
        confusion.to_csv(tmp / CONFUSION, index=False)
    write_metrics(paths, metrics)
    print(describe(metrics))
