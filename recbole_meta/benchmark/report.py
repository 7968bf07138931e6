"""Markdown report of a suite from its results file: tables (mean +- std over seeds, best marked) per
evaluation state, resources, and the paired comparison of one run against the best baseline."""

import math
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from recbole_meta.benchmark.records import FLAT_STATE, latest_ok, options_added
from recbole_meta.benchmark.stats import mean_std, paired_comparison
from recbole_meta.benchmark.suite import run_key

COST_UNITS = {
    "seconds",
    "second",
    "secs",
    "sec",
    "ms",
    "us",
    "mb",
    "gb",
    "kb",
    "bytes",
    "time",
    "rss",
    "memory",
}


def smaller_is_better(metric, extra=()):
    """Direction of a metric: minimised if RecBole lists it as smaller-is-better (mae, rmse, logloss, ...), if
    ``extra`` names it, or if it is a cost: a unit word (``seconds``, ``ms``, ``mb``, ``time``, ...) among the
    ``_``-separated words of its name before any ``per`` (``step_ms``, ``seconds_per_epoch``, ``peak_rss_mb``
    are costs; ``tasks_per_second`` is a throughput). Anything else is maximised."""
    from recbole.evaluator.register import smaller_metrics

    name = metric.lower()
    base = name.split("@")[0]
    extra = {e.lower() for e in extra}
    if base in smaller_metrics or name in extra or base in extra:
        return True
    words = re.split(r"[^a-z0-9]+", base)
    if "per" in words:
        words = words[: words.index("per")]
    return any(word in COST_UNITS for word in words)


@dataclass
class SuiteSummary:
    """Results of a suite gathered per state, metric, run and seed (only records of the current config).

    Attributes:
        suite (Suite): the suite definition.
        seeds (list of int): seeds asked for.
        quick (bool): mode.
        states (list of str): evaluation states in order of appearance (``["all"]`` for flat metrics).
        metrics (dict): state -> list of metric names.
        values (dict): state -> metric -> run -> {seed: value}.
        records (dict): (run, seed) -> record.
        missing (list): (run, seed) pairs without a successful record.
        stale (int): successful records of another config of the same (run, seed).
        keys (dict): run -> :class:`recbole_meta.benchmark.suite.RunKey` the records were matched by.
    """

    suite: object
    seeds: list
    quick: bool
    states: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    records: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)
    stale: int = 0
    keys: dict = field(default_factory=dict)

    def run_names(self):
        return self.suite.run_names()

    def smaller(self, metric):
        return smaller_is_better(metric, self.suite.smaller_is_better)

    def per_seed(self, run, key):
        """``{seed: record[key]}`` for a record field such as ``wall_seconds``."""
        return {seed: record.get(key) for (name, seed), record in self.records.items() if name == run}


def summarize(suite, records, seeds=None, quick=False):
    """Gather the records of ``suite`` (the current definition, mode and seeds) into a :class:`SuiteSummary`."""
    seeds = list(seeds) if seeds is not None else suite.default_seeds(quick)
    keys = {run.name: run_key(run, suite.run_config(run, quick), quick) for run in suite.runs}
    wanted = {(run.name, int(seed)): keys[run.name] for run in suite.runs for seed in seeds}
    chosen, stale = latest_ok(records, suite.name, wanted)
    summary = SuiteSummary(suite=suite, seeds=seeds, quick=quick, records=chosen, stale=stale, keys=keys)
    summary.missing = [key for key in wanted if key not in chosen]
    values = OrderedDict()
    for run in suite.runs:
        for seed in seeds:
            record = chosen.get((run.name, int(seed)))
            if record is None:
                continue
            for state, state_metrics in record["metrics"].items():
                per_metric = values.setdefault(state, OrderedDict())
                for metric, value in state_metrics.items():
                    per_metric.setdefault(metric, OrderedDict()).setdefault(run.name, {})[int(seed)] = value
    summary.values = values
    summary.states = list(values)
    summary.metrics = {state: list(values[state]) for state in values}
    return summary


# ---------------------------------------------------------------------------------------------- formatting
def _decimals(magnitude):
    if not math.isfinite(magnitude) or magnitude < 10:
        return 4
    if magnitude < 1000:
        return 2
    return 0


def format_mean_std(mean, std, decimals, n):
    if not math.isfinite(mean):
        return "–"
    if n <= 1:
        return f"{mean:.{decimals}f}"
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def best_runs(per_run, smaller):
    """Run names whose mean is best (ties share the mark)."""
    means = {run: mean_std(seed_values.values())[0] for run, seed_values in per_run.items()}
    means = {run: m for run, m in means.items() if math.isfinite(m)}
    if not means:
        return set()
    target = min(means.values()) if smaller else max(means.values())
    return {run for run, m in means.items() if m == target}


def _resources(summary, run):
    wall = [v for v in summary.per_seed(run, "wall_seconds").values() if v is not None]
    peak = [v for v in summary.per_seed(run, "peak_rss_mb").values() if v is not None]
    delta = [v for v in summary.per_seed(run, "peak_rss_delta_mb").values() if v is not None]
    params = {v for v in summary.per_seed(run, "trainable_parameters").values() if v is not None}
    wall_cell = format_mean_std(*mean_std(wall), 1, len(wall)) if wall else "–"
    memory_cell = f"{max(peak):.0f} (+{max(delta):.0f})" if peak else "–"
    params_cell = ", ".join(f"{p:,}" for p in sorted(params)) if params else "–"
    return params_cell, wall_cell, memory_cell


def state_table(summary, state):
    """Markdown table of one state: a row per run, mean ± std per metric (best in bold), resources."""
    metrics = summary.metrics[state]
    info_columns = list(summary.suite.info_columns)
    header = ["run", *metrics, "seeds", *info_columns, "trainable params", "wall time (s)", "peak RSS (MB)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    best = {
        m: best_runs(summary.values[state][m], summary.smaller(m)) if summary.suite.mark_best else set()
        for m in metrics
    }
    decimals = {}
    for metric in metrics:
        means = [abs(mean_std(v.values())[0]) for v in summary.values[state][metric].values()]
        decimals[metric] = _decimals(max((m for m in means if math.isfinite(m)), default=float("nan")))
    for run in summary.run_names():
        cells, seeds_seen = [run], set()
        for metric in metrics:
            seed_values = summary.values[state][metric].get(run, {})
            finite = [v for v in seed_values.values() if v is not None]
            seeds_seen |= set(seed_values)
            if finite:
                cell = format_mean_std(*mean_std(finite), decimals[metric], len(finite))
            else:  # a run that reports no value of a metric: not applicable to it (a failed value is "–")
                cell = "–" if seed_values else "n/a"
            if run in best[metric] and finite:
                cell = f"**{cell}**"
            cells.append(cell)
        if not seeds_seen:
            continue
        cells.append(str(len(seeds_seen)))
        for key in info_columns:
            per_seed = [
                (record.get("info") or {}).get(key)
                for (name, seed), record in sorted(summary.records.items())
                if name == run
            ]
            cells.append(
                "/".join("–" if v is None else f"{v:g}" if isinstance(v, float) else str(v) for v in per_seed)
            )
        cells.extend(_resources(summary, run))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def choose_best_baseline(summary, model, state, metric):
    """The run other than ``model`` (among ``Suite.baselines`` if set) with the best mean ``metric``."""
    candidates = summary.suite.baselines or [r for r in summary.run_names() if r != model]
    per_run = {
        run: values
        for run, values in summary.values[state].get(metric, {}).items()
        if run in candidates and run != model
    }
    if not per_run:
        return None
    smaller = summary.smaller(metric)
    means = {run: mean_std(v.values())[0] for run, v in per_run.items()}
    finite = {run: m for run, m in means.items() if math.isfinite(m)}
    if not finite:
        return None
    return (min if smaller else max)(finite, key=finite.get)


def _p(value):
    return "–" if not math.isfinite(value) else f"{value:.3g}"


def comparison_section(summary, model, heading="###"):
    """Paired comparison of ``model`` against the best baseline of each state (by the primary metric)."""
    if model not in summary.run_names():
        raise ValueError(
            f"--compare {model!r} is not a run of suite {summary.suite.name} ({summary.run_names()})"
        )
    lines = [f"{heading} Paired comparison: {model} against the best baseline", ""]
    notes = []
    for state in summary.states:
        metrics = summary.metrics[state]
        primary = summary.suite.primary_metric or metrics[0]
        if primary not in metrics:
            primary = metrics[0]
        baseline = choose_best_baseline(summary, model, state, primary)
        title = "" if state == FLAT_STATE else f"state `{state}`: "
        if baseline is None or model not in summary.values[state][primary]:
            lines += [f"{title}not enough results for a comparison.", ""]
            continue
        lines.append(
            f"{title}{model} against {baseline} (best baseline by mean {primary}); differences are "
            f"{model} - {baseline} per seed."
        )
        lines.append("")
        lines.append("| metric | per-seed differences | mean difference | wins | paired t p | Wilcoxon p |")
        lines.append("|---|---|---|---|---|---|")
        for metric in metrics:
            per_run = summary.values[state][metric]
            if model not in per_run or baseline not in per_run:
                continue
            result = paired_comparison(per_run[model], per_run[baseline], summary.smaller(metric))
            diffs = ", ".join(f"{d:+.4f}" for d in result.differences)
            better = "lower" if summary.smaller(metric) else "higher"
            lines.append(
                f"| {metric} ({better} is better) | {diffs} | {result.mean_difference:+.4f} | "
                f"{result.wins}/{len(result.differences)} | {_p(result.t_pvalue)} | {_p(result.wilcoxon_pvalue)} |"
            )
            if result.note:
                notes.append(result.note)
        lines.append("")
    for note in dict.fromkeys(notes):
        lines.append(f"- {note}")
    return "\n".join(lines).rstrip() + "\n"


def _environment_line(summary):
    envs = [r.get("environment") or {} for r in summary.records.values()]
    if not envs:
        return ""
    keys = ("cpu", "cpu_count", "torch_threads", "jobs", "python", "torch", "recbole", "git_commit")
    parts = []
    for key in keys:
        seen = sorted({str(e.get(key)) for e in envs if e.get(key) not in (None, "")})
        if key == "jobs" and seen in (["1"], []):
            continue  # runs one at a time, the usual case: said only when some ran side by side
        if seen:
            parts.append(f"{key} {'/'.join(seen)}")
    dates = sorted(r.get("finished_at", "") for r in summary.records.values() if r.get("finished_at"))
    if dates:
        parts.append(f"finished {dates[0][:10]} to {dates[-1][:10]}")
    line = "Measured with: " + ", ".join(parts) + "."
    span = end_to_end_seconds(summary.records.values())
    if span is not None:
        line += f" The runs shown ran in one sitting: {span / 60:.1f} min from the first start to the last finish."
    return line


def end_to_end_seconds(records, gap_seconds=60):
    """Seconds from the first run's start to the last run's finish (workers' start-up before the first run not
    included) when ``records`` ran in one sitting: one after another or side by side (``--jobs``), with no
    stretch longer than ``gap_seconds`` in which none of them was running. Records resumed in another sitting,
    or without times, give ``None``."""
    spans = []
    for record in records:
        finished, wall = record.get("finished_at"), record.get("wall_seconds")
        if not finished or wall is None:
            return None
        end = datetime.fromisoformat(finished).timestamp()
        spans.append((end - wall, end))
    if not spans:
        return None
    spans.sort()
    covered_until = spans[0][1]
    for start, end in spans[1:]:
        if start - covered_until > gap_seconds:
            return None
        covered_until = max(covered_until, end)
    return covered_until - spans[0][0]


def _config_lines(summary):
    suite = summary.suite
    lines = [f"- every run: `{_compact(suite.config)}`"]
    for run in suite.runs:
        if run.config:
            lines.append(f"- {run.name}: `{_compact(run.config)}`")
    if summary.quick and suite.quick_config:
        lines.append(f"- quick mode, on top of the above: `{_compact(suite.quick_config)}`")
    return lines


def _compact(config):
    import json

    from recbole_meta.benchmark.suite import jsonable

    return json.dumps(jsonable(config), sort_keys=False, separators=(", ", ": "))


def _options_added(summary):
    """``{option: value now}`` over the shown records that were measured before the option existed."""
    added = {}
    for (run, _), record in summary.records.items():
        key = summary.keys.get(run)
        if key is not None:
            added.update(options_added(record, key) or {})
    return added


def _declares_defaults(suite, run_name):
    return any(run.name == run_name and run.defaults is not None for run in suite.runs)


def render_report(summary, command, image=None, compare=None, heading="##"):
    """The whole markdown report of a suite.

    Args:
        summary (SuiteSummary)
        command (str): the command that regenerates the results (named in the report).
        image (str): path of the plot relative to where the markdown will live (``None``: no image).
        compare (str): run for the paired comparison (default ``Suite.compare``; none if neither).
        heading (str): markdown heading prefix of the report's title.
    """
    suite = summary.suite
    sub = heading + "#"
    lines = [f"{heading} Benchmark: {suite.name}{' (quick mode)' if summary.quick else ''}", ""]
    if suite.description:
        lines += [suite.description.strip(), ""]
    lines += [
        f"Generated from the results file by the harness; regenerate with `{command}`.",
        f"Seeds: {', '.join(map(str, summary.seeds))}; cells are mean ± sample std over seeds"
        + ("; the best mean of each metric column in bold" if suite.mark_best else "")
        + "; wall time is the whole run (for a model: training and evaluation); peak RSS is the process's peak "
        "during the "
        "run, and in parentheses its increase over the process's size when the run started.",
    ]
    env = _environment_line(summary)
    if env:
        lines.append(env)
    lines.append("")
    if summary.missing:
        shown = ", ".join(f"{run}/seed {seed}" for run, seed in summary.missing[:12])
        more = f" and {len(summary.missing) - 12} more" if len(summary.missing) > 12 else ""
        lines += [f"**Incomplete**: no result yet for {shown}{more}.", ""]
    if summary.stale:
        lines += [
            f"({summary.stale} older result(s) of a different config are in the results file and not shown.)",
            "",
        ]
    unchecked = sum(
        1
        for (run, _), record in summary.records.items()
        if "defaults_hash" not in record and _declares_defaults(suite, run)
    )
    if unchecked:
        lines += [
            f"({unchecked} result(s) shown predate the recorded yaml defaults and are not checked against "
            "today's; `--stamp-defaults` checks them against the yaml of the commit that measured them.)",
            "",
        ]
    added = _options_added(summary)
    if added:
        shown = ", ".join(f"{name} ({value!r} now)" for name, value in sorted(added.items()))
        lines += [
            f"(Options added to the yaml defaults after some result(s) shown were measured, so those runs "
            f"could not have used them: {shown}.)",
            "",
        ]
    if not summary.states:
        lines.append("No results yet.")
        return "\n".join(lines) + "\n"
    for state in summary.states:
        if state != FLAT_STATE or len(summary.states) > 1:
            lines += [f"{sub} State `{state}`", ""]
        lines += [state_table(summary, state), ""]
    compare = compare or suite.compare
    if compare is not None:
        lines += [comparison_section(summary, compare, heading=sub), ""]
    if suite.report_hook is not None:
        lines += [suite.report_hook(summary).rstrip(), ""]
    if image:
        lines += [f"![{suite.name}]({image})", ""]
    lines += [f"{sub} Configuration", ""] + _config_lines(summary) + [""]
    return "\n".join(lines).rstrip() + "\n"
