"""Top-K unseen items per user from a model folder, with the original user and item ids."""

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tasks.common.errors import InputError
from tasks.recsys.preprocess import ITEMS, USERS
from tasks.recsys.scoring import model_scorer, score_unseen
from tasks.recsys.train import SEEN, load_model


def select_users(known: pd.Index, wanted: str | None) -> np.ndarray:
    """Contiguous ids for the requested original ids, matched as text."""
    if wanted is None:
        return np.arange(len(known))
    ids = [w.strip() for w in wanted.split(",") if w.strip()]
    codes = pd.Index(known.astype(str)).get_indexer(ids)
    unknown = [i for i, c in zip(ids, codes, strict=True) if c < 0]
    if unknown:
        raise InputError(f"unknown user id(s): {', '.join(unknown)} (not in the model's data)")
    return codes


def recommend(
    model: torch.nn.Module, users: np.ndarray, n_items: int, seen: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """(len(users), k) item ids and scores, best first, never an item the user has seen."""
    scores = torch.from_numpy(score_unseen(model_scorer(model), users, n_items, seen))
    top = torch.topk(scores, min(k, n_items), dim=1)
    return top.indices.numpy(), top.values.numpy()


def predict(folder: Path, wanted: str | None, k: int, batch: int = 512) -> pd.DataFrame:
    if k < 1:
        raise InputError(f"--k must be at least 1, got {k}")
    model = load_model(folder)
    users = pd.Index(pd.read_parquet(folder / USERS).user)
    items = pd.Index(pd.read_parquet(folder / ITEMS).item)
    seen = np.load(folder / SEEN, allow_pickle=False)
    codes = select_users(users, wanted)
    parts = []
    for start in range(0, len(codes), batch):
        chunk = codes[start : start + batch]
        top, scores = recommend(model, chunk, len(items), seen, k)
        ranked = np.isfinite(scores)  # a user who has seen nearly everything gets fewer
        rows = np.nonzero(ranked)
        parts.append(
            pd.DataFrame(
                {
                    "user": users[chunk[rows[0]]],
                    "rank": rows[1] + 1,
                    "item": items[top[rows]],
                    "score": scores[rows],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)
