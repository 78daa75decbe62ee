"""Contiguous ids, positives, a leave-last-out split and a fixed set of test negatives.

Users with a single positive interaction keep it for training and get no test item: they can
still receive recommendations, but they are not scored (the count is in `stats.json`).
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
TRAIN, TEST, NEGATIVES, STATS = "train.parquet", "test.parquet", "test_negatives.npy", "stats.json"


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
    test: pd.DataFrame
    negatives: np.ndarray  # (len(test), negatives), row-aligned with test

    @cached_property  # every training epoch asks for it
    def seen(self) -> np.ndarray:
        """Sorted pair keys of every known interaction, train and test."""
        both = pd.concat([self.train, self.test])
        return np.unique(pair_keys(both.user.to_numpy(), both.item.to_numpy(), len(self.items)))


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


def leave_last_out(encoded: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's latest interaction is the test item; ties keep the file order."""
    ordered = encoded.sort_values(["user", "timestamp"], kind="stable")
    last = ~ordered.user.duplicated(keep="last")
    single = ordered.groupby("user").user.transform("size") == 1
    test_mask = last & ~single
    cols = ["user", "item"]
    return (
        ordered.loc[~test_mask, cols].reset_index(drop=True),
        ordered.loc[test_mask, cols].reset_index(drop=True),
    )


def split(frame: pd.DataFrame, p: PreprocessParams) -> Split:
    pos = positives(frame, p.min_rating)
    if pos.empty:
        raise InputError(f"no positive interactions at recsys.preprocess.min_rating={p.min_rating}")
    users, items = id_maps(pos)
    train, test = leave_last_out(encode(pos, users, items))
    if test.empty:
        raise InputError("no user has two or more interactions, so there is nothing to test on")
    if p.negatives < 1:
        raise InputError(
            f"recsys.preprocess.negatives is {p.negatives}: each test item needs at least 1 "
            "negative to be ranked against"
        )
    partial = Split(users, items, train, test, np.empty((0, p.negatives), np.int64))
    # every user needs unseen items to draw from, or negative sampling could never end
    seen = partial.train.groupby("user").size() + 1
    if len(items) - int(seen.max()) < p.negatives:
        raise InputError(
            f"user {users[seen.idxmax()]} has seen {int(seen.max())} of {len(items)} items, too "
            f"few left for recsys.preprocess.negatives={p.negatives}"
        )
    rng = np.random.default_rng(p.seed)
    negatives = sample_distinct_negatives(
        test.user.to_numpy(), p.negatives, len(items), partial.seen, rng
    )
    return Split(users, items, train, test, negatives)


def save(s: Split, folder: Path) -> None:
    pd.DataFrame({"user": s.users}).to_parquet(folder / USERS, index=False)
    pd.DataFrame({"item": s.items}).to_parquet(folder / ITEMS, index=False)
    s.train.to_parquet(folder / TRAIN, index=False)
    s.test.to_parquet(folder / TEST, index=False)
    np.save(folder / NEGATIVES, s.negatives)
    write_json(
        folder / STATS,
        {
            "users": len(s.users),
            "items": len(s.items),
            "train_interactions": len(s.train),
            "test_users": len(s.test),
            "train_only_users": len(s.users) - len(s.test),
        },
    )


def load(folder: Path) -> Split:
    return Split(
        users=pd.Index(pd.read_parquet(folder / USERS).user),
        items=pd.Index(pd.read_parquet(folder / ITEMS).item),
        train=pd.read_parquet(folder / TRAIN),
        test=pd.read_parquet(folder / TEST),
        negatives=np.load(folder / NEGATIVES, allow_pickle=False),
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
        f"{len(s.test)} test users -> {paths.processed}"
    )
