"""The recsys inference contract: a model folder loaded once, then batches of queries (an
original user id and k) -> that user's top-k unseen items, best first, with original item ids.
`verticals predict` and the API both go through it."""

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tasks.common.errors import InputError
from tasks.recsys.preprocess import ITEMS, USERS
from tasks.recsys.scoring import model_scorer, score_unseen
from tasks.recsys.train import SEEN, load_model


@dataclass(frozen=True)
class Query:
    user: str  # an original user id, matched as text
    k: int = 10


def recommend(
    model: torch.nn.Module, users: np.ndarray, n_items: int, seen: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """(len(users), k) item ids and scores, best first, never an item the user has seen."""
    scores = torch.from_numpy(score_unseen(model_scorer(model), users, n_items, seen))
    top = torch.topk(scores, min(k, n_items), dim=1)
    return top.indices.numpy(), top.values.numpy()


@dataclass(frozen=True)
class Predictor:
    model: torch.nn.Module
    users: pd.Index  # original ids, by contiguous id
    items: pd.Index
    seen: np.ndarray

    @classmethod
    def load(cls, folder: Path, record: dict) -> "Predictor":
        return cls(
            load_model(folder),
            pd.Index(pd.read_parquet(folder / USERS).user),
            pd.Index(pd.read_parquet(folder / ITEMS).item),
            np.load(folder / SEEN, allow_pickle=False),
        )

    @cached_property
    def users_as_text(self) -> pd.Index:
        # built once, not per batch: requests name users as text
        return pd.Index(self.users.astype(str))

    def codes(self, users: list[str]) -> np.ndarray:
        """Contiguous ids for original ids, matched as text; unknown ones are named."""
        codes = self.users_as_text.get_indexer([str(u).strip() for u in users])
        unknown = [str(u) for u, c in zip(users, codes, strict=True) if c < 0]
        if unknown:
            raise InputError(f"unknown user id(s): {', '.join(unknown)} (not in the model's data)")
        return codes

    def predict(self, queries: list[Query]) -> list[dict]:
        """One result per query: the user (original id) and its ranked items."""
        if not queries:
            return []
        if bad := [q.k for q in queries if q.k < 1]:
            raise InputError(f"k must be at least 1, got {bad[0]}")
        codes = self.codes([q.user for q in queries])
        top, scores = recommend(
            self.model, codes, len(self.items), self.seen, max(q.k for q in queries)
        )
        users = self.users[codes].tolist()  # Python values, as JSON and Parquet take them
        results = []
        for row, (query, user) in enumerate(zip(queries, users, strict=True)):
            ranked = np.isfinite(scores[row])  # a user who has seen nearly everything gets fewer
            items = self.items[top[row][ranked][: query.k]].tolist()
            values = scores[row][ranked][: query.k].tolist()
            ranks = range(1, len(items) + 1)
            results.append(
                {
                    "user": user,
                    "items": [
                        {"rank": r, "item": i, "score": v}
                        for r, i, v in zip(ranks, items, values, strict=True)
                    ],
                }
            )
        return results
