"""RecBole built-ins on cold-start tasks: the exported training data holds no query, the scored items are the queries."""

import os

import numpy as np
import pytest
import torch
from recbole.data.interaction import Interaction

from recbole_meta.benchmark.cold_start.builtin_models import (
    cold_start_split,
    evaluate_states,
    query_predictions,
    score_candidates,
    train_builtin,
)
from recbole_meta.data.cold_start_export import export_cold_start_split, split_rows
from recbole_meta.data.cold_start_split import VALID_STATE
from recbole_meta.evaluator.full_ranking import candidate_items
from recbole_meta.evaluator.graded_ndcg import graded_ndcg
from tests.cold_start_helpers import build, cold_config

SPLIT = {k: v for k, v in cold_config().items() if k not in ("seed", "checkpoint_dir")}
SPLIT.update(dataset="tiny", full_ranking_topk=[5], full_ranking_threshold=4)


@pytest.fixture(scope="module")
def split_and_config():
    return cold_start_split(SPLIT, 2020)


def _pairs(split, rows):
    tokens_u = split.dataset.field2id_token[split.dataset.uid_field]
    tokens_i = split.dataset.field2id_token[split.dataset.iid_field]
    return {(str(tokens_u[split.users[r]]), str(tokens_i[split.items[r]])) for r in rows}


def _file_pairs(path):
    with open(path, encoding="utf-8") as file:
        next(file)
        return [tuple(line.rstrip("\n").split("\t")[:2]) for line in file]


def _query_rows(split):
    return np.concatenate([t.query for s in (*split.eval_states, VALID_STATE) for t in split.tasks[s]])


def test_the_split_is_the_one_an_episodic_run_builds(split_and_config):
    split, _ = split_and_config
    dataset, *_ = build("MeLU", "tiny", full_ranking_topk=[5], full_ranking_threshold=4)
    theirs = dataset.cold_split
    assert theirs.eval_states == split.eval_states
    for state in (*split.eval_states, VALID_STATE):
        assert len(theirs.tasks[state]) == len(split.tasks[state]) > 0
        for a, b in zip(theirs.tasks[state], split.tasks[state]):
            assert a.user == b.user
            assert np.array_equal(a.support, b.support) and np.array_equal(a.query, b.query)


def test_training_file_holds_training_and_supports_and_no_query(split_and_config, tmp_path):
    split, _ = split_and_config
    export_cold_start_split(split, str(tmp_path), "tiny-cs")
    folder = tmp_path / "tiny-cs"
    train = _file_pairs(folder / "tiny-cs.train.inter")
    assert len(train) == len(set(train))
    queries = _pairs(split, _query_rows(split))
    assert queries and not set(train) & queries
    supports = np.concatenate([t.support for s in (*split.eval_states, VALID_STATE) for t in split.tasks[s]])
    training = np.concatenate([split.train_rows[int(u)] for u in split.train_users])
    assert set(train) == _pairs(split, supports) | _pairs(split, training)
    valid = {(u, i) for u, i in _file_pairs(folder / "tiny-cs.valid.inter")}
    assert valid == _pairs(split, np.concatenate([t.query for t in split.tasks[VALID_STATE]]))
    test = set(_file_pairs(folder / "tiny-cs.test.inter"))
    assert test == _pairs(split, np.concatenate([t.query for s in split.eval_states for t in split.tasks[s]]))
    assert os.path.isfile(folder / "tiny-cs.user") and os.path.isfile(folder / "tiny-cs.item")


def test_a_query_rating_in_the_training_data_is_refused(split_and_config):
    split, _ = split_and_config
    task = split.tasks["user_cold"][0]
    user = int(split.train_users[0])
    saved = split.train_rows[user]
    split.train_rows[user] = np.append(saved, task.query[:1])  # a new user's query rating slips into training
    try:
        with pytest.raises(ValueError, match="both training/support and query"):
            split_rows(split)
    finally:
        split.train_rows[user] = saved
    assert len(split_rows(split)["train"]) > 0


@pytest.fixture(scope="module")
def trained_bpr(split_and_config, tmp_path_factory):
    split, config = split_and_config
    folder = tmp_path_factory.mktemp("bpr")
    saved = os.getcwd()
    os.chdir(folder)
    try:
        return train_builtin(split, config, "BPR", str(folder), {"epochs": 2, "state": "WARNING"}, seed=0)
    finally:
        os.chdir(saved)


def test_recbole_trains_on_the_exported_training_part_only(split_and_config, trained_bpr):
    split, _ = split_and_config
    train = trained_bpr.train_data.dataset  # what RecBole's train loader (and its sampler) draws from
    dataset = trained_bpr.dataset
    users = dataset.id2token(dataset.uid_field, train.inter_feat[dataset.uid_field].numpy())
    items = dataset.id2token(dataset.iid_field, train.inter_feat[dataset.iid_field].numpy())
    history = set(zip(users.tolist(), items.tolist()))
    assert len(history) == len(train.inter_feat) == len(trained_bpr.rows["train"])
    assert history == _pairs(split, trained_bpr.rows["train"])
    assert not history & _pairs(split, _query_rows(split))


def test_the_bridge_scores_exactly_the_query_items(split_and_config, trained_bpr):
    split, config = split_and_config
    model, dataset = trained_bpr.model, trained_bpr.dataset
    _, scored = evaluate_states(model, dataset, split, config)
    for state in split.eval_states:
        tasks = split.tasks[state]
        assert scored[state] == sum(len(t.query) for t in tasks)
        candidates = candidate_items(split, state)
        users = np.array([t.user for t in tasks])
        scores = score_candidates(model, dataset, split, users, candidates)
        q_scores, q_ratings, q_task, q_items = query_predictions(split, tasks, scores, candidates)
        for t, task in enumerate(tasks):  # every query item of every task, and nothing else
            assert sorted(q_items[q_task == t]) == sorted(split.items[task.query])
            assert np.array_equal(np.sort(q_ratings[q_task == t]), np.sort(split.ratings[task.query]))
        # the same scores straight from RecBole's predict on the (user, item) pairs of the queries
        uid, iid = dataset.uid_field, dataset.iid_field
        tok_u = split.dataset.field2id_token[uid]
        tok_i = split.dataset.field2id_token[iid]
        rb_u = dataset.token2id(uid, tok_u[users[q_task]])
        rb_i = dataset.token2id(iid, tok_i[q_items])
        with torch.no_grad():
            direct = model.predict(Interaction({uid: torch.as_tensor(rb_u), iid: torch.as_tensor(rb_i)}))
        assert np.allclose(direct.numpy(), q_scores, atol=1e-5)


def test_graded_ndcg_of_the_bridge_is_that_of_the_query_scores(split_and_config, trained_bpr):
    split, config = split_and_config
    model, dataset = trained_bpr.model, trained_bpr.dataset
    results, _ = evaluate_states(model, dataset, split, config)
    state = "user_cold"
    tasks = split.tasks[state]
    candidates = candidate_items(split, state)
    scores = score_candidates(model, dataset, split, np.array([t.user for t in tasks]), candidates)
    q_scores, q_ratings, q_task, _ = query_predictions(split, tasks, scores, candidates)
    expected, _ = graded_ndcg(q_scores, q_ratings, q_task, [1, 3])
    assert results[state]["gradedndcg@3"] == pytest.approx(expected[3], abs=1e-4)
    assert "mae" not in results[state] and "full_ndcg@5" in results[state]


def test_builtins_suite_runs_in_quick_mode(tmp_path):
    from recbole_meta.benchmark.cli import main

    out = tmp_path / "bench"
    argv = [
        "cold_start_builtins",
        "--quick",
        "--out",
        str(out),
        "--no-progress",
        "--runs",
        "UserItemBias",
        "FM",
    ]
    assert main(argv) == 0
    report = (out / "cold_start_builtins.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| FM |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[1] == cells[2] == "n/a"  # mae, rmse: not applicable to a ranking model
    assert all(c not in ("n/a", "–") for c in cells[3:8])  # graded NDCG and full-catalogue metrics
    assert (out / "cold_start_builtins.png").is_file()
