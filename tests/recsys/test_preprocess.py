import numpy as np
import pandas as pd
import pytest

from tasks.common.errors import InputError
from tasks.recsys.preprocess import (
    PreprocessParams,
    encode,
    id_maps,
    leave_last_out,
    positives,
    split,
)
from tasks.recsys.sampling import is_seen, pair_keys, sample_distinct_negatives, sample_negatives


def frame(rows):
    return pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])


def test_id_maps_are_contiguous_and_map_back():
    df = frame([("u9", "b", 5, 1), ("u1", "a", 4, 2), ("u9", "c", 3, 3)])
    users, items = id_maps(df)
    enc = encode(df, users, items)
    assert enc.user.tolist() == [1, 0, 1] and enc.item.tolist() == [1, 0, 2]
    assert users[enc.user].tolist() == df.user.tolist()
    assert items[enc.item].tolist() == df.item.tolist()


def test_leave_last_out_takes_each_users_latest_and_keeps_singletons_in_train():
    enc = pd.DataFrame(
        {"user": [0, 0, 0, 1, 2, 2], "item": [5, 6, 7, 8, 1, 2], "timestamp": [3, 9, 1, 4, 7, 7]}
    )
    train, test = leave_last_out(enc)
    assert test.values.tolist() == [[0, 6], [2, 2]]  # user 2's tie keeps the file order
    assert sorted(train.values.tolist()) == [[0, 5], [0, 7], [1, 8], [2, 1]]


def test_positives_apply_the_rating_threshold_and_drop_repeats():
    df = frame([(1, 1, 5, 1), (1, 2, 2, 2), (1, 1, 4, 3)])
    assert positives(df, 3).values.tolist() == [[1, 1, 4, 3]]
    assert len(positives(df, None)) == 2


def test_test_negatives_are_distinct_unseen_and_seeded():
    df = frame([(u, i, 5, i) for u in range(30) for i in range(3 * (u % 7), 3 * (u % 7) + 5)])
    p = PreprocessParams(negatives=10, seed=1)
    s = split(df, p)
    assert s.negatives.shape == (len(s.test), 10)
    users = np.repeat(s.test.user.to_numpy()[:, None], 10, 1)
    assert not is_seen(users, s.negatives, s.seen, len(s.items)).any()
    assert all(len(set(row)) == 10 for row in s.negatives)
    np.testing.assert_array_equal(split(df, p).negatives, s.negatives)


def test_too_few_unseen_items_for_the_negatives_is_a_clear_error():
    df = frame([(u, i, 5, i) for u in range(3) for i in range(5)])
    with pytest.raises(InputError, match=r"user \S+ has seen 5 of 5 items"):
        split(df, PreprocessParams(negatives=2))


def test_only_singletons_means_nothing_to_test():
    with pytest.raises(InputError, match="no user has two or more interactions"):
        split(frame([(1, 1, 5, 1), (2, 2, 5, 1)]), PreprocessParams(negatives=0))


def test_training_negatives_never_hit_a_seen_pair():
    rng = np.random.default_rng(0)
    seen = np.unique(pair_keys(np.repeat(np.arange(50), 8), rng.integers(0, 10, 400), 10))
    users = np.repeat(np.arange(50), 40)
    items = sample_negatives(users, 10, seen, rng)
    assert not is_seen(users, items, seen, 10).any()
    negs = sample_distinct_negatives(np.arange(50), 2, 10, seen, rng)
    assert not is_seen(np.repeat(np.arange(50)[:, None], 2, 1), negs, seen, 10).any()
