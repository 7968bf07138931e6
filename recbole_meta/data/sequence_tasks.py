r"""Pre-training and downstream tasks for PeterRec, built from a RecBole dataset.

Reference:
    Fajie Yuan et al. "Parameter-Efficient Transfer from Sequential Behaviors for User Modeling and
    Recommendation." SIGIR 2020 (arXiv:2001.04253): a user model pre-trained on behaviour sequences (the source
    domain) serves downstream tasks whose inputs are the same sequences: user profile prediction and cold-start
    recommendation of items of another domain.

Every task reads the user's chronological item sequence (the last ``MAX_ITEM_LIST_LENGTH`` items, right-padded)
from a RecBole dataset (``.inter`` with a time field; ``.user`` / ``.item`` features for labels and domains).
A *domain* restricts the items a sequence may contain:

* ``all``: every item;
* ``source``: items outside the target domain of ``target_domain`` (``{field: release_year, min: 1996}``: items
  whose numeric value is >= the threshold are the target domain; ``{field: class, contains: Horror}``: items
  carrying a token). Items whose field does not parse as a number belong to the source domain (counted in the
  task summary).

A user with no item of the domain is represented by the one-item sequence ``[MASK]`` ("nothing known"), kept in
every task and reported as the group ``no_source_history``; nobody is dropped silently.

Tasks (``downstream_task``):

* ``pretrain`` (``stage: pretrain``): sequences of the pre-training domain. Each user's last item is the test
  target and the one before the validation target (next-item prediction, full ranking); training sees windows of
  ``MAX_ITEM_LIST_LENGTH`` items over the rest (stride ``pretrain_window_stride``).
* a profile field (``gender``, ``age``, ``occupation``, or any token field of ``.user``): classification of a
  user from their sequence. Fields listed in ``label_buckets`` are numeric and bucketed (``age`` into
  <18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+ by default). Users are split stratified by class into
  train / valid / test (``profile_split``); users without a label are excluded and counted.
* ``transfer``: cold-start recommendation of target-domain items from the source-domain sequence. Users with at
  least one target interaction are split into train / valid / test users (``transfer_split``); each keeps only
  their first ``target_max_per_user`` target interactions (chronologically), one row each. Test users have no
  target interaction in training: they are cold in the target domain. Every evaluation row has candidates:
  the positive and ``n`` negatives drawn uniformly without replacement from the target items the user never
  interacted with (RecBole's ``uniN``, the paper's 99), the same for every model of a seed; and, for full
  ranking, the user's other target items, which are excluded from the ranking.
"""

from dataclasses import dataclass, field
from logging import getLogger

import numpy as np
import pandas as pd
import torch
from recbole.data.interaction import Interaction
from recbole.utils import FeatureType

from recbole_meta.data.fractions import fractions as split_fractions
from recbole_meta.data.numeric_item_field import numeric_item_values

PRETRAIN = "pretrain"
TRANSFER = "transfer"
DOMAINS = ("all", "source")
CANDIDATES_FIELD = "candidates"
NO_SOURCE_GROUP = "no_source_history"
DEFAULT_NEGATIVES = 99


# ------------------------------------------------------------------------------------------------ containers
@dataclass
class TaskSplit:
    """The rows of one split of a task: RecBole interaction fields as tensors of equal length.

    Attributes:
        task (SequenceTask): the task this split belongs to.
        name (str): ``train``, ``valid`` or ``test``.
        fields (dict): field name -> tensor (``item_id_list``, ``item_length``, the label or target, ...).
        history (list of arrays or None): per row, output ids excluded from full ranking.
        groups (dict): group name -> boolean array over rows (e.g. ``no_source_history``).
    """

    task: "SequenceTask"
    name: str
    fields: dict
    history: list = None
    groups: dict = field(default_factory=dict)

    def __len__(self):
        return len(next(iter(self.fields.values())))

    def interaction(self, index):
        """The rows ``index`` as a RecBole :class:`Interaction`."""
        index = torch.as_tensor(index, dtype=torch.long)
        return Interaction({name: tensor[index] for name, tensor in self.fields.items()})

    def subset(self, mask, name):
        """The rows where ``mask`` is true, as a new split called ``name``."""
        index = np.flatnonzero(mask)
        return TaskSplit(
            task=self.task,
            name=name,
            fields={k: v[torch.as_tensor(index, dtype=torch.long)] for k, v in self.fields.items()},
            history=None if self.history is None else [self.history[i] for i in index],
            groups={k: v[index] for k, v in self.groups.items()},
        )

    # What RecBole's model constructors and evaluation read from a dataset.
    def num(self, field_name):
        if field_name == self.task.item_field:
            return self.task.vocab_size
        raise ValueError(
            f"PeterRec task data knows the size of `{self.task.item_field}` only, not `{field_name}`"
        )

    @property
    def item_num(self):
        """Number of output ids (ranking columns): vocabulary, target items + 1, or classes."""
        return self.task.n_outputs

    def get_item_feature(self):
        return Interaction({self.task.item_field: torch.arange(self.task.n_outputs)})


@dataclass
class SequenceTask:
    """A pre-training or downstream task: what a model needs to size itself, and the three splits.

    Attributes:
        kind (str): ``pretrain``, ``profile`` or ``transfer``.
        name (str): ``pretrain``, the profile field, or ``transfer``.
        item_field (str): RecBole's item id field; sequences hold its ids.
        vocab_size (int): the backbone's item vocabulary: RecBole's item ids (0 = padding) + ``[MASK]``.
        mask_token (int): ``vocab_size - 1``.
        domain (str): items allowed in input sequences, ``all`` or ``source``.
        domain_items (ndarray): their ids.
        n_outputs (int): classes (profile), target items + 1 (transfer, 0 = padding), vocabulary (pretrain).
        output_names (list of str): class names, or the item tokens of the output ids.
        item_tokens (list of str): RecBole's item token of every item id (checks a backbone's vocabulary).
        target_domain (dict or None): the rule that defines the target domain.
        class_weights (ndarray or None): balanced class weights from the training labels (profile).
        summary (dict): counts for the log and the report.
        splits (dict): ``train`` / ``valid`` / ``test`` -> :class:`TaskSplit`.
    """

    kind: str
    name: str
    item_field: str
    vocab_size: int
    mask_token: int
    domain: str
    domain_items: np.ndarray
    n_outputs: int
    output_names: list
    item_tokens: list
    target_domain: dict = None
    class_weights: np.ndarray = None
    summary: dict = field(default_factory=dict)
    splits: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- dataset reads
def _column(feat, name):
    if isinstance(feat, pd.DataFrame):
        return feat[name].values
    return feat[name].numpy()


def user_histories(dataset):
    """Every user's item ids in time order (ties kept in file order): a list indexed by RecBole user id."""
    inter = dataset.inter_feat
    users = _column(inter, dataset.uid_field).astype(np.int64)
    items = _column(inter, dataset.iid_field).astype(np.int64)
    time_field = dataset.time_field
    has_time = time_field is not None and time_field in dataset.field2type
    times = _column(inter, time_field).astype(np.float64) if has_time else np.zeros(len(users))
    order = np.lexsort((np.arange(len(users)), times, users))
    users, items = users[order], items[order]
    bounds = np.searchsorted(users, np.arange(dataset.user_num + 1))
    return [items[bounds[u] : bounds[u + 1]] for u in range(dataset.user_num)]


def _feature_table(dataset, source, field_name, option):
    feat = dataset.user_feat if source == "user" else dataset.item_feat
    if feat is None or field_name not in dataset.field2type or field_name not in feat:
        raise ValueError(
            f"{option}: the {source} field `{field_name}` is not loaded; add it to "
            f"load_col: {{{source}: [...]}} (dataset {dataset.dataset_name})"
        )
    return feat


def _tokens(dataset, field_name, ids):
    return dataset.field2id_token[field_name][ids.astype(np.int64)]


def target_item_mask(dataset, rule):
    """Boolean array over item ids: is the item in the target domain of ``rule``? Also the unparsed count."""
    if not isinstance(rule, dict) or "field" not in rule or len({"min", "contains"} & set(rule)) != 1:
        raise ValueError(
            "target_domain must be a dict {field: NAME, min: NUMBER} or {field: NAME, contains: TOKEN}, "
            f"got {rule!r}"
        )
    name = rule["field"]
    feat = _feature_table(dataset, "item", name, "target_domain")
    values = _column(feat, name)
    ftype = dataset.field2type[name]
    unparsed = 0
    if "min" in rule:
        numbers, _ = numeric_item_values(dataset, name, "target_domain.field")
        unparsed = int(np.isnan(numbers[1:]).sum())
        mask = np.nan_to_num(numbers, nan=-np.inf) >= float(rule["min"])
    else:
        token = str(rule["contains"])
        if token not in dataset.field2token_id[name]:
            raise ValueError(f"target_domain: token {token!r} does not occur in item field `{name}`")
        token_id = dataset.field2token_id[name][token]
        if ftype == FeatureType.TOKEN_SEQ:
            mask = np.array([token_id in np.asarray(v) for v in values])
        elif ftype == FeatureType.TOKEN:
            mask = values.astype(np.int64) == token_id
        else:
            raise ValueError(
                f"target_domain: `contains` needs a token or token_seq field, `{name}` is {ftype.value}"
            )
    mask = np.asarray(mask, dtype=bool)
    mask[0] = False
    if not mask.any() or mask[1:].all():
        raise ValueError(
            f"target_domain {rule!r} puts {'no' if not mask.any() else 'every'} item in the target domain"
        )
    return mask, unparsed


def profile_labels(dataset, field_name, buckets=None):
    """Class index of every user (-1: no label) and the class names.

    Token fields: one class per token (sorted). With ``buckets`` (ascending edges) the field is numeric and the
    classes are the intervals ``<e0``, ``e0-(e1-1)``, ..., ``>=ek`` that occur.
    """
    feat = _feature_table(dataset, "user", field_name, "downstream_task")
    values = _column(feat, field_name)
    ftype = dataset.field2type[field_name]
    if ftype == FeatureType.TOKEN:
        tokens = _tokens(dataset, field_name, values)
    elif ftype == FeatureType.FLOAT and buckets:
        tokens = values.astype(np.float64)
    else:
        raise ValueError(
            f"downstream_task `{field_name}`: a user field must be a token field (or a float field listed in "
            f"label_buckets), got {ftype.value}"
        )
    if buckets:
        edges = [float(e) for e in buckets]
        if edges != sorted(edges):
            raise ValueError(f"label_buckets[{field_name}] must be ascending, got {buckets}")
        numbers = pd.to_numeric(pd.Series(tokens), errors="coerce").to_numpy(dtype=np.float64)
        bucket = np.digitize(numbers, edges)
        names = [f"<{edges[0]:g}"]
        names += [f"{lo:g}-{hi - 1:g}" for lo, hi in zip(edges[:-1], edges[1:])]
        names += [f">={edges[-1]:g}"]
        raw = np.where(np.isnan(numbers), -1, bucket)
    else:
        names = sorted({str(t) for t in tokens[1:]} - {"[PAD]"})
        index = {name: i for i, name in enumerate(names)}
        raw = np.array([index.get(str(t), -1) for t in tokens])
    raw[0] = -1
    present = np.unique(raw[raw >= 0])
    remap = np.full(len(names), -1)
    remap[present] = np.arange(len(present))
    labels = np.where(raw >= 0, remap[np.maximum(raw, 0)], -1)
    return labels, [names[i] for i in present]


# --------------------------------------------------------------------------------------------- helpers
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


# --------------------------------------------------------------------------------------------- pre-training
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
        seq, lengths, _ = pad_sequences(inputs, max_len, task.mask_token)
        columns = {
            "seq": seq,
            "len": lengths,
            "item": np.asarray(targets, dtype=np.int64),
            "user": np.asarray(users, dtype=np.int64),
        }
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


# ------------------------------------------------------------------------------------------------ profile
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


# ----------------------------------------------------------------------------------------------- transfer
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
        seq, lengths, empty = pad_sequences(sequences, max_len, task.mask_token)
        columns = {
            "seq": seq,
            "len": lengths,
            "item": np.asarray(rows_target, dtype=np.int64),
            "user": np.asarray(rows_user, dtype=np.int64),
        }
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


def build_task(config, dataset, domain=None, n_negatives=DEFAULT_NEGATIVES, target_domain=None):
    """The task of ``config`` (``stage``, ``downstream_task``) on ``dataset``.

    ``domain`` and ``target_domain`` override ``pretrain_domain`` and ``target_domain``: a fine-tuning run
    passes those its backbone was pre-trained with, so that a profile task feeds it the items it knows.
    """
    domain = domain or config["pretrain_domain"]
    seed = config["seed"] if config["split_seed"] is None else config["split_seed"]
    if config["stage"] == PRETRAIN:
        return build_pretrain_task(config, dataset, domain)
    task_name = config["downstream_task"]
    if not task_name:
        raise ValueError("stage finetune needs downstream_task (a .user field such as gender, or transfer)")
    if task_name == TRANSFER:
        return build_transfer_task(config, dataset, seed, n_negatives)
    return build_profile_task(config, dataset, domain, seed, target_domain)
