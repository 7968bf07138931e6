"""Helpers shared by the task builders: padding, user splits, class weights, domains, task and split objects."""

import numpy as np
import torch

from recbole_meta.data.sequence_tasks.containers import DOMAINS, SequenceTask, TaskSplit
from recbole_meta.data.sequence_tasks.readers import target_item_mask


def pad_sequences(sequences, max_len, empty_token):
    """Right-padded ``[n, max_len]`` array of the last ``max_len`` items, lengths, and the empty-row flags."""
    out = np.zeros((len(sequences), max_len), dtype=np.int64)
    lengths = np.zeros(len(sequences), dtype=np.int64)
    empty = np.zeros(len(sequences), dtype=bool)
    for row, sequence in enumerate(sequences):
        sequence = np.asarray(sequence, dtype=np.int64)[-max_len:]
        if len(sequence) == 0:
            sequence = np.array([empty_token])
            empty[row] = True
        out[row, : len(sequence)] = sequence
        lengths[row] = len(sequence)
    return out, lengths, empty


def next_item_columns(sequences, targets, users, max_len, empty_token):
    """The columns of rows that rank a target item after a user's sequence (``seq``, ``len``, ``item``,
    ``user``; see :func:`pad_sequences`), and the rows whose sequence was empty."""
    seq, lengths, empty = pad_sequences(sequences, max_len, empty_token)
    columns = {
        "seq": seq,
        "len": lengths,
        "item": np.asarray(targets, dtype=np.int64),
        "user": np.asarray(users, dtype=np.int64),
    }
    return columns, empty


def split_users(users, fractions, rng, strata=None):
    """Split ``users`` into train / valid / test by ``fractions`` (within each stratum when ``strata`` given)."""
    users = np.asarray(users)
    groups = [users] if strata is None else [users[strata == s] for s in np.unique(strata)]
    parts = ([], [], [])
    for group in groups:
        group = rng.permutation(group)
        n_valid = int(round(len(group) * fractions[1]))
        n_test = int(round(len(group) * fractions[2]))
        n_train = max(len(group) - n_valid - n_test, 0)
        parts[0].append(group[:n_train])
        parts[1].append(group[n_train : n_train + n_valid])
        parts[2].append(group[n_train + n_valid :])
    parts = tuple(np.sort(np.concatenate(p)).astype(np.int64) for p in parts)
    empty = [name for name, part in zip(("train", "valid", "test"), parts) if len(part) == 0]
    if empty:
        raise ValueError(
            f"splitting {len(users)} users by {list(fractions)} leaves the {' and '.join(empty)} split empty; "
            "use more users or larger fractions"
        )
    return parts


def balanced_class_weights(labels, n_classes):
    """``n / (k * count_c)`` over the k classes present in ``labels`` (scikit-learn's "balanced"); 1 if absent."""
    from sklearn.utils.class_weight import compute_class_weight

    weights = np.ones(n_classes)
    present = np.unique(labels)
    weights[present] = compute_class_weight("balanced", classes=present, y=labels)
    return weights


def _field_names(config):
    item = config["ITEM_ID_FIELD"]
    return {
        "user": config["USER_ID_FIELD"],
        "item": item,
        "seq": item + config["LIST_SUFFIX"],
        "len": config["ITEM_LIST_LENGTH_FIELD"],
        "label": config["LABEL_FIELD"],
    }


def _domain(dataset, config, domain, rule=None):
    """Items allowed in input sequences: a boolean mask over item ids, and the target-domain rule used
    (``rule``, by default ``target_domain``)."""
    if domain not in DOMAINS:
        raise ValueError(f"pretrain_domain must be one of {', '.join(DOMAINS)}, got {domain!r}")
    rule = rule or config["target_domain"]
    allowed = np.ones(dataset.item_num, dtype=bool)
    allowed[0] = False
    unparsed = 0
    if domain == "source":
        target, unparsed = target_item_mask(dataset, rule)
        allowed &= ~target
    return allowed, (dict(rule) if domain == "source" else None), unparsed


def _new_task(kind, name, dataset, config, domain, allowed, rule, n_outputs, output_names):
    vocab = dataset.item_num + 1
    return SequenceTask(
        kind=kind,
        name=name,
        item_field=config["ITEM_ID_FIELD"],
        user_field=config["USER_ID_FIELD"],
        vocab_size=vocab,
        mask_token=vocab - 1,
        domain=domain,
        domain_items=np.flatnonzero(allowed),
        n_outputs=n_outputs,
        output_names=list(output_names),
        item_tokens=[str(t) for t in dataset.field2id_token[dataset.iid_field]],
        target_domain=rule,
    )


def _split(task, name, columns, names, history=None, groups=None):
    fields = {names[key]: torch.as_tensor(value) for key, value in columns.items()}
    return TaskSplit(task=task, name=name, fields=fields, history=history, groups=groups or {})
