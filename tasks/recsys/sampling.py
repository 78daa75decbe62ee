"""Vectorised negative sampling: items a user has not interacted with, drawn uniformly."""

import numpy as np

CANDIDATES = 2**18  # candidate items drawn at once: memory does not grow with the users


def pair_keys(users: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    return users.astype(np.int64) * n_items + items


def is_seen(users: np.ndarray, items: np.ndarray, seen: np.ndarray, n_items: int) -> np.ndarray:
    """Membership of (user, item) pairs in `seen`, a sorted array of pair keys."""
    keys = pair_keys(users, items, n_items)
    pos = np.clip(np.searchsorted(seen, keys), 0, max(len(seen) - 1, 0))
    return seen[pos] == keys if len(seen) else np.zeros(keys.shape, bool)


def sample_negatives(
    users: np.ndarray, n_items: int, seen: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One unseen item per entry of `users`; collisions are redrawn until none remain."""
    items = rng.integers(0, n_items, size=users.shape)
    bad = is_seen(users, items, seen, n_items)
    while bad.any():
        items[bad] = rng.integers(0, n_items, size=int(bad.sum()))
        bad[bad] = is_seen(users[bad], items[bad], seen, n_items)
    return items


def sample_distinct_negatives(
    users: np.ndarray, n: int, n_items: int, seen: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """(len(users), n) unseen items, distinct within each row, for the sampled ranking protocol."""
    out = np.empty((len(users), n), dtype=np.int64)
    step = max(1, CANDIDATES // (2 * n))
    for start in range(0, len(users), step):
        out[start : start + step] = _distinct(users[start : start + step], n, n_items, seen, rng)
    return out


def _distinct(
    users: np.ndarray, n: int, n_items: int, seen: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    out = np.empty((len(users), n), dtype=np.int64)
    todo = np.arange(len(users))
    width = 2 * n
    while len(todo):
        cand = rng.integers(0, n_items, size=(len(todo), width))
        ok = ~is_seen(np.repeat(users[todo, None], width, 1), cand, seen, n_items)
        ok &= _first_occurrence(cand)
        enough = ok.sum(1) >= n
        # stable sort puts the valid candidates first, in the order they were drawn
        first = np.argsort(~ok, axis=1, kind="stable")[:, :n]
        out[todo[enough]] = np.take_along_axis(cand, first, 1)[enough]
        todo, width = todo[~enough], width * 2
    return out


def _first_occurrence(rows: np.ndarray) -> np.ndarray:
    order = np.argsort(rows, axis=1, kind="stable")
    ranked = np.take_along_axis(rows, order, 1)
    first_sorted = np.ones_like(ranked, dtype=bool)
    first_sorted[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    mask = np.empty_like(first_sorted)
    np.put_along_axis(mask, order, first_sorted, 1)
    return mask
