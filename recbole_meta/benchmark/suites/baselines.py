"""``baselines``: RecBole's BPR, NeuMF and SASRec through ``run_recbole_meta`` on ml-100k, same split, 3 seeds.

Split: leave-one-out in time order (each user's last interaction is the test item, the one before it the
validation item, everything earlier is training), so that the general models (BPR, NeuMF) and the sequential
one (SASRec) are scored on exactly the same held-out interactions; full ranking over all items, training
items excluded. Model hyperparameters are RecBole 1.2.1's defaults except where ``RUN_OVERRIDES`` says
otherwise; training is capped at ``epochs`` with early stopping on validation NDCG@10 after ``stopping_step``
evaluations without improvement, and the best validation checkpoint is tested.
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
    "eval_batch_size": 4096,
}

# SASRec at RecBole's defaults (hidden 64, inner 256, histories of 50) costs 2-3 minutes an epoch on 2 shared
# CPUs (RecBole trains on every prefix of every history: ~97,000 sequences an epoch). To keep the suite near
# ten minutes it runs a small SASRec (hidden 32, inner 64, 2 blocks, 2 heads, last 20 items) with more
# updates an epoch (batch 512) for at most 15 epochs. Everything else is RecBole's default.
RUN_OVERRIDES = {
    "BPR": {},
    "NeuMF": {},
    "SASRec": {
        "hidden_size": 32,
        "inner_size": 64,
        "MAX_ITEM_LIST_LENGTH": 20,
        "train_batch_size": 512,
        "epochs": 15,
        "stopping_step": 3,
    },
}

# Why the suite takes more than ten minutes on 2 shared cores (measured with one torch thread, CPU time, so that
# other processes' load does not count): a SASRec epoch here is ~19 s (about 97,000 training prefixes; dropout's
# Bernoulli draws alone are ~35% of a step, and batches of 2048 cost more per sample than 512), a NeuMF epoch ~4 s
# of training plus ~2 s of full-sort validation. With the epochs early stopping needs (SASRec 11-14, NeuMF 20-36),
# the three models take ~8 CPU-minutes a seed, ~23 for three seeds: more than ten minutes even on an idle
# machine. Larger full-sort evaluation batches do not help (eval_batch_size 131,072 made NeuMF's validation
# 1.85x slower than 4096: large temporaries). Cutting the work means fewer epochs or another SASRec dropout,
# which change the results; the suite keeps RecBole's protocol instead.
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
            f"{SHARED['epochs']} epochs (SASRec {RUN_OVERRIDES['SASRec']['epochs']}), early stopping after "
            f"{SHARED['stopping_step']} (SASRec {RUN_OVERRIDES['SASRec']['stopping_step']}) validations "
            "without a better NDCG@10; the best validation checkpoint is tested."
        ),
        config=SHARED,
        quick_config=quick_config,
        runs=[recbole_run(name, name, config=overrides) for name, overrides in RUN_OVERRIDES.items()],
        seeds=(0, 1, 2),
        compare="SASRec",
        info_columns=("epochs_run", "best_epoch"),
        primary_metric="ndcg@10",
    )
