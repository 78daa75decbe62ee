"""HR@K and NDCG@K, on 1 positive + sampled negatives and on a full ranking, against popularity.

Ties count against the positive (pessimistic rank), so a baseline with many equal scores is
not flattered.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from tasks.common.io import atomic_dir, write_json
from tasks.common.params import stage_params
from tasks.common.paths import DomainPaths
from tasks.recsys import preprocess
from tasks.recsys.preprocess import Split
from tasks.recsys.sampling import is_seen
from tasks.recsys.train import load_model

# scores(users, items) -> scores, both int arrays of the same shape
Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]
CURVE = "hr_at_k.csv"


@dataclass(frozen=True)
class EvaluateParams:
    k: int = 10
    curve_max_k: int = 20
    user_batch: int = 256


def rank_of_positive(pos: np.ndarray, others: np.ndarray) -> np.ndarray:
    """0-based rank of each row's positive among its candidates; ties rank it lower."""
    return (others >= pos[:, None]).sum(axis=1)


def hit_rate(ranks: np.ndarray, k: int) -> float:
    return float(np.mean(ranks < k))


def ndcg(ranks: np.ndarray, k: int) -> float:
    return float(np.mean(np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)))


def sampled_ranks(split: Split, scores: Scorer) -> np.ndarray:
    users, pos = split.test.user.to_numpy(), split.test.item.to_numpy()
    neg_users = np.repeat(users[:, None], split.negatives.shape[1], 1)
    return rank_of_positive(scores(users, pos), scores(neg_users, split.negatives))


def full_ranks(split: Split, scores: Scorer, user_batch: int) -> np.ndarray:
    """Rank of each test item among all items the user has not trained on."""
    n_items = len(split.items)
    train_keys = np.unique(
        split.train.user.to_numpy().astype(np.int64) * n_items + split.train.item.to_numpy()
    )
    all_items = np.arange(n_items)
    ranks = []
    for start in range(0, len(split.test), user_batch):
        batch = split.test.iloc[start : start + user_batch]
        users = np.repeat(batch.user.to_numpy()[:, None], n_items, 1)
        items = np.broadcast_to(all_items, users.shape)
        s = scores(users, items).astype(np.float64)
        s[is_seen(users, items, train_keys, n_items)] = -np.inf
        pos = s[np.arange(len(batch)), batch.item.to_numpy()]
        ranks.append(rank_of_positive(pos, s) - 1)  # minus the positive itself
    return np.concatenate(ranks)


def popularity_scorer(split: Split) -> Scorer:
    counts = np.bincount(split.train.item.to_numpy(), minlength=len(split.items)).astype(float)
    return lambda users, items: counts[items]


def model_scorer(model: torch.nn.Module) -> Scorer:
    @torch.inference_mode()
    def scores(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        u, i = (
            torch.from_numpy(users.ravel()),
            torch.from_numpy(np.ascontiguousarray(items).ravel()),
        )
        return model(u, i).float().numpy().reshape(users.shape)

    return scores


def metrics_for(split: Split, scores: Scorer, p: EvaluateParams) -> tuple[dict, np.ndarray]:
    sampled = sampled_ranks(split, scores)
    full = full_ranks(split, scores, p.user_batch)
    k = p.k
    metrics = {
        f"hr_at_{k}": hit_rate(sampled, k),
        f"ndcg_at_{k}": ndcg(sampled, k),
        f"full_hr_at_{k}": hit_rate(full, k),
        f"full_ndcg_at_{k}": ndcg(full, k),
    }
    return metrics, sampled


def evaluate(split: Split, model: torch.nn.Module, p: EvaluateParams) -> tuple[dict, pd.DataFrame]:
    ours, our_ranks = metrics_for(split, model_scorer(model), p)
    base, base_ranks = metrics_for(split, popularity_scorer(split), p)
    metrics = {**ours, **{f"baseline_{k}": v for k, v in base.items()}}
    metrics["test_users"] = len(split.test)
    ks = np.arange(1, p.curve_max_k + 1)
    curve = pd.DataFrame(
        {
            "k": ks,
            "neumf": [hit_rate(our_ranks, k) for k in ks],
            "popularity": [hit_rate(base_ranks, k) for k in ks],
        }
    )
    return metrics, curve


def run(paths: DomainPaths) -> None:
    p = stage_params(paths.root, EvaluateParams, "recsys.evaluate")
    metrics, curve = evaluate(preprocess.load(paths.processed), load_model(paths.model), p)
    with atomic_dir(paths.plots) as tmp:
        curve.round(6).to_csv(tmp / CURVE, index=False)
    write_json(paths.metrics, {k: round(v, 6) for k, v in metrics.items()})
    print(" ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float)))
