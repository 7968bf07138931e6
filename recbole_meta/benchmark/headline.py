"""Short generated summaries of suites for the README: a few rows per suite and a models table.

The README carries no typed numbers. Each suite's section between its ``<!-- benchmark:<suite> -->`` markers
is a *headline*: the compared model and the best baseline of each state on the suite's primary metric (mean
± sample std over seeds) and their paired difference, with a link to the full report in
``benchmark_results/<suite>.md``. The ``<!-- benchmark:models -->`` block is the models table: one result
per model beside its best baseline on the same split, each taken from a suite's results file (``MODELS``).
"""

import math
import os
from dataclasses import dataclass

from recbole_meta.benchmark.records import FLAT_STATE
from recbole_meta.benchmark.report import choose_best_baseline, format_mean_std
from recbole_meta.benchmark.stats import mean_std, paired_comparison

MAX_FLAT_METRICS = 4


@dataclass(frozen=True)
class ModelRow:
    """One row of the README's models table.

    Attributes:
        model (str): what the row is about, as the reader knows it (``MeLU``).
        paper (str): where the method comes from.
        suite (str): the suite whose results file holds the headline result.
        run (str): the run of that suite shown.
        state (str): evaluation state (``all`` for a suite with flat metrics).
        metric (str): metric shown; the baseline is the suite's best other run on it in that state.
    """

    model: str
    paper: str
    suite: str
    run: str
    state: str
    metric: str


# model, paper, suite, run, state, metric
_MODEL_ROWS = """
RecBole's own models (BPR, LightGCN, SASRec, ...) | RecBole | baselines | SASRec | all | ndcg@10
MeLU | Lee et al., KDD 2019 | cold_start | MeLU-5 | user_cold | mae
MatchingNet | Vinyals et al., NeurIPS 2016 | cold_start_metric | MatchingNet | user_cold | mae
ProtoRec | Snell et al., NeurIPS 2017 | cold_start_metric | ProtoRec-item-bias | user_cold | gradedndcg@3
SSLTwoTower | Yao et al., CIKM 2021 | two_tower | SSL-RFM | all | tailrecall@50
PeterRec | Yuan et al., SIGIR 2020 | peterrec_profile | PeterRec-serial | gender | macrof1
"""
MODELS = tuple(
    ModelRow(*(cell.strip() for cell in line.split("|"))) for line in _MODEL_ROWS.strip().splitlines()
)


def _cell(seed_values):
    finite = [v for v in seed_values.values() if v is not None]
    if not finite:
        return "–"
    mean, std = mean_std(finite)
    return format_mean_std(mean, std, _decimals(mean), len(finite))


def _decimals(value):
    magnitude = abs(value)
    if not math.isfinite(magnitude) or magnitude < 10:
        return 4 if magnitude < 1 else 3
    return 1 if magnitude < 1000 else 0


def _paired_cell(summary, state, metric, model, baseline):
    values = summary.values[state].get(metric, {})
    if model not in values or baseline not in values or model == baseline:
        return "–"
    result = paired_comparison(values[model], values[baseline], summary.smaller(metric))
    mean = result.mean_difference if round(result.mean_difference, 4) != 0 else 0.0
    p = f", paired t p {result.t_pvalue:.2g}" if math.isfinite(result.t_pvalue) else ""
    return f"{mean:+.4f} ({result.wins}/{len(result.differences)} seeds better{p})"


def _columns(summary):
    """(state, metric) pairs shown: the primary metric of each state, or a flat suite's first metrics."""
    suite = summary.suite
    if suite.headline_columns:
        return [tuple(c) for c in suite.headline_columns if c[0] in summary.states]
    states = [s for s in summary.states]
    if len(states) == 1:
        metrics = summary.metrics[states[0]]
        if suite.primary_metric in metrics:
            metrics = [suite.primary_metric] + [m for m in metrics if m != suite.primary_metric]
        return [(states[0], m) for m in metrics[:MAX_FLAT_METRICS]]
    columns = []
    for state in states:
        metrics = summary.metrics[state]
        metric = suite.primary_metric if suite.primary_metric in metrics else None
        if metric is None and suite.compare is None:
            metric = metrics[0]
        if metric is not None:
            columns.append((state, metric))
    return columns


def headline_section(summary, command, full_report):
    """Markdown headline of a suite: a few rows, the paired difference, a link to ``full_report``."""
    suite = summary.suite
    if not summary.states:
        return f"No results yet; run `{command}`."
    columns = _columns(summary)
    model = suite.compare
    if model is not None:
        baselines = {}
        for state, metric in columns:
            baselines[(state, metric)] = choose_best_baseline(
                summary, model, state, suite.primary_metric or metric
            )
        rows = [model] + list(dict.fromkeys(b for b in baselines.values() if b is not None))
    else:
        rows = summary.run_names()
    flat = len({state for state, _ in columns}) == 1
    arrow = {metric: "↓" if summary.smaller(metric) else "↑" for _, metric in columns}
    header = [
        f"{metric} {arrow[metric]}" if flat else f"{state} {metric} {arrow[metric]}"
        for state, metric in columns
    ]
    seeds = len(summary.seeds)
    spread = f"mean ± std over {seeds} seeds" if seeds > 1 else "one seed"
    lines = [
        f"Generated from the results file: {spread}, ↓ lower / ↑ higher is better. Every run, paired test and "
        f"the configuration: [{os.path.basename(full_report)}]({full_report}); regenerate: `{command}`.",
        "",
        "| run | " + " | ".join(header) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for run in rows:
        cells = [_cell(summary.values[state].get(metric, {}).get(run, {})) for state, metric in columns]
        if model is not None and run != model:
            best_of = [state for state, metric in columns if baselines[(state, metric)] == run]
            where = "" if flat or len(best_of) == len(columns) else ": " + ", ".join(dict.fromkeys(best_of))
            run = f"{run} (best baseline{where})"
        lines.append(f"| {run} | " + " | ".join(cells) + " |")
    if model is not None:
        cells = [
            _paired_cell(summary, state, metric, model, baselines[(state, metric)] or model)
            for state, metric in columns
        ]
        lines.append(
            f"| {model} − best baseline (mean of per-seed differences) | " + " | ".join(cells) + " |"
        )
    if summary.missing:
        lines += ["", f"Incomplete: {len(summary.missing)} (run, seed) result(s) missing."]
    return "\n".join(lines)


def model_cell(summary, row):
    """``(model result, baseline name and result, paired difference)`` cells of one models-table row."""
    state = row.state if row.state in summary.values else FLAT_STATE
    values = summary.values.get(state, {}).get(row.metric, {})
    if row.run not in values:
        return "no result yet", "–", "–"
    baseline = choose_best_baseline(summary, row.run, state, row.metric)
    result = _cell(values[row.run])
    if baseline is None:
        return result, "–", "–"
    return (
        result,
        f"{baseline} {_cell(values[baseline])}",
        _paired_cell(summary, state, row.metric, row.run, baseline),
    )


def models_table(summaries, report_links):
    """The README's models table from ``summaries`` (suite name -> SuiteSummary) and links to the reports."""
    lines = [
        "| model | paper | result (run, suite, state, metric: mean ± std over seeds) | best baseline, same split "
        "and seeds | difference (mean of per-seed differences) |",
        "|---|---|---|---|---|",
    ]
    for row in MODELS:
        summary = summaries.get(row.suite)
        where = f"[{row.suite}]({report_links[row.suite]})" if row.suite in report_links else row.suite
        state = "" if row.state == FLAT_STATE else f", {row.state}"
        arrow = "↓" if summary is not None and summary.smaller(row.metric) else "↑"
        label = f"{row.run} ({where}{state}, {row.metric} {arrow})"
        if summary is None:
            cells = ("no result yet", "–", "–")
        else:
            cells = model_cell(summary, row)
        lines.append(f"| {row.model} | {row.paper} | {label}: {cells[0]} | {cells[1]} | {cells[2]} |")
    return "\n".join(lines)
