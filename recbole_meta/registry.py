"""Registries: the plugin's models, trainers, datasets, loaders and metrics, falling back to RecBole's.

A plugin class is registered explicitly with a decorator, so that a reader sees at the class itself that it is
reachable by name from yaml and the command line::

    @register_model
    class MeLU(MetaRecommender): ...

    @register_trainer(model_type=MetaModelType.META)
    class MetaTrainer(Trainer): ...

Look-ups (:func:`get_model`, :func:`get_trainer`, and through :mod:`recbole_meta.data_preparation` the
dataset and split) try the plugin first and RecBole second. Unknown names raise ``ValueError`` listing the
closest known names.
"""

import difflib
import importlib
import os
from enum import Enum

import recbole.utils as recbole_utils
import torch
from recbole.utils import ModelType

from recbole_meta.compat.evaluator import add_metric, recbole_metric

# Modules whose import runs the plugin's @register_* decorators. Imported lazily on first look-up, so that
# importing recbole_meta stays cheap and free of import cycles.
PLUGIN_MODULES = ("recbole_meta.model", "recbole_meta.trainer", "recbole_meta.data", "recbole_meta.evaluator")

_MODELS = {}
_TRAINERS_BY_MODEL = {}
_TRAINERS_BY_TYPE = {}
_DATASETS_BY_MODEL = {}
_DATASETS_BY_TYPE = {}
_LOADERS_BY_MODEL = {}
_LOADERS_BY_TYPE = {}
_PLUGIN_METRICS = {}
_loaded = False


def _load_plugin_modules():
    global _loaded
    if not _loaded:
        _loaded = True
        for module in PLUGIN_MODULES:
            importlib.import_module(module)


def _closest(name, candidates, n=5):
    by_case = {c.lower(): c for c in candidates}
    exact_case = [by_case[name.lower()]] if name.lower() in by_case else []
    close = difflib.get_close_matches(name, candidates, n=n, cutoff=0.5)
    return list(dict.fromkeys(exact_case + close))


def _declares(cls, attribute):
    """Whether ``cls`` or a base below ``torch.nn.Module`` defines ``attribute`` itself.

    ``nn.Module.type`` is a method, so ``hasattr(model, "type")`` is always true; RecBole's
    ``AbstractRecommender`` declares neither ``type`` nor ``input_type``.
    """
    for klass in cls.__mro__:
        if klass is torch.nn.Module:
            return False
        if attribute in vars(klass):
            return True
    return False


# --------------------------------------------------------------------------------------------------- models
def register_model(cls):
    """Class decorator: make a plugin model reachable by its class name.

    The class (or a plugin base class) must declare ``type`` (a ``ModelType`` or plugin model type) and
    ``input_type`` (an ``InputType``); RecBole's ``Config`` reads both.
    """
    for attribute in ("type", "input_type"):
        if not _declares(cls, attribute):
            raise TypeError(
                f"model {cls.__name__} must declare the class attribute `{attribute}` "
                "(on itself or on a plugin base class)"
            )
    name = cls.__name__
    if name in _MODELS and _MODELS[name] is not cls:
        raise ValueError(f"model name {name} is already registered by {_MODELS[name].__module__}")
    _MODELS[name] = cls
    return cls


def plugin_model_names():
    """Names of the models this plugin adds, sorted."""
    _load_plugin_modules()
    return sorted(_MODELS)


# RecBole's yaml files named otherwise than the model classes they configure.
_RECBOLE_CLASS_NAMES = {"lightgbm": "LightGBM", "xgboost": "XGBoost"}


def recbole_model_names():
    """Names of RecBole's built-in models (from the yaml files that ship with it)."""
    import recbole

    model_dir = os.path.join(os.path.dirname(recbole.__file__), "properties", "model")
    names = (f[: -len(".yaml")] for f in os.listdir(model_dir) if f.endswith(".yaml"))
    return sorted(_RECBOLE_CLASS_NAMES.get(name, name) for name in names)


def get_model(name_or_class):
    """The model class for a name, looking in recbole_meta first and RecBole second.

    A class is returned as it is. Raises ``ValueError`` naming the closest known models for an unknown name.
    """
    if not isinstance(name_or_class, str):
        return name_or_class
    _load_plugin_modules()
    name = name_or_class
    if name in _MODELS:
        return _MODELS[name]
    try:
        return recbole_utils.get_model(name)
    except ModuleNotFoundError as err:
        # RecBole's lookup imports every model package on its way, so a missing optional package (lightgbm,
        # xgboost) surfaces for any name it has not found yet: blame the package only for RecBole's own names.
        needs_package = err.name and not err.name.startswith("recbole")
        if needs_package and name.lower() in {known.lower() for known in recbole_model_names()}:
            raise ValueError(
                f"model {name} needs the Python package '{err.name}', which is not installed "
                f"(pip install {err.name})"
            ) from None
    except (ValueError, AttributeError):
        pass
    known = plugin_model_names() + recbole_model_names()
    hint = _closest(name, known)
    suggestion = f"; did you mean {', '.join(hint)}?" if hint else ""
    raise ValueError(
        f"unknown model '{name}'{suggestion} (plugin models: {', '.join(plugin_model_names()) or 'none'}; "
        "RecBole's models are listed by `python run_recbole_meta.py --help`)"
    )


# ------------------------------------------------------------------------------------------------- trainers
def _register_by(model, model_type, by_model, by_type, what):
    if (model is None) == (model_type is None):
        raise ValueError(f"register_{what} needs exactly one of `model` or `model_type`")

    def decorator(obj):
        if model is not None:
            by_model[model] = obj
        else:
            by_type[model_type] = obj
        return obj

    return decorator


def register_trainer(model=None, model_type=None):
    """Decorator: use this trainer for the model named ``model``, or for every model of ``model_type``."""
    return _register_by(model, model_type, _TRAINERS_BY_MODEL, _TRAINERS_BY_TYPE, "trainer")


def get_trainer(model_type, model_name):
    """The trainer class for a model: plugin by model name, plugin by model type, then RecBole's choice.

    Every trainer returned writes weights-only checkpoints (see
    :mod:`recbole_meta.trainer.safe_checkpoint`).
    """
    _load_plugin_modules()
    if model_name in _TRAINERS_BY_MODEL:
        trainer = _TRAINERS_BY_MODEL[model_name]
    elif model_type in _TRAINERS_BY_TYPE:
        trainer = _TRAINERS_BY_TYPE[model_type]
    else:
        recbole_type = model_type if isinstance(model_type, ModelType) else ModelType.GENERAL
        trainer = recbole_utils.get_trainer(recbole_type, model_name)
    # Imported here: importing the trainer package at module level would import the plugin's trainers, which
    # import this module (a cycle).
    from recbole_meta.trainer.safe_checkpoint import with_safe_checkpoints

    return with_safe_checkpoints(trainer)


# ------------------------------------------------------------------------------------------ datasets, loaders
def register_dataset(model=None, model_type=None):
    """Decorator: build this ``Dataset`` subclass for the model named ``model`` or every ``model_type``."""
    return _register_by(model, model_type, _DATASETS_BY_MODEL, _DATASETS_BY_TYPE, "dataset")


def register_data_preparation(model=None, model_type=None):
    """Decorator: a function ``(config, dataset) -> (train, valid, test)`` replacing RecBole's split."""
    return _register_by(model, model_type, _LOADERS_BY_MODEL, _LOADERS_BY_TYPE, "data_preparation")


def _lookup(config, by_model, by_type):
    _load_plugin_modules()
    return by_model.get(config["model"]) or by_type.get(config["MODEL_TYPE"])


def plugin_dataset_class(config):
    """The ``Dataset`` class registered for ``config``'s model (by name, then type), or ``None``."""
    return _lookup(config, _DATASETS_BY_MODEL, _DATASETS_BY_TYPE)


def plugin_data_preparation(config):
    """The ``(config, dataset) -> (train, valid, test)`` function registered for ``config``'s model, or ``None``."""
    return _lookup(config, _LOADERS_BY_MODEL, _LOADERS_BY_TYPE)


# -------------------------------------------------------------------------------------------------- metrics
def register_metric(cls):
    """Class decorator: add a metric to RecBole's evaluator registries so ``metrics: [...]`` can name it.

    The class follows RecBole's metric protocol (``metric_need``, ``metric_type``, ``smaller``,
    ``calculate_metric``); it is registered under its lower-cased class name.
    """
    for attribute in ("metric_need", "metric_type", "smaller"):
        if not hasattr(cls, attribute):
            raise TypeError(f"metric {cls.__name__} lacks the attribute `{attribute}` RecBole needs")
    name = cls.__name__.lower()
    existing = recbole_metric(name)
    if existing is not None and existing is not cls and name not in _PLUGIN_METRICS:
        raise ValueError(f"metric {cls.__name__} would shadow RecBole's metric {existing.__name__}")
    _PLUGIN_METRICS[name] = cls
    add_metric(name, cls)
    return cls


def plugin_metric_names():
    _load_plugin_modules()
    return sorted(_PLUGIN_METRICS)


class PluginModelType(Enum):
    """Model types that RecBole's ``ModelType`` lacks. ``META``: episodic (task-based) cold-start models."""

    META = "meta"
