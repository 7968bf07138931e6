"""Which fields of a user or item atomic file a model embeds: the configured list, checked against what was loaded.

The meta-learners' feature encoder (options ``user_features`` / ``item_features``) and the two-tower model's towers
(``user_feature_fields`` / ``item_feature_fields``) read their option alike: ``None`` means every field RecBole
loaded from the side's file except the id, and a field that was not loaded is one line naming the option, the
file and the fields that were loaded.
"""

import os


def feature_file(dataset, side):
    """Path of the atomic file of ``side`` (``'user'`` or ``'item'``) of a RecBole dataset."""
    return os.path.join(dataset.dataset_path, f"{dataset.dataset_name}.{side}")


def loaded_feature_fields(dataset, side, fields, option):
    """The fields ``option`` asks for, each loaded from the side's file (the id field itself is accepted).

    Args:
        dataset (Dataset): a loaded RecBole dataset.
        side (str): ``'user'`` or ``'item'``.
        fields (list of str, str or None): the option's value; ``None``: every loaded field except the id.
        option (str): the option's name, for the message.

    Raises:
        ValueError: naming the option, the fields not loaded, the file and the loaded fields.
    """
    feat = dataset.user_feat if side == "user" else dataset.item_feat
    id_field = dataset.uid_field if side == "user" else dataset.iid_field
    loaded = [] if feat is None else [f for f in feat.columns if f != id_field]
    if fields is None:
        return loaded
    fields = [fields] if isinstance(fields, str) else list(fields)
    missing = [f for f in fields if f != id_field and f not in loaded]
    if missing:
        file = feature_file(dataset, side)
        where = (
            f"loaded {side} fields: {loaded}"
            if loaded
            else f"no {side} field is loaded: {file} is missing or load_col has no '{side}' entry"
        )
        raise ValueError(
            f"{option}: {missing} not loaded from {file} ({where}); add them to load_col['{side}'] or remove "
            f"them from {option}"
        )
    return fields
