"""Accuracy, macro F1 and per-class precision and recall on the test split, against the
majority class; the confusion matrix is a DVC plot."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from models.text import load_classifier
from tasks.common.io import atomic_dir
from tasks.common.metrics import describe, write_metrics
from tasks.common.params import stage_params
from tasks.common.paths import DomainPaths
from tasks.text import preprocess
from tasks.text.classify import predict_proba

CONFUSION = "confusion.csv"


@dataclass(frozen=True)
class EvaluateParams:
    batch_size: int = 128


def classification_metrics(
    actual: np.ndarray, predicted: np.ndarray, train_labels: np.ndarray, names: list[str]
) -> dict:
    classes = np.arange(len(names))
    precision, recall, _, _ = precision_recall_fscore_support(
        actual, predicted, labels=classes, zero_division=0
    )
    majority = np.bincount(train_labels, minlength=len(names)).argmax()
    return {
        "accuracy": accuracy_score(actual, predicted),
        "f1_macro": f1_score(actual, predicted, labels=classes, average="macro", zero_division=0),
        "baseline_accuracy": accuracy_score(actual, np.full_like(actual, majority)),
        **{f"precision_{name}": v for name, v in zip(names, precision, strict=True)},
        **{f"recall_{name}": v for name, v in zip(names, recall, strict=True)},
        "texts": len(actual),
    }


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"evaluate": EvaluateParams}


def run(paths: DomainPaths) -> None:
    p = stage_params(paths.root, EvaluateParams, "text.evaluate")
    model, tokenizer = load_classifier(paths.model)
    names = preprocess.load_labels(paths.processed)
    test = preprocess.load(paths.processed, "test")
    train_labels = preprocess.load(paths.processed, "train").labels
    predicted = predict_proba(model, tokenizer, test.ids, p.batch_size).argmax(axis=1)
    metrics = classification_metrics(test.labels, predicted, train_labels, names)
    confusion = pd.DataFrame(
        {"actual": np.asarray(names)[test.labels], "predicted": np.asarray(names)[predicted]}
    )
    with atomic_dir(paths.plots) as tmp:
        confusion.to_csv(tmp / CONFUSION, index=False)
    write_metrics(paths, metrics)
    print(describe(metrics))
