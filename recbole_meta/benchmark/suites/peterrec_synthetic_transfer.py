"""``peterrec_synthetic_transfer``: PeterRec on data built for transfer, with the diagnostics of its pipeline.

Data (:mod:`recbole_meta.benchmark.synthetic.transfer_domains`, seed 0; 20,000 users: the size whose whole suite fits
about 30 minutes of one core, which is what a shared 2-core machine gives a suite): many users whose source-domain picks depend on
two latent traits (gender, age group), a few labelled ones, and a target domain whose picks depend on the same
traits. One backbone per pre-training objective (causal and masked NextItNet) is trained once on every user's
source-domain sequence (no label, no target item) and serves every seed and both tasks:

* **profile** (``gender``): the labelled users split 40/20/40 (stratified) per seed; the input is the user's
  whole source history (``MAX_ITEM_LIST_LENGTH`` covers it);
* **transfer**: the users with target picks split 70/10/20; each keeps their first 2 target picks (a row each);
  test users have none in training; MRR@5 / HR@5 against 99 sampled unseen target items (uni99) and all.

Rows: the diagnostics (next-item quality of the backbones against popularity and an untrained backbone; linear
probes on frozen representations against bag-of-items), every fine-tuning mode with learning curves for PeterRec
and FineAll, both target-only baselines (NextItNet and RecBole's SASRec), the masked backbone under PeterRec, and
the simple baselines (bag-of-items logistic regression, majority class, popularity).
"""

from recbole_meta.benchmark.peterrec.config import QUICK, SHARED
from recbole_meta.benchmark.peterrec.diagnostics import next_item_run, probe_run
from recbole_meta.benchmark.peterrec.runs import mode_run, profile_baseline, step_time, transfer_baseline
from recbole_meta.benchmark.peterrec.suite_builder import peterrec_suite
from recbole_meta.benchmark.suite import register_suite
from recbole_meta.benchmark.synthetic.transfer_domains import TARGET_DOMAIN

TASKS = ("gender", "transfer")
DATA = {
    "n_users": 20_000,
    "n_labelled": 3_000,
    "n_target_users": 3_000,
    "n_source_items": 1_000,
    "n_target_items": 300,
    "mean_source": 20,
    "min_source": 8,
    "max_target": 2,
    "seed": 0,
}
# RecBole's SASRec at the backbone's width; dropout 0.2 instead of RecBole's 0.5 (tuned for larger data).
SASREC = {"hidden_size": 32, "inner_size": 128, "hidden_dropout_prob": 0.2, "attn_dropout_prob": 0.2}
QUICK_DATA = {
    "n_users": 300,
    "n_labelled": 120,
    "n_target_users": 120,
    "n_source_items": 60,
    "n_target_items": 20,
    "mean_source": 10,
    "min_source": 5,
    "max_target": 2,
    "seed": 0,
}


@register_suite("peterrec_synthetic_transfer")
def peterrec_synthetic_transfer(options):
    config = {
        **SHARED,
        "dataset": "peterrec_transfer_20k",
        "data_dir": "data",
        "synthetic_transfer": DATA,
        "filter_inter_by_user_or_item": False,  # unlabelled users have no .user row: keep their behaviour
        "embedding_size": 32,
        "MAX_ITEM_LIST_LENGTH": 40,
        "pretrain_domain": "source",
        "pretrain_objectives": ["causal", "masked"],
        "pretrain_epochs": 5,
        "target_domain": TARGET_DOMAIN,
        "target_max_per_user": 2,
        "profile_tasks": ["gender"],
        "profile_split": [0.4, 0.2, 0.4],
        "learning_rate": 0.001,
        "epochs": 15,
        "stopping_step": 3,
    }
    quick = dict(QUICK)
    quick.update(
        dataset="peterrec_transfer_quick",
        synthetic_transfer=QUICK_DATA,
        MAX_ITEM_LIST_LENGTH=20,
        target_domain=TARGET_DOMAIN,
        profile_split=[0.5, 0.25, 0.25],
    )
    runs = [
        next_item_run("NextItem-causal", "pretrained", "causal"),
        next_item_run("NextItem-masked", "pretrained", "masked"),
        next_item_run("NextItem-untrained", "untrained"),
        next_item_run("NextItem-Popularity", "popularity"),
        probe_run("Probe-causal", TASKS[:1], "causal"),
        probe_run("Probe-masked", TASKS[:1], "masked"),
        probe_run("Probe-random", TASKS[:1], "random"),
        mode_run("PeterRec-serial", "peterrec", "serial", TASKS, curve=True),
        mode_run("FineAll", "fine_all", "serial", TASKS, curve=True),
        mode_run("PeterZero", "peter_zero", "serial", TASKS),
        mode_run("NextItNet-target-only", "scratch", "serial", TASKS),
        mode_run("SASRec-target-only", "scratch", "serial", TASKS, encoder="sasrec", **SASREC),
        mode_run("PeterRec-masked", "peterrec", "serial", TASKS, backbone="masked"),
        profile_baseline("BagOfItems-LR", "lr"),
        profile_baseline("Majority", "majority"),
        transfer_baseline("Popularity", "popularity"),
        transfer_baseline("BagOfItems-LR-transfer", "lr", config={"baseline": "lr", "task": "transfer"}),
        step_time("gender"),
    ]
    claims = [
        ("FineAll against the simple baselines", "FineAll", ("BagOfItems-LR", "Majority"), "macrof1"),
        (
            "Transfer: PeterRec against the baselines (MRR@5)",
            "PeterRec-serial",
            ("Popularity", "NextItNet-target-only", "SASRec-target-only"),
            "mrr@5",
        ),
        (
            "Transfer: FineAll against the baselines (MRR@5)",
            "FineAll",
            ("Popularity", "NextItNet-target-only", "SASRec-target-only"),
            "mrr@5",
        ),
    ]
    description = (
        "PeterRec where pre-training has something to transfer (generated by "
        "`recbole_meta.benchmark.synthetic.transfer_domains`, seed 0): 20,000 users pick about 20 of 1,000 source items "
        "each, driven by two latent traits (gender 30/70, 7 age groups) plus a personal taste; 3,000 users are "
        "labelled; 3,000 users also pick 1-2 of 300 target items, driven by the same traits. A causal and a "
        "masked NextItNet (d 32, 4 blocks, whole histories up to 40 items) are pre-trained once on every user's "
        "source sequence (at most 5 epochs, early stopping on next-item MRR@5). Fine-tuning (every mode alike): "
        "Adam, lr 0.001, batch 128, last-position readout, at most 15 epochs, early stopping on validation "
        "(patience 3). SASRec-target-only: RecBole's SASRec (2 blocks, 2 heads, d 32, dropout 0.2) under the "
        "same heads, trained on the task alone."
    )
    return peterrec_suite(
        "peterrec_synthetic_transfer", description, config, quick, runs, "source", "macrof1", claims=claims
    )
