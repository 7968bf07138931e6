"""TailRecall / TailNDCG: the tail definition and a hand-computed example through RecBole's Collector + Evaluator."""

import math
from types import SimpleNamespace

import pytest
import torch
from recbole.evaluator import Collector, Evaluator, register

from recbole_meta.config import Config
from recbole_meta.evaluator.tail_metrics import tail_item_mask
from tests.helpers import TEST_DATA

INF = float("-inf")


def test_tail_is_the_least_popular_fraction_by_training_count():
    # ids 1..4 with counts 5, 1, 0 (absent), 3; half of the 4 items are tail: item 3 (0) and item 2 (1).
    mask = tail_item_mask({1: 5, 2: 1, 4: 3}, n_items=5, tail_ratio=0.5)
    assert mask.tolist() == [False, False, True, True, False]
    assert tail_item_mask([0, 2, 2, 2], 4, tail_ratio=1 / 3).tolist() == [
        False,
        True,
        False,
        False,
    ]  # id tie-break
    with pytest.raises(ValueError, match="tail_ratio must be in"):
        tail_item_mask({}, 3, tail_ratio=0.0)


def _collector(tail_ratio=0.6):
    config = Config(
        "BPR",
        "tiny",
        config_dict={
            "data_path": TEST_DATA,
            "metrics": ["Recall", "TailRecall", "TailNDCG"],
            "topk": [2],
            "valid_metric": "Recall@2",
            "tail_ratio": tail_ratio,
            "state": "WARNING",
        },
        argv=[],
    )
    return config, Collector(config)


def _collect_example(collector):
    # Items 1..5, training counts 10, 8, 1, 0, 2 -> with tail_ratio 0.6 the tail is {4, 3, 5}.
    train_data = SimpleNamespace(dataset=SimpleNamespace(item_counter={1: 10, 2: 8, 3: 1, 5: 2}, item_num=6))
    collector.data_collect(train_data)
    scores = torch.tensor(
        [
            [INF, 0.9, 0.1, 0.8, 0.2, 0.3],  # top-2: 1, 3; positives {1, 3, 4}, tail positives {3, 4}
            [INF, 0.1, 0.9, 0.2, 0.3, 0.8],  # top-2: 2, 5; positives {2}: no tail positive -> not averaged
            [INF, 0.5, 0.4, 0.1, 0.2, 0.9],  # top-2: 5, 1; positives {5}, tail positives {5}
        ]
    )
    positive_u = torch.tensor([0, 0, 0, 1, 2])
    positive_i = torch.tensor([1, 3, 4, 2, 5])
    collector.eval_batch_collect(scores, None, positive_u, positive_i)


def test_tail_recall_and_ndcg_on_a_hand_example():
    config, collector = _collector()
    _collect_example(collector)
    result = Evaluator(config).evaluate(collector.get_data_struct())
    # TailRecall@2: user 0 finds 1 of its 2 tail positives, user 2 finds 1 of 1 -> (1/2 + 1) / 2
    assert result["tailrecall@2"] == pytest.approx(0.75, abs=1e-4)
    # TailNDCG@2: user 0 hit at rank 2 of 2 relevant: (1/log2 3) / (1 + 1/log2 3); user 2 hit at rank 1: 1
    user0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert result["tailndcg@2"] == pytest.approx((user0 + 1) / 2, abs=1e-4)
    assert result["recall@2"] == pytest.approx((2 / 3 + 1 + 1) / 3, abs=1e-4)  # RecBole's, all users

    _collect_example(collector)  # a second evaluation starts from scratch (no stale rows)
    again = Evaluator(config).evaluate(collector.get_data_struct())
    assert again["tailrecall@2"] == result["tailrecall@2"]


def test_tail_metrics_are_registered_and_need_the_training_counts():
    assert {"tailrecall", "tailndcg"} <= set(register.metrics_dict)
    _, collector = _collector()
    with pytest.raises(RuntimeError, match="need the training item counts"):
        collector.eval_batch_collect(torch.zeros(1, 6), None, torch.tensor([0]), torch.tensor([1]))
