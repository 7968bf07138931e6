"""Benchmark report: tables against hand computation, paired tests against scipy, README markers, growth fit."""

import math
import statistics

import pytest
from scipy import stats as scipy_stats

from recbole_meta.benchmark import Run, Suite
from recbole_meta.benchmark.headline import headline_section
from recbole_meta.benchmark.readme import replace_between_markers
from recbole_meta.benchmark.report import render_report, state_table, summarize
from recbole_meta.benchmark.stats import loglog_slope, mean_std, paired_comparison
from recbole_meta.benchmark.suite import config_hash


def _noop(ctx):
    return {}


def _suite(**kwargs):
    return Suite("toy", runs=[Run("A", _noop), Run("B", _noop), Run("M", _noop)], seeds=(0, 1, 2), **kwargs)


VALUES = {  # run -> state -> metric -> per-seed values
    "A": {"warm": {"mae": [0.80, 0.90, 1.00], "ndcg@5": [0.30, 0.32, 0.34]}},
    "B": {"warm": {"mae": [0.70, 0.75, 0.86], "ndcg@5": [0.40, 0.41, 0.45]}},
    "M": {"warm": {"mae": [0.69, 0.74, 0.80], "ndcg@5": [0.39, 0.40, 0.41]}},
}


def _records(suite, values=VALUES, extra_state=None):
    records = []
    for run in suite.runs:
        for seed in suite.seeds:
            metrics = {
                state: {m: vs[seed] for m, vs in per_metric.items()}
                for state, per_metric in values[run.name].items()
            }
            if extra_state:
                metrics[extra_state] = {"mae": 1.0 + seed}
            records.append(
                {
                    "suite": suite.name,
                    "run": run.name,
                    "seed": seed,
                    "config_hash": config_hash(suite.run_config(run, False), False),
                    "status": "ok",
                    "metrics": metrics,
                    "wall_seconds": 2.0 + seed,
                    "peak_rss_mb": 100.0,
                    "peak_rss_delta_mb": 10.0,
                    "trainable_parameters": 1234,
                }
            )
    return records


def _row(table, run):
    line = next(line for line in table.splitlines() if line.startswith(f"| {run} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_table_mean_std_and_best_marking_match_hand_computation():
    suite = _suite()
    summary = summarize(suite, _records(suite))
    table = state_table(summary, "warm")
    # A: mae mean 0.9, sample std 0.1; ndcg mean 0.32, std 0.02
    assert _row(table, "A")[1:3] == ["0.9000 ± 0.1000", "0.3200 ± 0.0200"]
    # mae: lower is better -> M (mean 0.7433) in bold; ndcg@5: higher is better -> B (0.42) in bold
    m_mae = statistics.fmean(VALUES["M"]["warm"]["mae"])
    m_std = statistics.stdev(VALUES["M"]["warm"]["mae"])
    assert _row(table, "M")[1] == f"**{m_mae:.4f} ± {m_std:.4f}**"
    assert _row(table, "B")[2].startswith("**0.4200 ±")
    assert not _row(table, "A")[1].startswith("**") and not _row(table, "M")[2].startswith("**")
    assert _row(table, "A")[3:] == ["3", "1,234", "3.0 ± 1.0", "100 (+10)"]


def test_one_table_per_state_and_stale_records_ignored():
    suite = _suite()
    records = _records(suite, extra_state="user_cold")
    stale = dict(records[0], config_hash="old", metrics={"warm": {"mae": 99.0, "ndcg@5": 0.0}})
    summary = summarize(suite, records + [stale])
    assert summary.states == ["warm", "user_cold"] and summary.stale == 1
    report = render_report(summary, "python -m recbole_meta.benchmark toy")
    assert "### State `warm`" in report and "### State `user_cold`" in report
    assert "99" not in state_table(summary, "warm")
    assert "python -m recbole_meta.benchmark toy" in report
    # a missing run is named
    summary = summarize(suite, records[:-1])
    assert "no result yet for M/seed 2" in render_report(summary, "cmd")


def test_paired_comparison_matches_scipy():
    model = {0: 0.69, 1: 0.74, 2: 0.80, 3: 0.71, 4: 0.77, 5: 0.70, 6: 0.79}
    baseline = {0: 0.70, 1: 0.75, 2: 0.86, 3: 0.74, 4: 0.76, 5: 0.72, 6: 0.83}
    result = paired_comparison(model, baseline, smaller_is_better=True)
    a, b = list(model.values()), list(baseline.values())
    t = scipy_stats.ttest_rel(a, b)
    w = scipy_stats.wilcoxon([x - y for x, y in zip(a, b)])
    assert result.t_pvalue == pytest.approx(t.pvalue) and result.t_statistic == pytest.approx(t.statistic)
    assert result.wilcoxon_pvalue == pytest.approx(w.pvalue)
    assert result.mean_difference == pytest.approx(statistics.fmean(x - y for x, y in zip(a, b)))
    assert result.wins == 6  # lower is better: 6 of 7 seeds
    assert result.note == ""  # n = 7: both tests meaningful

    small = paired_comparison({0: 1.0, 1: 2.0, 2: 3.5}, {0: 0.5, 1: 1.0, 2: 3.0})
    assert small.wilcoxon_pvalue == pytest.approx(0.25)  # the smallest possible with n = 3
    assert "smallest possible p is 0.25" in small.note and "n=3" in small.note
    single = paired_comparison({0: 1.0}, {0: 0.5})
    assert math.isnan(single.t_pvalue) and "n=1" in single.note
    constant = paired_comparison({0: 1.0, 1: 2.0}, {0: 0.5, 1: 1.5})
    assert math.isnan(constant.t_pvalue) and "constant" in constant.note


def test_comparison_section_picks_best_baseline_by_primary_metric():
    suite = _suite(compare="M", primary_metric="ndcg@5")
    report = render_report(summarize(suite, _records(suite)), "cmd")
    assert "M against B (best baseline by mean ndcg@5)" in report
    suite = _suite(compare="M", primary_metric="mae", baselines=("A",))
    report = render_report(summarize(suite, _records(suite)), "cmd")
    assert "M against A" in report
    row = next(line for line in report.splitlines() if line.startswith("| mae"))
    assert "-0.1100, -0.1600, -0.2000" in row and "3/3" in row


def test_readme_markers():
    text = "quoted `<!-- benchmark:toy -->`\n<!-- benchmark:toy -->\nold\n<!-- /benchmark:toy -->\noutro\n"
    assert replace_between_markers(text, "toy", "new table") == (
        "quoted `<!-- benchmark:toy -->`\n<!-- benchmark:toy -->\nnew table\n<!-- /benchmark:toy -->\noutro\n"
    )
    with pytest.raises(ValueError, match="<!-- benchmark:other -->"):
        replace_between_markers(text, "other", "x")


def test_headline_shows_the_model_beside_the_best_baseline_and_their_paired_difference():
    suite = _suite(compare="M", primary_metric="mae")
    headline = headline_section(summarize(suite, _records(suite)), "cmd", "toy.md")
    rows = [line for line in headline.splitlines() if line.startswith("| ")]
    # B has the best mean MAE among the other runs (0.77 against A's 0.90); A is not shown
    assert [row.split(" | ")[0] for row in rows[1:]] == [
        "| M",
        "| B (best baseline)",
        "| M − best baseline (mean of per-seed differences)",
    ]
    assert rows[0] == "| run | mae ↓ | ndcg@5 ↑ |"
    assert "0.7433 ± 0.0551" in rows[1] and "0.7700 ± 0.0819" in rows[2]
    # M - B per seed: -0.01, -0.01, -0.06 on MAE (all better); -0.01, -0.01, -0.04 on NDCG@5 (none better)
    assert rows[3].split(" | ")[1].startswith("-0.0267 (3/3 seeds better, paired t p ")
    assert rows[3].split(" | ")[2].startswith("-0.0200 (0/3 seeds better")
    assert "[toy.md](toy.md)" in headline and "`cmd`" in headline


def test_metric_direction():
    from recbole_meta.benchmark.report import smaller_is_better

    for name in ("mae", "RMSE", "logloss", "seconds", "step_ms_with_ssl", "peak_rss_mb", "seconds_per_epoch"):
        assert smaller_is_better(name), name
    for name in ("ndcg@10", "hit@10", "tasks_per_second", "auc", "macro_f1"):
        assert not smaller_is_better(name), name
    assert smaller_is_better("ssl_step_ratio", extra=("ssl_step_ratio",))


def test_mean_std_and_loglog_slope():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_std([5.0]) == (5.0, 0.0)
    assert loglog_slope([10, 100, 1000], [3 * n**1.5 for n in (10, 100, 1000)]) == pytest.approx(1.5)
    assert math.isnan(loglog_slope([10], [1.0]))


def _timed(finished_at, wall_seconds):
    return {"finished_at": finished_at, "wall_seconds": wall_seconds}


def test_end_to_end_time_of_runs_side_by_side_and_one_after_another():
    from recbole_meta.benchmark.report import end_to_end_seconds

    # two workers: 0-300 s and 0-200 s then 200-290 s -> 300 s end to end for 590 s of runs
    side_by_side = [
        _timed("2026-12-02T01:05:00+00:00", 300.0),
        _timed("2026-12-02T01:03:20+00:00", 200.0),
        _timed("2026-12-02T01:04:50+00:00", 90.0),
    ]
    assert end_to_end_seconds(side_by_side) == 300.0
    one_after_another = [
        _timed("2026-12-02T01:01:00+00:00", 60.0),
        _timed("2026-12-02T01:03:05+00:00", 120.0),
    ]
    assert end_to_end_seconds(one_after_another) == 185.0


def test_end_to_end_time_is_not_claimed_for_runs_resumed_in_another_sitting():
    from recbole_meta.benchmark.report import end_to_end_seconds

    resumed_next_day = [_timed("2026-12-01T01:01:00+00:00", 60.0), _timed("2026-12-02T01:01:00+00:00", 60.0)]
    assert end_to_end_seconds(resumed_next_day) is None
    assert end_to_end_seconds([_timed("2026-12-02T01:01:00+00:00", None)]) is None
    assert end_to_end_seconds([{"wall_seconds": 5.0}]) is None
    # side by side, then 10 idle minutes, then two more runs: the summed wall times cover the span, the gap does not
    two_sittings = [
        _timed("2026-12-02T01:10:00+00:00", 600.0),
        _timed("2026-12-02T01:10:00+00:00", 600.0),
        _timed("2026-12-02T01:25:00+00:00", 300.0),
        _timed("2026-12-02T01:25:00+00:00", 300.0),
    ]
    assert end_to_end_seconds(two_sittings) is None
