"""The runs of the PeterRec suites: one fine-tuning mode on a task, the simple baselines, the step-time ratio.

Every fine-tuning run reads the backbone that the suite's ``prepare`` pre-trained
(:mod:`recbole_meta.benchmark.peterrec.pretraining`) and goes through RecBole's pipeline (the plugin's
``data_preparation``, model and trainer).
"""

import copy
import os
import time

from recbole_meta.benchmark.peterrec.config import build_trainer, finetune_config
from recbole_meta.benchmark.suite import Run, RunResult

MODES = (
    ("PeterRec-serial", "peterrec", "serial"),
    ("PeterRec-parallel", "peterrec", "parallel"),
    ("FineAll", "fine_all", "serial"),
    ("FineCLS", "fine_cls", "serial"),
    ("FineLast1", "fine_last1", "serial"),
    ("FineLast2", "fine_last2", "serial"),
    ("PeterZero", "peter_zero", "serial"),
    ("NextItNet-target-only", "scratch", "serial"),
)
PROFILE_TASKS = ("gender", "age", "occupation")


def group_metrics(result, prefix=""):
    """``metric[group]`` entries of a trainer result split into the plain metrics and one dict per group."""
    plain = {k: float(v) for k, v in result.items() if "[" not in k}
    groups = {}
    for key, value in result.items():
        if "[" in key and not key.startswith("rows["):
            metric, group = key[:-1].split("[")
            groups.setdefault(f"{prefix}{group}", {})[metric] = float(value)
    return plain, groups


def finetune(ctx, task, mode, insertion, readout="last", backbone="causal", curve=False, **extra):
    """Fine-tune one mode on one task; returns (metrics by state, info, trainable parameters)."""
    from recbole_meta.data.sequence_dataloader import attach_groups, eval_loader

    data = ctx.data
    start = time.perf_counter()
    config = finetune_config(
        ctx,
        task,
        finetune_mode=mode,
        patch_insertion=insertion,
        readout=readout,
        pretrained_path=data.get("backbones", {}).get(backbone, data["backbone"]),
        **extra,
    )
    (train, valid, test), model, trainer = build_trainer(config, data["dataset"])
    trainer.fit(train, valid, saved=True, verbose=False)
    result = trainer.evaluate(test, load_best_model=True)
    states = {}
    if task == "transfer":
        plain, groups = group_metrics(result, "uni99 ")
        states["uni99"] = plain
        states.update(groups)
        split = test._dataset
        full = attach_groups(config, eval_loader(config, split, "full"), split, "full")
        plain, groups = group_metrics(trainer.evaluate(full, load_best_model=False), "full ")
        states["full"] = plain
        states.update(groups)
    else:
        plain, groups = group_metrics(result, f"{task} ")
        states[task] = plain
        states.update(groups)
    report = model.report
    info = {
        "pretrain_test": data["pretrain"].get("test"),
        f"{task}_trainable": report["trainable"],
        f"{task}_trainable_vs_fine_all": report["trainable_vs_fine_all"],
        f"{task}_seconds": time.perf_counter() - start,
        f"{task}_best_valid": float(trainer.best_valid_score),
        f"{task}_epochs_run": len(trainer.train_loss_dict),
    }
    if curve:
        info[f"{task}_curve"] = trainer.learning_curve
    if report["patches"]:
        info["patches_vs_backbone"] = report["patches_vs_backbone"]
    checkpoint = trainer.saved_model_file
    if os.path.exists(checkpoint):
        info[f"{task}_checkpoint_bytes"] = os.path.getsize(checkpoint)
        os.remove(checkpoint)
    return states, info, report["trainable"]


def mode_run(name, mode, insertion, tasks, readout="last", backbone="causal", curve=False, **extra):
    """A suite run fine-tuning ``mode`` on each of ``tasks``."""

    def run(ctx):
        metrics, info, trainable = {}, {}, None
        for task in tasks:
            states, task_info, count = finetune(ctx, task, mode, insertion, readout, backbone, curve, **extra)
            metrics.update(states)
            info.update(task_info)
            trainable = count if trainable is None else trainable
        return RunResult(metrics=metrics, trainable_parameters=trainable, info=info)

    config = {"finetune_mode": mode, "patch_insertion": insertion}
    if readout != "last":
        config["readout"] = readout
    if backbone != "causal":
        config["backbone_objective"] = backbone
    config.update(extra)
    return Run(name=name, fn=run, config=config)


# ------------------------------------------------------------------------------------------------ baselines
def build_downstream_task(ctx, task):
    """The RecBole config and the task split of ``task``, fed the domain of the suite's backbone."""
    from recbole_meta.data.sequence_tasks import build_task

    config = finetune_config(ctx, task)
    domain = "source" if task == "transfer" else ctx.config.get("pretrain_domain", "all")
    return config, build_task(config, ctx.data["dataset"], domain=domain)


# The hashed run config of each baseline kind (a record is attached to its run by this config).
BASELINE_CONFIGS = {
    "lr": {"baseline": "lr", "history": "sequence"},
    "lr_full": {"baseline": "lr", "history": "full"},
    "majority": {"baseline": "majority"},
    "popularity": {"baseline": "popularity"},
}


def profile_baseline(name, kind):
    """A run of a profile baseline: majority class or bag-of-items logistic regression (``lr``: the input
    sequence; ``lr_full``: the whole history)."""
    from recbole_meta.benchmark.peterrec import baselines

    def run(ctx):
        metrics, info = {}, {}
        for task_name in ctx.config.get("profile_tasks", PROFILE_TASKS):
            _, task = build_downstream_task(ctx, task_name)
            if kind == "majority":
                metrics[task_name] = baselines.majority_class(task)
            else:
                history = "full" if kind == "lr_full" else "sequence"
                scores, chosen = baselines.fit_profile_logistic(
                    task, history, ctx.data["dataset"], seed=ctx.seed
                )
                metrics[task_name] = scores
                info[f"{task_name}_C"] = chosen["C"]
        return RunResult(metrics=metrics, info=info)

    return Run(name=name, fn=run, config=BASELINE_CONFIGS[kind])


def transfer_baseline(name, kind, config=None):
    """A run of a transfer baseline: popularity or bag-of-items logistic regression over the target items,
    scored as the neural runs; ``config``: its hashed config (default: that of ``kind``)."""
    from recbole_meta.benchmark.peterrec import baselines
    from recbole_meta.data.sequence_tasks import NO_SOURCE_GROUP

    def run(ctx):
        config, task = build_downstream_task(ctx, "transfer")
        info = {}
        if kind == "popularity":
            scores = baselines.popularity_scores(task, seed=ctx.seed)
        else:
            history = "full" if kind == "lr_full" else "sequence"
            scores, chosen = baselines.fit_transfer_logistic(
                config, task, history, ctx.data["dataset"], seed=ctx.seed
            )
            info["C"] = chosen["C"]
        split, test = task.splits["test"], scores["test"]
        flags = split.groups[NO_SOURCE_GROUP]
        metrics = {}
        for mode, label in (("candidates", "uni99"), ("full", "full")):
            metrics[label] = baselines.ranking_metrics(config, split, test, mode)
            if not flags.any():
                continue  # as the neural runs: groups only when some users have no source history
            for group, mask in ((NO_SOURCE_GROUP, flags), ("with_source_history", ~flags)):
                subset = split.subset(mask, group)
                metrics[f"{label} {group}"] = baselines.ranking_metrics(config, subset, test[mask], mode)
        return RunResult(metrics=metrics, info=info)

    return Run(name=name, fn=run, config=BASELINE_CONFIGS[kind] if config is None else config)


# ---------------------------------------------------------------------------------------------- step time
def step_time(task):
    """One fine-tuning step of PeterRec (serial patches) against FineAll, interleaved in one process."""

    def run(ctx):
        from recbole_meta.benchmark.timing import compare_timing

        built = {}
        for mode in ("peterrec", "fine_all"):
            config = finetune_config(ctx, task, finetune_mode=mode, pretrained_path=ctx.data["backbone"])
            (train, _, _), model, trainer = build_trainer(config, ctx.data["dataset"])
            batches = [copy.deepcopy(b) for _, b in zip(range(4), train)]
            built[mode] = (model, trainer.optimizer, batches)

        def step(mode):
            model, optimizer, batches = built[mode]
            model.train()
            for batch in batches:
                optimizer.zero_grad()
                model.calculate_loss(batch).backward()
                optimizer.step()

        timing = compare_timing(
            lambda: step("peterrec"),
            lambda: step("fine_all"),
            repeats=int(ctx.config.get("timing_repeats", 7)),
        )
        n = len(built["peterrec"][2])
        return RunResult(
            metrics={
                "step_time": {
                    "peterrec_step_s": timing.median_a / n,
                    "fine_all_step_s": timing.median_b / n,
                    "ratio_peterrec_over_fine_all": timing.ratio,
                }
            },
            info={"timing": timing.describe("PeterRec", "FineAll"), "task": task},
        )

    return Run(name="StepTime", fn=run, config={"timed_task": task})
