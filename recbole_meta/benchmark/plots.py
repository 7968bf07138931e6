"""PNG plots of a suite: mean per run with error bars (sample std over seeds), a panel per state and metric."""

import math

from recbole_meta.benchmark.stats import mean_std


def pyplot():
    """``matplotlib.pyplot`` on the file-only backend (imported on first use: the harness runs without it)."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def plot_suite(summary, path, metrics=None, max_metrics=6):
    """Bar chart per (metric, state): one bar per run, mean over seeds, error bar = sample std.

    Rows are metrics, columns are evaluation states (one panel per state). ``metrics`` restricts the rows
    (default: the first ``max_metrics`` metrics of the first state, plus any other state's).
    Returns the path written, or ``None`` when there is nothing to plot.
    """
    if not summary.states:
        return None
    if metrics is None:
        metrics = []
        for state in summary.states:
            metrics += [m for m in summary.metrics[state] if m not in metrics]
        metrics = metrics[:max_metrics]
    runs = summary.run_names()
    plt = pyplot()
    n_rows, n_cols = len(metrics), len(summary.states)
    width = max(3.2, 0.55 * len(runs) + 1.2)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(width * n_cols, 2.6 * n_rows), squeeze=False, constrained_layout=True
    )
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for row, metric in enumerate(metrics):
        for col, state in enumerate(summary.states):
            ax = axes[row][col]
            per_run = summary.values[state].get(metric, {})
            means, stds, labels = [], [], []
            for run in runs:
                values = [v for v in per_run.get(run, {}).values() if v is not None]
                mean, std = mean_std(values)
                means.append(mean if math.isfinite(mean) else 0.0)
                stds.append(std if math.isfinite(std) else 0.0)
                labels.append(run if values else f"{run} (n/a)")
            positions = range(len(runs))
            ax.bar(
                positions,
                means,
                yerr=stds,
                capsize=3,
                color=[colors[i % len(colors)] for i in positions],
                edgecolor="black",
                linewidth=0.5,
            )
            ax.set_xticks(list(positions))
            ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
            direction = "lower" if summary.smaller(metric) else "higher"
            ax.set_ylabel(f"{metric} ({direction} better)", fontsize=8)
            if row == 0 and (len(summary.states) > 1 or state != "all"):
                ax.set_title(state, fontsize=9)
            ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{summary.suite.name}: mean ± std over {len(summary.seeds)} seed(s)", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
