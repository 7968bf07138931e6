"""A suite run that trains and tests a RecBole or plugin model through :func:`recbole_meta.run_recbole_meta`."""

import glob
import os
import re
from functools import partial

from recbole_meta.benchmark.suite import Run, RunResult


def recbole_run(name, model, config=None, config_files=None, keep_checkpoint=False):
    """A :class:`Run` that trains ``model`` with ``run_recbole_meta`` and reports its test metrics.

    The run's config is ``Suite.config`` < ``config`` (< ``Suite.quick_config``); it must contain ``dataset``
    and may contain any RecBole key. Paths in it (``data_path``, ``config_files``) must be absolute: the run
    executes inside its run folder. ``seed`` is set from the suite's seed, ``checkpoint_dir`` to the run
    folder; the best model on validation is tested (``saved=True``) and its checkpoint deleted afterwards
    unless ``keep_checkpoint``.

    Returns metrics = RecBole's ``test_result`` (flat, e.g. ``ndcg@10``), trainable parameters, and in
    ``info`` the best validation score and result, the epochs trained and the best epoch (read from RecBole's
    log file in the run folder).
    """
    run_config = {"model": model}
    run_config.update(config or {})
    if config_files:
        run_config["config_files"] = [os.path.abspath(f) for f in config_files]
    return Run(name=name, fn=partial(_train_and_test, keep_checkpoint=keep_checkpoint), config=run_config)


def _train_and_test(ctx, keep_checkpoint=False):
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
