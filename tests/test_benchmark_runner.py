"""Benchmark runner: records, resume (by counting calls), seeding, isolation, failures, peak memory."""

import json
import os

import numpy as np
import pytest

from recbole_meta.benchmark import PeakMemory, Run, RunResult, Suite
from recbole_meta.benchmark.records import append_record, normalize_metrics, read_records
from recbole_meta.benchmark.runner import run_suite


def _counting_suite(calls, runs_config=None, prepare=None):
    def make(name):
        def fn(ctx):
            calls.append((name, ctx.seed))
            return {"warm": {"mae": 0.5 + ctx.seed}, "user_cold": {"mae": 1.0}}

        return fn

    runs_config = runs_config or {"a": {}, "b": {"lr": 0.1}}
    return Suite(
        name="counting",
        runs=[Run(name, make(name), config=config) for name, config in runs_config.items()],
        seeds=(0, 1),
        prepare=prepare,
    )


def test_resume_skips_finished_runs_and_reruns_changed_configs(tmp_path):
    calls = []
    summary = run_suite(_counting_suite(calls), tmp_path, progress=False)
    assert sorted(calls) == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert len(summary.executed) == 4 and not summary.skipped
    records = read_records(tmp_path / "counting.jsonl")
    assert len(records) == 4
    assert records[0]["metrics"] == {"warm": {"mae": 0.5}, "user_cold": {"mae": 1.0}}
    for key in ("config", "seed", "wall_seconds", "peak_rss_mb", "trainable_parameters", "environment"):
        assert key in records[0]

    calls.clear()
    summary = run_suite(_counting_suite(calls), tmp_path, progress=False)
    assert calls == [] and len(summary.skipped) == 4
    assert len(read_records(tmp_path / "counting.jsonl")) == 4

    # a changed config of run b makes b (only) run again; back to the first config: its records are reused;
    # an extra seed runs only that seed
    calls.clear()
    run_suite(_counting_suite(calls, {"a": {}, "b": {"lr": 0.2}}), tmp_path, progress=False)
    assert sorted(calls) == [("b", 0), ("b", 1)]
    calls.clear()
    run_suite(_counting_suite(calls), tmp_path, seeds=[0, 1, 2], progress=False)
    assert sorted(calls) == [("a", 2), ("b", 2)]


def test_resume_after_a_write_cut_off_in_the_last_record(tmp_path, caplog):
    calls = []
    run_suite(_counting_suite(calls), tmp_path, progress=False)
    path = tmp_path / "counting.jsonl"
    data = path.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(data[: last_start + 25])  # killed while writing the 4th record
    assert len(read_records(path)) == 3  # reading survives the partial line
    lost = (json.loads(data[last_start:])["run"], json.loads(data[last_start:])["seed"])

    calls.clear()
    summary = run_suite(_counting_suite(calls), tmp_path, progress=False)
    assert calls == [lost] and len(summary.skipped) == 3
    assert "removed a partial last record" in caplog.text
    records = read_records(path)  # the new record was not glued onto the partial one
    assert len(records) == 4 and path.read_bytes().count(b"\n") == 4
    calls.clear()
    summary = run_suite(_counting_suite(calls), tmp_path, progress=False)
    assert calls == [] and len(summary.skipped) == 4


def test_prepare_runs_once_per_seed_and_reaches_runs(tmp_path):
    prepared, seen = [], []

    def prepare(seed, config, quick, out_dir):
        prepared.append(seed)
        return {"split_of_seed": seed}

    def fn(ctx):
        seen.append((ctx.run, ctx.data["split_of_seed"], ctx.seed))
        return {"x": 1.0}

    suite = Suite("prep", runs=[Run("a", fn), Run("b", fn)], seeds=(3, 4), prepare=prepare)
    run_suite(suite, tmp_path, progress=False)
    assert prepared == [3, 4]
    assert seen == [("a", 3, 3), ("b", 3, 3), ("a", 4, 4), ("b", 4, 4)]


def test_each_run_is_seeded_isolated_and_captured(tmp_path):
    draws = {}

    def fn(ctx):
        draws[(ctx.run, ctx.seed)] = float(np.random.rand())
        print(f"hello from {ctx.run}")
        assert os.getcwd() == ctx.run_dir
        return RunResult(metrics={"x": 1}, trainable_parameters=7, info={"note": "n"})

    suite = Suite("iso", runs=[Run("a", fn), Run("b", fn)], seeds=(0, 5))
    cwd = os.getcwd()
    run_suite(suite, tmp_path, progress=False)
    assert os.getcwd() == cwd
    assert draws[("a", 0)] == draws[("b", 0)] != draws[("a", 5)] == draws[("b", 5)]
    record = read_records(tmp_path / "iso.jsonl")[0]
    assert record["trainable_parameters"] == 7 and record["info"]["note"] == "n"
    console = tmp_path / record["run_dir"] / "console.log"
    assert "hello from a" in console.read_text()


def test_failures_are_recorded_and_retried(tmp_path):
    attempts = []

    def flaky(ctx):
        attempts.append(ctx.seed)
        if len(attempts) == 1:
            raise RuntimeError("boom")
        return {"x": 2.0}

    def bad_metrics(ctx):
        return {"x": "not a number"}

    suite = Suite("fail", runs=[Run("flaky", flaky), Run("bad", bad_metrics)], seeds=(0,))
    summary = run_suite(suite, tmp_path, progress=False)
    assert [f[0] for f in summary.failed] == ["flaky", "bad"]
    records = read_records(tmp_path / "fail.jsonl")
    assert records[0]["status"] == "failed" and "RuntimeError: boom" in records[0]["error"]
    assert "metric all/x must be a number" in records[1]["error"]
    summary = run_suite(suite, tmp_path, progress=False)
    assert summary.executed == [("flaky", 0)] and attempts == [0, 0]


def test_truncated_last_line_is_ignored(tmp_path):
    path = tmp_path / "r.jsonl"
    append_record(path, {"suite": "s", "run": "a", "seed": 0, "config_hash": "h", "status": "ok"})
    with open(path, "a") as file:
        file.write('{"suite": "s", "run": "b", "se')  # killed mid-write
    assert [r["run"] for r in read_records(path)] == ["a"]
    append_record(path, {"suite": "s", "run": "c", "seed": 0, "config_hash": "h", "status": "ok"})
    assert [r["run"] for r in read_records(path)] == ["a", "c"]
    with open(path, "a") as file:
        file.write('{"suite": "s", "ru\n{"suite": "s"}\n')
    with pytest.raises(ValueError, match="line 3: not a JSON record"):
        read_records(path)


def test_normalize_metrics():
    assert normalize_metrics({"mae": np.float64(0.5)}) == {"all": {"mae": 0.5}}
    assert normalize_metrics({"warm": {"mae": float("nan")}}) == {"warm": {"mae": None}}
    with pytest.raises(TypeError, match="mix"):
        normalize_metrics({"warm": {"mae": 1.0}, "mae": 1.0})


def test_suite_definition_errors():
    fn = lambda ctx: {"x": 1}  # noqa: E731
    with pytest.raises(ValueError, match="unique"):
        Suite("s", runs=[Run("a", fn), Run("a", fn)])
    with pytest.raises(ValueError, match="compare='c'"):
        Suite("s", runs=[Run("a", fn)], compare="c")


def test_peak_memory_sees_a_large_allocation_and_nests():
    with PeakMemory() as outer:
        with PeakMemory() as inner:
            block = np.ones(40_000_000)  # 320 MB, touched
            del block
        with PeakMemory() as after:
            small = np.ones(1000)
            del small
    assert inner.usage.peak_rss_delta_mb > 250
    assert after.usage.peak_rss_delta_mb < 100
    assert outer.usage.peak_rss_delta_mb > 250  # the inner block's reset did not hide the outer peak
    with PeakMemory(trace=True) as traced:
        data = np.ones(2_000_000)
        del data
    assert 14 < traced.usage.traced_peak_mb < 20  # 16 MB of float64


def test_records_are_json_lines(tmp_path):
    run_suite(Suite("j", runs=[Run("a", lambda ctx: {"x": 1.0})], seeds=(0,)), tmp_path, progress=False)
    lines = (tmp_path / "j.jsonl").read_text().strip().split("\n")
    assert len(lines) == 1 and json.loads(lines[0])["status"] == "ok"


def _seeded_draw(ctx):
    """A run for worker processes (module level, so that it pickles): a seeded draw and the process id."""
    return RunResult(metrics={"draw": float(np.random.rand())}, info={"pid": os.getpid()})


def test_jobs_run_in_worker_processes_with_the_same_seeds_and_one_writer(tmp_path):
    def suite():
        return Suite(
            "side", runs=[Run("a", _seeded_draw), Run("b", _seeded_draw, config={"k": 1})], seeds=(0, 1)
        )

    serial = run_suite(suite(), tmp_path / "serial", progress=False)
    parallel = run_suite(suite(), tmp_path / "parallel", progress=False, jobs=2, threads=1)
    assert len(serial.executed) == len(parallel.executed) == 4 and not parallel.failed
    by_key = {}
    for name in ("serial", "parallel"):
        for record in read_records(tmp_path / name / "side.jsonl"):
            by_key.setdefault((record["run"], record["seed"]), {})[name] = record
    assert len(by_key) == 4
    for pair in by_key.values():  # each run seeded as in one process: the same draw
        assert pair["serial"]["metrics"] == pair["parallel"]["metrics"]
        assert pair["serial"]["info"]["pid"] == os.getpid() != pair["parallel"]["info"]["pid"]
        assert pair["parallel"]["environment"]["jobs"] == 2
        assert pair["parallel"]["environment"]["torch_threads"] == 1
        assert pair["parallel"]["info"]["cpu_seconds"] >= 0
    assert by_key[("a", 0)]["parallel"]["metrics"] != by_key[("a", 1)]["parallel"]["metrics"]
    # finished runs are resumed as in one process
    again = run_suite(suite(), tmp_path / "parallel", progress=False, jobs=2, threads=1)
    assert again.executed == [] and len(again.skipped) == 4


def test_jobs_need_a_suite_that_pickles(tmp_path):
    suite = Suite("closure", runs=[Run("a", lambda ctx: {"x": 1.0})], seeds=(0, 1))
    with pytest.raises(ValueError, match="cannot be sent to worker processes"):
        run_suite(suite, tmp_path, progress=False, jobs=2)
    with pytest.raises(ValueError, match="jobs must be a positive integer"):
        run_suite(suite, tmp_path, progress=False, jobs=0)


def _dies(ctx):
    """A run whose worker process dies without a Python exception (as when killed or out of memory)."""
    os._exit(3)


def test_a_dead_worker_leaves_a_failed_record_for_every_unfinished_run(tmp_path):
    suite = Suite("dead", runs=[Run("dies", _dies), Run("a", _seeded_draw)], seeds=(0, 1))
    summary = run_suite(suite, tmp_path, progress=False, jobs=2, threads=1)
    records = read_records(tmp_path / "dead.jsonl")
    assert sorted((r["run"], r["seed"]) for r in records) == [("a", 0), ("a", 1), ("dies", 0), ("dies", 1)]
    dead = [r for r in records if r["run"] == "dies"]
    assert all(r["status"] == "failed" and "worker process died" in r["error"] for r in dead)
    assert len(summary.failed) + len(summary.executed) == 4


def test_jobs_refuse_a_suite_that_prepares_each_seed_once(tmp_path):
    suite = Suite("prep", runs=[Run("a", _seeded_draw)], seeds=(0, 1), prepare=_prepare_nothing)
    with pytest.raises(ValueError, match="jobs=2: suite prep prepares each seed's data once"):
        run_suite(suite, tmp_path, progress=False, jobs=2)
    assert len(run_suite(suite, tmp_path, progress=False, jobs=1).executed) == 2


def _prepare_nothing(seed, config, quick, out_dir):
    return {"seed": seed}


def test_longest_first_orders_by_the_last_recorded_wall_time():
    from recbole_meta.benchmark.runner import longest_first

    runs = {name: Run(name, _seeded_draw) for name in ("fast", "slow", "new")}
    plan = [(seed, runs[name], {}, None) for seed in (0, 1) for name in ("fast", "slow", "new")]
    records = [
        {"run": "slow", "status": "ok", "wall_seconds": 1.0},
        {"run": "fast", "status": "ok", "wall_seconds": 5.0},
        {"run": "slow", "status": "ok", "wall_seconds": 50.0},  # the latest record counts
        {"run": "fast", "status": "failed", "wall_seconds": 500.0},  # a failed run's time does not
    ]
    ordered = [(item[1].name, item[0]) for item in longest_first(plan, records)]
    assert ordered == [("new", 0), ("new", 1), ("slow", 0), ("slow", 1), ("fast", 0), ("fast", 1)]


def test_longest_first_places_a_run_without_records_by_its_expected_seconds():
    from recbole_meta.benchmark.runner import longest_first

    runs = {
        "short": Run("short", _seeded_draw, expected_seconds=10.0),
        "long": Run("long", _seeded_draw, expected_seconds=300.0),
        "unknown": Run("unknown", _seeded_draw),
        "measured": Run("measured", _seeded_draw, expected_seconds=1.0),
    }
    plan = [(seed, run, {}, None) for seed in (0, 1) for run in runs.values()]
    # a recorded wall time outranks the hint: "measured" took 100 s, not the 1 s its hint says
    records = [{"run": "measured", "status": "ok", "wall_seconds": 100.0}]
    ordered = [(item[1].name, item[0]) for item in longest_first(plan, records)]
    assert ordered == [
        ("unknown", 0),
        ("unknown", 1),
        ("long", 0),
        ("long", 1),
        ("measured", 0),
        ("measured", 1),
        ("short", 0),
        ("short", 1),
    ]


def test_expected_seconds_must_be_positive():
    with pytest.raises(ValueError, match="run slow: `expected_seconds` must be > 0 seconds, got -3"):
        Run("slow", _seeded_draw, expected_seconds=-3)
