"""Scorers ((users, items) id arrays of one shape in, scores of that shape out), and the ranking
metrics on 1 held-out positive + sampled negatives that validation and evaluation share.

Ties count against the positive (pessimistic rank), so a baseline with many equal scores is
not flattered.
"""

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from tasks.recsys.sampling import is_seen

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def model_scorer(model: torch.nn.Module) -> Scorer:
    device = next(model.parameters()).device

    @torch.inference_mode()
    def scores(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        # copies: inputs may be views
        flat = [torch.tensor(np.ravel(a), device=device) for a in (users, items)]
        return model(*flat).float().cpu().numpy().reshape(users.shape)

    return scores


def popularity_scorer(train_items: np.ndarray, n_items: int) -> Scorer:
    counts = np.bincount(train_items, minlength=n_items).astype(float)
    return lambda users, items: counts[items]


def score_unseen(scores: Scorer, users: np.ndarray, n_items: int, seen: np.ndarray) -> np.ndarray:
    """(len(users), n_items) scores, -inf where the pair is in `seen` (sorted pair keys)."""
    grid_u = np.repeat(users[:, None], n_items, 1)
    grid_i = np.broadcast_to(np.arange(n_items), grid_u.shape)
    out = scores(grid_u, grid_i).astype(np.float64)
    out[is_seen(grid_u, grid_i, seen, n_items)] = -np.inf
    return out


def rank_of_positive(pos: np.ndarray, others: np.ndarray) -> np.ndarray:
    """0-based rank of each row's positive among its candidates; ties rank it lower."""
    return (others >= pos[:, None]).sum(axis=1)


def hit_rate(ranks: np.ndarray, k: int) -> float:
    return float(np.mean(ranks < k))


def sampled_ranks(pairs: pd.DataFrame, negatives: np.ndarray, scores: Scorer) -> np.ndarray:
    """Rank of each held-out (user, item) among its row of sampled negatives."""
    users, pos = pairs.user.to_numpy(), pairs.item.to_numpy()
    neg_users = np.repeat(users[:, None], negatives.shape[1], 1)
    return rank_of_positive(scores(users, pos), scores(neg_users, negatives))
