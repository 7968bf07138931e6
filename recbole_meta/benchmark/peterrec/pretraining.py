"""Pre-training orchestration of the PeterRec suites: one backbone per objective, trained once and reused.

Pre-training uses no label and no target-domain interaction, so one backbone serves every seed and task of a
suite (the paper's premise: one pre-trained user model, many tasks). A backbone is stored under
``<out_dir>/peterrec_backbones/`` with a name that hashes everything it depends on, beside a ``.json`` with its
held-out next-item scores and training time; a later run (or a resumed suite) loads it instead of training again.
"""

import hashlib
import json
import os
import time

from recbole_meta.benchmark.peterrec.config import BACKBONE, build_trainer, recbole_config
from recbole_meta.benchmark.runner import isolated_run

PRETRAINING_KEYS = (
    "pretrain_epochs",
    "pretrain_learning_rate",
    "pretrain_stopping_step",
    "dataset",
    "synthetic",
    "synthetic_transfer",
)


def backbone_path(out_dir, suite, config, domain, objective="causal"):
    """Where the backbone of ``config`` (architecture, pre-training settings, data, domain) is stored."""
    key = {k: config.get(k) for k in (*BACKBONE, *PRETRAINING_KEYS)}
    key.update(domain=domain, target_domain=config["target_domain"] if domain == "source" else None)
    key["pretrain_objective"] = objective
    for optional in ("MAX_ITEM_LIST_LENGTH", "pretrain_window_stride"):
        if optional in config:
            key[optional] = config[optional]
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    suffix = "" if objective == "causal" else f"-{objective}"
    return os.path.join(out_dir, "peterrec_backbones", f"{suite}-{domain}{suffix}-{digest}.pth")


def pretrain_config(config, work, out_dir, domain, objective, path):
    """The RecBole config of the pre-training stage of a suite config."""
    return recbole_config(
        config,
        seed=0,
        run_dir=work,
        out_dir=out_dir,
        stage="pretrain",
        pretrain_domain=domain,
        pretrain_objective=objective,
        epochs=config["pretrain_epochs"],
        learning_rate=config["pretrain_learning_rate"],
        stopping_step=config["pretrain_stopping_step"],
        pretrained_save_path=path,
    )


def ensure_backbone(config, dataset, work, out_dir, domain, objective, path):
    """Pre-train the backbone at ``path`` unless it exists; return its info (test scores, seconds)."""
    from recbole_meta.checkpoint import load_checkpoint

    if not os.path.exists(path):
        pretrain = pretrain_config(config, work, out_dir, domain, objective, path)
        start = time.perf_counter()
        (train, valid, test), _, trainer = build_trainer(pretrain, dataset)
        trainer.fit(train, valid, saved=True, verbose=False)
        result = trainer.evaluate(test, load_best_model=True)
        info = {
            "backbone": path,
            "objective": objective,
            "seconds": time.perf_counter() - start,
            "epochs_run": len(trainer.train_loss_dict),
            "test": {k: float(v) for k, v in result.items()},
        }
        with open(path + ".json", "w") as f:
            json.dump(info, f)
    load_checkpoint(path)  # fails loudly on a damaged file
    with open(path + ".json") as f:
        return json.load(f)


def prepare_backbones(suite, domain, objectives=("causal",)):
    """``Suite.prepare``: the RecBole dataset (loaded once) and a pre-trained backbone per objective.

    Returns ``{"dataset", "backbone" (the causal one, or the first), "backbones": {objective: path},
    "pretrain" (its info), "pretrain_infos": {objective: info}}``. RecBole's logs and tensorboard files of the
    pre-training go to ``<out_dir>/runs/<suite>/_pretrain`` (the harness's isolated run folder).
    """

    def prepare(seed, config, quick, out_dir):
        from recbole_meta.data_preparation import create_dataset

        chosen = tuple(config.get("pretrain_objectives", objectives))
        work = os.path.join(out_dir, "runs", suite, "_pretrain")
        paths, infos = {}, {}
        with isolated_run(work):
            first = pretrain_config(config, work, out_dir, domain, chosen[0], None)
            dataset = create_dataset(first)
            for objective in chosen:
                paths[objective] = backbone_path(out_dir, suite, config, domain, objective)
                os.makedirs(os.path.dirname(paths[objective]), exist_ok=True)
                infos[objective] = ensure_backbone(
                    config, dataset, work, out_dir, domain, objective, paths[objective]
                )
        main = "causal" if "causal" in chosen else chosen[0]
        return {
            "dataset": dataset,
            "backbone": paths[main],
            "backbones": paths,
            "pretrain": infos[main],
            "pretrain_infos": infos,
        }

    return prepare
