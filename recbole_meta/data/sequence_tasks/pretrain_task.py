"""The pre-training task: windows of each user's domain sequence; the last two items are held out."""

import numpy as np

from recbole_meta.data.sequence_tasks.assembly import (
    _domain,
    _field_names,
    _new_task,
    _split,
    next_item_columns,
    pad_sequences,
)
from recbole_meta.data.sequence_tasks.containers import NO_SOURCE_GROUP, PRETRAIN
from recbole_meta.data.sequence_tasks.readers import user_histories


def build_pretrain_task(config, dataset, domain):
    names = _field_names(config)
    max_len = config["MAX_ITEM_LIST_LENGTH"]
    stride = int(config["pretrain_window_stride"] or max_len)
    if stride < 1:
        raise ValueError(f"pretrain_window_stride must be >= 1, got {stride}")
    allowed, rule, unparsed = _domain(dataset, config, domain)
    task = _new_task(PRETRAIN, PRETRAIN, dataset, config, domain, allowed, rule, dataset.item_num + 1, [])
    task.output_names = task.item_tokens + ["[MASK]"]
    windows, window_users, eval_rows = [], [], {"valid": ([], [], []), "test": ([], [], [])}
    n_eval_users = n_short = n_empty = 0
    for user, history in enumerate(user_histories(dataset)):
        sequence = history[allowed[history]]
        if user == 0:
            continue
        if len(sequence) == 0:
            n_empty += 1
            continue
        if len(sequence) < 3:
            n_short += 1
            prefix = sequence
        else:
            n_eval_users += 1
            prefix = sequence[:-2]
            for phase, end in (("valid", -2), ("test", -1)):
                eval_rows[phase][0].append(sequence[:end])
                eval_rows[phase][1].append(sequence[end])
                eval_rows[phase][2].append(user)
        if len(prefix) < 2:
            continue
        ends = list(range(len(prefix), max_len, -stride)) + [min(len(prefix), max_len)]
        for end in sorted(set(ends)):
            windows.append(prefix[max(end - max_len, 0) : end])
            window_users.append(user)
    if not windows or not eval_rows["test"][0]:
        raise ValueError(f"pre-training ({domain} domain): no user has 3 or more items of the domain")
    seq, lengths, _ = pad_sequences(windows, max_len, task.mask_token)
    columns = {"seq": seq, "len": lengths, "user": np.asarray(window_users, dtype=np.int64)}
    task.splits["train"] = _split(task, "train", columns, names)
    for phase, (inputs, targets, users) in eval_rows.items():
        columns, _ = next_item_columns(inputs, targets, users, max_len, task.mask_token)
        task.splits[phase] = _split(task, phase, columns, names)
    task.summary = {
        "task": PRETRAIN,
        "domain": domain,
        "domain_items": int(allowed.sum()),
        "unparsed_domain_values": unparsed,
        "train_windows": len(windows),
        "eval_users": n_eval_users,
        "users_with_1_or_2_items (train only)": n_short,
        f"users_without_items_of_the_domain ({NO_SOURCE_GROUP}, not pre-trained on)": n_empty,
    }
    return task
