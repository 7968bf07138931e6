"""A suite run that trains and tests a RecBole or plugin model through :func:`recbole_meta.run_recbole_meta`."""

import os
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
    ``info`` the best validation score and result.
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
    config["checkpoint_dir"] = os.path.join(ctx.run_dir, "saved")
    result = run_recbole_meta(
        model=model,
        dataset=dataset,
        config_file_list=config_files,
        config_dict=config,
        saved=True,
        argv=[],
    )
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
        },
    )
