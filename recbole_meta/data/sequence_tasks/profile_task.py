"""Profile tasks: a user field (gender, age bucket, ...) predicted from the user's sequence."""

import numpy as np

from recbole_meta.data.fractions import fractions as split_fractions
from recbole_meta.data.sequence_tasks.assembly import (
    _domain,
    _field_names,
    _new_task,
    _split,
    balanced_class_weights,
    pad_sequences,
    split_users,
)
from recbole_meta.data.sequence_tasks.containers import NO_SOURCE_GROUP
from recbole_meta.data.sequence_tasks.readers import profile_labels, user_histories


def build_profile_task(config, dataset, domain, seed, rule=None):
    names = _field_names(config)
    field_name = config["downstream_task"]
    buckets = (config["label_buckets"] or {}).get(field_name)
    labels, classes = profile_labels(dataset, field_name, buckets)
    if len(classes) < 2:
        raise ValueError(f"downstream_task `{field_name}`: needs at least 2 classes, found {classes}")
    allowed, rule, unparsed = _domain(dataset, config, domain, rule)
    task = _new_task("profile", field_name, dataset, config, domain, allowed, rule, len(classes), classes)
    histories = user_histories(dataset)
    users = np.flatnonzero(labels >= 0)
    fractions = split_fractions(config["profile_split"], "profile_split")
    rng = np.random.default_rng(seed)
    parts = split_users(users, fractions, rng, strata=labels[users])
    max_len = config["MAX_ITEM_LIST_LENGTH"]
    for phase, part in zip(("train", "valid", "test"), parts):
        sequences = [histories[u][allowed[histories[u]]] for u in part]
        seq, lengths, empty = pad_sequences(sequences, max_len, task.mask_token)
        columns = {"seq": seq, "len": lengths, "label": labels[part], "user": part}
        task.splits[phase] = _split(task, phase, columns, names, groups={NO_SOURCE_GROUP: empty})
    train_labels = labels[parts[0]]
    task.class_weights = balanced_class_weights(train_labels, len(classes))
    counts = np.bincount(labels[users], minlength=len(classes))
    task.summary = {
        "task": field_name,
        "domain": domain,
        "classes": dict(zip(classes, counts.tolist())),
        "users_without_label (excluded)": int(dataset.user_num - 1 - len(users)),
        "users": {p: len(s) for p, s in zip(("train", "valid", "test"), parts)},
        NO_SOURCE_GROUP: {p: int(task.splits[p].groups[NO_SOURCE_GROUP].sum()) for p in task.splits},
        "unparsed_domain_values": unparsed,
    }
    return task
