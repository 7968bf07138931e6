"""The dataset and the train / valid / test loaders a model asks for: the plugin's if registered, else RecBole's.

A plugin model type or model registers its ``Dataset`` class with
:func:`recbole_meta.registry.register_dataset` and its split with
:func:`recbole_meta.registry.register_data_preparation`; every other model gets RecBole's, built from the
atomic files (a pickled dataset or split is reused only when the user set ``dataset_save_path`` /
``dataloaders_save_path``, see :mod:`recbole_meta.compat.data`).
"""

from logging import getLogger

from recbole_meta import saved_pickles
from recbole_meta.compat.data import build_dataset, construct_dataset, split_dataset
from recbole_meta.registry import plugin_data_preparation, plugin_dataset_class


def create_dataset(config):
    """The dataset of ``config``: a registered plugin ``Dataset`` class, else RecBole's choice.

    A saved dataset (``dataset_save_path``) is loaded only when this plugin wrote it on this account
    (:mod:`recbole_meta.saved_pickles`); a plugin dataset class always builds from the atomic files, and
    says so when the option is set.
    """
    if config["dataset_save_path"]:
        saved_pickles.check_signed(config["dataset_save_path"], "dataset_save_path")
    dataset_class = plugin_dataset_class(config)
    if dataset_class is None:
        return build_dataset(config)
    if config["dataset_save_path"]:
        getLogger().warning(
            f"dataset_save_path is not used by {config['model']}: its dataset is built from the atomic files"
        )
    return construct_dataset(config, dataset_class)


def data_preparation(config, dataset):
    """``(train, valid, test)`` loaders of ``dataset``: a registered plugin function, else RecBole's split.

    Saved loaders (``dataloaders_save_path``) are checked as saved datasets are (see :func:`create_dataset`).
    """
    if config["dataloaders_save_path"]:
        saved_pickles.check_signed(config["dataloaders_save_path"], "dataloaders_save_path")
    prepare = plugin_data_preparation(config)
    if prepare is not None:
        if config["dataloaders_save_path"]:
            getLogger().warning(
                f"dataloaders_save_path is not used by {config['model']}: it splits the dataset itself"
            )
        return prepare(config, dataset)
    return split_dataset(config, dataset)
