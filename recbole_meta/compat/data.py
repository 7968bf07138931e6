"""RecBole's dataset building, splitting and evaluation loaders, where the plugin must behave differently.

* :func:`build_dataset` / :func:`split_dataset`: RecBole's ``create_dataset`` and ``data_preparation`` reload
  ``saved/<dataset>-<Dataset>.pth`` and ``saved/<dataset>-for-<model>-dataloader.pth`` whenever such a file
  exists, even one written by another run with another config. These build from the atomic files instead,
  and use RecBole's own functions (and their cache) only when the user set ``dataset_save_path`` /
  ``dataloaders_save_path``.
* :class:`FullSortLoader`: RecBole's ``Trainer`` recognises full-sort evaluation by
  ``isinstance(loader, FullSortEvalDataLoader)``; that class's ``__init__`` builds a user history from a RecBole
  ``Dataset``. A loader over other data subclasses this one, which sets what the trainer and collector read
  and skips that history.
* :func:`set_metrics`: a data preparation that fixes its task's metrics (profile prediction is scored by
  classification metrics) must also set what RecBole's ``Config`` derives from ``metrics`` once, at
  construction: ``eval_type`` (and the validation metric's direction).
"""

import importlib
import os
from logging import getLogger

from recbole.data import create_dataset as recbole_create_dataset
from recbole.data import create_samplers, get_dataloader
from recbole.data import data_preparation as recbole_data_preparation
from recbole.data.dataloader.abstract_dataloader import AbstractDataLoader
from recbole.data.dataloader.general_dataloader import FullSortEvalDataLoader
from recbole.data.utils import load_split_dataloaders
from recbole.evaluator import register as recbole_register
from recbole.utils import ModelType

from recbole_meta import saved_pickles


def build_dataset(config):
    """RecBole's dataset for ``config`` (its class choice), built from the atomic files unless the user set
    ``dataset_save_path`` (then RecBole's ``create_dataset`` loads it)."""
    if config["dataset_save_path"]:
        return recbole_create_dataset(config)
    dataset_module = importlib.import_module("recbole.data.dataset")
    special = config["model"] + "Dataset"
    if hasattr(dataset_module, special):
        dataset_class = getattr(dataset_module, special)
    else:
        type_to_class = {
            ModelType.SEQUENTIAL: "SequentialDataset",
            ModelType.KNOWLEDGE: "KnowledgeBasedDataset",
        }
        dataset_class = getattr(dataset_module, type_to_class.get(config["MODEL_TYPE"], "Dataset"))
    return construct_dataset(config, dataset_class)


def construct_dataset(config, dataset_class):
    """``dataset_class(config)`` built from the atomic files; saved (and signed) when ``save_dataset`` is set."""
    dataset = dataset_class(config)
    if config["save_dataset"]:
        dataset.save()
        saved_pickles.sign(saved_pickles.dataset_file(config, dataset_class))
    return dataset


def split_dataset(config, dataset):
    """RecBole's ``data_preparation`` minus its silent reload of ``saved/*-dataloader.pth`` (unless the user set
    ``dataloaders_save_path``)."""
    saved = config["dataloaders_save_path"]
    if saved and config["MODEL_TYPE"] == ModelType.KNOWLEDGE:
        return recbole_data_preparation(config, dataset)
    if saved:  # RecBole's load_split_dataloaders returns None, silently, when the saved options differ
        loaders = load_split_dataloaders(config)
        if loaders is not None:
            dataset._change_feat_format()
            return loaders
        getLogger().warning(
            f"dataloaders_save_path {saved} was saved with other dataset options, seed or eval_args; "
            "the split is built again from the atomic files"
        )
    if config["MODEL_TYPE"] == ModelType.KNOWLEDGE:
        # The knowledge-aware loaders need a KG sampler that only RecBole's own path builds. Its cache is
        # read from ``dataloaders_save_path`` when set: point it at a file that cannot exist, for this call.
        config["dataloaders_save_path"] = os.path.join(config["checkpoint_dir"], "__never_cached__.pth")
        try:
            return recbole_data_preparation(config, dataset)
        finally:
            config["dataloaders_save_path"] = None
    built = dataset.build()
    train_sampler, valid_sampler, test_sampler = create_samplers(config, dataset, built)
    train_data = get_dataloader(config, "train")(config, built[0], train_sampler, shuffle=config["shuffle"])
    valid_data = get_dataloader(config, "valid")(config, built[1], valid_sampler, shuffle=False)
    test_data = get_dataloader(config, "test")(config, built[2], test_sampler, shuffle=False)
    if config["save_dataloaders"]:
        from recbole.data import save_split_dataloaders

        save_split_dataloaders(config, dataloaders=(train_data, valid_data, test_data))
        saved_pickles.sign(saved_pickles.dataloaders_file(config))
    getLogger().info(
        f"[Training]: train_batch_size = [{config['train_batch_size']}] "
        f"train_neg_sample_args: [{config['train_neg_sample_args']}]"
    )
    getLogger().info(
        f"[Evaluation]: eval_batch_size = [{config['eval_batch_size']}] eval_args: [{config['eval_args']}]"
    )
    return train_data, valid_data, test_data


class FullSortLoader(FullSortEvalDataLoader):
    """A full-sort evaluation loader for RecBole's trainer over data that is not a RecBole ``Dataset``.

    Subclasses implement ``_init_batch_size_and_step`` and ``collate_fn`` (returning ``(interaction,
    history_index, positive_u, positive_i)`` as RecBole's does); ``dataset`` needs ``__len__``.
    """

    def __init__(self, config, dataset):
        self.logger = getLogger()
        self.uid_field = config["USER_ID_FIELD"]
        self.iid_field = config["ITEM_ID_FIELD"]
        self.is_sequential = True
        self.sample_size = len(dataset)
        AbstractDataLoader.__init__(self, config, dataset, None, shuffle=False)


def set_metrics(config, metrics, valid_metric):
    """Evaluate with ``metrics`` and validate on ``valid_metric``; ``eval_type`` and ``valid_metric_bigger``
    follow, as RecBole's ``Config`` derives them."""
    types = {recbole_register.metric_types[m.lower()] for m in metrics}
    if len(types) != 1:
        raise ValueError(
            f"metrics {metrics} mix value and ranking metrics; RecBole evaluates one kind at a time"
        )
    config["metrics"] = list(metrics)
    config["eval_type"] = types.pop()
    config["valid_metric"] = valid_metric
    config["valid_metric_bigger"] = valid_metric.split("@")[0].lower() not in recbole_register.smaller_metrics
