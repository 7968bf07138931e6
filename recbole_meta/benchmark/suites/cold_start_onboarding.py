"""Suite ``cold_start_onboarding``: which k items should a new user rate first? (MeLU's evidence candidates.)

Per seed and dataset, MeLU-5 is meta-trained once (``cold_start``'s configuration, early stopping on the
validation users) and the bias model estimated on the same split; then every new user of ``user_cold`` rates the
k items a chooser picks among the items they rated outside the query (:mod:`recbole_meta.benchmark.cold_start.onboarding`),
each model adapts on those k ratings, and the MAE of the same 10 query ratings is reported for k = 1, 3, 5, 10.
Choosers: MeLU's evidence score, popularity, log-popularity x entropy, random. Datasets: ml-100k (the
``cold_start`` split) and a synthetic dataset of the harness's generator (features carry the signal there).

Run (about 10 minutes a seed on one core)::

    for s in 0 1 2; do nice -n 10 python -m recbole_meta.benchmark cold_start_onboarding --seeds $s; done
    python -m recbole_meta.benchmark cold_start_onboarding --report-only
"""

import os
import shutil
import time
from functools import partial

import numpy as np

from recbole_meta.benchmark import Run, RunResult, Suite, register_suite
from recbole_meta.benchmark.cold_start.onboarding import (
    CHOOSERS,
    eligible_users,
    item_priorities,
    onboarding_tasks,
    per_task_mae,
)
from recbole_meta.benchmark.recbole_run import models_defaults
from recbole_meta.benchmark.suites.cold_start import QUICK, SHARED

KS = [1, 3, 5, 10]
MODELS = {"MeLU-5": "MeLU", "UserItemBias": "UserItemBias"}
# The harness's generator at a size that meta-trains in about a minute: user traits and item features shape the
# planted factors, so a user's features predict their taste (see recbole_meta/benchmark/synthetic/planted_preferences.py).
SYNTHETIC = {
    "n_interactions": 60_000,
    "n_users": 1_500,
    "n_items": 800,
    "min_user_interactions": 13,
    "seed": 0,
    "name": "onboarding_synthetic",
}
SYNTHETIC_SPLIT = {
    "rating_range": [1, 5],
    "new_item_rule": {"fraction": 0.2},
    "user_features": ["age", "gender", "occupation"],
    "item_features": ["category", "tags", "release_year"],
}
PROTOCOL = {key: value for key, value in SHARED.items() if key != "dataset"}
DATASETS = {
    "ml-100k": {**SHARED, "eval_states": ["user_cold"]},
    # cold_start's protocol (its episode settings); the dataset name comes from the generator
    "synthetic": {**PROTOCOL, "synthetic": SYNTHETIC, **SYNTHETIC_SPLIT, "eval_states": ["user_cold"]},
}
QUICK_DATASETS = {"tiny": {**QUICK, "eval_states": ["user_cold"]}}


def _dataset_config(name, config, out_dir):
    """RecBole config dict of one dataset of the suite (generating the synthetic files first)."""
    config = dict(config)
    synthetic = config.pop("synthetic", None)
    if synthetic is None:
        return config
    from recbole_meta.benchmark.synthetic.planted_preferences import generate_synthetic

    data = generate_synthetic(os.path.join(out_dir, "data"), **synthetic)
    config.update(data.config_dict())
    config["dataset"] = data.name
    return config


def _prepare_dataset(seed, name, config, ks, out_dir, pool):
    """Meta-train MeLU-5 on one dataset's split, estimate the bias model, and score the items."""
    import torch

    from recbole_meta.config import Config
    from recbole_meta.model.meta_recommender.evidence import evidence_scores
    from recbole_meta.quick_start import build_run
    from recbole_meta.registry import get_model
    from recbole_meta.trainer.meta_trainer import MetaTrainer

    config = _dataset_config(name, config, out_dir)
    dataset = config.pop("dataset")
    checkpoints = os.path.join(out_dir, "cold_start_onboarding", "checkpoints", f"{name}-seed{seed}")
    config.update(seed=seed, state="WARNING", show_progress=False, checkpoint_dir=checkpoints)
    torch.set_num_threads(config.get("meta_num_threads") or 1)
    started = time.perf_counter()
    melu_config = Config("MeLU", dataset, config_dict=config, argv=[])
    data, (train, valid, _), melu, trainer = build_run(melu_config)
    trainer.fit(train, valid, saved=True, show_progress=False)
    trainer.load_model_weights(trainer.saved_model_file)
    shutil.rmtree(checkpoints, ignore_errors=True)
    split = data.cold_split
    bias_config = Config("UserItemBias", dataset, config_dict=config, argv=[])
    bias = get_model("UserItemBias")(bias_config, data)
    personalised = melu_config["local_update_params"]
    evidence = evidence_scores(melu, split, personalised, pool=pool)
    return {
        "split": split,
        "trainers": {
            "MeLU-5": (trainer, melu_config),
            "UserItemBias": (MetaTrainer(bias_config, bias), bias_config),
        },
        "priorities": item_priorities(split, evidence),
        "users": eligible_users(split, ks),
        "seconds": time.perf_counter() - started,
    }


def prepare(seed, config, quick, out_dir):
    datasets = config["datasets"]
    return {
        name: _prepare_dataset(seed, name, dataset_config, config["ks"], out_dir, config["evidence_pool"])
        for name, dataset_config in datasets.items()
    }


def _chooser_run(ctx, model, chooser):
    from recbole_meta.data.cold_start_split import Task

    metrics, info = {}, {"users": {}, "per_user_mae": {}, "reference_mae": {}, "melu_seconds": {}}
    for name, prepared in ctx.data.items():
        split = prepared["split"]
        trainer, config = prepared["trainers"][model]
        tasks = onboarding_tasks(split, chooser, ctx.config["ks"], prepared["priorities"], ctx.seed)
        per_user = {k: per_task_mae(trainer, config, split, tasks[k]) for k in ctx.config["ks"]}
        metrics[name] = {f"mae@{k}": float(errors.mean()) for k, errors in per_user.items()}
        info["users"][name] = len(prepared["users"])
        info["per_user_mae"][name] = {str(k): np.round(v, 5).tolist() for k, v in per_user.items()}
        # the same users with no rating (the meta-learned prior) and with their whole support
        eligible = set(prepared["users"])
        full = [t for t in split.tasks["user_cold"] if t.user in eligible]
        none = [Task(t.user, np.zeros(0, dtype=np.int64), t.query) for t in full]
        info["reference_mae"][name] = {
            "no rating": float(per_task_mae(trainer, config, split, none).mean()),
            "whole support": float(per_task_mae(trainer, config, split, full).mean()),
            "whole support, median size": float(np.median([len(t.support) for t in full])),
        }
        info["melu_seconds"][name] = round(prepared["seconds"], 1)
    return RunResult(metrics=metrics, info=info)


def _report(summary):
    """Per-user paired test (evidence vs random, every seed's users pooled) and the reference MAEs."""
    from scipy.stats import wilcoxon

    lines = ["### Per-user paired test: evidence against random", ""]
    lines.append(
        "Per-user query MAE of the same users and query items, every seed pooled; Wilcoxon signed-rank test "
        "(two-sided) of evidence - random. A negative mean difference favours evidence."
    )
    lines += [
        "",
        "| model | dataset | k | users | mean difference | evidence better | p |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in MODELS:
        evidence = {seed: r for (run, seed), r in summary.records.items() if run == f"{model}-evidence"}
        random = {seed: r for (run, seed), r in summary.records.items() if run == f"{model}-random"}
        seeds = sorted(set(evidence) & set(random))
        if not seeds:
            continue
        for name in evidence[seeds[0]]["info"]["per_user_mae"]:
            for k in evidence[seeds[0]]["info"]["per_user_mae"][name]:
                a = np.concatenate([evidence[s]["info"]["per_user_mae"][name][k] for s in seeds])
                b = np.concatenate([random[s]["info"]["per_user_mae"][name][k] for s in seeds])
                diff = a - b
                p = wilcoxon(a, b).pvalue if np.any(diff != 0) else float("nan")
                lines.append(
                    f"| {model} | {name} | {k} | {len(diff)} | {diff.mean():+.4f} | "
                    f"{int((diff < 0).sum())}/{int((diff != 0).sum())} | {p:.3g} |"
                )
    lines += ["", "### References: the same users with no rating and with their whole support", ""]
    lines += [
        "| model | dataset | no rating | whole support | median support size |",
        "|---|---|---|---|---|",
    ]
    for model in MODELS:
        per_seed = [r for (run, _), r in sorted(summary.records.items()) if run == f"{model}-random"]
        if not per_seed:
            continue
        for name in per_seed[0]["info"]["reference_mae"]:
            refs = [r["info"]["reference_mae"][name] for r in per_seed]
            cells = [np.mean([ref[key] for ref in refs]) for key in ("no rating", "whole support")]
            size = np.median([ref["whole support, median size"] for ref in refs])
            lines.append(f"| {model} | {name} | {cells[0]:.4f} | {cells[1]:.4f} | {size:g} |")
    return "\n".join(lines)


def _plot(summary, path):
    """MAE against k, one panel per dataset, a line per model and chooser (mean over seeds)."""
    from recbole_meta.benchmark.plots import pyplot
    from recbole_meta.benchmark.stats import mean_std

    plt = pyplot()
    states = summary.states
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(
        1, len(states), figsize=(5.2 * len(states), 3.8), squeeze=False, constrained_layout=True
    )
    for ax, state in zip(axes[0], states):
        ks = sorted(int(m.split("@")[1]) for m in summary.metrics[state])
        for run in summary.run_names():
            means = [mean_std(summary.values[state][f"mae@{k}"].get(run, {}).values())[0] for k in ks]
            model, chooser = run.rsplit("-", 1)
            color = colors[
                CHOOSERS.index(chooser) % len(colors)
            ]  # a colour per chooser, a line style per model
            ax.plot(ks, means, "-" if model == "MeLU-5" else "--", color=color, marker="o", label=run)
        ax.set_xticks(ks)
        ax.set_xlabel("k items rated by the new user")
        ax.set_ylabel("query MAE (lower is better)")
        ax.set_title(state, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(f"{summary.suite.name}: mean over {len(summary.seeds)} seed(s)", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


@register_suite("cold_start_onboarding")
def cold_start_onboarding(options):
    runs = [
        Run(
            f"{model}-{chooser}",
            partial(_chooser_run, model=model, chooser=chooser),
            {"chooser": chooser},
            # every run reads the MeLU-5 and bias model of its seed: a changed default of either makes it stale
            defaults=models_defaults(list(MODELS.values()), datasets_key="datasets"),
        )
        for model in MODELS
        for chooser in CHOOSERS
    ]
    return Suite(
        name="cold_start_onboarding",
        description=(
            "New users (the user_cold tasks of the cold-start split) rate k items chosen among the items they "
            "rated outside the query (a user can only answer about items they rated, as in MeLU's paper); the "
            "model adapts on those k ratings and predicts the task's 10 query ratings, the same for every "
            "chooser and k and never a chosen item. Users with fewer than 10 candidates are left out. MeLU-5 "
            "is meta-trained once per seed and dataset (cold_start's configuration, early stopping on the "
            "validation users); UserItemBias is the bias model (mu + b_i + shrunk user offset from the k "
            "ratings). Choosers: evidence (MeLU's score: min-max mean gradient norm of the personalised layers "
            "x min-max popularity, every rated training item scored), popularity (training ratings), "
            "pop_entropy (log2(1 + popularity) x entropy of the item's training ratings; Rashid et al. 2002), "
            "random (seeded per user). Datasets: ml-100k as in cold_start, and the harness's generator "
            "(60k ratings, 1,500 users, 800 items, min 13 ratings a user, data seed 0, 20% of items new; "
            "user features age/gender/occupation, item features category/tags/year). Tables: MAE by k."
        ),
        config={"datasets": DATASETS, "ks": KS, "evidence_pool": 5000},
        quick_config={"datasets": QUICK_DATASETS, "ks": [1, 3]},
        seeds=(0, 1, 2),
        prepare=prepare,
        runs=runs,
        compare="MeLU-5-evidence",
        baselines=["MeLU-5-random"],
        primary_metric="mae@3",
        report_hook=_report,
        plot_hook=_plot,
        regenerate_command=(
            "for s in 0 1 2; do nice -n 10 python -m recbole_meta.benchmark cold_start_onboarding --seeds $s; "
            "done; python -m recbole_meta.benchmark cold_start_onboarding --report-only"
        ),
    )
