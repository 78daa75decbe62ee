"""The classifier report text and vision share, checked by hand."""

import numpy as np
import pytest

from tasks.common.classification import classification_metrics


def one_hot(predicted, classes):
    return np.eye(classes)[predicted]


def test_metrics_by_hand_against_the_training_majority():
    actual = np.array([0, 0, 1, 2])
    probs = one_hot([0, 1, 1, 2], 3)
    m = classification_metrics(actual, probs, np.array([1, 1, 0]), ["a", "b", "c"])
    assert m["accuracy"] == 0.75
    assert m["baseline_accuracy"] == 0.25  # always "b", the training split's majority
    assert m["precision_b"] == 0.5 and m["recall_a"] == 0.5 and m["recall_c"] == 1.0
    assert m["f1_macro"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert "top5_accuracy" not in m and m["examples"] == 4


def test_top5_with_five_classes_or_more():
    probs = np.tile(np.linspace(0.5, 0.1, 6), (2, 1))  # class 0 first, class 5 last
    m = classification_metrics(np.array([4, 5]), probs, np.array([0]), list("abcdef"))
    assert m["accuracy"] == 0 and m["top5_accuracy"] == 0.5
