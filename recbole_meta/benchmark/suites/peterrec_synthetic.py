"""``peterrec_synthetic``: the ml-100k profile protocol on synthetic data with planted traits (the harness's
generator), where unlabelled behaviour is plentiful and labels are scarce."""

from recbole_meta.benchmark.peterrec.config import QUICK, SHARED
from recbole_meta.benchmark.peterrec.runs import MODES, mode_run, profile_baseline
from recbole_meta.benchmark.peterrec.suite_builder import peterrec_suite
from recbole_meta.benchmark.suite import register_suite

SYNTHETIC_TASKS = ("gender", "age")


@register_suite("peterrec_synthetic")
def peterrec_synthetic(options):
    """PeterRec where unlabelled behaviour is plentiful and labels are scarce (synthetic, planted traits)."""
    config = {
        **SHARED,
        "dataset": "peterrec_synthetic_300k",
        "data_dir": "data",
        "synthetic": {"n_interactions": 300_000, "n_users": 6_000, "n_items": 1_500, "seed": 0},
        "profile_tasks": list(SYNTHETIC_TASKS),
        "profile_split": [0.1, 0.1, 0.8],
        "pretrain_epochs": 10,
    }
    quick = dict(QUICK)
    quick.update(
        dataset="peterrec_synthetic_quick",
        synthetic={"n_interactions": 4_000, "n_users": 120, "n_items": 150, "seed": 0},
        profile_split=[0.6, 0.2, 0.2],
    )
    chosen = ("PeterRec-serial", "FineAll", "FineCLS", "FineLast1", "PeterZero", "NextItNet-target-only")
    runs = [mode_run(name, mode, ins, SYNTHETIC_TASKS) for name, mode, ins in MODES if name in chosen]
    runs += [
        mode_run("PeterRec-serial-mean-readout", "peterrec", "serial", SYNTHETIC_TASKS, readout="mean"),
        mode_run("FineAll-mean-readout", "fine_all", "serial", SYNTHETIC_TASKS, readout="mean"),
    ]
    runs += [profile_baseline("BagOfItems-LR", "lr"), profile_baseline("Majority", "majority")]
    description = (
        "The same protocol on synthetic data where unlabelled behaviour is plentiful and labels scarce: the "
        "harness's generator (`recbole_meta.benchmark.synthetic.planted_preferences`, seed 0) with 6,000 users, 1,500 items and "
        "300,000 interactions; users' gender, age and occupation are planted into which items they pick. The "
        "backbone is pre-trained on every user's sequence (at most 10 epochs); only 10% of the users are "
        "labelled for fine-tuning (10% validation, 80% test). Gender (2 classes) and age (7 groups)."
    )
    return peterrec_suite("peterrec_synthetic", description, config, quick, runs, "all", "macrof1")
