"""The one split: a source's own, or a stratified one, with train and val fit to score."""

from dataclasses import dataclass

import numpy as np
import pytest

from tasks.common.errors import InputError
from tasks.common.splits import assign_splits


@dataclass(frozen=True)
class Fractions:
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    seed: int = 0


def test_a_source_split_whose_val_holds_one_class_is_named():
    labels = [0, 1] * 10 + [0] * 4
    given = ["train"] * 20 + ["val"] * 4
    with pytest.raises(InputError, match="scans.csv: the val split holds only class 0"):
        assign_splits(labels, given, Fractions(), "scans.csv")


def test_a_source_split_without_val_is_named():
    with pytest.raises(InputError, match="x: the val split is empty"):
        assign_splits([0, 1] * 5, ["train"] * 8 + ["test"] * 2, Fractions(), "x")


def test_a_source_may_leave_out_test_and_the_stratified_split_covers_every_row():
    parts = assign_splits([0, 1] * 5 + [0, 1], ["train"] * 10 + ["val"] * 2, Fractions(), "x")
    assert len(parts["test"]) == 0
    drawn = assign_splits([0, 1] * 50, [None] * 100, Fractions(), "x")
    rows = np.concatenate(list(drawn.values()))
    assert sorted(rows) == list(range(100))
    assert all(set(np.asarray([0, 1] * 50)[drawn[s]]) == {0, 1} for s in drawn)
