"""One train/val/test split for every domain: the source's own, or a stratified, seeded one."""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tasks.common.errors import InputError

SPLITS = ("train", "val", "test")


def check_split(value, where: str) -> str | None:
    """A source's split for one row: train, val, test, or none given (None, NaN, blank)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
        return None
    if value not in SPLITS:
        raise InputError(f"{where}: split {value!r} is not train, val or test")
    return value


def assign_splits(
    labels: Sequence, given: Sequence[str | None], p, source: str
) -> dict[str, np.ndarray]:
    """Row indices per split: the source's split when every row has one (in row order), a
    stratified, seeded one when none has (in the order the split draws them).

    `p` holds val_fraction, test_fraction and seed. A split given for some rows only is
    refused: re-splitting them at random could put one patient's scans in train and test.
    """
    named = [s is not None for s in given]
    if all(named) and len(given):
        names = np.asarray(given, dtype=object)
        return checked({s: np.flatnonzero(names == s) for s in SPLITS}, labels, source)
    if any(named):
        row = named.index(False) + 1
        raise InputError(
            f"{source}: row {row} has no split and others do: give a split for every row or none"
        )
    counts = pd.Series(labels).value_counts()
    too_few = counts[counts * min(p.val_fraction, p.test_fraction) < 1]
    if len(too_few):
        raise InputError(
            f"{source}: class {too_few.index[0]} has {too_few.iloc[0]} example(s): too few to "
            "appear in every split (val_fraction, test_fraction)"
        )
    from sklearn.model_selection import train_test_split  # 0.7 s: only where a split is drawn

    index = np.arange(len(labels))
    holdout = p.val_fraction + p.test_fraction
    train, rest = train_test_split(index, test_size=holdout, stratify=labels, random_state=p.seed)
    val, test = train_test_split(
        rest,
        test_size=p.test_fraction / holdout,
        stratify=np.asarray(labels)[rest],
        random_state=p.seed,
    )
    return checked({"train": train, "val": val, "test": test}, labels, source)


def checked(splits: dict[str, np.ndarray], labels: Sequence, source: str) -> dict[str, np.ndarray]:
    """Train and val hold two classes or more: validation scores (AUC, macro F1) choose the
    epoch that is kept, and mean nothing on one class. (A source may leave out test.)"""
    labels = np.asarray(labels)
    for name in ("train", "val"):
        rows = splits[name]
        if not len(rows):
            raise InputError(f"{source}: the {name} split is empty")
        classes = np.unique(labels[rows])
        if len(classes) < 2:
            raise InputError(
                f"{source}: the {name} split holds only class {classes[0]}: it needs two or more"
            )
    return splits
