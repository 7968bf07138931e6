"""What PeterRec's tasks read from a RecBole dataset: time-ordered histories, target-domain items, labels."""

import numpy as np
import pandas as pd
from recbole.utils import FeatureType

from recbole_meta.data.numeric_item_field import numeric_item_values


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
