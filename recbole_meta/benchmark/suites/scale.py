"""``scale``: time and peak memory of data stages on synthetic data of growing size, and how they grow.

Each run is one size of the synthetic generator (:mod:`recbole_meta.benchmark.synthetic.planted_preferences`); each stage is an
evaluation state of the report (one table per stage, a row per size): ``load`` builds RecBole's ``Dataset``
from the atomic files (.inter with rating and timestamp, .user and .item with token and token_seq
features), ``split`` runs RecBole's ``Dataset.build()`` (random 8/1/1 per user), ``cold_start_load`` builds the
episodic models' dataset (:class:`recbole_meta.data.cold_start_dataset.ColdStartDataset`),
``cold_start_split`` MeLU's four-state split, ``episodes`` one pass over the training episodes. Per stage: wall seconds,
the increase of peak RSS over the stage's start, and the peak of tracemalloc-traced allocations (a second,
untimed pass). The report fits the growth exponent ``b`` of ``cost ~ n^b`` by least squares on log-log
axes (``b = 1``: linear), over all sizes and over the two largest (fixed overheads flatten the small end).

Other modules add stages (cold-start split, episode building, a meta-training epoch) with
:func:`register_scale_stage`; a stage is ``fn(ctx) -> value`` where ``ctx`` has ``dataset`` (RecBole's),
``synthetic`` (:class:`SyntheticDataset`), ``config`` (the RecBole ``Config``), ``artifacts`` (what earlier
stages returned, by stage name) and ``seed``.
"""

import gc
import math
import os
import time
from dataclasses import dataclass, field
from functools import partial

from recbole_meta.benchmark.memory import PeakMemory
from recbole_meta.benchmark.stats import loglog_slope, mean_std
from recbole_meta.benchmark.suite import Run, RunResult, Suite, register_suite

SIZES = (100_000, 300_000, 1_000_000)
QUICK_SIZES = (1_000, 4_000)
# The catalogue run: evaluation over a large item catalogue (the default shape has 8 sqrt(n) items, 8,000 at 1M).
CATALOGUE = {"n_interactions": 300_000, "n_users": 1_500, "n_items": 60_000}
QUICK_CATALOGUE = {"n_interactions": 4_000, "n_users": 100, "n_items": 2_000}
# Sizes the growth table extrapolates to (from the exponent over the two largest sizes) when not measured.
EXTRAPOLATE_TO = 10_000_000


@dataclass
class StageContext:
    dataset: object
    synthetic: object
    config: object
    seed: int
    quick: bool = False
    artifacts: dict = field(default_factory=dict)


_STAGES = {}
_UNTRACED = set()


def register_scale_stage(name, trace=True):
    """Decorator adding a stage ``fn(ctx: StageContext)`` to the ``scale`` suite (run in registration order).

    ``trace=False``: the stage is not run again under tracemalloc (training and evaluation stages: torch's
    tensors are not traced, and a second pass would double their time); later traced stages must not need it.
    """

    def decorator(fn):
        _STAGES[name] = fn
        if not trace:
            _UNTRACED.add(name)
        return fn

    return decorator


@register_scale_stage("split")
def _split(ctx):
    return ctx.dataset.build()


# The cold-start pipeline of the episodic models (MeLU's protocol): its dataset, the four-state split, and one
# pass over the training episodes (collated meta-batches). MeLU's defaults, except no upper bound on a user's
# ratings (so that every user is kept at every size) and new items = release_year >= 2010.
# The tasks of all four states are built; only warm and user_cold are required to exist, because the smallest
# (quick) sizes have too few new-item ratings a user for item-cold tasks.
COLD_START_OVERRIDES = {
    "max_user_inter": None,
    "new_item_rule": {"field": "release_year", "min": 2010},
    "eval_states": ["warm", "user_cold"],
}


def _cold_start_config(ctx):
    from recbole_meta.config import Config

    config_dict = ctx.synthetic.config_dict()
    config_dict.update({"seed": ctx.seed, "state": "WARNING", "show_progress": False, **COLD_START_OVERRIDES})
    return Config(model="MeLU", dataset=ctx.synthetic.name, config_dict=config_dict, argv=[])


@register_scale_stage("cold_start_load")
def _cold_start_load(ctx):
    from recbole_meta.data_preparation import create_dataset

    config = _cold_start_config(ctx)
    return config, create_dataset(config)


@register_scale_stage("cold_start_split")
def _cold_start_split(ctx):
    from recbole_meta.data.cold_start_split import ColdStartSplit

    config, dataset = ctx.artifacts["cold_start_load"]
    return ColdStartSplit(dataset, config)


@register_scale_stage("episodes")
def _episodes(ctx):
    from recbole_meta.data.episodes import EpisodeLoader

    config, _ = ctx.artifacts["cold_start_load"]
    return sum(len(batch) for batch in EpisodeLoader(config, ctx.artifacts["cold_start_split"]))


def _recbole_config(synthetic, seed):
    from recbole_meta.config import Config

    config_dict = synthetic.config_dict()
    config_dict.update(
        {
            "seed": seed,
            "state": "WARNING",
            "show_progress": False,
            "eval_args": {
                "split": {"RS": [0.8, 0.1, 0.1]},
                "order": "RO",
                "group_by": "user",
                "mode": "full",
            },
        }
    )
    return Config(model="BPR", dataset=synthetic.name, config_dict=config_dict, argv=[])


def _synthetic(data_dir, size, seed, n_users=None, n_items=None):
    """The synthetic dataset of this size and seed (generated once; its files are reused on resume)."""
    from recbole_meta.benchmark.synthetic.planted_preferences import generate_synthetic

    start = time.perf_counter()
    name = None if n_items is None else f"synthetic_{size}_u{n_users}_i{n_items}_s{seed}"
    synthetic = generate_synthetic(data_dir, size, n_users=n_users, n_items=n_items, seed=seed, name=name)
    return synthetic, time.perf_counter() - start


def _pipeline(synthetic, config, seed, trace, quick=False):
    """Load, then every stage, each in its own :class:`PeakMemory` block; returns {stage: (seconds, usage)}."""
    from recbole.data.dataset import Dataset

    measured = {}
    with PeakMemory(trace=trace) as memory:
        start = time.perf_counter()
        dataset = Dataset(config)
        measured["load"] = (time.perf_counter() - start, memory.usage)
    stage_ctx = StageContext(dataset=dataset, synthetic=synthetic, config=config, seed=seed, quick=quick)
    for name, stage in _STAGES.items():
        if trace and name in _UNTRACED:
            continue
        gc.collect()
        with PeakMemory(trace=trace) as memory:
            start = time.perf_counter()
            stage_ctx.artifacts[name] = stage(stage_ctx)
            measured[name] = (time.perf_counter() - start, memory.usage)
    return measured, len(dataset.inter_feat)


_warmed_up = []


def _warm_up(data_dir):
    """Run the pipeline once on 1,000 interactions, untimed: imports and first-call costs stay out of the
    first measured size."""
    if not _warmed_up:
        synthetic, _ = _synthetic(data_dir, 1_000, 12345)
        _pipeline(
            synthetic, _recbole_config(synthetic, 0), 0, trace=False, quick=True
        )  # quick: its tiny shape
        _warmed_up.append(True)


def measure_size(ctx, size, n_users=None, n_items=None):
    """One size: generate (not measured), the pipeline timed (with RSS), then again traced (tracemalloc).

    Two passes because tracemalloc slows the traced code down; each pass starts from the atomic files.
    ``n_users`` / ``n_items`` replace the generator's default shape (the catalogue run).
    """
    if not ctx.quick:
        _warm_up(os.path.join(ctx.out_dir, "data"))
    synthetic, generate_seconds = _synthetic(
        os.path.join(ctx.out_dir, "data"), size, ctx.seed, n_users, n_items
    )
    config = _recbole_config(synthetic, ctx.seed)
    timed, loaded = _pipeline(synthetic, config, ctx.seed, trace=False, quick=ctx.quick)
    gc.collect()
    traced, _ = _pipeline(synthetic, config, ctx.seed, trace=True, quick=ctx.quick)
    metrics = {}
    for stage, (seconds, usage) in timed.items():
        metrics[stage] = {"seconds": seconds, "peak_rss_delta_mb": usage.peak_rss_delta_mb}
        if stage in traced:
            metrics[stage]["traced_peak_mb"] = traced[stage][1].traced_peak_mb
    return RunResult(
        metrics=metrics,
        info={
            "n_users": synthetic.n_users,
            "n_items": synthetic.n_items,
            "n_interactions": synthetic.n_interactions,
            "loaded_interactions": loaded,
            "generate_seconds": generate_seconds,
        },
    )


def _run_name(size):
    return f"n={size:,}".replace(",", "_")


def _growth_runs(summary):
    """{run: interactions} of the runs of the default shape (the catalogue run is not on the growth curve)."""
    sizes = {}
    for (run, _), record in summary.records.items():
        if "n_items" not in record["config"]:
            sizes[run] = record["config"]["n_interactions"]
    return sizes


def growth_report(summary):
    """Markdown: growth exponents (log-log slopes) of every stage's cost against the interaction count, and the
    cost extrapolated to :data:`EXTRAPOLATE_TO` interactions where that size was not measured."""
    sizes = _growth_runs(summary)
    runs = [r for r in summary.run_names() if r in sizes]
    if len(runs) < 2:
        return "Growth exponents need at least two sizes."
    extrapolate = EXTRAPOLATE_TO > max(sizes.values())
    lines = [
        "#### Growth with the number of interactions",
        "",
        "Exponent b of cost ~ n^b from a least-squares fit on log-log axes (b = 1 is linear), over all "
        "sizes and over the two largest. Memory: `traced_peak_mb` is the tracemalloc peak of the stage "
        "(its own Python-level allocations, numpy and pandas included; torch tensors are not traced); "
        "`peak_rss_delta_mb` is how far the process's peak RSS rose during the stage, 0 where the stage "
        "fitted in memory the process already held (freed by earlier stages), so it is noisy at small sizes."
        + (
            f" Last column: the seconds at n = {EXTRAPOLATE_TO:,} (not measured) extrapolated from the largest "
            "size with the exponent over the two largest; the process's peak RSS is extrapolated below."
            if extrapolate
            else ""
        ),
        "",
        "| stage | metric | "
        + " | ".join(f"n = {sizes[r]:,}" for r in runs)
        + " | b (all) | b (largest two) |"
        + (f" n = {EXTRAPOLATE_TO:,} (extrapolated) |" if extrapolate else ""),
        "|" + "---|" * (len(runs) + 4 + extrapolate),
    ]
    for state in summary.states:
        for metric in summary.metrics[state]:
            per_run = summary.values[state][metric]
            means = [mean_std(per_run.get(r, {}).values())[0] for r in runs]
            xs = [sizes[r] for r in runs]
            slope_all = loglog_slope(xs, means)
            slope_top = loglog_slope(xs[-2:], means[-2:])
            cells = [f"{m:.3g}" if math.isfinite(m) else "–" for m in means]
            row = f"| {state} | {metric} | " + " | ".join(cells) + f" | {slope_all:.2f} | {slope_top:.2f} |"
            if extrapolate and metric == "seconds":
                projected = means[-1] * (EXTRAPOLATE_TO / xs[-1]) ** slope_top
                row += f" {projected:.3g} |" if math.isfinite(projected) and means[-1] > 0 else " – |"
            elif extrapolate:
                row += " – |"
            lines.append(row)
    lines += ["", _largest_sizes(summary, sizes)]
    return "\n".join(lines)


def _largest_sizes(summary, sizes):
    """A line per run: the process's peak RSS, and the extrapolated peak RSS at :data:`EXTRAPOLATE_TO`."""
    peaks = {run: record["peak_rss_mb"] for (run, _), record in summary.records.items()}
    runs = [r for r in summary.run_names() if r in sizes and r in peaks]
    text = "Peak RSS of the whole run (every stage, one process): " + ", ".join(
        f"n = {sizes[r]:,}: {peaks[r]:,.0f} MB" for r in runs
    )
    if len(runs) >= 2 and EXTRAPOLATE_TO > sizes[runs[-1]]:
        slope = loglog_slope([sizes[r] for r in runs[-2:]], [peaks[r] for r in runs[-2:]])
        projected = peaks[runs[-1]] * (EXTRAPOLATE_TO / sizes[runs[-1]]) ** slope
        text += (
            f"; extrapolated to n = {EXTRAPOLATE_TO:,} (exponent {slope:.2f} over the two largest): "
            f"{projected:,.0f} MB."
        )
    return text


def plot_growth(summary, path):
    """Log-log seconds against size, a panel per stage (5 a row), and a last panel with the process's peak RSS
    (the per-stage memory is in the tables). Dotted: linear growth through the largest size."""
    from recbole_meta.benchmark.plots import pyplot

    plt = pyplot()
    from matplotlib.ticker import NullFormatter

    sizes = _growth_runs(summary)
    runs = [r for r in summary.run_names() if r in sizes]
    panels = [(state, "seconds") for state in summary.states] + [(None, "peak RSS (MB)")]
    ncols = min(5, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
    peaks = {run: record["peak_rss_mb"] for (run, _), record in summary.records.items()}
    for index, (state, label) in enumerate(panels):
        ax = axes[index // ncols][index % ncols]
        if state is None:
            points = [(sizes[r], peaks[r], 0.0) for r in runs if r in peaks]
        else:
            per_run = summary.values[state].get("seconds", {})
            stats = [mean_std(per_run.get(r, {}).values()) for r in runs]
            points = [(sizes[r], m, s) for r, (m, s) in zip(runs, stats) if math.isfinite(m) and m > 0]
        if points:
            xs, ms, ss = zip(*points)
            ax.errorbar(xs, ms, yerr=ss, marker="o", capsize=3)
            if len(xs) > 1:
                ax.plot(xs, [ms[-1] * x / xs[-1] for x in xs], "k:", linewidth=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3, which="both")
        ax.set_title(state or "whole run", fontsize=9)
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
    for index in range(len(panels), nrows * ncols):
        axes[index // ncols][index % ncols].axis("off")
    fig.suptitle(
        f"{summary.suite.name}: cost against interactions (log-log; dotted = linear growth)", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _catalogue_run(shape):
    name = f"n={shape['n_interactions']:,} items={shape['n_items']:,}".replace(",", "_")
    return Run(
        name,
        partial(
            measure_size, size=shape["n_interactions"], n_users=shape["n_users"], n_items=shape["n_items"]
        ),
        config={**shape, "stages": ["load", *_STAGES], "cold_start": COLD_START_OVERRIDES},
    )


@register_suite
def scale(options):
    from recbole_meta.benchmark import scale_trainers
    from recbole_meta.benchmark.suite import suite_names

    suite_names()  # import every suite module, so that stages registered elsewhere are known
    sizes = QUICK_SIZES if options.quick else SIZES
    stages = ["load", *_STAGES]
    models = ", ".join(f"`{prefix}_*` = {model}" for model, prefix in scale_trainers.PREFIX.items())
    catalogue = QUICK_CATALOGUE if options.quick else CATALOGUE
    runs = [
        Run(
            _run_name(n),
            partial(measure_size, size=n),
            config={"n_interactions": n, "stages": stages, "cold_start": COLD_START_OVERRIDES},
        )
        for n in sizes
    ]
    # the catalogue run goes before the larger sizes (a long suite that is stopped keeps it)
    runs.insert(sum(n <= catalogue["n_interactions"] for n in sizes), _catalogue_run(catalogue))
    return Suite(
        name="scale",
        description=(
            "Cost of RecBole data stages and of the trainers on the synthetic generator's data (users 4 sqrt(n), "
            "items 8 sqrt(n), power-law popularity, user and item token / token_seq features): `load` = RecBole "
            "`Dataset` from the atomic files, `split` = `Dataset.build()` (random 8/1/1 per user), "
            "`cold_start_load` = the episodic models' `ColdStartDataset`, `cold_start_split` = MeLU's four-state "
            "cold-start split (new items: release_year >= 2010, no upper bound on ratings a user), `episodes` = "
            "one pass over the training episodes (meta-batches of 32 tasks). Trainers at their shipped defaults "
            f"({models}): `_load` = the model's dataset and loaders, `_train` = one epoch (MeLU: one meta-epoch, "
            "5 second-order local steps; PeterRec: one epoch of causal pre-training), `_eval` = one evaluation "
            "of the test part (MeLU: new users, MAE and full-catalogue ranking of the existing items in chunks; "
            "the two-tower and PeterRec: RecBole's full sort). Each stage is timed (wall seconds, increase of "
            "peak RSS); data and load stages are run again under tracemalloc. One row per size; the run "
            f"`items=` has {catalogue['n_items']:,} items and {catalogue['n_users']:,} users (evaluation over a "
            "large catalogue) and is not on the growth curve."
        ),
        runs=runs,
        seeds=(0,),
        mark_best=False,
        report_hook=growth_report,
        plot_hook=plot_growth,
        headline_columns=[
            (stage, "seconds") for stage in ("melu_train", "melu_eval", "two_tower_train", "peterrec_train")
        ],
    )
