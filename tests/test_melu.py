"""MeLU and the mean baselines end to end: per-state results, the planted signal, metric maths, the CLI."""

import math

import numpy as np
import pytest
import torch
import yaml

from recbole_meta import run_recbole_meta
from recbole_meta.data.cold_start_split import STATES
from recbole_meta.evaluator.graded_ndcg import graded_ndcg
from tests.cold_start_helpers import (
    HIDDEN_TRAIT,
    assert_metrics_are_those_of_the_predictions,
    build,
    cold_config,
    planted_dataset,
)
from tests.helpers import REPO_ROOT, run_python

METRICS = {"mae", "rmse", "gradedndcg@1", "gradedndcg@3"}


def test_melu_end_to_end_maps_each_state_to_its_metrics():
    _, (train, valid, test), _, trainer = build("MeLU", "tiny")
    _, best_valid_result = trainer.fit(train, valid, saved=True)
    test_result = trainer.evaluate(test, load_best_model=True)
    assert list(test_result) == list(STATES)
    for state, metrics in test_result.items():
        assert set(metrics) == METRICS, state
    assert_metrics_are_those_of_the_predictions(trainer, test, test_result)
    assert set(best_valid_result) == METRICS


def test_checkpoint_reproduces_the_test_result():
    result = run_recbole_meta("MeLU", "tiny", config_dict=cold_config(epochs=1), argv=[])
    dataset, (_, _, test), model, trainer = build("MeLU", "tiny", epochs=1)
    again = trainer.evaluate(test, load_best_model=True, model_file=result["saved_model_file"])
    for state in STATES:
        assert dict(again[state]) == pytest.approx(dict(result["test_result"][state]))


def _mae(model, **overrides):
    config = cold_config(**overrides)
    return run_recbole_meta(model, "tiny", config_dict=config, argv=[])["test_result"]


def test_local_update_recovers_a_hidden_user_trait(tmp_path):
    # Whether a user likes genre g0 or g1 is a hidden trait: no feature reveals it, only the support ratings.
    # Without local adaptation MeLU can only predict the average; the bias model neither (items are balanced).
    root, _ = planted_dataset(str(tmp_path / "data"))
    config = cold_config(
        data_path=root,
        epochs=15,
        embedding_size=8,
        mlp_hidden_size=[16, 16],
        stopping_step=50,
        **HIDDEN_TRAIT,
    )
    adapted = run_recbole_meta(
        "MeLU", "planted", config_dict={**config, "local_update_steps": 3, "local_lr": 0.2}, argv=[]
    )
    frozen = run_recbole_meta("MeLU", "planted", config_dict={**config, "local_update_steps": 0}, argv=[])
    bias = run_recbole_meta("UserItemBias", "planted", config_dict=config, argv=[])
    for state in ("warm", "user_cold"):
        assert adapted["test_result"][state]["mae"] < 0.8, state
        assert frozen["test_result"][state]["mae"] > 1.3, state
        assert bias["test_result"][state]["mae"] > 1.3, state


def test_mean_baselines_match_hand_computation():
    dataset, (_, _, test), model, trainer = build("ItemMean", "tiny", epochs=1)
    split = dataset.cold_split
    _, items, ratings = split.train_interactions()
    task = split.tasks["warm"][0]
    scores, labels, task_index = trainer.predict_tasks(test["warm"])
    first = scores[task_index == 0].numpy()
    for item, score in zip(split.items[task.query], first):
        mine = ratings[items == item]
        expected = mine.mean() if len(mine) else ratings.mean()
        assert score == pytest.approx(np.clip(expected, 1, 5), abs=1e-5)
    np.testing.assert_allclose(labels[task_index == 0].numpy(), split.ratings[task.query])

    dataset, (_, _, test), model, trainer = build("UserItemBias", "tiny", epochs=1)
    split = dataset.cold_split
    _, items, ratings = split.train_interactions()
    mu = ratings.mean()
    b_i = {i: (ratings[items == i] - mu).sum() / ((items == i).sum() + 10) for i in np.unique(split.items)}
    task = split.tasks["user_cold"][0]
    b_u = sum(split.ratings[r] - mu - b_i[split.items[r]] for r in task.support) / (len(task.support) + 5)
    scores, _, task_index = trainer.predict_tasks(test["user_cold"])
    expected = [np.clip(mu + b_i[split.items[r]] + b_u, 1, 5) for r in task.query]
    np.testing.assert_allclose(scores[task_index == 0].numpy(), expected, rtol=1e-5)


def test_graded_ndcg_by_hand():
    # task 0: ratings 5, 3, 1 predicted in the order 3, 5, 1 -> DCG@2 = (2^3-1) + (2^5-1)/log2(3)
    scores = np.array([0.5, 0.9, 0.1, 2.0, 1.0])
    labels = np.array([5, 3, 1, 4, 4])
    task = np.array([0, 0, 0, 1, 1])
    values, left_out = graded_ndcg(scores, labels, task, [1, 2])
    dcg2 = 7 + 31 / math.log2(3)
    idcg2 = 31 + 7 / math.log2(3)
    assert values[2] == pytest.approx((dcg2 / idcg2 + 1.0) / 2)
    assert values[1] == pytest.approx((7 / 31 + 1.0) / 2)
    assert left_out == 0
    _, left_out = graded_ndcg(np.array([1.0, 2.0, 3.0]), np.array([0, 0, 2]), np.array([0, 0, 1]), [3])
    assert left_out == 1


def _query_predictions(**overrides):
    """(adapted, unadapted) query predictions of a trained MeLU on one user_cold batch, and its query mask."""
    _, (train, valid, test), model, trainer = build("MeLU", "tiny", epochs=1, **overrides)
    trainer.fit(train, valid, saved=False)
    batch = next(iter(test["user_cold"]))
    with torch.no_grad():
        plain = model.predict(batch)
    return trainer.maml.predict_query(batch).detach(), plain, batch["query_mask"] > 0


def test_without_meta_learning_and_with_zero_local_steps():
    # zero local steps: the test predictions are the network's own, nothing adapts to the support
    adapted, plain, mask = _query_predictions(local_update_steps=0)
    assert torch.allclose(adapted[mask], plain[mask])
    # no meta-learning: trained on all ratings, but still fine-tuned on each user's support at test time
    adapted, plain, mask = _query_predictions(meta_train=False)
    assert (adapted[mask] - plain[mask]).abs().max() > 1e-3


def test_residual_option_starts_from_the_bias_model():
    # with the output layer at zero, the residual model predicts exactly the bias model
    dataset, (_, _, test), model, trainer = build("MeLU", "tiny", predict_residual=True, local_update_steps=0)
    model.output.weight.data.zero_()
    model.output.bias.data.zero_()
    melu_scores, _, _ = trainer.predict_tasks(test["user_cold"])
    _, (_, _, test), _, bias_trainer = build("UserItemBias", "tiny")
    bias_scores, _, _ = bias_trainer.predict_tasks(test["user_cold"])
    np.testing.assert_allclose(melu_scores.numpy(), bias_scores.numpy(), rtol=1e-5)


def test_cli_prints_each_state_beside_the_bias_baseline_and_no_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    config = cold_config(epochs=1)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    done = run_python(
        f"{REPO_ROOT}/run_recbole_meta.py",
        "--model=MeLU",
        "--dataset=tiny",
        f"--config_files={path}",
        "--evidence_candidates=3",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Warning" not in done.stderr, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    header = lines.index("test result, MeLU beside UserItemBias on the same split:")
    assert lines[header + 1].split() == ["state", "mae", "rmse", "gradedndcg@1", "gradedndcg@3"]
    # the baseline's row is UserItemBias run on its own with the same config, i.e. the same split
    bias = run_recbole_meta("UserItemBias", "tiny", config_dict=config, argv=[])["test_result"]
    rows = lines[header + 2 : header + 2 + 2 * len(STATES)]
    for index, state in enumerate(STATES):
        melu_row, bias_row = rows[2 * index].split(), rows[2 * index + 1].split()
        assert melu_row[:2] == [state, "MeLU"] and bias_row[0] == "UserItemBias"
        assert [float(v) for v in bias_row[1:]] == pytest.approx(list(bias[state].values()), abs=1e-4)
    assert "evidence candidates (top 3):" in done.stdout


def test_cold_start_suites_run_in_quick_mode(tmp_path):
    from recbole_meta.benchmark.cli import main

    out = tmp_path / "bench"
    argv = ["cold_start", "--quick", "--out", str(out), "--no-progress", "--runs", "UserItemBias", "MeLU-5"]
    assert main(argv) == 0
    report = (out / "cold_start.md").read_text()
    for state in STATES:
        assert f"### State `{state}`" in report
    assert "| UserItemBias |" in report and "| MeLU-5 |" in report
    assert main(["cold_start_speed", "--quick", "--out", str(out), "--no-progress"]) == 0
    speed = (out / "cold_start_speed.md").read_text()
    assert "vectorised_speedup" in speed
