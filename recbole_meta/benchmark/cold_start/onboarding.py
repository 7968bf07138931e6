"""Onboarding: a new user rates k chosen items, the model adapts on those ratings and predicts the others.

This is the use case of MeLU's evidence candidates (Lee et al., KDD 2019, Section 3.3): which items should a
new user be asked to rate first? Choosers rank the items a new user could be asked about:

* ``evidence``: MeLU's evidence score (:func:`~recbole_meta.model.meta_recommender.evidence.evidence_scores`:
  normalised mean gradient norm x normalised popularity, over every item with training ratings);
* ``popularity``: the number of training ratings;
* ``pop_entropy``: log(1 + popularity) x the entropy of the item's training rating distribution (the
  "log popularity x entropy" strategy of Rashid et al., "Getting to know you", IUI 2002);
* ``random``: a seeded random order per user.

Protocol, on the split's ``user_cold`` tasks (new users, existing items; never trained on):

* a user can only be asked about items they actually rated, so the candidates are the user's own
  existing-item ratings outside the task's query (the task's support set) -- MeLU's paper restricts the
  candidates to the user's rated items for the same reason: an unrated item has no answer to evaluate;
* the chooser takes the top k of those candidates (k = 1, 3, 5, 10; nested: the first 3 include the first 1);
  the model adapts on their ratings alone and predicts the task's query (10 ratings);
* the evaluation items are the query, the same for every chooser and every k, and never a chosen item (the
  query and the candidates are disjoint by construction); users with fewer than max(k) candidates are left
  out so that every k is measured on the same users.

The metric is the MAE over the query ratings, per user and overall.
"""

import numpy as np
import torch

from recbole_meta.data.cold_start_split import Task
from recbole_meta.data.episodes import EpisodeLoader

CHOOSERS = ("evidence", "popularity", "pop_entropy", "random")


def item_priorities(split, evidence=None):
    """Per item id, the score each deterministic chooser ranks by (higher first); ``-1`` for unrated items.

    Args:
        split (ColdStartSplit): the split (its training ratings give popularity and entropy).
        evidence (dict): :func:`~recbole_meta.model.meta_recommender.evidence.evidence_scores` output;
            ``None`` leaves out the ``evidence`` chooser.
    """
    _, items, ratings = split.train_interactions()
    counts = np.bincount(items, minlength=split.n_items).astype(np.float64)
    values, codes = np.unique(ratings, return_inverse=True)
    histogram = np.zeros((split.n_items, len(values)))
    np.add.at(histogram, (items, codes), 1.0)
    share = histogram / np.maximum(counts[:, None], 1.0)
    entropy = -(share * np.log2(np.where(share > 0, share, 1.0))).sum(axis=1)
    unrated = counts == 0
    priorities = {
        "popularity": np.where(unrated, -1.0, counts),
        "pop_entropy": np.where(unrated, -1.0, np.log2(1.0 + counts) * entropy),
    }
    if evidence is not None:
        score = np.full(split.n_items, -1.0)
        score[evidence["item"]] = evidence["score"]
        priorities["evidence"] = score
    return priorities


def candidate_order(split, rows, chooser, priorities, rng):
    """``rows`` (one user's candidate ratings) in the order ``chooser`` would ask about them."""
    if chooser == "random":
        return rows[rng.permutation(len(rows))]
    if chooser not in priorities:
        raise ValueError(f"unknown chooser {chooser!r}; expected one of {sorted(priorities) + ['random']}")
    items = split.items[rows]
    popularity = priorities["popularity"][items]
    # best score first; ties by popularity, then by item id (deterministic)
    return rows[np.lexsort((items, -popularity, -priorities[chooser][items]))]


def onboarding_tasks(split, chooser, ks, priorities, seed, state="user_cold"):
    """``{k: [Task]}``: each task's support replaced by the chooser's first k candidates, query unchanged.

    Users with fewer than ``max(ks)`` candidates are left out (the same users for every k and chooser).
    """
    ks = sorted(ks)
    rng = np.random.default_rng([int(seed), 7])
    tasks = {k: [] for k in ks}
    for task in split.tasks[state]:
        if len(task.support) < ks[-1]:
            continue
        order = candidate_order(split, task.support, chooser, priorities, rng)
        for k in ks:
            tasks[k].append(Task(task.user, order[:k], task.query))
    return tasks


def eligible_users(split, ks, state="user_cold"):
    """Users of ``state`` with at least ``max(ks)`` candidates (see :func:`onboarding_tasks`)."""
    return [task.user for task in split.tasks[state] if len(task.support) >= max(ks)]


def per_task_mae(trainer, config, split, tasks):
    """MAE of each task's query after the trainer's model adapts to the task's support (clipped predictions)."""
    loader = EpisodeLoader(config, split, tasks, name="onboarding")
    with torch.no_grad():
        scores, labels, task_index = trainer.predict_tasks(loader)
    errors = (scores - labels).abs().double().numpy()
    index = task_index.numpy()
    return np.bincount(index, weights=errors, minlength=len(tasks)) / np.bincount(index, minlength=len(tasks))
