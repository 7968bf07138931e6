"""PeterRec's simple baselines (bag-of-items logistic regression, majority, popularity) and its benchmark suites."""

import json

import numpy as np
import pytest

from recbole_meta.benchmark.peterrec import baselines
from recbole_meta.config import Config
from recbole_meta.data.sequence_tasks import build_task
from recbole_meta.data_preparation import create_dataset
from tests.peterrec_planted import planted_config, write_planted


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    path = tmp_path_factory.mktemp("planted_baselines")
    write_planted(path)
    config = Config(model="PeterRec", dataset="planted", config_dict=planted_config(path), argv=[])
    return path, create_dataset(config)


def _task(planted, **overrides):
    path, dataset = planted
    settings = planted_config(path, stage="finetune", **overrides)
    config = Config(model="PeterRec", dataset="planted", config_dict=settings, argv=[])
    return config, build_task(config, dataset, n_negatives=99)


def test_ranking_metrics_match_a_hand_computation(planted):
    config, task = _task(planted, downstream_task="transfer")
    split = task.splits["test"].subset(np.arange(len(task.splits["test"])) < 3, "three")
    positives = split.fields["item_id"].numpy()
    scores = np.zeros((3, task.n_outputs))
    # Row 0: positive ranked first; row 1: positive third (two candidates above it); row 2: positive last.
    scores[0, positives[0]] = 10
    others = [c for c in split.fields["candidates"][1].tolist() if c != positives[1]][:2]
    scores[1, others] = 20
    scores[1, positives[1]] = 10
    scores[2] = 5
    scores[2, positives[2]] = -5
    got = baselines.ranking_metrics(config, split, scores, "candidates")
    assert got["mrr@5"] == pytest.approx((1 + 1 / 3 + 0) / 3, abs=1e-4)
    assert got["hit@5"] == pytest.approx(2 / 3, abs=1e-4)
    # Full ranking: the row's other positives (history) never compete; padding never ranks.
    full = baselines.ranking_metrics(config, split, scores, "full")
    assert full["hit@5"] <= got["hit@5"]


def test_bag_of_items_is_the_input_sequence(planted):
    _, task = _task(planted, downstream_task="gender")
    split = task.splits["train"]
    bag = baselines.bag_of_items(split).toarray()
    seq = split.fields["item_id_list"].numpy()
    for row in range(5):
        items = {int(i) for i in seq[row] if 0 < i != task.mask_token}
        assert set(np.flatnonzero(bag[row]).tolist()) == items
    assert bag.max() == 1


def test_logistic_regression_finds_the_planted_gender_and_target_items(planted):
    path, dataset = planted
    _, task = _task(planted, downstream_task="gender", pretrain_domain="source")
    scores, chosen = baselines.fit_profile_logistic(task)
    flags = task.splits["test"].groups["no_source_history"]
    assert scores["accuracy"] >= 0.8 and chosen["C"] in baselines.C_GRID
    assert baselines.majority_class(task)["macrof1"] < 0.5
    assert flags.sum() > 0  # their bag is empty: LR can only guess them, like the sequence models
    config, transfer = _task(planted, downstream_task="transfer", target_max_per_user=2)
    scored, _ = baselines.fit_transfer_logistic(config, transfer)
    split = transfer.splits["test"]
    with_source = split.subset(~split.groups["no_source_history"], "with_source")
    lr = baselines.ranking_metrics(
        config, with_source, scored["test"][~split.groups["no_source_history"]], "full"
    )
    popularity = baselines.popularity_scores(transfer)["test"][~split.groups["no_source_history"]]
    pop = baselines.ranking_metrics(config, with_source, popularity, "full")
    assert lr["hit@5"] >= 0.9 and pop["hit@5"] < 0.7  # all 16 target items are about equally popular


def test_popularity_counts_training_rows(planted):
    _, task = _task(planted, downstream_task="transfer")
    scores = baselines.popularity_scores(task, seed=3)["test"]
    counts = np.bincount(task.splits["train"].fields["item_id"].numpy(), minlength=task.n_outputs)
    assert np.allclose(scores, counts[None, :], atol=1e-5)


def test_quick_suites_run_end_to_end(tmp_path):
    from recbole_meta.benchmark.cli import main

    out = tmp_path / "out"
    runs = ["PeterRec-serial", "FineAll", "BagOfItems-LR", "Popularity", "StepTime"]
    assert main(["peterrec_transfer", "--quick", "--out", str(out), "--no-progress", "--runs", *runs]) == 0
    records = [json.loads(line) for line in open(out / "peterrec_transfer.jsonl")]
    assert {r["run"] for r in records} == set(runs) and all(r["status"] == "ok" for r in records)
    by_run = {r["run"]: r for r in records}
    assert set(by_run["PeterRec-serial"]["metrics"]) >= {"uni99", "full"}
    assert by_run["PeterRec-serial"]["trainable_parameters"] < by_run["FineAll"]["trainable_parameters"]
    # the step-time run timed the transfer task, PeterRec over FineAll (one repeat in quick mode: the median
    # ratio is the ratio of the two step times, not its inverse)
    step, timed = by_run["StepTime"]["metrics"]["step_time"], by_run["StepTime"]["info"]
    assert timed["task"] == "transfer" and by_run["StepTime"]["config"]["timing_repeats"] == 1
    assert step["ratio_peterrec_over_fine_all"] == pytest.approx(
        step["peterrec_step_s"] / step["fine_all_step_s"]
    )
    runs = ["PeterRec-parallel", "Majority"]
    assert main(["peterrec_profile", "--quick", "--out", str(out), "--no-progress", "--runs", *runs]) == 0
    records = [json.loads(line) for line in open(out / "peterrec_profile.jsonl")]
    assert all(set(r["metrics"]) == {"gender", "age", "occupation"} for r in records)


def test_quick_transfer_suite_runs_its_diagnostics(tmp_path):
    from recbole_meta.benchmark.cli import main
    from recbole_meta.benchmark.peterrec.diagnostics import REPRESENTATIONS

    out = tmp_path / "out"
    runs = ["NextItem-causal", "NextItem-Popularity", "Probe-random", "FineAll", "SASRec-target-only"]
    argv = ["peterrec_synthetic_transfer", "--quick", "--out", str(out), "--no-progress", "--runs", *runs]
    assert main(argv) == 0
    records = {r["run"]: r for r in map(json.loads, open(out / "peterrec_synthetic_transfer.jsonl"))}
    assert set(records) == set(runs) and all(r["status"] == "ok" for r in records.values())
    assert set(records["NextItem-Popularity"]["metrics"]["next_item"]) == {"mrr@5", "hit@5"}
    assert set(records["Probe-random"]["metrics"]["probe gender"]) == set(REPRESENTATIONS)
    assert set(records["FineAll"]["metrics"]) >= {"gender", "uni99", "full"}
    curve = records["FineAll"]["info"]["gender_curve"]
    assert [p["epoch"] for p in curve] == list(range(1, len(curve) + 1)) and curve
    assert records["SASRec-target-only"]["trainable_parameters"] > records["FineAll"]["trainable_parameters"]
    report = open(out / "peterrec_synthetic_transfer.md").read()
    assert "### Learning curves of fine-tuning" in report and "| next_item" not in report
