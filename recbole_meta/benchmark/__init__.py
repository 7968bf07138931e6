"""Benchmark harness: suites of runs over seeds, resumable JSON-lines results, tables, paired tests, plots.

Command line::

    python -m recbole_meta.benchmark <suite> [--seeds 0 1 2] [--quick] [--out DIR] [--report-only]
                                             [--compare RUN] [--update-readme]
    python -m recbole_meta.benchmark --list

Adding a suite
--------------
One file, ``recbole_meta/benchmark/suites/<name>.py`` (discovered automatically; nothing else to edit),
with a builder registered by :func:`register_suite`. The builder receives :class:`SuiteOptions`
(``quick``, ``out_dir``) and returns a :class:`Suite`: a list of :class:`Run` evaluated over the same seeds
on the same dataset and split::

    from recbole_meta.benchmark import Run, RunResult, Suite, recbole_run, register_suite

    def prepare(seed, config, quick, out_dir):
        # once per seed, shared by all runs of that seed (ctx.data): e.g. a cold-start split
        return build_cold_start_split(config, seed)

    def bias_baseline(ctx):                    # ctx: RunContext(seed, config, quick, run_dir, data, ...)
        split = ctx.data
        return {"warm": {"mae": ..., "rmse": ...}, "user_cold": {...}, "item_cold": {...},
                "user_item_cold": {...}}     # nested per evaluation state, or flat {"mae": ...}

    def melu(ctx):
        model = train_melu(ctx.data, epochs=ctx.config["epochs"], seed=ctx.seed)
        return RunResult(metrics=evaluate(model, ctx.data),
                         trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
                         info={"best_epoch": 12})

    @register_suite("melu")
    def melu_suite(options):
        return Suite(
            name="melu",
            description="MeLU vs simple baselines, ml-100k, MeLU's four cold-start states.",
            config={"dataset": "ml-100k", "query_size": 10},     # shared by every run; hashed
            quick_config={"epochs": 1},                           # applied on top in --quick mode
            seeds=(0, 1, 2, 3, 4),
            prepare=prepare,
            runs=[
                Run("bias", bias_baseline),
                Run("MeLU", melu, config={"epochs": 30, "local_lr": 0.01}),
                recbole_run("NeuMF", "NeuMF", config={"epochs": 20}),  # a RecBole model via run_recbole_meta
            ],
            compare="MeLU",              # paired comparison: MeLU vs the best of the other runs
            primary_metric="mae",        # picks the best baseline (lower is better: RecBole knows mae)
        )

Contract of a run callable ``fn(ctx) -> dict | RunResult``:

* metrics: a flat ``{metric: number}`` or ``{state: {metric: number}}``; the report makes one table per
  state. Direction: RecBole's smaller-is-better metrics (mae, rmse, logloss, ...), costs (a unit word such as
  ``seconds``, ``ms``, ``mb``, ``time`` in the name before any ``per``: ``step_ms``, ``peak_rss_mb``) and
  ``Suite.smaller_is_better`` are minimised; everything else (``tasks_per_second`` too) is maximised.
* ``ctx.seed`` is set (RecBole's ``init_seed`` was called); the callable must use it for every random choice.
* the working directory is ``ctx.run_dir``; stdout/stderr go to ``ctx.run_dir/console.log``.
* raise on failure: the runner records the traceback (status ``failed``) and goes on; failed runs are
  retried on the next invocation, finished ones are skipped (same suite, run, seed, config hash and hash of
  the yaml defaults the run read: ``Run.defaults``, set by ``recbole_run``; ``--stamp-defaults`` fills it in
  for records written before it existed, from the yaml of the commit each names).

Other ``Suite`` fields: ``baselines`` (runs eligible as best baseline), ``smaller_is_better``, ``info_columns``
(``RunResult.info`` keys shown as table columns), ``mark_best`` (False where rows are not competitors),
``report_hook(summary) -> markdown`` and ``plot_hook(summary, path)`` (the ``scale`` suite uses both), and
``regenerate_command``. See :class:`Suite`.

The runner records per run: config, config hash, seed, metrics, wall time, peak RSS (and its increase over
the run), trainable parameters, ``info``, environment (versions, CPU, threads, git commit). Outputs in
``--out`` (default ``benchmark_results``, quick mode ``benchmark_results/quick``): ``<suite>.jsonl``,
``<suite>.md`` (tables mean +- std, best marked, paired comparison), ``<suite>.png``.

Other tools for suites: :func:`compare_timing` (A/B interleaved timing, median ratio),
:func:`generate_synthetic` (seeded synthetic atomic files), :class:`PeakMemory`.

Layout
------
The modules of this folder are the harness: ``suite`` (what a suite is, its registry and hashes), ``runner``
(running it into ``records``), ``report`` / ``effects`` / ``stats`` / ``plots`` (what a report shows),
``headline`` / ``readme`` (the README's generated blocks), ``timing`` / ``memory`` (measuring), ``recbole_run``
(a run of a RecBole or plugin model), ``defaults_backfill`` (``--stamp-defaults``) and ``cli``. The suites
themselves are ``suites/``; the data they generate is ``synthetic/`` (one generator a module, and the
``--quick`` dataset); the parts of particular suites that are more than a table of runs are ``cold_start/``,
``peterrec/`` and ``scale_trainers`` (the ``scale`` suite's trainer stages).
"""

from recbole_meta.benchmark.memory import PeakMemory
from recbole_meta.benchmark.recbole_run import recbole_run
from recbole_meta.benchmark.suite import (
    Run,
    RunContext,
    RunResult,
    Suite,
    SuiteOptions,
    build_suite,
    register_suite,
    suite_names,
)

__all__ = [
    "PeakMemory",
    "Run",
    "RunContext",
    "RunResult",
    "Suite",
    "SuiteOptions",
    "build_suite",
    "compare_timing",
    "generate_synthetic",
    "recbole_run",
    "register_suite",
    "suite_names",
]


def __getattr__(name):
    # Heavier helpers load on first use, so that importing a suite module stays cheap.
    if name == "compare_timing":
        from recbole_meta.benchmark.timing import compare_timing

        return compare_timing
    if name == "generate_synthetic":
        from recbole_meta.benchmark.synthetic.planted_preferences import generate_synthetic

        return generate_synthetic
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
