"""The dataset and the train / valid / test loaders a model asks for: the plugin's if registered, else RecBole's.

A plugin model type or model registers its ``Dataset`` class with
:func:`recbole_meta.registry.register_dataset` and its split with
:func:`recbole_meta.registry.register_data_preparation`; every other model gets RecBole's, built from the
atomic files (a pickled dataset or split is reused only when the user set ``dataset_save_path`` /
``dataloaders_save_path``, see :mod:`recbole_meta.compat.data`).
"""

from recbole_meta.compat.data import build_dataset, split_dataset
from recbole_meta.registry import plugin_data_preparation, plugin_dataset_class


def create_dataset(config):
    """The dataset of ``config``: a registered plugin ``Dataset`` class, else RecBole's choice."""
    dataset_class = plugin_dataset_class(config)
    if dataset_class is None:
        return build_dataset(config)
    dataset = dataset_class(config)
    if config["save_dataset"]:
        dataset.save()
    return dataset


def data_preparation(config, dataset):
    """``(train, valid, test)`` loaders of ``dataset``: a registered plugin function, else RecBole's split."""
    prepare = plugin_data_preparation(config)
    if prepare is not None:
        return prepare(config, dataset)
    return split_dataset(config, dataset)
