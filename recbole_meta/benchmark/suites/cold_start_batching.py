"""Suite ``cold_start_batching``: does batching tasks by support length change what MeLU learns?

Meta-batches of tasks of similar support length (``bucket_by_length: True``: every task sorted by support
length, cut into meta-batches, their order shuffled; see :func:`recbole_meta.data.episodes.length_buckets`) pad
far less than meta-batches of tasks in a random order (``bucket_by_length: False``), but each
meta-gradient then averages over tasks of one length only. Same split,
same seeds, same everything else: MeLU-5 under both, paired over seeds, with the bias model for scale.
Cost of the two: ``cold_start_speed``.

Run each seed separately on a busy 2-core machine::

    for s in 0 1 2 3 4; do nice -n 10 python -m recbole_meta.benchmark cold_start_batching --seeds $s; done
"""

from recbole_meta.benchmark import recbole_run, register_suite
from recbole_meta.benchmark.suite import Suite
from recbole_meta.benchmark.suites.cold_start import QUICK, SHARED


@register_suite("cold_start_batching")
def cold_start_batching(options):
    return Suite(
        name="cold_start_batching",
        description=(
            "ml-100k, the cold_start suite's split and episode protocol (users with 13-100 ratings split 70/10/20, "
            "items from 1997 new, support-first training episodes redrawn every epoch, query 10), MeLU-5 with its "
            "defaults (at most 30 epochs, early stopping on the validation users' MAE). MeLU-5: meta-batches of "
            "32 tasks of similar support length (bucket_by_length: True; all tasks sorted by length, cut into "
            "batches, batch order shuffled by the seed); MeLU-5-random-batches: 32 tasks in a random order "
            "(bucket_by_length: False). Wall times were taken on a shared, loaded machine: the cost "
            "of the two is measured in cold_start_speed. UserItemBias (mu + b_i + b_u shrunk) for scale. Paired over seeds."
        ),
        config={**SHARED, "bucket_by_length": True},
        quick_config=QUICK,
        seeds=(0, 1, 2, 3, 4),
        runs=[
            recbole_run("UserItemBias", "UserItemBias"),
            recbole_run("MeLU-5", "MeLU"),
            recbole_run("MeLU-5-random-batches", "MeLU", config={"bucket_by_length": False}),
        ],
        compare="MeLU-5",
        baselines=["MeLU-5-random-batches"],
        primary_metric="mae",
        info_columns=("epochs_run", "best_epoch"),
        regenerate_command=(
            "for s in 0 1 2 3 4; do nice -n 10 python -m recbole_meta.benchmark cold_start_batching --seeds $s; "
            "done"
        ),
    )
