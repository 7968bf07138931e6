"""A cold-start split as RecBole benchmark files, so that RecBole's own models train on exactly its training data.

RecBole's built-in recommenders (BPR, NeuMF, LightGCN, FM, ...) are evaluated on cold-start tasks with the usual
few-shot-users protocol: they are trained on every training interaction *plus every test user's support set*
(how else would a new user have an embedding), and never on a query rating. RecBole reads a pre-split dataset
from three atomic files named by ``benchmark_filename`` (``<name>.train.inter``, ``<name>.valid.inter``,
``<name>.test.inter``; RecBole's ``Dataset._load_inter_feat``): :func:`export_cold_start_split` writes them from a
:class:`~recbole_meta.data.cold_start_split.ColdStartSplit`:

* ``train``: the split's training interactions (``train_interactions``), plus the support of every task of
  every evaluated state and of the validation users (each support row once);
* ``valid``: the validation users' query ratings (RecBole's early stopping ranks them);
* ``test``: the query ratings of every evaluated state. RecBole never trains on this part; the bridge
  (:mod:`recbole_meta.benchmark.cold_start.builtin_models`) scores the split's tasks itself.

The ``.user`` and ``.item`` files are copied unchanged, so tokens and features are those the meta models see.
A row that is both a support (or training) row and a query row would be a leak: it raises instead.
"""

import os
import shutil

import numpy as np

from recbole_meta.data.cold_start_split import VALID_STATE
from recbole_meta.data.feature_fields import feature_file

PARTS = ("train", "valid", "test")


def _rows(tasks, attribute):
    parts = [getattr(task, attribute) for task in tasks]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def split_rows(split):
    """Row indices (into ``split.users`` / ``items`` / ``ratings``) of each benchmark part, checked leak-free.

    Returns:
        dict: ``{"train": rows, "valid": rows, "test": rows}``; ``train`` holds no row of any query.
    """
    states = list(split.eval_states)
    all_tasks = [task for state in (*states, VALID_STATE) for task in split.tasks[state]]
    train_rows = np.concatenate([split.train_rows[int(u)] for u in split.train_users])
    train = np.unique(np.concatenate([train_rows, _rows(all_tasks, "support")]))
    valid = _rows(split.tasks[VALID_STATE], "query")
    test = _rows([task for state in states for task in split.tasks[state]], "query")
    queries = np.union1d(valid, test)
    pairs = split.users.astype(np.int64) * (split.n_items + 1) + split.items
    leaked = np.intersect1d(pairs[train], pairs[queries])
    if len(leaked):
        users, items = leaked // (split.n_items + 1), leaked % (split.n_items + 1)
        raise ValueError(
            f"cold-start export: {len(leaked)} (user, item) pair(s) are both training/support and query ratings "
            f"(first: user id {users[0]}, item id {items[0]}); the split is not leak-free"
        )
    return {"train": train, "valid": valid, "test": test}


def export_cold_start_split(split, folder, name):
    """Write the split as RecBole benchmark files ``folder/name/name.{train,valid,test}.inter`` (+ .user, .item).

    Args:
        split (ColdStartSplit): the split (its ``dataset`` gives the field names, tokens and feature files).
        folder (str): parent folder (RecBole's ``data_path``).
        name (str): the dataset name RecBole is given.

    Returns:
        dict: ``{"train": rows, "valid": rows, "test": rows}`` (see :func:`split_rows`).
    """
    dataset = split.dataset
    uid, iid, rating = dataset.uid_field, dataset.iid_field, dataset.rating_field
    user_tokens = dataset.field2id_token[uid]
    item_tokens = dataset.field2id_token[iid]
    rows = split_rows(split)
    target = os.path.join(folder, name)
    os.makedirs(target, exist_ok=True)
    for part in PARTS:
        index = rows[part]
        with open(os.path.join(target, f"{name}.{part}.inter"), "w", encoding="utf-8") as file:
            file.write(f"{uid}:token\t{iid}:token\t{rating}:float\n")
            for u, i, r in zip(
                user_tokens[split.users[index]], item_tokens[split.items[index]], split.ratings[index]
            ):
                file.write(f"{u}\t{i}\t{r:g}\n")
    for source in ("user", "item"):
        path = feature_file(dataset, source)
        if os.path.isfile(path):
            shutil.copyfile(path, os.path.join(target, f"{name}.{source}"))
    return rows
