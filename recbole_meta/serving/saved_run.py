"""``load_data_and_model``: a trained run back from its weights-only checkpoint, as RecBole returns it.

RecBole's ``recbole.quick_start.load_data_and_model(model_file)`` unpickles the whole ``Config`` from the
checkpoint; the plugin's checkpoints (:mod:`recbole_meta.checkpoint`) hold it as plain data instead, and RecBole's
function cannot be imported here anyway (``recbole.quick_start`` imports ray). This module rebuilds the
``Config`` from that plain data, then does what RecBole's function does: seed, build the dataset and the split,
build the model and load its weights. The returned tuple is RecBole's:
``(config, model, dataset, train_data, valid_data, test_data)``.

The four config values that are objects in a live ``Config`` and names in a checkpoint are restored:
``MODEL_TYPE`` and ``MODEL_INPUT_TYPE`` from the model class (checked against the stored names),
``eval_type`` from RecBole's ``EvaluatorType``, ``device`` as a ``torch.device`` (``cpu`` when the stored
CUDA device is not available here).
"""

import os
from logging import getLogger

import torch
from recbole.utils import EvaluatorType, init_logger, init_seed

from recbole_meta.checkpoint import from_plain, load_checkpoint
from recbole_meta.config import Config
from recbole_meta.data_preparation import create_dataset, data_preparation
from recbole_meta.registry import get_model


def _enum_name(value):
    return getattr(value, "name", value)


def config_from_checkpoint(checkpoint, path="checkpoint", config_dict=None):
    """The run's ``Config`` from a loaded checkpoint (see the module docstring).

    Args:
        checkpoint (dict): what :func:`recbole_meta.checkpoint.load_checkpoint` returned.
        path (str): the file, for messages.
        config_dict (dict, optional): values replacing the stored ones (e.g. ``data_path`` when the data moved,
            ``device``); the split and the model are rebuilt from the result, so change nothing that shapes them.
            ``data_path`` is the folder holding the dataset's folder, as in any config.
    """
    stored = checkpoint.get("config")
    if not isinstance(stored, dict) or "model" not in stored or "dataset" not in stored:
        raise ValueError(f"{path} holds no run config (a PeterRec backbone or a foreign file?)")
    values = from_plain(dict(stored))
    model_class = get_model(values["model"])
    for key, expected in (("MODEL_TYPE", model_class.type), ("MODEL_INPUT_TYPE", model_class.input_type)):
        if values.get(key) != _enum_name(expected):
            raise ValueError(
                f"{path}: stored {key} {values.get(key)!r} is not model {values['model']}'s "
                f"{_enum_name(expected)!r} (written by another version of the model?)"
            )
        values[key] = expected
    if values.get("eval_type") is not None:
        values["eval_type"] = EvaluatorType[values["eval_type"]]
    overrides = dict(config_dict or {})
    if "data_path" in overrides:  # a parent folder, as in any config; the run's folder is <parent>/<dataset>
        overrides["data_path"] = os.path.join(str(overrides["data_path"]), values["dataset"])
    values.update(overrides)
    if not os.path.isdir(str(values.get("data_path"))):
        raise ValueError(
            f"{path}: the run's data folder {values.get('data_path')} does not exist; if the data moved, pass "
            "config_dict={'data_path': <folder that holds the dataset folder>}"
        )
    device = torch.device(values.get("device") or "cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        getLogger().warning(f"{path} was trained on {device}; CUDA is not available here, loading on cpu")
        device = torch.device("cpu")
    values["device"] = device
    if device.type == "cpu":
        values["use_gpu"] = False

    config = Config.__new__(Config)
    config._argv = []
    config._init_parameters_category()
    config.model, config.model_class, config.dataset = values["model"], model_class, values["dataset"]
    config.final_config_dict = values
    config.internal_config_dict, config.external_config_dict = {}, overrides
    return config


def load_model_weights(model, checkpoint, path="checkpoint"):
    """Load a checkpoint's weights into ``model``: the model's own content hook if it has one (PeterRec), else
    ``state_dict`` and ``other_parameter`` (every other trainer's format)."""
    if hasattr(model, "load_checkpoint_content"):
        model.load_checkpoint_content(checkpoint, path=path)
        return model
    if "state_dict" not in checkpoint:
        raise ValueError(f"{path} holds no model weights (no state_dict)")
    model.load_state_dict(checkpoint["state_dict"])
    model.load_other_parameter(from_plain(checkpoint.get("other_parameter")))
    return model


def load_data_and_model(model_file, config_dict=None):
    """Load the dataset, its split loaders and the trained model of ``model_file`` (RecBole's return values).

    Args:
        model_file (str): a checkpoint written by a recbole_meta run (``saved_model_file`` of
            :func:`recbole_meta.run_recbole_meta`), for a plugin or a RecBole model.
        config_dict (dict, optional): values replacing the stored config's; see :func:`config_from_checkpoint`.

    Returns:
        tuple: ``(config, model, dataset, train_data, valid_data, test_data)``; the model is in eval mode.
        The split is rebuilt from the stored config and seed, so it is the one the model was trained and
        tested on.
    """
    checkpoint = load_checkpoint(model_file, map_location="cpu")
    config = config_from_checkpoint(checkpoint, str(model_file), config_dict)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logger = getLogger()
    logger.info(config)
    dataset = create_dataset(config)
    logger.info(dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + (config["local_rank"] or 0), config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    checkpoint = load_checkpoint(model_file, map_location=config["device"])
    load_model_weights(model, checkpoint, str(model_file))
    model.eval()
    return config, model, dataset, train_data, valid_data, test_data
