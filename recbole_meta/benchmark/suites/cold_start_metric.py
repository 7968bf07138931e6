"""Suites of the metric-based meta-learners (MatchingNet, ProtoRec) on the ``cold_start`` protocol.

* ``cold_start_metric`` -- the same ml-100k split, states, metrics and baselines as the ``cold_start`` suite
  (the same split for a seed; its ``SHARED`` episode protocol and ``QUICK`` config are imported), with
  MeLU-5 re-run next to MatchingNet and ProtoRec so that the comparison is paired within this results file.
* ``cold_start_metric_speed`` -- one run: training cost per task (forward + gradient of the meta-loss over one
  epoch of fixed training episodes) and adaptation + prediction cost per test task (the ``user_cold`` tasks)
  of MatchingNet and ProtoRec against MeLU-5, A and B interleaved in one process
  (:func:`recbole_meta.benchmark.compare_timing`), as ratios.

Regenerate::

    for s in 0 1 2 3 4; do nice -n 10 python -m recbole_meta.benchmark cold_start_metric --seeds $s; done
    python -m recbole_meta.benchmark cold_start_metric --report-only
    nice -n 10 python -m recbole_meta.benchmark cold_start_metric_speed
"""

import time

from recbole_meta.benchmark import Run, RunResult, compare_timing, recbole_run, register_suite
from recbole_meta.benchmark.recbole_run import models_defaults
from recbole_meta.benchmark.suite import timing_suite
from recbole_meta.benchmark.suites.cold_start import QUICK, episodic_suite

# The cost of a task under each model's yaml defaults (the episode protocol and batching included): the record is
# keyed by them (models_defaults), so a changed default makes it stale.
SPEED_SHARED = {"dataset": "ml-100k", "meta_num_threads": 1}
BASELINES = ["GlobalMean", "ItemMean", "UserMean", "UserItemBias"]

QUICK_METRIC = {**QUICK, "hidden_size": 8, "gate_hidden_size": 4}
MODELS = [("MeLU-5", "MeLU", {}), ("MatchingNet", "MatchingNet", {}), ("ProtoRec", "ProtoRec", {})]
# options not in the papers: attention over the bias model's residuals; the training item bias in the score
VARIANTS = [
    ("MatchingNet-residual", "MatchingNet", {"attend_to": "residual"}),
    ("ProtoRec-item-bias", "ProtoRec", {"use_item_bias": True}),
]


@register_suite("cold_start_metric")
def cold_start_metric(options):
    return episodic_suite(
        name="cold_start_metric",
        description=(
            "The cold_start suite's protocol (ml-100k, users with 13-100 ratings split 70/10/20 existing / "
            "validation / new by the seed, items from 1997 on new, query 10, raw 1-5 ratings, predictions "
            "clipped, graded NDCG within the query; training episodes drawn support first, their size from "
            "the validation tasks' support sizes, at least 3, redrawn every epoch; in training the item bias "
            "leaves out the task user's own rating) for the metric-based meta-learners, with no inner loop "
            "(local_update_steps 0). MatchingNet: f(u, i) = MLP([user features; item features]) (16 per "
            "field, hidden 32), attention softmax(cos / 0.1) over the support ratings, gated against mu + b_i "
            "+ b_u. ProtoRec: liked (rating >= 4) / disliked prototypes of the same embeddings, squared "
            "distances -> sigmoid on the rating range; early stopping on graded NDCG@3. Variants: "
            "MatchingNet attending to the residuals r - (mu + b_i + b_u); ProtoRec with w * b_i in the score. "
            "MeLU-5 as in cold_start. Adam 0.001, meta-batch 32, at most 30 epochs, patience 5, one torch thread."
        ),
        quick_config=QUICK_METRIC,
        runs=[recbole_run(name, name) for name in BASELINES]
        + [recbole_run(name, model, config=overrides) for name, model, overrides in MODELS + VARIANTS],
        compare="MatchingNet",
        baselines=BASELINES,
    )


# ---------------------------------------------------------------------------------------------------- cost
def _build(model_name, config, seed):
    from recbole_meta.config import Config
    from recbole_meta.quick_start import build_run

    config = {**config, "seed": seed, "state": "WARNING", "show_progress": False, "resample_episodes": False}
    dataset = config.pop("dataset")
    _, (train, _, test), model, trainer = build_run(Config(model_name, dataset, config_dict=config, argv=[]))
    return list(train), test["user_cold"], model, trainer


def _train_epoch(model, trainer, batches):
    def run():
        for batch in batches:
            model.zero_grad()
            trainer.maml.meta_loss(batch).backward()

    return run


def _predict(trainer, loader):
    def run():
        trainer.predict_tasks(loader)

    return run


def _cost_per_task(ctx):
    import torch

    config = dict(ctx.config)
    repeats = config.pop("repeats")
    torch.set_num_threads(config.get("meta_num_threads") or 1)
    started = time.perf_counter()
    built = {name: _build(model, config, ctx.seed) for name, model, _ in MODELS}
    melu_train, melu_test, melu, melu_trainer = built["MeLU-5"]
    n_train = sum(len(b) for b in melu_train)
    n_test = len(melu_test.tasks)
    metrics, info = {}, {"train_tasks": n_train, "test_tasks": n_test}
    for name in ("MatchingNet", "ProtoRec"):
        train, test, model, trainer = built[name]
        training = compare_timing(
            _train_epoch(model, trainer, train),
            _train_epoch(melu, melu_trainer, melu_train),
            repeats=repeats,
            warmup=1,
        )
        adapting = compare_timing(
            _predict(trainer, test), _predict(melu_trainer, melu_test), repeats=repeats, warmup=1
        )
        key = name.lower()
        metrics[f"{key}_train_ms_per_task"] = 1e3 * training.median_a / n_train
        metrics[f"{key}_adapt_ms_per_task"] = 1e3 * adapting.median_a / n_test
        metrics[f"{key}_over_melu5_train_cost"] = training.median_a / training.median_b
        metrics[f"{key}_over_melu5_adapt_cost"] = adapting.median_a / adapting.median_b
        metrics.setdefault("melu5_train_ms_per_task", 1e3 * training.median_b / n_train)
        metrics.setdefault("melu5_adapt_ms_per_task", 1e3 * adapting.median_b / n_test)
        info[f"{key}_train"] = training.describe(name, "MeLU-5")
        info[f"{key}_adapt"] = adapting.describe(name, "MeLU-5")
        info[f"{key}_parameters"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    info["melu5_parameters"] = sum(p.numel() for p in melu.parameters() if p.requires_grad)
    info["seconds"] = time.perf_counter() - started
    return RunResult(metrics=metrics, info=info)


@register_suite("cold_start_metric_speed")
def cold_start_metric_speed(options):
    return timing_suite(
        name="cold_start_metric_speed",
        description=(
            "Cost per task on ml-100k's cold-start episodes (seed 0 split), each model with its yaml "
            "defaults: training = forward + gradient of the meta-loss over one epoch of fixed training "
            "episodes (support first; meta-batches of 32 tasks of similar support length, vmap over padded "
            "tasks); adaptation = predicting the user_cold test tasks' queries from their supports (MeLU-5: 5 "
            "local steps; MatchingNet / ProtoRec: one "
            "forward). Model and MeLU-5 interleaved in one process, median over repetitions, one torch "
            "thread. A ratio below 1 means cheaper than MeLU-5."
        ),
        run=Run("cost", _cost_per_task, config={}, defaults=models_defaults([name for _, name, _ in MODELS])),
        config=SPEED_SHARED,
        quick_config=QUICK_METRIC,
    )
