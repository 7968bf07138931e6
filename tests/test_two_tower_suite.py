"""The two-tower benchmark suites run end to end in --quick mode (tiny data, one epoch) and report what they claim."""

import json

import pytest


@pytest.mark.slow
def test_quick_two_tower_suites_run_end_to_end(tmp_path):
    from recbole_meta.benchmark.cli import main

    out = tmp_path / "out"
    runs = ["TwoTower", "SSL-RFM", "SSL-CFM-noLogQ", "BPR"]
    assert main(["two_tower", "--quick", "--out", str(out), "--no-progress", "--runs", *runs]) == 0
    records = [json.loads(line) for line in open(out / "two_tower.jsonl")]
    assert {r["run"] for r in records} == set(runs) and all(r["status"] == "ok" for r in records)
    assert all({"recall@10", "tailrecall@10", "tailndcg@10"} <= set(r["metrics"]["all"]) for r in records)
    report = open(out / "two_tower.md").read()
    assert "**SSL against the same model without it (paired by seed)**" in report

    assert main(["two_tower_cold", "--quick", "--out", str(out), "--no-progress", "--runs", "TwoTower"]) == 0
    cold = json.loads(open(out / "two_tower_cold.jsonl").readline())
    assert cold["config"]["item_cold_split"] == [0.6, 0.2, 0.2]
    # every test item is cold, hence tail: the tail metrics equal the overall ones
    assert cold["metrics"]["all"]["tailrecall@10"] == cold["metrics"]["all"]["recall@10"]

    assert (
        main(["two_tower_speed", "--quick", "--out", str(out), "--no-progress", "--runs", "ssl_batch_256"])
        == 0
    )
    speed = json.loads(open(out / "two_tower_speed.jsonl").readline())
    # timings are a benchmark's to judge, not a test's; what the run counted is checked: SSL adds matrix work,
    # the steps timed are the configured ones
    assert speed["metrics"]["all"]["matmul_work_ratio"] > 1
    assert speed["info"]["steps_per_measurement"] == speed["config"]["timed_steps"]


@pytest.mark.slow
def test_quick_tuning_suite_reports_validation_results_only(tmp_path):
    from recbole_meta.benchmark.cli import main

    out = tmp_path / "out"
    runs = ["TwoTower-10pct", "SSL-b128-a0.3-t0.1"]
    argv = ["two_tower_synthetic_tuning", "--quick", "--out", str(out), "--no-progress", "--runs", *runs]
    assert main(argv) == 0
    records = [json.loads(line) for line in open(out / "two_tower_synthetic_tuning.jsonl")]
    assert {r["run"] for r in records} == set(runs) and all(r["status"] == "ok" for r in records)
    for record in records:  # the hyperparameters are chosen on validation: no test result is kept
        metrics = record["metrics"]["all"]
        assert "valid_recall@50" in metrics and all(name.startswith("valid_") for name in metrics)
    ssl = next(r for r in records if r["run"] == "SSL-b128-a0.3-t0.1")["config"]
    assert (ssl["ssl_alpha"], ssl["ssl_temperature"], ssl["ssl_augment"]) == (0.3, 0.1, ["rfm"])


@pytest.mark.slow
def test_quick_1m_suite_reports_training_seconds_per_epoch(tmp_path):
    from recbole_meta.benchmark.cli import main

    out = tmp_path / "out"
    argv = ["two_tower_synthetic_1m", "--quick", "--out", str(out), "--no-progress", "--runs", "SSL-RFM"]
    assert main(argv) == 0
    record = json.loads(open(out / "two_tower_synthetic_1m.jsonl").readline())
    assert record["status"] == "ok"
    # one epoch in quick mode: its logged training time is read back from RecBole's log, a part of the run's time
    assert 0 < record["metrics"]["all"]["train_seconds_per_epoch"] <= record["wall_seconds"]
    assert record["config"]["ssl_alpha"] == 0.1 and record["config"]["corpus"]["n_items"] == 400
