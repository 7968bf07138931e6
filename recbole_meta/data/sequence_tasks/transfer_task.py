"""The transfer task: cold-start recommendation of target-domain items from the source-domain sequence."""

from logging import getLogger

import numpy as np

from recbole_meta.data.fractions import fractions as split_fractions
from recbole_meta.data.sequence_tasks.assembly import (
    _field_names,
    _new_task,
    _split,
    next_item_columns,
    split_users,
)
from recbole_meta.data.sequence_tasks.containers import (
    CANDIDATES_FIELD,
    DEFAULT_NEGATIVES,
    NO_SOURCE_GROUP,
    TRANSFER,
)
from recbole_meta.data.sequence_tasks.readers import target_item_mask, user_histories


def _sample_candidates(rng, positive, excluded, n_outputs, n_negatives):
    pool = np.setdiff1d(np.arange(1, n_outputs), excluded, assume_unique=False)
    take = min(n_negatives, len(pool))
    negatives = rng.choice(pool, size=take, replace=False)
    row = np.full(n_negatives + 1, positive, dtype=np.int64)  # short rows repeat the positive (same score)
    row[1 : take + 1] = negatives
    return row, take


def build_transfer_task(config, dataset, seed, n_negatives=DEFAULT_NEGATIVES):
    names = _field_names(config)
    max_len = config["MAX_ITEM_LIST_LENGTH"]
    k = int(config["target_max_per_user"])
    if k < 1:
        raise ValueError(f"target_max_per_user must be >= 1, got {k}")
    target, unparsed = target_item_mask(dataset, config["target_domain"])
    target_items = np.flatnonzero(target)
    target_id = np.zeros(dataset.item_num, dtype=np.int64)
    target_id[target_items] = np.arange(1, len(target_items) + 1)
    allowed = ~target
    allowed[0] = False
    output_names = ["[PAD]"] + [str(dataset.field2id_token[dataset.iid_field][i]) for i in target_items]
    task = _new_task(
        TRANSFER,
        TRANSFER,
        dataset,
        config,
        "source",
        allowed,
        dict(config["target_domain"]),
        len(output_names),
        output_names,
    )
    histories = user_histories(dataset)
    source = {u: h[allowed[h]] for u, h in enumerate(histories)}
    targets = {u: target_id[h[target[h]]] for u, h in enumerate(histories)}
    users = np.array([u for u in range(1, dataset.user_num) if len(targets[u])], dtype=np.int64)
    if len(users) < 3:
        raise ValueError("transfer task: fewer than 3 users have an interaction in the target domain")
    fractions = split_fractions(config["transfer_split"], "transfer_split")
    rng = np.random.default_rng(seed)
    parts = split_users(users, fractions, rng)
    short_rows = 0
    for phase, part in zip(("train", "valid", "test"), parts):
        rows_user, rows_target, sequences, history, candidates = [], [], [], [], []
        for u in part:
            seen = targets[u]
            _, first = np.unique(seen, return_index=True)
            kept = seen[np.sort(first)][:k]
            for positive in kept:
                rows_user.append(u)
                rows_target.append(positive)
                sequences.append(source[u])
                if phase != "train":
                    history.append(np.setdiff1d(seen, [positive]))
                    row, take = _sample_candidates(rng, positive, seen, len(output_names), n_negatives)
                    short_rows += take < n_negatives
                    candidates.append(row)
        columns, empty = next_item_columns(sequences, rows_target, rows_user, max_len, task.mask_token)
        if phase != "train":
            columns[CANDIDATES_FIELD] = np.stack(candidates)
        split = _split(
            task,
            phase,
            columns,
            {**names, CANDIDATES_FIELD: CANDIDATES_FIELD},
            history=history if phase != "train" else None,
            groups={NO_SOURCE_GROUP: empty},
        )
        task.splits[phase] = split
    if short_rows:
        getLogger().warning(
            f"transfer task: {short_rows} evaluation rows have fewer than {n_negatives} unseen target items "
            "to sample as negatives; they are ranked against all of them"
        )
    task.summary = {
        "task": TRANSFER,
        "target_domain": dict(config["target_domain"]),
        "target_items": len(target_items),
        "source_items": int(allowed.sum()),
        "unparsed_domain_values (source domain)": unparsed,
        "users_with_target_interactions": len(users),
        "users_without_target_interactions (not in the task)": int(dataset.user_num - 1 - len(users)),
        "users": {p: len(s) for p, s in zip(("train", "valid", "test"), parts)},
        "rows": {p: len(task.splits[p]) for p in task.splits},
        NO_SOURCE_GROUP
        + " (users)": {
            p: int(sum(len(source[u]) == 0 for u in s)) for p, s in zip(("train", "valid", "test"), parts)
        },
        "negatives_per_row": n_negatives,
        "rows_with_fewer_negatives": int(short_rows),
    }
    return task
