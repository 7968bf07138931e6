"""``peterrec_profile`` and ``peterrec_transfer``: PeterRec against its fine-tuning alternatives on ml-100k.

Protocol (Yuan et al., SIGIR 2020, on RecBole's embedded ml-100k; see ``properties/model/PeterRec.yaml``):

* one NextItNet backbone (d 64, 4 residual blocks = 8 dilated convolutions, last 50 items) is pre-trained with
  the causal objective on every user's sequence: all items for the profile suite, the source domain (movies
  released before 1996) for the transfer suite. Pre-training uses no label and no target-domain interaction,
  so one backbone serves every seed and task (the paper's premise: one pre-trained user model, many tasks);
  the seeds vary the user splits, the sampled negatives and the fine-tuning initialisation;
* fine-tuning (every mode the same optimiser, learning rate, epochs, early stopping on validation): PeterRec
  with serial and parallel patches, FineAll, FineCLS, FineLast1, FineLast2, PeterZero (PeterRec's architecture
  without pre-training) and NextItNet trained on the target task alone (``scratch``);
* simple baselines on the same splits: class-balanced bag-of-items logistic regression (on the same last 50
  items, and on the whole history), majority class; for transfer, popularity and bag-of-items logistic
  regression over the target items;
* profile tasks: gender, age bucket, occupation (accuracy, macro-F1; users split 60/20/20 by class);
  transfer: users with >= 1 rating of a 1996+ movie, 70/10/20 user split, first 3 target ratings per user,
  MRR@5 / HR@5 against 99 sampled unseen target movies (uni99) and against all target movies (full);
* ``StepTime``: one fine-tuning step (forward, backward, Adam) of PeterRec (serial) and of FineAll on the same
  batches, timed interleaved in one process (the harness's ``compare_timing``), median ratio.

Run with ``--threads 1`` (the regenerate command does): on the shared 2-core machine, two torch threads under
load were measured 10x slower than one.
"""

import copy
import hashlib
import json
import os
import time

import numpy as np

from recbole_meta.benchmark.suite import Run, RunResult, Suite, register_suite

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
# Keys of the suite config that are not RecBole config keys.
_SUITE_ONLY = (
    "dataset",
    "pretrain_epochs",
    "pretrain_learning_rate",
    "pretrain_stopping_step",
    "timing_repeats",
    "data_path",
    "data_dir",
    "synthetic",
    "profile_tasks",
)


def _ensure_synthetic(config, data_path):
    """Generate the synthetic dataset of ``config["synthetic"]`` once (seeded: the files are deterministic)."""
    from recbole_meta.benchmark.synthetic import generate_synthetic

    if not os.path.exists(os.path.join(data_path, config["dataset"], f"{config['dataset']}.inter")):
        generate_synthetic(data_path, name=config["dataset"], **config["synthetic"])


def _quick_dataset(out_dir):
    from recbole_meta.benchmark.synthetic import generate_synthetic

    synthetic = generate_synthetic(
        os.path.join(out_dir, "data"), 4_000, n_users=120, n_items=150, seed=0, name="quick_peterrec"
    )
    return {"dataset": synthetic.name, "data_path": synthetic.data_path}


# ------------------------------------------------------------------------------------------------- plumbing
def _recbole_config(config, seed, run_dir, out_dir, **overrides):
    """A RecBole ``Config`` for PeterRec from a suite config. ``data_dir`` (synthetic data) is relative to the
    output folder, so that the results file does not depend on where it was written."""
    from recbole_meta.config import Config

    settings = {k: v for k, v in config.items() if k not in _SUITE_ONLY}
    if "data_dir" in config:
        settings["data_path"] = os.path.join(out_dir, config["data_dir"])
        _ensure_synthetic(config, settings["data_path"])
    if "data_path" in config:
        settings["data_path"] = config["data_path"]
    if config["dataset"] != "ml-100k":  # the quick synthetic data: its own field names
        settings["load_col"] = {
            "inter": ["user_id", "item_id", "rating", "timestamp"],
            "user": ["user_id", "age", "gender", "occupation"],
            "item": ["item_id", "release_year"],
        }
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


def _trainer(config, dataset):
    from recbole.utils import init_seed

    from recbole_meta.data_preparation import data_preparation
    from recbole_meta.registry import get_model, get_trainer

    loaders = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    model = get_model("PeterRec")(config, loaders[0]._dataset)
    trainer = get_trainer(config["MODEL_TYPE"], "PeterRec")(config, model)
    return loaders, model, trainer


def _backbone_path(out_dir, suite, config, domain):
    pretraining = (
        "pretrain_epochs",
        "pretrain_learning_rate",
        "pretrain_stopping_step",
        "dataset",
        "synthetic",
    )
    key = {k: config.get(k) for k in (*BACKBONE, *pretraining)}
    key.update(domain=domain, target_domain=config["target_domain"] if domain == "source" else None)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return os.path.join(out_dir, "peterrec_backbones", f"{suite}-{domain}-{digest}.pth")


def _prepare(suite, domain):
    """Per seed: the RecBole dataset (loaded once) and the pre-trained backbone (trained once, then reused)."""

    def prepare(seed, config, quick, out_dir):
        from recbole_meta.checkpoint import load_checkpoint
        from recbole_meta.data_preparation import create_dataset

        path = _backbone_path(out_dir, suite, config, domain)
        work = os.path.join(out_dir, "runs", suite, "_pretrain")
        os.makedirs(work, exist_ok=True)
        previous = os.getcwd()
        os.chdir(work)  # RecBole's tensorboard folder
        try:
            pretrain = _recbole_config(
                config,
                seed=0,
                run_dir=work,
                out_dir=out_dir,
                stage="pretrain",
                pretrain_domain=domain,
                epochs=config["pretrain_epochs"],
                learning_rate=config["pretrain_learning_rate"],
                stopping_step=config["pretrain_stopping_step"],
                pretrained_save_path=path,
            )
            dataset = create_dataset(pretrain)
            info = {"backbone": path}
            if not os.path.exists(path):
                start = time.perf_counter()
                (train, valid, test), _, trainer = _trainer(pretrain, dataset)
                trainer.fit(train, valid, saved=True, verbose=False)
                result = trainer.evaluate(test, load_best_model=True)
                info.update(
                    seconds=time.perf_counter() - start, test={k: float(v) for k, v in result.items()}
                )
                with open(path + ".json", "w") as f:
                    json.dump(info, f)
            with open(path + ".json") as f:
                info = json.load(f)
            load_checkpoint(path)  # fails loudly on a damaged file
        finally:
            os.chdir(previous)
        return {"dataset": dataset, "backbone": path, "pretrain": info}

    return prepare


def _group_metrics(result, prefix=""):
    plain = {k: float(v) for k, v in result.items() if "[" not in k}
    groups = {}
    for key, value in result.items():
        if "[" in key and not key.startswith("rows["):
            metric, group = key[:-1].split("[")
            groups.setdefault(f"{prefix}{group}", {})[metric] = float(value)
    return plain, groups


def _finetune(ctx, task, mode, insertion, readout="last"):
    """Fine-tune one mode on one task; returns (metrics by state, info)."""
    from recbole_meta.data.sequence_dataloader import attach_groups, eval_loader

    data = ctx.data
    config = _recbole_config(
        ctx.config,
        ctx.seed,
        ctx.run_dir,
        ctx.out_dir,
        stage="finetune",
        downstream_task=task,
        finetune_mode=mode,
        patch_insertion=insertion,
        readout=readout,
        pretrained_path=data["backbone"],
    )
    start = time.perf_counter()
    (train, valid, test), model, trainer = _trainer(config, data["dataset"])
    trainer.fit(train, valid, saved=True, verbose=False)
    result = trainer.evaluate(test, load_best_model=True)
    states = {}
    if task == "transfer":
        plain, groups = _group_metrics(result, "uni99 ")
        states["uni99"] = plain
        states.update(groups)
        split = test._dataset
        full = attach_groups(config, eval_loader(config, split, "full"), split, "full")
        plain, groups = _group_metrics(trainer.evaluate(full, load_best_model=False), "full ")
        states["full"] = plain
        states.update(groups)
    else:
        plain, groups = _group_metrics(result, f"{task} ")
        states[task] = plain
        states.update(groups)
    report = model.report
    info = {
        "pretrain_test": data["pretrain"].get("test"),
        f"{task}_trainable": report["trainable"],
        f"{task}_trainable_vs_fine_all": report["trainable_vs_fine_all"],
        f"{task}_seconds": time.perf_counter() - start,
    }
    if report["patches"]:
        info["patches_vs_backbone"] = report["patches_vs_backbone"]
    checkpoint = trainer.saved_model_file
    if os.path.exists(checkpoint):
        info[f"{task}_checkpoint_bytes"] = os.path.getsize(checkpoint)
        os.remove(checkpoint)
    return states, info, report["trainable"]


def _mode_run(name, mode, insertion, tasks, readout="last"):
    def run(ctx):
        metrics, info, trainable = {}, {}, None
        for task in tasks:
            states, task_info, count = _finetune(ctx, task, mode, insertion, readout)
            metrics.update(states)
            info.update(task_info)
            trainable = count if trainable is None else trainable
        return RunResult(metrics=metrics, trainable_parameters=trainable, info=info)

    config = {"finetune_mode": mode, "patch_insertion": insertion}
    if readout != "last":
        config["readout"] = readout
    return Run(name=name, fn=run, config=config)


# ------------------------------------------------------------------------------------------------ baselines
def _task(ctx, task):
    from recbole_meta.data.sequence_tasks import build_task

    config = _recbole_config(
        ctx.config, ctx.seed, ctx.run_dir, ctx.out_dir, stage="finetune", downstream_task=task
    )
    domain = "source" if task == "transfer" else "all"
    return config, build_task(config, ctx.data["dataset"], domain=domain)


def _profile_baseline(kind):
    from recbole_meta.model.sequential_recommender import bag_of_items as baselines

    def run(ctx):
        metrics, info = {}, {}
        for task_name in ctx.config.get("profile_tasks", PROFILE_TASKS):
            _, task = _task(ctx, task_name)
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

    return run


def _transfer_baseline(kind):
    from recbole_meta.data.sequence_tasks import NO_SOURCE_GROUP
    from recbole_meta.model.sequential_recommender import bag_of_items as baselines

    def run(ctx):
        config, task = _task(ctx, "transfer")
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

    return run


# ---------------------------------------------------------------------------------------------- step time
def _step_time(task):
    def run(ctx):
        from recbole_meta.benchmark.timing import compare_timing

        built = {}
        for mode in ("peterrec", "fine_all"):
            config = _recbole_config(
                ctx.config,
                ctx.seed,
                ctx.run_dir,
                ctx.out_dir,
                stage="finetune",
                downstream_task=task,
                finetune_mode=mode,
                pretrained_path=ctx.data["backbone"],
            )
            (train, _, _), model, trainer = _trainer(config, ctx.data["dataset"])
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


# ------------------------------------------------------------------------------------------------ report
def _paper_claims(primary_metric):
    """Report hook: the paper's claims checked pair-wise by seed, trainable fractions, checkpoint sizes."""

    def hook(summary):
        from scipy import stats

        lines = ["### PeterRec against FineAll and PeterZero, paired by seed", ""]
        lines.append(
            f"{primary_metric} of PeterRec (serial) minus that of FineAll / PeterZero on the same seed (split, "
            "negatives); mean +- std over seeds, wins, paired t-test p."
        )
        lines += ["", "| state | vs FineAll | vs PeterZero |", "|---|---|---|"]
        for state in summary.states:
            values = summary.values.get(state, {}).get(primary_metric, {})
            if "PeterRec-serial" not in values:
                continue
            cells = []
            for other in ("FineAll", "PeterZero"):
                mine, theirs = values["PeterRec-serial"], values.get(other, {})
                seeds = sorted(set(mine) & set(theirs))
                diffs = np.array([mine[s] - theirs[s] for s in seeds], dtype=float)
                if len(diffs) < 2:
                    cells.append("n/a")
                    continue
                p = stats.ttest_rel([mine[s] for s in seeds], [theirs[s] for s in seeds]).pvalue
                cells.append(
                    f"{diffs.mean():+.4f} +- {diffs.std(ddof=1):.4f} ({int((diffs > 0).sum())}/{len(diffs)} wins, "
                    f"p {p:.3g})"
                )
            lines.append(f"| {state} | {cells[0]} | {cells[1]} |")
        lines += ["", "| run | trainable / FineAll trainable | patches / backbone | task checkpoint (kB) |"]
        lines.append("|---|---|---|---|")
        pretrain = None
        for name, _, _ in MODES:
            infos = [r.get("info") or {} for (run, _), r in sorted(summary.records.items()) if run == name]
            if not infos:
                continue
            info = infos[0]
            pretrain = pretrain or info.get("pretrain_test")
            fractions = [v for k, v in info.items() if k.endswith("_trainable_vs_fine_all")]
            sizes = [v / 1000 for k, v in info.items() if k.endswith("_checkpoint_bytes")]
            patches = info.get("patches_vs_backbone")
            lines.append(
                f"| {name} | {min(fractions):.2%} - {max(fractions):.2%} | "
                f"{'-' if patches is None else f'{patches:.2%}'} | {min(sizes):.0f} - {max(sizes):.0f} |"
            )
        lines.append("")
        lines.append(
            "Ranges are over the tasks (the head's size differs per task). Task checkpoints hold only what a "
            "mode trains, plus the config; PeterZero and NextItNet-target-only store every parameter (their "
            "random frozen weights exist nowhere else)."
        )
        if pretrain:
            scores = ", ".join(f"{k} {v:.4f}" for k, v in pretrain.items())
            lines += ["", f"Backbone pre-training, next item of each user's held-out last item: {scores}."]
        return "\n".join(lines)

    return hook


# ---------------------------------------------------------------------------------------------------- suites
def _suite(name, description, runs, domain, options, compare, primary_metric):
    quick_config = dict(QUICK)
    if options.quick:
        quick_config.update(_quick_dataset(options.out_dir))
    return Suite(
        name=name,
        description=description,
        config=SHARED,
        quick_config=quick_config,
        runs=runs,
        seeds=(0, 1, 2),
        prepare=_prepare(name, domain),
        regenerate_command=f"python -m recbole_meta.benchmark {name} --threads 1",
        report_hook=_paper_claims(primary_metric),
        compare=compare,
        primary_metric=primary_metric,
        info_columns=(),
    )


@register_suite("peterrec_profile")
def peterrec_profile(options):
    runs = [_mode_run(name, mode, insertion, PROFILE_TASKS) for name, mode, insertion in MODES]
    # The paper reads the last position; a mean over the sequence is closer to what the bag-of-items model sees.
    runs += [
        _mode_run("PeterRec-serial-mean-readout", "peterrec", "serial", PROFILE_TASKS, readout="mean"),
        _mode_run("FineAll-mean-readout", "fine_all", "serial", PROFILE_TASKS, readout="mean"),
    ]
    runs += [
        Run("BagOfItems-LR", _profile_baseline("lr"), config={"baseline": "lr", "history": "sequence"}),
        Run(
            "BagOfItems-LR-full-history",
            _profile_baseline("lr_full"),
            config={"baseline": "lr", "history": "full"},
        ),
        Run("Majority", _profile_baseline("majority"), config={"baseline": "majority"}),
        _step_time("gender"),
    ]
    description = (
        "User profile prediction on ml-100k (RecBole's embedded copy: 943 users, 1,682 movies): gender (29% F), "
        "age bucket (<18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+), occupation (21 classes) from the user's last "
        "50 movies in time order. Users split 60/20/20 stratified by class per seed; class-weighted "
        "cross-entropy. A causal NextItNet (d 64, 4 blocks, 8 dilated convolutions) pre-trained once on all "
        "users' sequences (no labels; at most 20 epochs, early stopping on next-item MRR@5) serves every seed "
        "and task. Fine-tuning: Adam, lr 0.001, batch 128, at most 20 epochs, early stopping on validation "
        "macro-F1 (patience 4)."
    )
    return _suite(
        name="peterrec_profile",
        description=description,
        runs=runs,
        domain="all",
        options=options,
        compare="PeterRec-serial",
        primary_metric="macrof1",
    )


@register_suite("peterrec_transfer")
def peterrec_transfer(options):
    runs = [_mode_run(name, mode, insertion, ("transfer",)) for name, mode, insertion in MODES]
    runs += [
        Run("BagOfItems-LR", _transfer_baseline("lr"), config={"baseline": "lr", "history": "sequence"}),
        Run("Popularity", _transfer_baseline("popularity"), config={"baseline": "popularity"}),
        _step_time("transfer"),
    ]
    description = (
        "Cold-start transfer recommendation on ml-100k: movies released in 1996 or later are the target domain "
        "(586 movies, 35% of ratings), older ones the source domain. A causal NextItNet pre-trained once on the "
        "source-domain sequences of all users (at most 20 epochs). Users with a target rating split 70/10/20 per seed; "
        "each keeps their first 3 target ratings (a row each); test users have none in training. A user's input "
        "is their last 50 source movies; 122 users rated no source movie (input [MASK], reported separately). "
        "MRR@5 / HR@5 against 99 sampled unseen target movies (uni99) and all target movies (full). "
        "Fine-tuning: Adam, lr 0.001, batch 128, softmax over the target movies, at most 20 epochs, early "
        "stopping on validation MRR@5 (patience 4)."
    )
    return _suite(
        name="peterrec_transfer",
        description=description,
        runs=runs,
        domain="source",
        options=options,
        compare="PeterRec-serial",
        primary_metric="mrr@5",
    )


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
    runs = [_mode_run(name, mode, ins, SYNTHETIC_TASKS) for name, mode, ins in MODES if name in chosen]
    runs += [
        _mode_run("PeterRec-serial-mean-readout", "peterrec", "serial", SYNTHETIC_TASKS, readout="mean"),
        _mode_run("FineAll-mean-readout", "fine_all", "serial", SYNTHETIC_TASKS, readout="mean"),
    ]
    runs += [
        Run("BagOfItems-LR", _profile_baseline("lr"), config={"baseline": "lr", "history": "sequence"}),
        Run("Majority", _profile_baseline("majority"), config={"baseline": "majority"}),
    ]
    description = (
        "The same protocol on synthetic data where unlabelled behaviour is plentiful and labels scarce: the "
        "harness's generator (`recbole_meta.benchmark.synthetic`, seed 0) with 6,000 users, 1,500 items and "
        "300,000 interactions; users' gender, age and occupation are planted into which items they pick. The "
        "backbone is pre-trained on every user's sequence (at most 10 epochs); only 10% of the users are "
        "labelled for fine-tuning (10% validation, 80% test). Gender (2 classes) and age (7 groups)."
    )
    return Suite(
        name="peterrec_synthetic",
        description=description,
        config=config,
        quick_config=quick,
        runs=runs,
        seeds=(0, 1, 2),
        prepare=_prepare("peterrec_synthetic", "all"),
        compare="PeterRec-serial",
        primary_metric="macrof1",
        info_columns=(),
        regenerate_command="python -m recbole_meta.benchmark peterrec_synthetic --threads 1",
        report_hook=_paper_claims("macrof1"),
    )
