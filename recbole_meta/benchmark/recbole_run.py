"""A suite run that trains and tests a RecBole or plugin model through :func:`recbole_meta.run_recbole_meta`."""

import glob
import os
import re
from functools import partial

from recbole_meta.benchmark.suite import Run, RunResult


def recbole_run(name, model, config=None, config_files=None, keep_checkpoint=False, expected_seconds=None):
    """A :class:`Run` that trains ``model`` with ``run_recbole_meta`` and reports its test metrics.

    The run's config is ``Suite.config`` < ``config`` (< ``Suite.quick_config``); it must contain ``dataset``
    and may contain any RecBole key. Paths in it (``data_path``, ``config_files``) must be absolute: the run
    executes inside its run folder. ``seed`` is set from the suite's seed, ``checkpoint_dir`` to the run
    folder; the best model on validation is tested (``saved=True``) and its checkpoint deleted afterwards
    unless ``keep_checkpoint``. ``expected_seconds``: see :class:`Run` (ordering only).

    Returns metrics = RecBole's ``test_result`` (flat, e.g. ``ndcg@10``), trainable parameters, and in
    ``info`` the best validation score and result, the epochs trained and the best epoch (read from RecBole's
    log file in the run folder).
    """
    run_config = {"model": model}
    run_config.update(config or {})
    if config_files:
        run_config["config_files"] = [os.path.abspath(f) for f in config_files]
    return Run(
        name=name,
        fn=partial(train_and_test, keep_checkpoint=keep_checkpoint),
        config=run_config,
        defaults=yaml_defaults,
        expected_seconds=expected_seconds,
    )


# Keys that choose how and where a run executes, not what it computes: the multi-process keys (several
# processes give one process's numbers, see docs/multi_process.md) and the results folder. They are left out
# of the defaults a record is keyed by, so that adding such an option does not make every result stale.
EXECUTION_KEYS = frozenset(
    {
        "benchmark_dir",
        "nproc",
        "world_size",
        "offset",
        "ip",
        "port",
        "backend",
        "ddp_timeout",
        "full_ranking_chunk_size",  # how many candidates are scored at once: memory, not the ranking (tested)
    }
)


def yaml_defaults(config, read=None, model=None):
    """The plugin yaml defaults a run of ``config`` reads and does not override: what the config alone hides.

    The files are those :class:`recbole_meta.config.Config` reads for the model and dataset
    (:func:`recbole_meta.config.plugin_default_files`), merged in precedence order, then the run's own
    ``config_files``; keys that ``config`` sets are dropped (a default the run overrides cannot change it),
    and so are :data:`EXECUTION_KEYS`.
    RecBole's own defaults come with its version, which each record names.

    Args:
        config (dict): the run's config (a ``model`` key unless ``model`` is given; ``dataset`` if known).
        read (callable): ``read(path relative to properties/) -> text or None``; by default the installed
            files (another reader gives the files of an older commit, see ``defaults_backfill.stamp_defaults``).
        model (str): the model, for runs whose config does not name it.
    """
    import yaml

    from recbole_meta.config import plugin_default_files, properties_dir
    from recbole_meta.registry import get_model

    def read_installed(relative):
        path = os.path.join(properties_dir(), relative)
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as file:
            return file.read()

    read = read or read_installed
    model_class = get_model(model or config["model"])
    resolved = {}
    # a dataset generated at run time (the planted suites) has no yaml of its own: the model's files only
    for relative in plugin_default_files(model_class, config.get("dataset")):
        text = read(relative)
        if text is not None:
            resolved.update(yaml.safe_load(text) or {})
    for path in config.get("config_files") or ():
        with open(path, encoding="utf-8") as file:
            resolved.update(yaml.safe_load(file) or {})
    return {key: value for key, value in resolved.items() if key not in config and key not in EXECUTION_KEYS}


def models_defaults(models, datasets_key=None):
    """``Run.defaults`` for a run that builds ``models`` itself (not through :func:`recbole_run`): the yaml
    defaults each model reads and the run's config does not set, as ``{"<model>/<key>": value}``; with
    ``datasets_key``, the config holds ``{dataset name: config}`` under that key, and the keys become
    ``"<dataset name>/<model>/<key>"`` (a config without ``dataset`` reads the model's files only)."""

    def defaults(config, read=None):
        configs = config[datasets_key] if datasets_key else {None: config}
        flat = {}
        for dataset, dataset_config in configs.items():
            for model in models:
                prefix = f"{dataset}/{model}" if datasets_key else model
                for key, value in yaml_defaults(dataset_config, read=read, model=model).items():
                    flat[f"{prefix}/{key}"] = value
        return flat

    return defaults


def train_and_test(ctx, keep_checkpoint=False):
    """Train and test the model of ``ctx.config`` with ``run_recbole_meta`` in the run folder: the body of a
    :func:`recbole_run` run, for suites whose runs first adapt the config to the seed's data."""
    from recbole_meta.quick_start import run_recbole_meta

    config = dict(ctx.config)
    model = config.pop("model")
    try:
        dataset = config.pop("dataset")
    except KeyError:
        raise ValueError(f"run {ctx.run}: its config has no `dataset` (set it in Suite.config)") from None
    config_files = config.pop("config_files", None)
    config["seed"] = ctx.seed
    config.setdefault("reproducibility", True)
    config.setdefault("show_progress", False)
    config.setdefault("state", "INFO")  # RecBole's log file in the run folder; the epochs are read from it
    config["checkpoint_dir"] = os.path.join(ctx.run_dir, "saved")
    result = run_recbole_meta(
        model=model,
        dataset=dataset,
        config_file_list=config_files,
        config_dict=config,
        saved=True,
        argv=[],
    )
    epochs_run, best_epoch = epochs_from_log(ctx.run_dir)
    checkpoint = result["saved_model_file"]
    if checkpoint and not keep_checkpoint and os.path.exists(checkpoint):
        os.remove(checkpoint)
    return RunResult(
        metrics=dict(result["test_result"]),
        trainable_parameters=result["trainable_parameters"],
        info={
            "best_valid_score": float(result["best_valid_score"]),
            "best_valid_result": {k: float(v) for k, v in (result["best_valid_result"] or {}).items()},
            "checkpoint": checkpoint if keep_checkpoint else None,
            "epochs_run": epochs_run,
            "best_epoch": best_epoch,
        },
    )


def epochs_from_log(run_dir):
    """(epochs trained, best epoch) from the RecBole log file of the run (``None`` if not logged)."""
    logs = sorted(glob.glob(os.path.join(run_dir, "log", "*", "*.log")), key=os.path.getmtime)
    if not logs:
        return None, None
    with open(logs[-1], encoding="utf-8", errors="replace") as file:
        text = file.read()
    epochs, best, current = [], None, None
    for line in text.splitlines():
        trained = re.search(r"epoch (\d+) training", line)
        evaluated = re.search(r"epoch (\d+) evaluating", line)
        if trained:
            epochs.append(int(trained.group(1)))
        if evaluated:
            current = int(evaluated.group(1))
        if "Saving current" in line and current is not None:
            best = current  # the checkpoint is written after each new best validation score
    return (max(epochs) + 1 if epochs else None), best
