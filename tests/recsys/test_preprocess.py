import numpy as np
import pandas as pd
import pytest

from tasks.common.errors import InputError
from tasks.recsys.preprocess import (
    PreprocessParams,
    encode,
    id_maps,
    positives,
    split,
    time_split,
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


def test_time_split_tests_the_latest_validates_the_one_before_and_keeps_one_for_training():
    enc = pd.DataFrame(
        {
            "user": [0, 0, 0, 1, 2, 2, 3, 3, 3, 3],
            "item": [5, 6, 7, 8, 1, 2, 1, 2, 3, 4],
            "timestamp": [3, 9, 1, 4, 7, 7, 1, 2, 2, 3],
        }
    )
    train, val, test = time_split(enc)
    assert test.values.tolist() == [[0, 6], [2, 2], [3, 4]]  # user 2's tie keeps the file order
    assert val.values.tolist() == [[0, 5], [3, 3]]  # user 2 has too few to validate
    assert sorted(train.values.tolist()) == [[0, 7], [1, 8], [2, 1], [3, 1], [3, 2]]


def test_positives_apply_the_rating_threshold_and_drop_repeats():
    df = frame([(1, 1, 5, 1), (1, 2, 2, 2), (1, 1, 4, 3)])
    assert positives(df, 3).values.tolist() == [[1, 1, 4, 3]]
    assert len(positives(df, None)) == 2


def test_test_negatives_are_distinct_unseen_and_seeded():
    df = frame([(u, i, 5, i) for u in range(30) for i in range(3 * (u % 7), 3 * (u % 7) + 5)])
    p = PreprocessParams(negatives=10, seed=1)
    s = split(df, p)
    for name in ("val", "test"):
        pairs, negatives = s.held_out(name)
        assert negatives.shape == (len(pairs), 10)
        users = np.repeat(pairs.user.to_numpy()[:, None], 10, 1)
        assert not is_seen(users, negatives, s.seen, len(s.items)).any()
        assert all(len(set(row)) == 10 for row in negatives)
        np.testing.assert_array_equal(split(df, p).held_out(name)[1], negatives)


def test_too_few_unseen_items_for_the_negatives_is_a_clear_error():
    df = frame([(u, i, 5, i) for u in range(3) for i in range(5)])
    with pytest.raises(InputError, match=r"user \S+ has seen 5 of 5 items"):
        split(df, PreprocessParams(negatives=2))


def test_no_user_with_three_interactions_means_an_empty_validation_split():
    with pytest.raises(InputError, match="the validation split is empty"):
        split(frame([(1, 1, 5, 1), (1, 2, 5, 2), (2, 2, 5, 1)]), PreprocessParams(negatives=1))


def test_training_negatives_never_hit_a_seen_pair():
    rng = np.random.default_rng(0)
    seen = np.unique(pair_keys(np.repeat(np.arange(50), 8), rng.integers(0, 10, 400), 10))
    users = np.repeat(np.arange(50), 40)
    items = sample_negatives(users, 10, seen, rng)
    assert not is_seen(users, items, seen, 10).any()
    negs = sample_distinct_negatives(np.arange(50), 2, 10, seen, rng)
    assert not is_seen(np.repeat(np.arange(50)[:, None], 2, 1), negs, seen, 10).any()


def test_distinct_negatives_are_drawn_in_blocks_of_users(monkeypatch):
    from tasks.recsys import sampling

    monkeypatch.setattr(sampling, "CANDIDATES", 24)  # 2 users a block: 26 users, 13 blocks
    rng = np.random.default_rng(1)
    seen = np.unique(pair_keys(np.repeat(np.arange(26), 5), rng.integers(0, 20, 130), 20))
    negs = sample_distinct_negatives(np.arange(26), 6, 20, seen, rng)
    assert negs.shape == (26, 6)
    assert not is_seen(np.repeat(np.arange(26)[:, None], 6, 1), negs, seen, 20).any()
    assert all(len(set(row)) == 6 for row in negs.tolist())
