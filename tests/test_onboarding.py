"""Onboarding study: chosen items are the user's own ratings, never evaluation items; the MAE is the trainer's."""

import numpy as np
import pytest

from recbole_meta.benchmark.cold_start.onboarding import (
    CHOOSERS,
    candidate_order,
    eligible_users,
    item_priorities,
    onboarding_tasks,
    per_task_mae,
)
from tests.cold_start_helpers import build

KS = [1, 2, 3]


@pytest.fixture(scope="module")
def bias_run():
    dataset, (_, _, test), model, trainer = build("UserItemBias", "tiny")
    return dataset, test, model, trainer


def _fake_evidence(split):
    rng = np.random.default_rng(0)
    items = np.unique(split.train_interactions()[1])
    return {"item": items, "score": rng.uniform(size=len(items))}


@pytest.mark.parametrize("chooser", CHOOSERS)
def test_chosen_items_are_rated_by_the_user_and_never_evaluated(bias_run, chooser):
    dataset, *_ = bias_run
    split = dataset.cold_split
    priorities = item_priorities(split, _fake_evidence(split))
    tasks = onboarding_tasks(split, chooser, KS, priorities, seed=0)
    originals = {t.user: t for t in split.tasks["user_cold"]}
    users = eligible_users(split, KS)
    assert 0 < len(users) < len(originals) + 1
    assert all(len(originals[u].support) >= max(KS) for u in users)
    for k in KS:
        assert [t.user for t in tasks[k]] == users  # the same users for every k
        for task in tasks[k]:
            original = originals[task.user]
            assert len(task.support) == k
            assert set(task.support) <= set(original.support)  # the user's own ratings ...
            assert not set(split.items[task.support]) & set(split.items[task.query])  # ... never evaluated
            assert np.array_equal(task.query, original.query)  # the same evaluation items for every chooser
    for small, large in zip(KS, KS[1:]):  # nested: the first k of a larger k
        for a, b in zip(tasks[small], tasks[large]):
            assert np.array_equal(a.support, b.support[:small])


def test_deterministic_choosers_take_the_best_scored_items(bias_run):
    dataset, *_ = bias_run
    split = dataset.cold_split
    priorities = item_priorities(split, _fake_evidence(split))
    task = max(split.tasks["user_cold"], key=lambda t: len(t.support))
    for chooser in ("evidence", "popularity", "pop_entropy"):
        order = candidate_order(split, task.support, chooser, priorities, np.random.default_rng(0))
        scores = priorities[chooser][split.items[order]]
        assert sorted(order) == sorted(task.support)
        assert np.all(np.diff(scores) <= 0)
    with pytest.raises(ValueError, match="unknown chooser"):
        candidate_order(split, task.support, "oracle", priorities, np.random.default_rng(0))


def test_popularity_and_entropy_are_those_of_the_training_ratings(bias_run):
    dataset, *_ = bias_run
    split = dataset.cold_split
    _, items, ratings = split.train_interactions()
    priorities = item_priorities(split)
    assert "evidence" not in priorities
    item = np.bincount(items).argmax()
    assert priorities["popularity"][item] == (items == item).sum()
    _, counts = np.unique(ratings[items == item], return_counts=True)
    share = counts / counts.sum()
    entropy = -(share * np.log2(share)).sum()
    assert priorities["pop_entropy"][item] == pytest.approx(np.log2(1 + counts.sum()) * entropy)
    unrated = np.setdiff1d(np.arange(1, split.n_items), items)
    assert np.all(priorities["popularity"][unrated] == -1)


def test_per_task_mae_of_the_whole_support_is_the_trainers_user_cold_mae(bias_run):
    dataset, test, model, trainer = bias_run
    split = dataset.cold_split
    expected = trainer.evaluate(test, load_best_model=False)["user_cold"]["mae"]
    per_task = per_task_mae(trainer, trainer.config, split, split.tasks["user_cold"])
    assert len(per_task) == len(split.tasks["user_cold"])
    assert per_task.mean() == pytest.approx(expected, abs=1e-4)  # equal query sizes: mean of task MAEs


def test_onboarding_suite_runs_in_quick_mode(tmp_path):
    from recbole_meta.benchmark.cli import main

    out = tmp_path / "bench"
    runs = ["MeLU-5-evidence", "MeLU-5-random", "UserItemBias-evidence", "UserItemBias-random"]
    assert (
        main(["cold_start_onboarding", "--quick", "--out", str(out), "--no-progress", "--runs", *runs]) == 0
    )
    report = (out / "cold_start_onboarding.md").read_text()
    assert "| run | mae@1 | mae@3 |" in report
    assert "| MeLU-5 | tiny | 3 |" in report and "| UserItemBias | tiny |" in report
    assert (out / "cold_start_onboarding.png").is_file()
