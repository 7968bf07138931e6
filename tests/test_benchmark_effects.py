"""Paired effect and gap-share report sections against hand computation, validation values from the records."""

import statistics

from scipy import stats as scipy_stats

from recbole_meta.benchmark import Run, Suite
from recbole_meta.benchmark.effects import effects_table, gap_share_table
from recbole_meta.benchmark.report import summarize
from recbole_meta.benchmark.suite import config_hash


def _noop(ctx):
    return {}


TEST = {  # run -> per-seed user_cold MAE
    "bias": [0.80, 0.70, 0.90],
    "mf": [0.70, 0.66, 0.80],
    "model": [0.75, 0.69, 0.84],
    "worse": [0.85, 0.78, 0.95],
}
VALID = {
    "bias": [0.81, 0.72, 0.88],
    "mf": [0.71, 0.69, 0.80],
    "model": [0.83, 0.74, 0.90],
    "worse": [0.9] * 3,
}


def _summary(drop=()):
    suite = Suite("toy", runs=[Run(name, _noop) for name in TEST], seeds=(0, 1, 2))
    records = [
        {
            "suite": "toy",
            "run": run.name,
            "seed": seed,
            "config_hash": config_hash(suite.run_config(run, False), False),
            "status": "ok",
            "metrics": {"user_cold": {"mae": TEST[run.name][seed]}},
            "info": {"best_valid_result": {"mae": VALID[run.name][seed]}},
        }
        for run in suite.runs
        for seed in suite.seeds
        if (run.name, seed) not in drop
    ]
    return summarize(suite, records)


def _row(table, first):
    line = next(line for line in table.splitlines() if line.startswith(f"| {first} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_gap_share_is_the_per_seed_fraction_of_the_weak_to_strong_gap():
    table = gap_share_table(_summary(), ["bias", "mf", "model", "worse"], "bias", "mf", "user_cold")
    shares = [(b - m) / (b - s) for b, s, m in zip(TEST["bias"], TEST["mf"], TEST["model"])]  # 0.5, 0.25, 0.6
    row = _row(table, "model")
    assert row[4] == f"{statistics.fmean(shares):.2f} ± {statistics.stdev(shares):.2f} (n=3)"
    diffs = [m - b for m, b in zip(TEST["model"], TEST["bias"])]
    t_p = scipy_stats.ttest_rel(TEST["model"], TEST["bias"]).pvalue
    assert row[3].startswith(f"{statistics.fmean(diffs):+.4f} (3/3, {t_p:.3g},")
    assert row[5] == f"{statistics.fmean(VALID['model']):.4f} ± {statistics.stdev(VALID['model']):.4f}"
    assert float(_row(table, "worse")[4].split()[0]) < 0  # worse than the bias model: a negative share
    assert _row(table, "bias")[4] == "0 (by definition)" and _row(table, "mf")[4] == "1 (by definition)"


def test_effects_pair_seeds_report_relative_size_and_the_validation_difference():
    summary = _summary(drop={("model", 2)})  # a missing seed is left out of the pairing, not filled
    table = effects_table(
        summary, [("a change", "model", "bias"), ("absent", "model", "nothing")], "user_cold"
    )
    row = _row(table, "a change")
    diffs = [TEST["model"][s] - TEST["bias"][s] for s in (0, 1)]
    assert row[2] == "2"
    assert row[3] == f"{statistics.fmean(diffs):+.4f} ({diffs[0]:+.4f}, {diffs[1]:+.4f})"
    relative = statistics.fmean(diffs) / statistics.fmean(TEST["bias"][:2])
    assert row[4] == f"{100 * relative:+.1f}%" and row[5] == "2/2"
    valid_diffs = [VALID["model"][s] - VALID["bias"][s] for s in (0, 1)]  # worse on validation: 0 of 2 better
    assert row[8] == f"{statistics.fmean(valid_diffs):+.4f} (0/2 better)"
    assert _row(table, "absent")[3] == "not measured"
