"""Contiguous ids, positives, a leave-last-out split and fixed sets of sampled negatives.

Each user's latest interaction is their test item and the one before it their validation item
(what early stopping watches, so it never sees the test). A user keeps at least one
interaction for training: with one in all they get no test item, with two no validation item.
They still receive recommendations; the counts are in `stats.json`.
"""

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.common.errors import InputError
from tasks.common.io import atomic_dir, write_json
from tasks.common.params import stage_params
from tasks.common.paths import DomainPaths
from tasks.recsys.ingest import OUTPUT as RAW
from tasks.recsys.sampling import pair_keys, sample_distinct_negatives

USERS, ITEMS = "users.parquet", "items.parquet"
TRAIN, STATS = "train.parquet", "stats.json"
HELD_OUT = ("val", "test")  # each a .parquet of (user, item) and a _negatives.npy


@dataclass(frozen=True)
class PreprocessParams:
    min_rating: float | None = None  # ratings below it are not positives; None keeps all
    negatives: int = 99
    seed: int = 0


@dataclass(frozen=True)
class Split:
    users: pd.Index  # position = contiguous id, value = original id
    items: pd.Index
    train: pd.DataFrame  # user, item as contiguous ids
    val: pd.DataFrame
    test: pd.DataFrame
    val_negatives: np.ndarray  # (len(val), negatives), row-aligned with val
    negatives: np.ndarray  # (len(test), negatives), row-aligned with test

    @cached_property  # every training epoch asks for it
    def seen(self) -> np.ndarray:
        """Sorted pair keys of every known interaction: train, validation and test."""
        every = pd.concat([self.train, self.val, self.test])
        return np.unique(pair_keys(every.user.to_numpy(), every.item.to_numpy(), len(self.items)))

    def held_out(self, name: str) -> tuple[pd.DataFrame, np.ndarray]:
        """The validation or test pairs and their negatives."""
        return (self.val, self.val_negatives) if name == "val" else (self.test, self.negatives)


def positives(frame: pd.DataFrame, min_rating: float | None) -> pd.DataFrame:
    kept = frame if min_rating is None else frame[frame.rating >= min_rating]
    return kept.drop_duplicates(["user", "item"], keep="last")


def id_maps(frame: pd.DataFrame) -> tuple[pd.Index, pd.Index]:
    return pd.Index(np.sort(frame.user.unique())), pd.Index(np.sort(frame.item.unique()))


def encode(frame: pd.DataFrame, users: pd.Index, items: pd.Index) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user": users.get_indexer(frame.user).astype(np.int64),
            "item": items.get_indexer(frame.item).astype(np.int64),
            "timestamp": frame.timestamp.to_numpy(),
        }
    )


def leave_last_out(ordered: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's last row, held out unless it is their only one; (rest, held out)."""
    last = ~ordered.user.duplicated(keep="last")
    single = ordered.groupby("user").user.transform("size") == 1
    held = last & ~single
    return ordered[~held], ordered.loc[held, ["user", "item"]].reset_index(drop=True)


def time_split(encoded: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train, val, test): the latest interaction tests, the one before validates; ties keep
    the file order."""
    ordered = encoded.sort_values(["user", "timestamp"], kind="stable")
    rest, test = leave_last_out(ordered)
    train, val = leave_last_out(rest)
    return train[["user", "item"]].reset_index(drop=True), val, test


def split(frame: pd.DataFrame, p: PreprocessParams) -> Split:
    if p.negatives < 1:
        raise InputError(
            f"recsys.preprocess.negatives is {p.negatives}: each test item needs at least 1 "
            "negative to be ranked against"
        )
    pos = positives(frame, p.min_rating)
    if pos.empty:
        raise InputError(f"no positive interactions at recsys.preprocess.min_rating={p.min_rating}")
    users, items = id_maps(pos)
    train, val, test = time_split(encode(pos, users, items))
    if val.empty:
        raise InputError(
            "no user has three or more interactions, so there is nothing to validate on "
            "(the validation split is empty)"
        )
    none = np.empty((0, p.negatives), np.int64)
    partial = Split(users, items, train, val, test, none, none)
    # every user needs unseen items to draw from, or negative sampling could never end
    seen = pd.concat([train, val, test]).groupby("user").size()
    if len(items) - int(seen.max()) < p.negatives:
        raise InputError(
            f"user {users[seen.idxmax()]} has seen {int(seen.max())} of {len(items)} items, too "
            f"few left for recsys.preprocess.negatives={p.negatives}"
        )
    rng = np.random.default_rng(p.seed)
    test_neg, val_neg = (
        sample_distinct_negatives(held.user.to_numpy(), p.negatives, len(items), partial.seen, rng)
        for held in (test, val)
    )
    return Split(users, items, train, val, test, val_neg, test_neg)


def save(s: Split, folder: Path) -> None:
    pd.DataFrame({"user": s.users}).to_parquet(folder / USERS, index=False)
    pd.DataFrame({"item": s.items}).to_parquet(folder / ITEMS, index=False)
    s.train.to_parquet(folder / TRAIN, index=False)
    for name in HELD_OUT:
        pairs, negatives = s.held_out(name)
        pairs.to_parquet(folder / f"{name}.parquet", index=False)
        np.save(folder / f"{name}_negatives.npy", negatives)
    write_json(
        folder / STATS,
        {
            "users": len(s.users),
            "items": len(s.items),
            "train_interactions": len(s.train),
            "val_users": len(s.val),
            "test_users": len(s.test),
            "train_only_users": len(s.users) - len(s.test),
        },
    )


def load(folder: Path) -> Split:
    return Split(
        users=pd.Index(pd.read_parquet(folder / USERS).user),
        items=pd.Index(pd.read_parquet(folder / ITEMS).item),
        train=pd.read_parquet(folder / TRAIN),
        val=pd.read_parquet(folder / "val.parquet"),
        test=pd.read_parquet(folder / "test.parquet"),
        val_negatives=np.load(folder / "val_negatives.npy", allow_pickle=False),
        negatives=np.load(folder / "test_negatives.npy", allow_pickle=False),
    )


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"preprocess": PreprocessParams}


def run(paths: DomainPaths) -> None:
    params = stage_params(paths.root, PreprocessParams, "recsys.preprocess")
    s = split(pd.read_parquet(paths.raw / RAW), params)
    with atomic_dir(paths.processed) as tmp:
        save(s, tmp)
    print(
        f"{len(s.users)} users, {len(s.items)} items, {len(s.train)} train interactions, "
        f"{len(s.val)} validation and {len(s.test)} test users -> {paths.processed}"
    )
