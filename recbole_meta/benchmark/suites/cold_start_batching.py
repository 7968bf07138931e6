"""Suite ``cold_start_batching``: does batching tasks by support length change what MeLU learns?

Meta-batches of tasks of similar support length (``bucket_by_length: True``: every task sorted by support
length, cut into meta-batches, their order shuffled; see :func:`recbole_meta.data.episodes.length_buckets`) pad
far less than meta-batches of tasks in a random order (``bucket_by_length: False``), but each
meta-gradient then averages over tasks of one length only. Same split,
same seeds, same everything else: MeLU-5 under both, paired over seeds, with the bias model for scale. Each
MeLU row also records ``support_padding_waste``: the share of the support positions computed on that are padding
in its first training epoch's meta-batches, each length chunk padded to its own longest support as the engine
computes them (:func:`recbole_meta.data.episodes.support_padding_waste`). Cost of the two: ``cold_start_speed``.

Run each seed separately on a busy 2-core machine::

    for s in 0 1 2 3 4; do nice -n 10 python -m recbole_meta.benchmark cold_start_batching --seeds $s; done
"""

import dataclasses
import os

from recbole_meta.benchmark import recbole_run, register_suite
from recbole_meta.benchmark.recbole_run import train_and_test
from recbole_meta.benchmark.suite import RunResult, Suite
from recbole_meta.benchmark.suites.cold_start import QUICK, SHARED

MELU_RUNS = ("MeLU-5", "MeLU-5-random-batches")


def first_epoch_padding(ctx):
    """(chunked, whole-batch) padding share of the support positions over the first training epoch of the run's
    config and seed: the meta-batches its trainer starts from, rebuilt after the run."""
    from recbole_meta.config import Config
    from recbole_meta.data.episodes import support_padding_waste
    from recbole_meta.quick_start import build_run

    config = dict(ctx.config)
    model, dataset = config.pop("model"), config.pop("dataset")
    config.update(
        {
            "seed": ctx.seed,
            "reproducibility": True,
            "state": "WARNING",
            "show_progress": False,
            "checkpoint_dir": os.path.join(ctx.run_dir, "saved"),
        }
    )
    _, (train, _, _), _, _ = build_run(Config(model, dataset, config_dict=config, argv=[]))
    batches = list(train)
    return support_padding_waste(batches), support_padding_waste(batches, chunked=False)


def _train_test_and_padding(ctx):
    """The run of :func:`recbole_run`, its record holding the first epoch's support padding share too."""
    result = train_and_test(ctx)
    chunked, whole = first_epoch_padding(ctx)
    info = {
        **result.info,
        "support_padding_waste": round(chunked, 4),
        "padding_whole_batches": round(whole, 4),
    }
    return RunResult(metrics=result.metrics, trainable_parameters=result.trainable_parameters, info=info)


def melu_run(name, config=None):
    """A MeLU-5 row of the suite (its config as :func:`recbole_run` records it) that also records padding."""
    return dataclasses.replace(recbole_run(name, "MeLU", config=config), fn=_train_test_and_padding)


def _report(summary):
    """Mean support padding share of each MeLU row over the seeds shown, as the engine computes it (each length
    chunk padded to its own longest support) and with each meta-batch padded whole to its longest support."""
    lines = [
        "### Support padding (first training epoch; share of the support positions that are padding)",
        "",
        "| run | chunked, as computed | each meta-batch padded whole | seeds |",
        "|---|---|---|---|",
    ]
    for name in MELU_RUNS:
        infos = [(r.get("info") or {}) for (run, _), r in sorted(summary.records.items()) if run == name]
        infos = [i for i in infos if i.get("support_padding_waste") is not None]
        if infos:
            chunked = sum(i["support_padding_waste"] for i in infos) / len(infos)
            whole = sum(i["padding_whole_batches"] for i in infos) / len(infos)
            lines.append(f"| {name} | {chunked:.3f} | {whole:.3f} | {len(infos)} |")
    return "\n".join(lines) + "\n"


@register_suite("cold_start_batching")
def cold_start_batching(options):
    return Suite(
        name="cold_start_batching",
        description=(
            "ml-100k, the cold_start suite's split and episode protocol (users with 13-100 ratings split 70/10/20, "
            "items from 1997 new, support-first training episodes redrawn every epoch, query 10), MeLU-5 with its "
            "defaults (at most 30 epochs, early stopping on the validation users' MAE). MeLU-5: meta-batches of "
            "32 tasks of similar support length (bucket_by_length: True, the default; all tasks sorted by length, cut into "
            "batches, batch order shuffled by the seed); MeLU-5-random-batches: 32 tasks in a random order "
            "(bucket_by_length: False). Wall times were taken on a shared, loaded machine: the cost "
            "of the two is measured in cold_start_speed. UserItemBias (mu + b_i + b_u shrunk) for scale. Paired over seeds."
        ),
        config={**SHARED, "bucket_by_length": True},
        quick_config=QUICK,
        seeds=(0, 1, 2, 3, 4),
        runs=[
            recbole_run("UserItemBias", "UserItemBias"),
            melu_run("MeLU-5", {"bucket_by_length": True}),
            melu_run("MeLU-5-random-batches", {"bucket_by_length": False}),
        ],
        compare="MeLU-5",
        baselines=["MeLU-5-random-batches"],
        primary_metric="mae",
        info_columns=("epochs_run", "best_epoch", "support_padding_waste"),
        report_hook=_report,
        regenerate_command=(
            "for s in 0 1 2 3 4; do nice -n 10 python -m recbole_meta.benchmark cold_start_batching --seeds $s; "
            "done"
        ),
    )
