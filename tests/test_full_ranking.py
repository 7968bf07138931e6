"""Full-catalogue ranking of episodic models: Recall/NDCG/Hit@K by hand, support items never ranked, a loop
reference, an oracle that scores the positives highest, and ProtoRec end to end with the option on."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from recbole.data.interaction import Interaction

from recbole_meta import run_recbole_meta
from recbole_meta.data.cold_start_split import STATES
from recbole_meta.evaluator.full_ranking import FullRanking, candidate_items
from recbole_meta.model.meta_recommender.abstract_meta_recommender import MetaRecommender
from tests.cold_start_helpers import build, cold_config

SMALL = {"embedding_size": 4, "hidden_size": 8}


def _split():
    # items 1..6 existing, 7..8 new, 9 never rated (not a candidate), 0 padding
    is_new = np.zeros(10, dtype=bool)
    is_new[[7, 8]] = True
    return SimpleNamespace(items=np.array([1, 2, 3, 4, 5, 6, 7, 8, 2, 5]), n_items=10, item_is_new=is_new)


def _batch(support, support_rating, query, query_rating):
    def pad(rows, fill=0):
        width = max(len(r) for r in rows)
        return [list(r) + [fill] * (width - len(r)) for r in rows]

    return Interaction(
        {
            "user_id": torch.arange(len(support)),
            "support_item": torch.tensor(pad(support)),
            "support_rating": torch.tensor(pad(support_rating), dtype=torch.float),
            "support_mask": torch.tensor(pad([[1.0] * len(r) for r in support], 0.0)),
            "query_item": torch.tensor(pad(query)),
            "query_rating": torch.tensor(pad(query_rating), dtype=torch.float),
            "query_mask": torch.tensor(pad([[1.0] * len(r) for r in query], 0.0)),
        }
    )


def test_candidates_are_the_rated_items_of_the_state_side():
    split = _split()
    for state in ("warm", "user_cold", "valid"):
        assert candidate_items(split, state).tolist() == [1, 2, 3, 4, 5, 6]
    for state in ("item_cold", "user_item_cold"):
        assert candidate_items(split, state).tolist() == [7, 8]
    with pytest.raises(ValueError, match="unknown state"):
        candidate_items(split, "cold")


def test_metrics_by_hand():
    ranking = FullRanking(_split(), "warm", [1, 3, 5], threshold=4)
    assert ranking.items.tolist() == [1, 2, 3, 4, 5, 6]
    batch = _batch(
        support=[[1], [5, 2], [3]],
        support_rating=[[5], [5, 5], [5]],
        query=[[2, 3, 4], [6, 1], [1, 2]],
        query_rating=[[5, 2, 4], [4, 1], [3, 2]],
    )
    # user 0: support item 1 scores highest but is removed -> ranking 5, 2, 6, 3, 4; positives {2, 4}
    # user 1: support items 5 and 2 score highest -> ranking 6, ...; positive {6} at rank 1
    # user 2: no query rating >= 4 -> left out
    scores = torch.tensor(
        [[10.0, 8, 6, 5, 9, 7], [1.0, 20, 2, 3, 30, 10], [1.0, 2, 3, 4, 5, 6]]
    )  # columns: items 1..6
    ranking.collect(batch, scores)
    assert ranking.topk_rows().tolist() == [[0, 1, 0, 0, 1, 2], [1, 0, 0, 0, 0, 1]]
    result = ranking.result()
    assert ranking.left_out == 1
    l3, l6 = 1 / math.log2(3), 1 / math.log2(6)
    expected = {
        "full_recall@1": (0 + 1) / 2,
        "full_recall@3": (0.5 + 1) / 2,
        "full_recall@5": (1 + 1) / 2,
        "full_ndcg@1": (0 + 1) / 2,
        "full_ndcg@3": (l3 / (1 + l3) + 1) / 2,
        "full_ndcg@5": ((l3 + l6) / (1 + l3) + 1) / 2,
        "full_hit@1": 0.5,
        "full_hit@3": 1.0,
        "full_hit@5": 1.0,
    }
    assert set(result) == set(expected)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-4), key


def test_support_items_are_never_ranked_and_match_a_loop_reference():
    rng = np.random.default_rng(0)
    split = SimpleNamespace(items=np.arange(1, 41), n_items=41, item_is_new=np.zeros(41, dtype=bool))
    support, s_rating, query, q_rating = [], [], [], []
    for _ in range(12):
        chosen = rng.permutation(np.arange(1, 41))[: rng.integers(3, 15)]
        n_support = rng.integers(1, len(chosen) - 1)
        support.append(chosen[:n_support].tolist())
        s_rating.append(rng.integers(1, 6, n_support).tolist())
        query.append(chosen[n_support:].tolist())
        q_rating.append(rng.integers(1, 6, len(chosen) - n_support).tolist())
    batch = _batch(support, s_rating, query, q_rating)
    scores = torch.as_tensor(rng.normal(size=(12, 40)), dtype=torch.float)
    ks = [1, 5, 10]
    ranking = FullRanking(split, "warm", ks, threshold=4)
    ranking.collect(batch, scores)
    rows = ranking.topk_rows()

    # a support item scored far above everything changes nothing: it is removed before ranking
    boosted = scores.clone()
    for b, items in enumerate(support):
        boosted[b, torch.tensor(items) - 1] += 1000.0
    again = FullRanking(split, "warm", ks, threshold=4)
    again.collect(batch, boosted)
    assert torch.equal(again.topk_rows(), rows)

    # loop reference: rank the non-support items of each user by score, flag the liked query items
    expected = []
    for b in range(12):
        liked = {i for i, r in zip(query[b], q_rating[b]) if r >= 4}
        if not liked:
            continue
        order = [i + 1 for i in torch.argsort(scores[b], descending=True).tolist() if i + 1 not in support[b]]
        expected.append([int(i in liked) for i in order[: max(ks)]] + [len(liked)])
    assert rows.tolist() == expected
    assert ranking.left_out == 12 - len(expected)


class Oracle(MetaRecommender):
    """Scores a user's support items 100 and query items their true rating (0 elsewhere): a planted ranker."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        split = self.split
        table = torch.zeros(split.n_users, split.n_items)
        for state in STATES:
            for task in split.tasks[state]:
                table[task.user, torch.as_tensor(split.items[task.query])] = torch.as_tensor(
                    split.ratings[task.query], dtype=torch.float
                )
                table[task.user, torch.as_tensor(split.items[task.support])] = 100.0
        self.register_buffer("table", table)

    def forward(self, user, support_item, support_rating, support_mask, target_item):
        return self.table[user][target_item]


def test_an_oracle_that_scores_the_positives_highest_gets_recall_one():
    from recbole_meta.trainer.meta_trainer import MetaTrainer

    dataset, (_, _, test), _, trainer = build("ProtoRec", "tiny", full_ranking_topk=[4, 10], **SMALL)
    config = trainer.config
    oracle = Oracle(config, dataset)
    result = MetaTrainer(config, oracle).evaluate(test, load_best_model=False)
    assert list(result) == list(STATES)
    for state, metrics in result.items():
        # query_size 4 -> at most 4 positives, all ranked above every non-support candidate
        for key in ("full_recall@4", "full_ndcg@4", "full_hit@4", "full_recall@10", "full_ndcg@10"):
            assert metrics[key] == pytest.approx(1.0), (state, key, metrics)


def test_one_adaptation_scores_query_and_candidates_alike():
    _, (_, _, test), model, trainer = build(
        "MeLU", "tiny", full_ranking_topk=[5], full_ranking_threshold=4, local_update_steps=1
    )
    batch = next(iter(test["item_cold"]))
    items = torch.arange(1, model.split.n_items)
    for vectorize in (True, False):
        trainer.maml.vectorize = vectorize
        query, scores = trainer.maml.predict_query_and_items(batch, items)
        mask = batch["query_mask"] > 0
        torch.testing.assert_close(query[mask], trainer.maml.predict_query(batch)[mask])
        # a query item's score among the candidates equals its query prediction
        from_candidates = scores.gather(1, (batch["query_item"] - 1).clamp(min=0))
        torch.testing.assert_close(from_candidates[mask], query[mask])
    trainer.maml.vectorize = True


def test_proto_rec_end_to_end_reports_full_ranking_per_state():
    config = cold_config(epochs=1, full_ranking_topk=[5, 10], **SMALL)
    result = run_recbole_meta("ProtoRec", "tiny", config_dict=config, argv=[])["test_result"]
    assert list(result) == list(STATES)
    for state, metrics in result.items():
        assert {"mae", "rmse", "gradedndcg@3"} <= set(metrics), state
        for k in (5, 10):
            recall, ndcg, hit = (metrics[f"full_{m}@{k}"] for m in ("recall", "ndcg", "hit"))
            # per user recall and NDCG are 0 without a hit and at most 1 with one: their means cannot exceed hit
            assert recall <= hit and ndcg <= hit, (state, metrics)
        assert metrics["full_recall@10"] >= metrics["full_recall@5"] and metrics["full_hit@10"] > 0
    off = run_recbole_meta("ProtoRec", "tiny", config_dict=cold_config(epochs=1, **SMALL), argv=[])
    assert not any(key.startswith("full_") for key in off["test_result"]["warm"])


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="full_ranking_topk"):
        build("ProtoRec", "tiny", full_ranking_topk=[0], **SMALL)
    with pytest.raises(ValueError, match="full_ranking_threshold"):
        build("MeLU", "tiny", full_ranking_topk=[5])
