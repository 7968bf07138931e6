"""Checks on what a user writes: config files, command-line options, option values and output folders.

Every check raises :class:`ConfigError` (a ``ValueError``) with one line that names the file or option and what
was expected, or returns a warning line that the run logs once the logger is set up. The checks on atomic data
files live beside the code that reads them (:mod:`recbole_meta.data.atomic_files`).

What is checked, in the order a run meets it:

* config files: readable UTF-8, valid yaml, a mapping of ``option: value`` (not empty, not a list);
* command-line arguments: ``--key=value``; a value in yaml flow syntax (``{field: year, min: 1997}``) is read as
  yaml when it is not a Python literal (RecBole's own parsing);
* option names: a command-line or ``config_dict`` key that no default (RecBole's or the plugin's yaml) and no
  config file of the user defines is reported with the closest known name, and so is a config file's key that
  is a near miss of a known name (``epoch``);
* option kinds: an option the user set has the kind of value its default has (True/False, a number, a
  mapping, a list for list-valued sizes); ``load_col`` is ~ or ``{suffix: [field, ...]}``; on the command line
  ``true`` / ``false`` / ``~`` / ``null`` are read as in a yaml file;
* option values: RecBole's core numbers (epochs, batch sizes, learning rates, ``topk``...) and every ``*_size``
  option have the right type and sign; step sizes are finite (``learning_rate`` and ``meta_lr`` at most 1e6);
* ``learning_rate`` for models whose optimizer uses ``meta_lr`` (MeLU, MatchingNet, ProtoRec): it is used as
  ``meta_lr`` when the user set it and not ``meta_lr``, so ``--learning_rate`` means what it means for every other
  RecBole model;
* ``checkpoint_dir``: writable (checked before training, not after the first epoch);
* ``topk`` against the dataset's item count; a model without trainable parameters under a training trainer;
* RecBole's split (``eval_args``): an empty training or test split is refused, an empty validation split
  reported (no early stopping); ``valid_metric`` among the computed metrics; a pairwise model (BPR) with no
  negative sampling.

Checked elsewhere, each with one line naming the file or option:

* atomic files as RecBole reads them (empty, header not ``name:type``, bytes not in ``encoding``, no rows;
  repeated ``.user`` / ``.item`` ids and rows wider than the header reported): :mod:`recbole_meta.data.atomic_files`;
* saved datasets / dataloaders loaded only with this account's signature: :mod:`recbole_meta.saved_pickles`;
* empty, damaged or foreign checkpoints: :func:`recbole_meta.checkpoint.load_checkpoint`;
* cold-start ratings outside ``rating_range``, or an unusual inferred range: :mod:`recbole_meta.data.cold_start_split`;
* a NaN training loss or NaN predictions name the step sizes (:func:`divergence_hint`);
* a RecBole model whose optional package is missing: :func:`recbole_meta.registry.get_model`;
* ``--nproc`` above this machine's CPU cores (GPUs on a GPU run): :mod:`recbole_meta.distributed.launch`;
* the command line prints one ``error:`` line (exit status 2) and Ctrl-C one line (130): :mod:`recbole_meta.cli`.
"""

import difflib
import glob
import math
import numbers
import os
import re
import tempfile

import numpy as np
import yaml


class ConfigError(ValueError):
    """A user's configuration is wrong; the message is one line naming the option or file."""


# ------------------------------------------------------------------------------------------------ config files
def load_config_file(path, loader):
    """The ``{option: value}`` mapping of one yaml config file, read with RecBole's yaml ``loader``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"config file {path}: not UTF-8 text (byte {err.start}); save it as UTF-8"
        ) from None
    try:
        content = yaml.load(text, Loader=loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"config file {path}: not valid yaml{where}: {problem}") from None
    if content is None:
        raise ConfigError(f"config file {path} is empty: expected `option: value` lines")
    if not isinstance(content, dict):
        raise ConfigError(
            f"config file {path}: expected a mapping of `option: value` lines, got a yaml "
            f"{type(content).__name__}"
        )
    return content


# ------------------------------------------------------------------------------------------------ command line
def check_command_line(argv):
    """Refuse an argument RecBole's parser would drop unseen (not ``--key=value``) or a key given twice."""
    seen = {}
    for arg in argv:
        if not arg.startswith("--") or arg[2:].count("=") != 1 or arg.startswith("--="):
            raise ConfigError(
                f"command-line argument {arg!r}: expected --option=value (one '=', no spaces around it)"
            )
        key, value = arg[2:].split("=")
        if seen.setdefault(key, value) != value:
            raise ConfigError(f"--{key} is given twice with different values ({seen[key]!r} and {value!r})")


# yaml's words for true, false and null, which RecBole's Python-literal parsing leaves as (truthy) text
_YAML_WORDS = {"true": True, "false": False, "null": None, "~": None}
# RecBole's interval text (Dataset._parse_intervals_str): "[5,inf)", "(0,1];[3,4)"
_INTERVAL = re.compile(r"^[\[(][^,;\[\]()]+,[^,;\[\]()]+[\])]$")


def _is_interval_text(value):
    return all(_INTERVAL.match(piece.strip()) for piece in value.split(";"))


def read_flow_values(cmd_config, loader):
    """Command-line values left as text by RecBole's Python-literal parsing, read as yaml when they are yaml.

    ``--new_item_rule="{field: release_year, min: 1997}"`` is yaml, not Python; a value that opens a mapping or a
    list and is neither raises :class:`ConfigError` naming the option, except RecBole's interval syntax
    (``--user_inter_num_interval="[5,inf)"``), which stays text for RecBole to read. ``~`` and ``null`` mean
    None, as in a config file (RecBole reads ``true`` / ``false`` itself but keeps ``~`` as text).
    """
    for key, value in cmd_config.items():
        if isinstance(value, str) and value.strip().lower() in _YAML_WORDS:
            cmd_config[key] = _YAML_WORDS[value.strip().lower()]
            continue
        if not isinstance(value, str) or not value.strip().startswith(("{", "[")):
            continue
        try:
            parsed = yaml.load(value, Loader=loader)
        except yaml.YAMLError:
            parsed = None
        if not isinstance(parsed, (dict, list)):
            if _is_interval_text(value):
                continue
            raise ConfigError(
                f"--{key}={value}: expected a Python literal or yaml flow value, "
                'e.g. --new_item_rule="{field: release_year, min: 1997}"'
            )
        if isinstance(parsed, dict) and any(":" in str(k) and v is None for k, v in parsed.items()):
            raise ConfigError(
                f"--{key}={value}: yaml needs a space after each ':' of a mapping, "
                'e.g. --new_item_rule="{field: release_year, min: 1997}"'
            )
        cmd_config[key] = parsed
    return cmd_config


# ------------------------------------------------------------------------------------------------ option names
# Options that RecBole's or the plugin's code reads without a default in any yaml file, or that Config sets.
_KEYS_WITHOUT_DEFAULT = {
    "model",
    "dataset",
    "config_files",
    "encoding",
    "world_size",
    "xgb_early_stopping_rounds",
    "MODEL_TYPE",
    "MODEL_INPUT_TYPE",
    "eval_type",
    "device",
    "local_rank",
    "single_spec",
    "valid_neg_sample_args",
    "test_neg_sample_args",
    "valid_metric_bigger",
}
_KNOWN_KEYS = None


def _yaml_keys(folder):
    keys = set()
    for file in glob.glob(os.path.join(folder, "**", "*.yaml"), recursive=True):
        with open(file, encoding="utf-8") as handle:
            content = yaml.safe_load(handle)
        if isinstance(content, dict):
            keys.update(str(k) for k in content)
    return keys


def known_option_names():
    """Every option that RecBole's or the plugin's yaml files define (any model, dataset or quick-start file)."""
    global _KNOWN_KEYS
    if _KNOWN_KEYS is None:
        import recbole

        from recbole_meta.config import properties_dir

        _KNOWN_KEYS = frozenset(
            _yaml_keys(os.path.join(os.path.dirname(recbole.__file__), "properties"))
            | _yaml_keys(properties_dir())
            | _KEYS_WITHOUT_DEFAULT
        )
    return _KNOWN_KEYS


def _closest_option(key, known, cutoff):
    lowered = {k.lower(): k for k in known}
    if key.lower() in lowered:  # topK -> topk
        return lowered[key.lower()]
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=cutoff)
    return close[0] if close else None


def unknown_option_warnings(config):
    """Warning lines for command-line and ``config_dict`` options that nothing defines (likely misspelt).

    Keys of the user's config files are the user's own definitions and are accepted, unless one is a near miss
    of a known option (``epoch`` for ``epochs``) while the model is RecBole's or the plugin's, whose code reads
    no other key; ``config_dict`` keys are accepted when the model is the user's own class (neither RecBole's
    nor the plugin's), whose options come that way.
    """
    builtin_known = set(known_option_names()) | set(config.internal_config_dict)
    known = builtin_known | set(config.file_config_dict)
    sources = [("command-line option --", config.cmd_config_dict)]
    module = getattr(config.model_class, "__module__", "")
    lines = []
    if module.startswith(("recbole.", "recbole_meta.")):
        sources.append(("config_dict key ", config.variable_config_dict))
        files = getattr(config, "config_file_of_key", {})
        for key in config.file_config_dict:
            close = None if key in builtin_known else _closest_option(key, builtin_known, cutoff=0.8)
            if close is not None:
                lines.append(
                    f"option {key} of config file {files.get(key, '?')} is not an option of RecBole or "
                    f"recbole_meta and is not used; did you mean {close}?"
                )
    for label, options in sources:
        for key in options:
            if key in known:
                continue
            close = _closest_option(key, known, cutoff=0.6)
            hint = f"; did you mean {close}?" if close else ""
            lines.append(f"{label}{key} is not an option of RecBole or recbole_meta and is not used{hint}")
    return lines


# ------------------------------------------------------------------------------------------------ option values
def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value):
    """A real number that is not True/False."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# The largest optimizer step size accepted: torch's optimizers apply a step in float32 (Adam divides it by
# 1 - beta1 first), so a rate near 1e37 fails inside the optimizer without naming the option, and any rate far
# above 1 diverges anyway (a NaN loss, reported with a hint).
MAX_STEP_SIZE = 1e6
STEP_SIZE = "positive number up to 1e6 (a step size)"


def _is_step_size(value):
    return is_number(value) and 0 < value <= MAX_STEP_SIZE


_KINDS = {
    "positive integer": lambda v: _is_int(v) and v > 0,
    "positive number": lambda v: is_number(v) and v > 0,
    "non-negative integer": lambda v: _is_int(v) and v >= 0,
    "integer": _is_int,
    "non-negative number": lambda v: is_number(v) and v >= 0,
    STEP_SIZE: _is_step_size,
    STEP_SIZE + " or ~": lambda v: v is None or _is_step_size(v),
    "finite non-negative number": lambda v: is_number(v) and v >= 0 and math.isfinite(v),
    "positive integer or a list of them": lambda v: (_is_int(v) and v > 0)
    or (isinstance(v, (list, tuple)) and len(v) > 0 and all(_is_int(x) and x > 0 for x in v)),
}

# RecBole's core numbers and the plugin's meta-learning numbers: what each must be.
OPTION_KINDS = {
    "epochs": "positive integer",
    "train_batch_size": "positive integer",
    "eval_batch_size": "positive integer",
    "stopping_step": "non-negative integer",
    "eval_step": "integer",  # below 1: never validate (RecBole)
    "seed": "integer",
    "learning_rate": STEP_SIZE,
    "weight_decay": "non-negative number",
    "topk": "positive integer or a list of them",
    "meta_lr": STEP_SIZE + " or ~",
    "local_lr": "finite non-negative number",  # a huge one gives NaN predictions, reported with a hint
    "local_update_steps": "non-negative integer",
    "meta_batch_size": "positive integer",
    "eval_meta_batch_size": "positive integer",
    "query_size": "positive integer",
    "embedding_size": "positive integer",
}


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


def check_value_types(defaults, given):
    """Each option the user set (``given``: config files, ``config_dict``, command line) has the kind of value
    its default in ``defaults`` (RecBole's and the plugin's yaml for this model and dataset) has.

    A default of True/False takes only True/False (the text ``'flase'`` would read as true); a number takes a
    number (or ~, which several options use for "none"); a mapping (``eval_args``, ``new_item_rule``) a
    mapping or ~; a list-valued ``*_size(s)`` option (``mlp_hidden_size: [64, 64]``) a list. Options with a
    kind of their own in :data:`OPTION_KINDS` are checked there; an option without a default is not checked.
    """
    for key, value in given.items():
        default = defaults.get(key)
        if default is None or key in OPTION_KINDS:
            continue
        if _is_bool(default):
            if not _is_bool(value):
                raise ConfigError(
                    f"option {key} must be True or False (its default is {default}), got {value!r} "
                    f"({type(value).__name__})"
                )
        elif is_number(default):
            if value is not None and not is_number(value):
                raise ConfigError(
                    f"option {key} must be a number (its default is {default}), got {value!r} "
                    f"({type(value).__name__})"
                )
        elif isinstance(default, dict):
            # RecBole reads the text "None" of a yaml file as no negative sampling (train_neg_sample_args)
            if value is not None and value != "None" and not isinstance(value, dict):
                raise ConfigError(
                    f"option {key} must be a mapping {{key: value, ...}} or ~ (its default is {default}), got "
                    f"{value!r} ({type(value).__name__})"
                )
        elif isinstance(default, list) and key.endswith(("_size", "_sizes")):
            if not isinstance(value, (list, tuple)):
                raise ConfigError(
                    f"option {key} must be a list (its default is {default}), got {value!r} "
                    f"({type(value).__name__}); e.g. --{key}=[{value}]"
                )


def check_load_col(final_config):
    """RecBole's ``load_col`` / ``unload_col``: ~ or ``{inter|user|item|...: [field, ...]}``; anything else
    fails inside RecBole's loading without naming the option."""
    for key in ("load_col", "unload_col"):
        value = final_config.get(key)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(
            isinstance(fields, (list, tuple)) and all(isinstance(f, str) for f in fields)
            for fields in value.values()
        ):
            raise ConfigError(
                f"option {key} must be ~ or a mapping of atomic file suffix to field names, e.g. "
                f"{{inter: [user_id, item_id, rating], user: [user_id, age]}}, got {value!r}"
            )


_NOT_SIZES = {"world_size"}  # RecBole's process count, -1 meaning "all" (not a dimension)
LOG_STATES = ("debug", "info", "warning", "error", "critical")  # RecBole reads any other `state` as info


def check_option_values(final_config):
    """Type and sign of the options in :data:`OPTION_KINDS` and of every ``*_size`` / ``*_sizes`` option."""
    for key, kind in OPTION_KINDS.items():
        if key in final_config and not _KINDS[kind](final_config[key]):
            _raise_kind(key, kind, final_config[key])
    state = final_config.get("state")
    if state is not None and str(state).lower() not in LOG_STATES:
        raise ConfigError(f"option state must be one of {', '.join(LOG_STATES)}, got {state!r}")
    for key, value in final_config.items():
        if not key.endswith(("_size", "_sizes")) or key in OPTION_KINDS or key in _NOT_SIZES or value is None:
            continue
        # Only whole numbers are checked: a size may also take a word its model defines (``train_support_size:
        # valid``), which that model checks.
        if _is_int(value) or (isinstance(value, (list, tuple)) and value and all(_is_int(v) for v in value)):
            if not _KINDS["positive integer or a list of them"](value):
                _raise_kind(key, "positive integer or a list of them", value)


def check_option(config, key, kind):
    """``config[key]`` when it is a ``kind`` (a kind of :data:`OPTION_KINDS`: ``"positive integer"``,
    ``"positive number"``, ...), else a :class:`ConfigError` naming the option: the check a model or data
    class makes of an option of its own when it reads it."""
    value = config[key]
    if not _KINDS[kind](value):
        _raise_kind(key, kind, value)
    return value


def _raise_kind(key, kind, value):
    article = "an" if kind[0] in "aeiou" else "a"
    raise ConfigError(f"option {key} must be {article} {kind}, got {value!r} ({type(value).__name__})")


def use_learning_rate_as_meta_lr(config):
    """For models whose optimizer rate is ``meta_lr``: the user's ``learning_rate`` becomes ``meta_lr``.

    Returns a line to log (or ``None``). RecBole users set ``--learning_rate`` for every model; the episodic models
    keep their own default ``meta_lr`` in their yaml, which would otherwise win and ignore the user's value.
    """
    external = config.external_config_dict
    if "meta_lr" not in config.final_config_dict or "learning_rate" not in external:
        return None
    if "meta_lr" not in external:
        config.final_config_dict["meta_lr"] = external["learning_rate"]
        return f"learning_rate={external['learning_rate']} is used as meta_lr (the global, outer-loop rate)"
    if external["meta_lr"] != external["learning_rate"]:
        return (
            f"learning_rate={external['learning_rate']} is not used: meta_lr={external['meta_lr']} sets the "
            "optimizer's rate of this model"
        )
    return None


def divergence_hint(config):
    """The options that control a run's step sizes, with their values, for a NaN message."""
    keys = ["learning_rate"]
    if config["local_update_steps"] is not None:  # episodic models: the inner and outer loops
        keys = ["meta_lr", "local_lr", "local_update_steps"]
    return ", ".join(f"{key}={config[key]}" for key in keys)


# ------------------------------------------------------------------------------------------------ folders
def check_writable_dir(path, option):
    """Raise :class:`ConfigError` naming ``option`` unless ``path`` is (or can be created as) a writable folder."""
    path = os.path.abspath(path)
    existing = path
    while not os.path.exists(existing):
        parent = os.path.dirname(existing)
        if parent == existing:
            break
        existing = parent
    if not os.path.isdir(existing):
        raise ConfigError(f"{option} {path}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise ConfigError(f"{option} {path}: cannot write in {existing} ({err.strerror})") from None


def check_trainable(model, trainer, config):
    """Refuse a model without trainable parameters under a trainer that trains by gradient descent.

    Its loss could not move, yet the run would report metrics as a result (BPR with ``embedding_size=0``).
    Models that are estimated rather than trained (RecBole's Pop or ItemKNN keep a dummy parameter; the plugin's
    mean baselines have a trainer that does not train) are not affected.
    """
    from recbole.trainer import Trainer

    from recbole_meta.trainer.meta_trainer import MetaTrainer

    if not isinstance(trainer, Trainer) or isinstance(trainer, MetaTrainer):
        return
    if any(p.requires_grad and p.numel() > 0 for p in model.parameters()):
        return
    sizes = {
        k: v
        for k, v in config.final_config_dict.items()
        if k.endswith("_size") and "batch" not in k and v is not None
    }
    raise ConfigError(
        f"model {config['model']} has no trainable parameters, so training cannot change it; "
        f"check its size options ({', '.join(f'{k}={v}' for k, v in sizes.items()) or 'none set'})"
    )


def check_topk_against_items(config, dataset):
    """A RecBole ranking evaluation cannot cut at more items than the dataset has ("k out of range" otherwise)."""
    from recbole.utils import EvaluatorType, ModelType

    if not isinstance(config["MODEL_TYPE"], ModelType) or config["eval_type"] != EvaluatorType.RANKING:
        return
    topk = config["topk"] if isinstance(config["topk"], list) else [config["topk"]]
    items = dataset.item_num - 1  # id 0 is padding
    if topk and max(topk) > items:
        raise ConfigError(
            f"option topk {config['topk']}: dataset {config['dataset']} has only {items} items to rank; "
            f"use cut-offs up to {items}"
        )


def check_split_not_empty(config, train_data, valid_data, test_data):
    """RecBole's split of a dataset (``eval_args``) left nothing to train on or to test: refused (RecBole trains, then reports
    ``test result: None``). An empty validation split is allowed (RecBole then trains every epoch, without early
    stopping, and tests the last model); the returned line says so."""
    from recbole.data.dataset import Dataset

    sizes = {
        name: len(loader._dataset)
        for name, loader in (("training", train_data), ("validation", valid_data), ("test", test_data))
        # episodic and sequence-task loaders hold no RecBole Dataset: they check their own tasks
        if isinstance(getattr(loader, "_dataset", None), Dataset)
    }
    if len(sizes) < 3:
        return None
    for name in ("training", "test"):
        if sizes[name] == 0:
            raise ConfigError(
                f"the {name} split of dataset {config['dataset']} is empty: eval_args split "
                f"{config['eval_args']['split']} leaves it no interaction; give it a share, e.g. "
                "{RS: [0.8, 0.1, 0.1]}"
            )
    if sizes["validation"] == 0:
        return (
            f"the validation split is empty (eval_args split {config['eval_args']['split']}): no early stopping; "
            "every epoch is trained and the last model is tested"
        )
    return None


def check_valid_metric(config):
    """``valid_metric`` names a value the evaluation reports: one of ``metrics``, written ``NAME@K`` with ``K`` in
    ``topk`` for a metric with cut-offs and bare for one without (RecBole fails after the first validation with a
    bare ``KeyError: 'ndcg@10'``). Episodic runs with ``full_ranking_topk`` add ranking metrics of their own: the
    trainer reports those."""
    if config.final_config_dict.get("full_ranking_topk") or (config["eval_step"] or 0) <= 0:
        return  # (eval_step 0: no validation, valid_metric is never read)
    valid = str(config["valid_metric"]).lower()
    name, at, cut = valid.partition("@")
    metrics = [str(m).lower() for m in config["metrics"]]
    topk = config["topk"] if isinstance(config["topk"], (list, tuple)) else [config["topk"]]
    cut_in_topk = bool(at) and cut.isdigit() and int(cut) in topk
    computed = name in metrics
    if computed:
        cut_offs = _reports_cut_offs(name, config)
        if cut_offs is None:  # a metric that cannot be built here: only a cut-off that is given is checked
            cut_offs = bool(at)
        computed = cut_in_topk if cut_offs else not at
    if not computed:
        raise ConfigError(
            f"valid_metric {config['valid_metric']} is not computed: it must be one of metrics {config['metrics']}, "
            f"written NAME@K with K in topk {config['topk']} for a top-k metric (Recall@10), bare for others (MAE)"
        )


def _reports_cut_offs(name, config):
    """Whether RecBole's (or the plugin's) metric ``name`` reports one value per cut-off in ``topk`` (its keys
    ``name@k``): every such metric reads ``topk`` when built. ``None`` when it cannot be built from ``config``.
    """
    from recbole.evaluator.register import metrics_dict

    try:
        metric = metrics_dict[name](config)
    except Exception:  # a metric this config cannot build: RecBole's evaluator reports it
        return None
    return getattr(metric, "topk", None) is not None


def check_pairwise_negatives(config):
    """A pairwise model (BPR's loss) needs a sampled negative per positive; without one RecBole fails in the first
    batch with a bare ``KeyError: 'neg_item_id'``."""
    from recbole.utils import InputType

    negatives = config["train_neg_sample_args"] or {}
    if config["MODEL_INPUT_TYPE"] == InputType.PAIRWISE and negatives.get("distribution", "none") == "none":
        raise ConfigError(
            f"model {config['model']} trains on (positive, negative) pairs: train_neg_sample_args must draw "
            "negatives, e.g. {distribution: uniform, sample_num: 1}; got none"
        )
