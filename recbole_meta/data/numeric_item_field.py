"""The numeric value of an item field for every item: the one reading behind every ``{field, min}`` item rule.

Both the cold-start split's ``new_item_rule: {field: release_year, min: 1997}`` and PeterRec's
``target_domain: {field: release_year, min: 1996}`` put an item on one side when its value is >= ``min``. The
value comes from here: a token field is parsed as a number (ml-100k's ``release_year`` is a token field, two of
whose values are ``V`` and ``unkonwn``), a float field is taken as loaded; missing and non-numeric values are
NaN, so they are never >= a threshold and each rule says where they go.
"""

import os

import numpy as np
from recbole.utils import FeatureType

MISSING = "<missing>"


def numeric_item_values(dataset, field, option):
    """``(values, labels)`` over item ids: ``values`` float (NaN: missing or not a number), ``labels`` the raw
    value as text (``"<missing>"`` where the item has none), for messages.

    Args:
        dataset: a RecBole ``Dataset`` whose ``item_feat`` (DataFrame or Interaction) is indexed by item id.
        field (str): the item field.
        option (str): the option that names the field, for error messages.

    Raises ``ValueError`` when the field is not loaded, is neither a token nor a float field, or is a float
    field that RecBole normalises (the threshold would apply to rescaled values).
    """
    feat = dataset.item_feat
    if feat is None or field not in dataset.field2type or field not in feat.columns:
        item_file = os.path.join(dataset.dataset_path, f"{dataset.dataset_name}.item")
        raise ValueError(
            f"{option} '{field}' is not loaded from {item_file}; add it to load_col.item (the rule needs the "
            "item's value)"
        )
    ftype = dataset.field2type[field]
    column = feat[field]
    column = column.to_numpy() if hasattr(column, "to_numpy") else column.numpy()  # DataFrame or Interaction
    if ftype == FeatureType.TOKEN:
        ids = column.astype(np.int64)
        labels = np.asarray(dataset.field2id_token[field][ids], dtype=object)
        labels[ids == 0] = MISSING
    elif ftype == FeatureType.FLOAT:
        config = dataset.config
        if config["normalize_all"] or field in (config["normalize_field"] or []):
            raise ValueError(
                f"{option} '{field}' is a float field that normalize_all/normalize_field rescales; the threshold "
                "would apply to rescaled values: exclude it from normalisation"
            )
        labels = column.astype(object)
    else:
        raise ValueError(f"{option} '{field}' must be a token or float field, not {ftype.value}")
    values = np.full(len(labels), np.nan)
    for i, label in enumerate(labels):
        if label is MISSING:
            continue
        try:
            values[i] = float(label)
        except (TypeError, ValueError):
            pass
    return values, labels
