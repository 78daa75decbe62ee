"""HR@K and NDCG@K, on 1 positive + sampled negatives and on a full ranking, against popularity."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from tasks.common.io import atomic_dir
from tasks.common.metrics import describe, write_metrics
from tasks.common.params import stage_params
from tasks.common.paths import DomainPaths
from tasks.recsys import preprocess
from tasks.recsys.preprocess import Split
from tasks.recsys.sampling import pair_keys
from tasks.recsys.scoring import (
    Scorer,
    hit_rate,
    model_scorer,
    popularity_scorer,
    rank_of_positive,
    sampled_ranks,
    score_unseen,
)
from tasks.recsys.train import load_model

CURVE = "hr_at_k.csv"


@dataclass(frozen=True)
class EvaluateParams:
    k: int = 10
    curve_max_k: int = 20
    user_batch: int = 256


def ndcg(ranks: np.ndarray, k: int) -> float:
    return float(np.mean(np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)))


def full_ranks(split: Split, scores: Scorer, user_batch: int) -> np.ndarray:
    """Rank of each test item among all items the user has not trained or validated on."""
    n_items = len(split.items)
    known = pd.concat([split.train, split.val])
    train_keys = np.unique(pair_keys(known.user.to_numpy(), known.item.to_numpy(), n_items))
    ranks = []
    for start in range(0, len(split.test), user_batch):
        batch = split.test.iloc[start : start + user_batch]
        s = score_unseen(scores, batch.user.to_numpy(), n_items, train_keys)
        pos = s[np.arange(len(batch)), batch.item.to_numpy()]
        ranks.append(rank_of_positive(pos, s) - 1)  # minus the positive itself
    return np.concatenate(ranks)


def metrics_for(split: Split, scores: Scorer, p: EvaluateParams) -> tuple[dict, np.ndarray]:
    sampled = sampled_ranks(split.test, split.negatives, scores)
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
    popularity = popularity_scorer(split.train.item.to_numpy(), len(split.items))
    base, base_ranks = metrics_for(split, popularity, p)
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


# the params.yaml sections (under the domain) this stage reads, as dvc.yaml declares them
PARAMS = {"evaluate": EvaluateParams}


def run(paths: DomainPaths) -> None:
    p = stage_params(paths.root, EvaluateParams, "recsys.evaluate")
    metrics, curve = evaluate(preprocess.load(paths.processed), load_model(paths.model), p)
    with atomic_dir(paths.plots) as tmp:
        curve.round(6).to_csv(tmp / CURVE, index=False)
    write_metrics(paths, metrics)
    print(describe(metrics))
