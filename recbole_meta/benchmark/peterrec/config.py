"""PeterRec suites' settings, and their translation into a RecBole ``Config`` and a trainer.

A suite config holds RecBole / PeterRec keys (see ``properties/model/PeterRec.yaml``) plus keys that only the
suite reads (:data:`SUITE_ONLY`: pre-training length, which synthetic data to generate, ...).
"""

import os

from recbole_meta.benchmark.synthetic.planted_preferences import generate_synthetic

BACKBONE = {
    "embedding_size": 64,
    "dilations": [1, 4],
    "block_num": 2,
    "kernel_size": 3,
    "MAX_ITEM_LIST_LENGTH": 50,
    "pretrain_objective": "causal",
}
SHARED = {
    "dataset": "ml-100k",
    **BACKBONE,
    "pretrain_epochs": 20,
    "pretrain_learning_rate": 0.001,
    "pretrain_stopping_step": 3,
    "epochs": 20,
    "stopping_step": 4,
    "learning_rate": 0.001,
    "train_batch_size": 128,
    "target_domain": {"field": "release_year", "min": 1996},
}
QUICK = {
    "pretrain_epochs": 1,
    "epochs": 1,
    "stopping_step": 1,
    "embedding_size": 16,
    "block_num": 1,
    "MAX_ITEM_LIST_LENGTH": 20,
    "target_domain": {"field": "release_year", "min": 2005},
    "timing_repeats": 1,
}
# Keys of a suite config that are not RecBole config keys.
SUITE_ONLY = (
    "dataset",
    "pretrain_epochs",
    "pretrain_learning_rate",
    "pretrain_stopping_step",
    "pretrain_objectives",
    "timing_repeats",
    "data_path",
    "data_dir",
    "synthetic",
    "synthetic_transfer",
    "profile_tasks",
)
SYNTHETIC_COLUMNS = {
    "inter": ["user_id", "item_id", "rating", "timestamp"],
    "user": ["user_id", "age", "gender", "occupation"],
    "item": ["item_id", "release_year"],
}


def quick_dataset(out_dir):
    """The tiny synthetic dataset of the ml-100k suites' quick (CI) mode."""
    synthetic = generate_synthetic(
        os.path.join(out_dir, "data"), 4_000, n_users=120, n_items=150, seed=0, name="quick_peterrec"
    )
    return {"dataset": synthetic.name, "data_path": synthetic.data_path}


def ensure_synthetic(config, data_path):
    """Generate the synthetic dataset of ``config`` once (seeded: the files are deterministic)."""
    if os.path.exists(os.path.join(data_path, config["dataset"], f"{config['dataset']}.inter")):
        return
    if "synthetic_transfer" in config:
        from recbole_meta.benchmark.synthetic.transfer_domains import generate_transfer_synthetic

        generate_transfer_synthetic(data_path, name=config["dataset"], **config["synthetic_transfer"])
    else:
        generate_synthetic(data_path, name=config["dataset"], **config["synthetic"])


def recbole_config(config, seed, run_dir, out_dir, **overrides):
    """A RecBole ``Config`` for PeterRec from a suite config. ``data_dir`` (synthetic data) is relative to the
    output folder, so that the results file does not depend on where it was written."""
    from recbole_meta.config import Config

    settings = {k: v for k, v in config.items() if k not in SUITE_ONLY}
    if "data_dir" in config:
        settings["data_path"] = os.path.join(out_dir, config["data_dir"])
        ensure_synthetic(config, settings["data_path"])
    if "data_path" in config:
        settings["data_path"] = config["data_path"]
    if config["dataset"] != "ml-100k":  # synthetic data: its own columns, token ages
        columns = dict(SYNTHETIC_COLUMNS)
        if "synthetic_transfer" in config:
            columns["user"] = ["user_id", "age", "gender"]
        settings.setdefault("load_col", columns)
        settings["label_buckets"] = {}
    settings.update(
        seed=seed,
        reproducibility=True,
        show_progress=False,
        state="WARNING",
        checkpoint_dir=os.path.join(run_dir, "saved"),
    )
    settings.update(overrides)
    return Config(model="PeterRec", dataset=config["dataset"], config_dict=settings, argv=[])


def finetune_config(ctx, task, **options):
    """The RecBole config of fine-tuning on ``task`` within a suite run (``ctx``: its ``RunContext``)."""
    return recbole_config(
        ctx.config, ctx.seed, ctx.run_dir, ctx.out_dir, stage="finetune", downstream_task=task, **options
    )


def build_trainer(config, dataset):
    """PeterRec's loaders, model and trainer for ``config`` (RecBole's pipeline through the plugin)."""
    from recbole.utils import init_seed

    from recbole_meta.data_preparation import data_preparation
    from recbole_meta.registry import get_model, get_trainer

    loaders = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    model = get_model("PeterRec")(config, loaders[0]._dataset)
    trainer = get_trainer(config["MODEL_TYPE"], "PeterRec")(config, model)
    return loaders, model, trainer
