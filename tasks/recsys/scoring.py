"""Scorers: (users, items) id arrays of one shape in, scores of that shape out."""

from collections.abc import Callable

import numpy as np
import torch

from tasks.recsys.sampling import is_seen

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def model_scorer(model: torch.nn.Module) -> Scorer:
    @torch.inference_mode()
    def scores(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        flat = [torch.tensor(np.ravel(a)) for a in (users, items)]  # copies: inputs may be views
        return model(*flat).float().numpy().reshape(users.shape)

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
