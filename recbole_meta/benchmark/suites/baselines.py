"""``baselines``: RecBole's BPR, NeuMF and SASRec through ``run_recbole_meta`` on ml-100k, same split, 3 seeds.

Split: leave-one-out in time order (each user's last interaction is the test item, the one before it the
validation item, everything earlier is training), so that the general models (BPR, NeuMF) and the sequential
one (SASRec) are scored on exactly the same held-out interactions; full ranking over all items, training
items excluded. Model hyperparameters are RecBole 1.2.1's defaults except where ``RUN_OVERRIDES`` says
otherwise; training is capped at ``epochs`` and validated every ``eval_step`` epochs, with early stopping on
validation NDCG@10 once ``stopping_step`` + 1 validations in a row bring no improvement (RecBole's rule), and the
best validation checkpoint is tested.

The documented command runs two runs side by side, one torch thread each:
``python -m recbole_meta.benchmark baselines --jobs 2 --threads 1`` (see ``TIME`` below).
"""

import os

from recbole_meta.benchmark.recbole_run import recbole_run
from recbole_meta.benchmark.suite import Suite, register_suite

SHARED = {
    "dataset": "ml-100k",
    "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "group_by": "user", "mode": "full"},
    "metrics": ["Hit", "NDCG", "MRR"],
    "topk": [10],
    "valid_metric": "NDCG@10",
    "epochs": 50,
    "stopping_step": 5,
    "eval_step": 1,
    "train_batch_size": 2048,
    # RecBole's default for full ranking; 2,048 and 8,192 measured within 5% of it for NeuMF's validation
    # (larger batches are slower: 131,072 took 1.85x as long, its temporaries leave the cache)
    "eval_batch_size": 4096,
}

# SASRec at RecBole's defaults (hidden 64, inner 256, histories of 50) costs 2-3 minutes an epoch on 2 shared
# CPUs (RecBole trains on every prefix of every history: ~97,000 sequences an epoch). To keep the suite near
# ten minutes it runs a small SASRec (hidden 32, inner 64, 2 blocks, 2 heads, last 20 items) with more
# updates an epoch (batch 512; 256, 1,024 and 2,048 cost 6-10% more per sequence) for at most 15 epochs.
# Its full-ranking validation costs 0.05 CPU-s against 16 s of training an epoch, so it validates every epoch
# and stops after 3 validations without improvement (stopping_step 2). With 4 (stopping_step 3) every seed's best
# epoch (9, 6, 8) was followed by 4 worse ones, so 3 give the same checkpoint and identical test metrics on all
# three seeds, one epoch (16 s) sooner. A higher cap would change its result: run 15 epochs without stopping
# (seed 0), its validation NDCG@10 still rises at the last epoch, at learning rate 0.001 (RecBole's) as at
# 0.002. Everything else is RecBole's default.
RUN_OVERRIDES = {
    # BPR validates every epoch: its validation (0.12 CPU-s) costs half a training epoch (0.22 s), and every
    # second epoch changed its stopping point (seed 2: 48 epochs instead of 29) for 3 s saved a seed.
    "BPR": {},
    # NeuMF has no full_sort_predict, so RecBole scores all 943 x 1,682 user-item pairs through its MLP at each
    # validation: 1.6-2.0 CPU-s, more than a training epoch (1.3 s). It validates every second epoch and stops
    # after 3 validations without a better NDCG@10: the same patience in epochs (6) as every epoch with
    # stopping_step 5, a third less time; the best checkpoint is chosen among even epochs.
    "NeuMF": {"eval_step": 2, "stopping_step": 2},
    "SASRec": {
        "hidden_size": 32,
        "inner_size": 64,
        "MAX_ITEM_LIST_LENGTH": 20,
        "train_batch_size": 512,
        "epochs": 15,
        "stopping_step": 2,
    },
}

# Each run's rough wall time on one thread (seconds, measured), so that ``--jobs 2`` starts the three SASRecs
# first even in a new results folder (it orders by recorded wall times once it has them): in seed order the
# last SASRec started after everything else and ran alone for four minutes.
EXPECTED_SECONDS = {"BPR": 25, "NeuMF": 90, "SASRec": 250}

# TIME. Where a seed's time goes (one torch thread, CPU seconds, measured in one process): building the dataset
# and loaders 1.5 s (SASRec 2.8 s: the training prefixes); BPR 0.22 s an epoch and 0.12 s a validation; NeuMF
# 1.3 s and 1.6-2.0 s; SASRec 16 s and 0.05 s. A third of a SASRec training step is dropout's Bernoulli masks
# (torch takes 4 ms to draw a 512 x 20 x 32 mask here, 1 ms for as many uniform numbers; drawing them another
# way would change every seeded result), the rest is the 2-block transformer and its backward. With the epochs
# early stopping needs (SASRec 10-13, NeuMF 20-36, BPR 29-50) the suite is about 16 CPU-minutes, SASRec two
# thirds of it: one process cannot finish in ten minutes without changing SASRec's result. Two runs side by side
# (--jobs 2, one thread each) share it over both cores, the three SASRecs first (EXPECTED_SECONDS). Measured
# with the documented command into an empty results folder on an idle machine: 8.1 min wall (485 s), the runs'
# CPU times summing to 15.9 min (SASRec 3.2-4.2 min a seed, NeuMF 0.9-1.6, BPR 0.2-0.3); test metrics identical
# to the records before on all 9 runs. Before (seed order, SASRec patience 4): 11.9 min; on the machine shared
# with other jobs (load average 4-7) 31.6 min.
QUICK = {
    "epochs": 1,
    "stopping_step": 1,
    "train_batch_size": 256,
    "MAX_ITEM_LIST_LENGTH": 10,
}


def _quick_dataset(out_dir):
    """A tiny synthetic dataset for --quick (generated once into ``<out_dir>/data``)."""
    from recbole_meta.benchmark.synthetic.planted_preferences import generate_synthetic

    data_dir = os.path.join(out_dir, "data")
    synthetic = generate_synthetic(data_dir, 3_000, n_users=60, n_items=120, seed=0, name="quick_baselines")
    return {
        "dataset": synthetic.name,
        "data_path": synthetic.data_path,
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
    }


def _patience_epochs(name):
    """Epochs without a better validation score after which RecBole stops run ``name``: it stops at the
    (stopping_step + 1)-th validation without improvement, one every eval_step epochs."""
    settings = {**SHARED, **RUN_OVERRIDES[name]}
    return (settings["stopping_step"] + 1) * settings["eval_step"]


@register_suite
def baselines(options):
    quick_config = dict(QUICK)
    if options.quick:
        quick_config.update(_quick_dataset(options.out_dir))
    return Suite(
        name="baselines",
        description=(
            "RecBole 1.2.1's BPR, NeuMF and SASRec trained through `run_recbole_meta` on ml-100k (RecBole's "
            "embedded copy: 943 users, 1,682 items, 100,000 ratings, all treated as implicit feedback). "
            "Leave-one-out split in time order (last interaction of each user = test, the one before = "
            "validation), full ranking over all items with training items excluded. RecBole's default "
            f"hyperparameters except a smaller SASRec (see the configuration below); at most "
            f"{SHARED['epochs']} epochs (SASRec {RUN_OVERRIDES['SASRec']['epochs']}), validated every epoch "
            "(NeuMF every second epoch: its validation costs more than an epoch of training), early stopping "
            f"after {_patience_epochs('BPR')} epochs (SASRec {_patience_epochs('SASRec')}) without a better "
            "validation NDCG@10; the best validation checkpoint is "
            "tested. Two runs execute side by side (`--jobs 2`), one torch thread each; cpu_seconds is each "
            "run's CPU time."
        ),
        config=SHARED,
        quick_config=quick_config,
        runs=[
            recbole_run(name, name, config=overrides, expected_seconds=EXPECTED_SECONDS[name])
            for name, overrides in RUN_OVERRIDES.items()
        ],
        seeds=(0, 1, 2),
        compare="SASRec",
        info_columns=("epochs_run", "best_epoch", "cpu_seconds"),
        primary_metric="ndcg@10",
        regenerate_command="python -m recbole_meta.benchmark baselines --jobs 2 --threads 1",
    )
