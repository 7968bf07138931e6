"""Report sections that read a suite's results as paired effects: what one change does, seed by seed.

* :func:`effects_table` -- for each :class:`Effect` (change, row, reference; :func:`against` lists those of one
  reference) the per-seed difference ``row - reference`` of a metric on the test tasks, its relative size, the
  paired tests, and the same difference on the *validation* users (the data a default may be chosen on), so
  that a table says both what a change does on test and whether validation would have picked it.
* :func:`gap_share_table` -- each row's share of the gap between a weak and a strong reference closed, per
  seed: ``(weak - row) / (weak - strong)`` for a smaller-is-better metric (1 = as good as the strong one,
  0 = no better than the weak one, negative = worse), with the paired test of the row against the weak one.

Both read :class:`recbole_meta.benchmark.report.SuiteSummary`; validation values come from each record's
``info.best_valid_result`` (what :func:`recbole_meta.benchmark.recbole_run` stores).
"""

import math
from typing import NamedTuple

from recbole_meta.benchmark.stats import mean_std, paired_comparison


class Effect(NamedTuple):
    """One row of :func:`effects_table`: what ``change`` does, read as ``row - reference`` paired by seed."""

    change: str
    row: str
    reference: str


def against(reference, changes):
    """The :class:`Effect` of each ``{change: row}`` against the same ``reference`` run, in order."""
    return [Effect(change, row, reference) for change, row in changes.items()]


def _p(value):
    return "–" if not math.isfinite(value) else f"{value:.3g}"


def validation_values(summary, run, metric):
    """``{seed: value}`` of ``metric`` on the validation users for ``run`` (seeds without one left out)."""
    out = {}
    for (name, seed), record in summary.records.items():
        value = ((record.get("info") or {}).get("best_valid_result") or {}).get(metric)
        if name == run and value is not None:
            out[seed] = value
    return out


def _mean_cell(values, decimals=4):
    mean, std = mean_std(values)
    if not math.isfinite(mean):
        return "–"
    return f"{mean:.{decimals}f}" + (f" ± {std:.{decimals}f}" if len(values) > 1 else "")


def effects_table(summary, effects, state, metric="mae"):
    """Markdown table of paired effects on ``state``'s ``metric``.

    Args:
        summary (SuiteSummary)
        effects (list of Effect): (what changes, run with the change, reference run).
        state (str): evaluation state of the test metric.
        metric (str): metric name (its direction from the suite).

    Rows whose runs have no common seed are listed as not measured, so that a missing result is visible.
    """
    smaller = summary.smaller(metric)
    per_run = summary.values.get(state, {}).get(metric, {})
    better = "lower" if smaller else "higher"
    lines = [
        f"| change | row − reference | seeds | test {state} {metric} Δ (mean, per seed) | relative | wins | "
        f"paired t p | Wilcoxon p | validation {metric} Δ |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for change, run, reference in effects:
        if run not in per_run or reference not in per_run:
            lines.append(f"| {change} | {run} − {reference} | 0 | not measured | | | | | |")
            continue
        test = paired_comparison(per_run[run], per_run[reference], smaller)
        if not test.seeds:
            lines.append(f"| {change} | {run} − {reference} | 0 | no common seed | | | | | |")
            continue
        reference_mean = mean_std([per_run[reference][s] for s in test.seeds])[0]
        relative = test.mean_difference / reference_mean if reference_mean else float("nan")
        valid = paired_comparison(
            validation_values(summary, run, metric), validation_values(summary, reference, metric), smaller
        )
        valid_cell = (
            f"{valid.mean_difference:+.4f} ({valid.wins}/{len(valid.seeds)} better)" if valid.seeds else "–"
        )
        diffs = ", ".join(f"{d:+.4f}" for d in test.differences)
        lines.append(
            f"| {change} | {run} − {reference} | {len(test.seeds)} | {test.mean_difference:+.4f} ({diffs}) | "
            f"{100 * relative:+.1f}% | {test.wins}/{len(test.seeds)} | {_p(test.t_pvalue)} | "
            f"{_p(test.wilcoxon_pvalue)} | {valid_cell} |"
        )
    lines += [
        "",
        f"Δ = row − reference on the same seeds ({better} is better); relative = Δ / the reference's mean on "
        "those seeds; wins = seeds where the row is better; validation Δ = the same difference on the "
        "validation users' tasks (best epoch), the only data a default is chosen on.",
    ]
    return "\n".join(lines) + "\n"


def gap_share_table(summary, rows, weak, strong, state, metric="mae"):
    """Markdown table: each row's ``metric`` on ``state``, its paired test against ``weak`` and its share of
    the ``weak``-to-``strong`` gap closed, per seed (mean ± std; seeds where the gap is not positive skipped).
    """
    smaller = summary.smaller(metric)
    per_run = summary.values.get(state, {}).get(metric, {})
    weak_values, strong_values = per_run.get(weak, {}), per_run.get(strong, {})
    lines = [
        f"| run | test {state} {metric} | seeds | Δ vs {weak} (wins, paired t p, Wilcoxon p) | "
        f"share of the {weak} → {strong} gap closed | validation {metric} |",
        "|---|---|---|---|---|---|",
    ]
    sign = 1.0 if smaller else -1.0
    for run in rows:
        values = per_run.get(run, {})
        if not values:
            lines.append(f"| {run} | not measured | 0 | | | |")
            continue
        finite = [v for v in values.values() if v is not None]
        if run == weak:
            versus = "reference"
        else:
            test = paired_comparison(values, weak_values, smaller)
            versus = (
                f"{test.mean_difference:+.4f} ({test.wins}/{len(test.seeds)}, {_p(test.t_pvalue)}, "
                f"{_p(test.wilcoxon_pvalue)})"
                if test.seeds
                else "no common seed"
            )
        if run in (weak, strong):
            share = "0 (by definition)" if run == weak else "1 (by definition)"
            valid = list(validation_values(summary, run, metric).values())
            lines.append(
                f"| {run} | {_mean_cell(finite)} | {len(finite)} | {versus} | {share} | "
                f"{_mean_cell(valid) if valid else '–'} |"
            )
            continue
        shares = []
        for seed, value in values.items():
            if seed in weak_values and seed in strong_values and value is not None:
                gap = sign * (weak_values[seed] - strong_values[seed])
                if gap > 0:
                    shares.append(sign * (weak_values[seed] - value) / gap)
        share = _mean_cell(shares, 2) + f" (n={len(shares)})" if shares else "–"
        valid = list(validation_values(summary, run, metric).values())
        lines.append(
            f"| {run} | {_mean_cell(finite)} | {len(finite)} | {versus} | {share} | "
            f"{_mean_cell(valid) if valid else '–'} |"
        )
    lines += [
        "",
        f"Share per seed = ({weak} − run) / ({weak} − {strong}) on the same tasks: 1 = as good as {strong}, "
        f"0 = no better than {weak}, negative = worse; mean ± std over seeds. Validation = the validation "
        "users' tasks (best epoch).",
    ]
    return "\n".join(lines) + "\n"
