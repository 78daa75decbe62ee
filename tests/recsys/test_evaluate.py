import math

import numpy as np
import pandas as pd
import pytest

from tasks.recsys.evaluate import full_ranks, ndcg
from tasks.recsys.preprocess import Split
from tasks.recsys.scoring import hit_rate, popularity_scorer, rank_of_positive


def test_rank_counts_ties_against_the_positive():
    pos = np.array([0.9, 0.5, 0.1])
    others = np.array([[0.1, 0.2, 0.3], [0.6, 0.5, 0.1], [0.2, 0.3, 0.4]])
    assert rank_of_positive(pos, others).tolist() == [0, 2, 3]


def test_hit_rate_and_ndcg_by_hand():
    ranks = np.array([0, 1, 3, 10])
    assert hit_rate(ranks, 1) == 0.25
    assert hit_rate(ranks, 10) == 0.75
    # 1/log2(2) + 1/log2(3) + 1/log2(5), over 4 users
    assert ndcg(ranks, 10) == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(5)) / 4)
    assert ndcg(ranks, 2) == pytest.approx((1 + 1 / math.log2(3)) / 4)


def test_full_ranking_skips_training_items():
    # items 0..4; popularity counts: item0=3, item1=2, item2=1; user 0 trained on item 0
    train = pd.DataFrame({"user": [0, 1, 2, 1, 2, 2], "item": [0, 0, 0, 1, 1, 2]})
    test = pd.DataFrame({"user": [0, 1], "item": [2, 3]})
    none = np.zeros((2, 0), int)
    s = Split(pd.Index([0, 1, 2]), pd.Index(range(5)), train, test[:0], test, none, none)
    ranks = full_ranks(s, popularity_scorer(train.item.to_numpy(), 5), user_batch=1)
    # user 0: item0 is masked; item1 (2) beats item2 (1): rank 1
    # user 1: items 0, 1 masked; item2 (1) beats item3 (0); item4 ties at 0: rank 2
    assert ranks.tolist() == [1, 2]
