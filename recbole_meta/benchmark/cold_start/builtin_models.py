"""RecBole's built-in recommenders on the cold-start tasks of the meta models: trained by RecBole, scored by ours.

The few-shot-users protocol: a built-in model (BPR, NeuMF, LightGCN, FM, ...) is trained by RecBole's own
``Trainer`` (its sampler, early stopping on the validation users' NDCG@10, best checkpoint) on the split's training
interactions plus every test user's support set, exported by
:func:`~recbole_meta.data.cold_start_export.export_cold_start_split` (never a query rating). Then, for every task of
every evaluated state, with the *same* tasks and the same evaluation code as the meta models:

* within-query graded NDCG@k (:func:`~recbole_meta.evaluator.graded_ndcg.graded_ndcg`): the task's query items
  ordered by the model's score, against their true ratings;
* full-catalogue Recall / NDCG / Hit@K (:class:`~recbole_meta.evaluator.full_ranking.FullRanking`): every
  candidate item of the state's side ranked, the support masked, query ratings >= the threshold positive.

These models score interactions, not ratings: MAE and RMSE are not applicable and are not reported.

:func:`cold_start_split` builds the split exactly as an episodic model's run does (same config, same seed), and
:func:`builtin_run` wraps the whole thing as a benchmark :class:`~recbole_meta.benchmark.Run`.
"""

import os
from dataclasses import dataclass

import numpy as np
import torch
from recbole.data.interaction import Interaction
from recbole.utils import init_logger, init_seed

from recbole_meta.benchmark.recbole_run import epochs_from_log
from recbole_meta.benchmark.suite import Run, RunResult
from recbole_meta.data.cold_start_export import export_cold_start_split
from recbole_meta.data.episodes import collate_tasks
from recbole_meta.evaluator.full_ranking import FullRanking, candidate_items
from recbole_meta.evaluator.graded_ndcg import graded_ndcg

# The episodic model whose configuration defines the split (every episodic model builds the same split from
# the same cold-start keys and seed; this one has no model yaml of its own).
SPLIT_MODEL = "UserItemBias"
SCORE_CHUNK = 65536  # (user, item) pairs per predict call


def cold_start_split(config_dict, seed):
    """The :class:`~recbole_meta.data.cold_start_split.ColdStartSplit` an episodic run with ``config_dict`` builds.

    Returns:
        (ColdStartSplit, Config): the split and the episodic config it was built from (metrics, features).
    """
    from recbole_meta.config import Config
    from recbole_meta.data.cold_start_split import ColdStartSplit
    from recbole_meta.data_preparation import create_dataset

    config_dict = dict(config_dict)
    dataset = config_dict.pop("dataset")
    config = Config(SPLIT_MODEL, dataset, config_dict={**config_dict, "seed": seed}, argv=[])
    init_seed(config["seed"], config["reproducibility"])
    return ColdStartSplit(create_dataset(config), config), config


def _feature_columns(split, source, chosen):
    """``load_col`` entry of a feature source: the id and ``chosen`` features (``~``: every loaded column)."""
    dataset = split.dataset
    feat = dataset.user_feat if source == "user" else dataset.item_feat
    key = dataset.uid_field if source == "user" else dataset.iid_field
    if feat is None:
        return None
    columns = list(chosen) if chosen is not None else [c for c in feat.columns if c != key]
    return [key, *[c for c in columns if c != key]]


def recbole_config(split, meta_config, model, data_path, name, overrides, seed, checkpoint_dir):
    """RecBole's ``Config`` of ``model`` on the exported benchmark files (see the module docstring)."""
    from recbole_meta.config import Config

    load_col = {"inter": [split.dataset.uid_field, split.dataset.iid_field]}
    for source in ("user", "item"):
        columns = _feature_columns(split, source, meta_config[f"{source}_features"])
        if columns:
            load_col[source] = columns
    config_dict = {
        "data_path": data_path,
        "benchmark_filename": ["train", "valid", "test"],
        "load_col": load_col,
        "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "group_by": "user", "order": "RO", "mode": "full"},
        # one uniform negative per interaction, for every model (RecBole's context-aware defaults have none)
        "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1},
        "metrics": ["Recall", "NDCG"],
        "topk": [10],
        "valid_metric": "NDCG@10",
        "seed": seed,
        "reproducibility": True,
        "show_progress": False,
        "checkpoint_dir": checkpoint_dir,
        "state": "INFO",
    }
    config_dict.update(overrides or {})
    return Config(model, name, config_dict=config_dict, argv=[])


def _recbole_ids(split, dataset, field, ids):
    tokens = split.dataset.field2id_token[field][ids]
    return np.asarray(dataset.token2id(field, tokens), dtype=np.int64).reshape(len(ids))


@torch.no_grad()
def score_candidates(model, dataset, split, users, items):
    """Scores ``[len(users), len(items)]`` of the model for every (user, item) pair (split ids in, RecBole's out).

    Each pair goes through the model's ``predict`` with the user's and the item's features joined, as RecBole's
    own full-sort evaluation does for a model without ``full_sort_predict``.
    """
    uid, iid = split.dataset.uid_field, split.dataset.iid_field
    rb_users = torch.as_tensor(_recbole_ids(split, dataset, uid, users))
    rb_items = torch.as_tensor(_recbole_ids(split, dataset, iid, items))
    pair_users = rb_users.repeat_interleave(len(rb_items))
    pair_items = rb_items.repeat(len(rb_users))
    model.eval()
    scores = []
    for start in range(0, len(pair_users), SCORE_CHUNK):
        batch = Interaction(
            {
                dataset.uid_field: pair_users[start : start + SCORE_CHUNK],
                dataset.iid_field: pair_items[start : start + SCORE_CHUNK],
            }
        )
        batch = dataset.join(batch).to(model.device)
        scores.append(model.predict(batch).reshape(-1).float().cpu())
    return torch.cat(scores).reshape(len(users), len(items))


def query_predictions(split, tasks, scores, candidates):
    """The scores of exactly the tasks' query items, read from the candidate score matrix.

    Returns:
        (scores, ratings, task_index, items): flat arrays, one entry per query rating, tasks in order.
    """
    position = np.full(split.n_items, -1, dtype=np.int64)
    position[candidates] = np.arange(len(candidates))
    out_scores, ratings, task_index, items = [], [], [], []
    for t, task in enumerate(tasks):
        query_items = split.items[task.query]
        columns = position[query_items]
        if (columns < 0).any():
            raise ValueError(f"task of user {task.user}: a query item is not among the state's candidates")
        out_scores.append(scores[t, torch.as_tensor(columns)].numpy())
        ratings.append(split.ratings[task.query])
        task_index.append(np.full(len(task.query), t))
        items.append(query_items)
    return tuple(np.concatenate(x) for x in (out_scores, ratings, task_index, items))


def evaluate_states(model, dataset, split, meta_config):
    """``{state: metrics}`` of a trained RecBole model on the split's tasks (see the module docstring)."""
    ks = list(meta_config["topk"])
    full_topk = meta_config["full_ranking_topk"]
    threshold = meta_config["full_ranking_threshold"]
    if threshold is None:
        threshold = meta_config["like_threshold"]
    decimals = meta_config["metric_decimal_place"]
    results, scored = {}, {}
    for state in split.eval_states:
        tasks = split.tasks[state]
        candidates = candidate_items(split, state)
        users = np.array([t.user for t in tasks], dtype=np.int64)
        scores = score_candidates(model, dataset, split, users, candidates)
        q_scores, q_ratings, q_tasks, _ = query_predictions(split, tasks, scores, candidates)
        values, _ = graded_ndcg(q_scores, q_ratings, q_tasks, ks)
        metrics = {f"gradedndcg@{k}": round(v, decimals) for k, v in values.items()}
        if full_topk:
            ranking = FullRanking(split, state, full_topk, threshold, decimals)
            ranking.collect(collate_tasks(split, tasks, split.dataset.uid_field), scores)
            metrics.update({key: float(value) for key, value in ranking.result().items()})
        results[state] = metrics
        scored[state] = len(q_scores)
    return results, scored


@dataclass
class TrainedBuiltin:
    """A RecBole model trained on an exported split: the model, RecBole's dataset (all three parts), the train
    loader (its dataset is the training part only), the trainer, and the exported rows per part."""

    model: object
    dataset: object
    train_data: object
    trainer: object
    rows: dict


def train_builtin(split, meta_config, model, folder, overrides=None, seed=0):
    """Export the split under ``folder``, train ``model`` with RecBole's trainer, load its best checkpoint.

    Returns:
        TrainedBuiltin
    """
    from recbole_meta.quick_start import build_run

    name = f"{split.dataset.dataset_name}-cold-start"
    data_path = os.path.join(folder, "data")
    rows = export_cold_start_split(split, data_path, name)
    config = recbole_config(
        split, meta_config, model, data_path, name, overrides, seed, os.path.join(folder, "saved")
    )
    init_logger(config)  # RecBole's log file in the working directory (epochs are read from it)
    dataset, (train, valid, _), recbole_model, trainer = build_run(config)
    trainer.fit(train, valid, saved=True, show_progress=False)
    trainer.load_model_weights(trainer.saved_model_file)
    return TrainedBuiltin(recbole_model, dataset, train, trainer, rows)


def builtin_run(name, model, config=None):
    """A benchmark :class:`Run` of the RecBole model ``model`` on the suite's cold-start split.

    The run's config is the suite's (the cold-start keys, as an episodic run gets them) plus ``recbole``: a dict
    of RecBole overrides for this model (epochs, learning rate, ...); quick mode trains one epoch.
    """
    return Run(name=name, fn=_train_and_score, config={"builtin_model": model, "recbole": dict(config or {})})


def _train_and_score(ctx):
    config = dict(ctx.config)
    model = config.pop("builtin_model")
    overrides = config.pop("recbole")
    if ctx.quick:  # quick (CI) mode trains every model one epoch
        overrides = {**overrides, "epochs": 1}
    threads = config.get("meta_num_threads")
    if threads:
        torch.set_num_threads(threads)
    split, meta_config = cold_start_split(config, ctx.seed)
    trained = train_builtin(split, meta_config, model, ctx.run_dir, overrides, ctx.seed)
    metrics, scored = evaluate_states(trained.model, trained.dataset, split, meta_config)
    os.remove(trained.trainer.saved_model_file)
    epochs_run, best_epoch = epochs_from_log(ctx.run_dir)
    return RunResult(
        metrics=metrics,
        trainable_parameters=sum(p.numel() for p in trained.model.parameters() if p.requires_grad),
        info={
            "best_valid_score": float(trained.trainer.best_valid_score),
            "epochs_run": epochs_run,
            "best_epoch": best_epoch,
            "training_interactions": len(trained.rows["train"]),
            "query_ratings_scored": scored,
        },
    )
