"""RecBole's two entry points, ``run_recbole`` and ``objective_function``, for plugin and built-in models.

RecBole's own versions live in ``recbole.quick_start``, whose import pulls in ray (broken on numpy 2 and
setuptools >= 81), so they are re-implemented here with the plugin's registries and weights-only checkpoints.
The signatures and the returned dictionaries are RecBole's.
"""

import logging
import sys
from logging import getLogger

from recbole.utils import init_logger, init_seed, set_color

from recbole_meta import input_checks
from recbole_meta.config import Config
from recbole_meta.data_preparation import create_dataset, data_preparation
from recbole_meta.distributed import launch
from recbole_meta.distributed.process_group import leave_process_group
from recbole_meta.registry import get_model, get_trainer


def count_parameters(model, trainable_only=True):
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def log_option_notes(config):
    """Log the config's warnings (unknown options, learning_rate used as meta_lr) once the logger exists."""
    for note in getattr(config, "option_notes", []):
        getLogger().warning(note)


def build_run(config):
    """Dataset, loaders, model and trainer for a ``Config``, seeded as RecBole seeds them."""
    input_checks.check_writable_dir(config["checkpoint_dir"], "checkpoint_dir")
    input_checks.check_pairwise_negatives(config)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    getLogger().info(dataset)
    input_checks.check_topk_against_items(config, dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    input_checks.check_valid_metric(config)  # after the data preparation, which may set the task's metrics
    note = input_checks.check_split_not_empty(config, train_data, valid_data, test_data)
    if note:
        getLogger().warning(note)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    getLogger().info(model)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    input_checks.check_trainable(model, trainer, config)
    return dataset, (train_data, valid_data, test_data), model, trainer


def plain_floats(result):
    """``result`` with every metric value a Python float (RecBole's evaluator returns some as ``np.float64``,
    which logs as ``np.float64(0.93)``); nested ``{state: {metric: value}}`` results keep their shape."""
    if result is None:
        return None
    if isinstance(result, dict):
        return type(result)((key, plain_floats(value)) for key, value in result.items())
    return float(result)


def _result(config, best_valid_score, best_valid_result, test_result):
    """The dictionary RecBole's quick-start functions return."""
    return {
        "model": config["model"],
        "best_valid_score": float(best_valid_score),
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": plain_floats(best_valid_result),
        "test_result": plain_floats(test_result),
    }


def evaluate_baseline(config, train_data, test_data, name):
    """Test result of the episodic model ``name``, which has nothing to train (e.g. ``UserItemBias``), on the
    split of ``train_data`` / ``test_data``: the reference a trained episodic model is read against."""
    model = get_model(name)(config, train_data._dataset).to(config["device"])
    if any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"baseline {name} has trainable parameters; a baseline beside a run must have none")
    trainer = get_trainer(config["MODEL_TYPE"], name)(config, model)
    return plain_floats(trainer.evaluate(test_data, load_best_model=False))


def run_recbole_meta(
    model=None, dataset=None, config_file_list=None, config_dict=None, saved=True, argv=None, baseline=None
):
    """Train and test a model (the plugin's or RecBole's) on a dataset, as ``recbole.quick_start.run_recbole``.

    Args:
        model (str): model name, e.g. ``"MeLU"`` or ``"BPR"``.
        dataset (str): dataset name, e.g. ``"ml-100k"`` (RecBole's embedded copy).
        config_file_list (list of str): yaml config files.
        config_dict (dict): parameters overriding the files.
        saved (bool): save the best model and test it (True), or test the last one (False).
        argv (list of str): command-line overrides (``--key=value``); ``None`` reads ``sys.argv[1:]``.
        baseline (str): for an episodic model, also test this baseline with nothing to train (e.g.
            ``"UserItemBias"``) on the same split; its result is returned as ``baseline_result``.

    Returns:
        dict: ``model``, ``best_valid_score``, ``valid_score_bigger``, ``best_valid_result``, ``test_result``,
        and ``saved_model_file`` (``None`` when ``saved`` is False), ``trainable_parameters``; with ``baseline``
        also ``baseline`` and ``baseline_result``.
    """
    given = {
        "model": model,
        "dataset": dataset,
        "config_file_list": config_file_list,
        "config_dict": config_dict,
        "argv": argv,
    }
    config = Config(**given)
    if launch.wants_spawn(config):  # --nproc=N: N processes run this function, rank 0's result comes back
        return launch.spawn(run_recbole_meta, config, saved=saved, baseline=baseline, **given)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logger = getLogger()
    given = sys.argv[1:] if argv is None else argv  # RecBole logs the bare list: "[]" when nothing is given
    logger.info(f"command-line options: {' '.join(given) if given else 'none'}")
    logger.info(config)
    log_option_notes(config)
    _, (train_data, valid_data, test_data), model_obj, trainer = build_run(config)

    best_valid_score, best_valid_result = trainer.fit(
        train_data, valid_data, saved=saved, show_progress=config["show_progress"]
    )
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=config["show_progress"])
    result = {
        **_result(config, best_valid_score, best_valid_result, test_result),
        "saved_model_file": trainer.saved_model_file if saved else None,
        "trainable_parameters": count_parameters(model_obj),
    }
    logger.info(set_color("best valid ", "yellow") + f": {result['best_valid_result']}")
    logger.info(set_color("test result", "yellow") + f": {result['test_result']}")
    if baseline is not None:
        result["baseline"] = baseline
        result["baseline_result"] = evaluate_baseline(config, train_data, test_data, baseline)
        logger.info(set_color(f"{baseline} (same split)", "yellow") + f": {result['baseline_result']}")
    leave_process_group(config)
    return result


def objective_function(config_dict=None, config_file_list=None, saved=True):
    """Objective for RecBole's ``HyperTuning``: one quiet train + test run, RecBole's return keys.

    The command line is not read (``argv=[]``): the tuner's ``config_dict`` is the only override.
    """
    config = Config(config_dict=config_dict, config_file_list=config_file_list, argv=[])
    init_seed(config["seed"], config["reproducibility"])
    logger = getLogger()
    for handler in logger.handlers[:]:
        logger.removeHandler(handler)
    init_logger(config)
    logging.basicConfig(level=logging.ERROR)
    log_option_notes(config)
    _, (train_data, valid_data, test_data), _, trainer = build_run(config)
    best_valid_score, best_valid_result = trainer.fit(train_data, valid_data, verbose=False, saved=saved)
    test_result = trainer.evaluate(test_data, load_best_model=saved)
    return _result(config, best_valid_score, best_valid_result, test_result)
