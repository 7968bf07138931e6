"""A MeLU run that records its learning curve and chooses its local update on the validation users.

For the planted-signal suites: after each epoch the validation users' MAE (what early stopping reads) and, for
the record only, the user_cold test MAE, so a table shows where training flattens; nothing is chosen on the
test users. After training (best epoch by validation MAE), the local update of the trained model is re-chosen
on the validation users from a grid of (steps, local rate) -- steps only when the rates are Meta-SGD's learned
ones -- and the test states are evaluated with the chosen setting too. The run's metrics are those of the default
local update; the chosen one and the curve are in its ``info``. A grid setting whose local update diverges (NaN
predictions) on the validation users gets an infinite MAE (recorded as such), so it is never chosen.
"""

import os
import time

from recbole_meta.benchmark.suite import Run, RunResult

ADAPT_STEPS = (5, 10, 20)
ADAPT_RATES = (0.01, 0.03, 0.1)


def curve_run(name, model, config=None):
    """A :class:`Run` of ``model`` (an episodic model with a local update) through :func:`train_with_curve`."""
    return Run(name=name, fn=train_with_curve, config={"model": model, **(config or {})})


def _mae(result):
    return float(result["mae"])


def train_with_curve(ctx):
    from recbole_meta.config import Config
    from recbole_meta.quick_start import build_run, plain_floats
    from recbole_meta.trainer.maml import MAML

    config = dict(ctx.config)
    model_name, dataset = config.pop("model"), config.pop("dataset")
    config.update(
        seed=ctx.seed,
        reproducibility=True,
        show_progress=False,
        state="WARNING",
        checkpoint_dir=os.path.join(ctx.run_dir, "saved"),
    )
    run_config = Config(model_name, dataset, config_dict=config, argv=[])
    _, (train, valid, test), model, trainer = build_run(run_config)
    curve = []

    def record(epoch, valid_score):
        user_cold = trainer.evaluate(test["user_cold"], load_best_model=False)
        curve.append({"epoch": epoch + 1, "valid_mae": float(valid_score), "user_cold_mae": _mae(user_cold)})

    started = time.perf_counter()
    best_score, best_valid = trainer.fit(train, valid, saved=True, callback_fn=record)
    train_seconds = time.perf_counter() - started
    test_result = plain_floats(trainer.evaluate(test, load_best_model=True))

    default = trainer.maml
    learned = bool(default.rate_names)
    # Meta-SGD: how far the learned rates moved from local_lr (mean and spread per adapted parameter)
    rates = {
        name: {
            "mean": float(rate.mean()),
            "std": float(rate.std()),
            "min": float(rate.min()),
            "max": float(rate.max()),
        }
        for name, rate in default.learned_rates().items()
    }
    grid = (
        [(steps, None) for steps in ADAPT_STEPS]
        if learned
        else [(steps, lr) for steps in ADAPT_STEPS for lr in ADAPT_RATES]
    )
    choices = []
    for steps, lr in grid:
        trainer.maml = MAML(
            model,
            run_config["local_update_params"],
            run_config["local_lr"] if lr is None else lr,
            steps,
            learn_local_lr=learned,
            local_lr_max=default.local_lr_max,
        )
        try:
            valid_mae = _mae(trainer.evaluate(valid, load_best_model=False))
        except ValueError as err:  # the trainer refuses NaN predictions: this setting diverges, never chosen
            if "diverged" not in str(err):
                raise
            valid_mae = float("inf")
        choices.append({"steps": steps, "local_lr": lr, "valid_mae": valid_mae})
    chosen = min(choices, key=lambda c: c["valid_mae"])
    trainer.maml = MAML(
        model,
        run_config["local_update_params"],
        run_config["local_lr"] if chosen["local_lr"] is None else chosen["local_lr"],
        chosen["steps"],
        learn_local_lr=learned,
        local_lr_max=default.local_lr_max,
    )
    chosen_test = plain_floats(trainer.evaluate(test, load_best_model=False))
    trainer.maml = default
    checkpoint = trainer.saved_model_file
    if checkpoint and os.path.exists(checkpoint):
        os.remove(checkpoint)
    # 0-based, as RecBole logs it (the other runs' best_epoch)
    best_epoch = min(curve, key=lambda c: c["valid_mae"])["epoch"] - 1 if curve else None
    return RunResult(
        metrics=test_result,
        trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
        info={
            "best_valid_score": float(best_score),
            "best_valid_result": {k: float(v) for k, v in (best_valid or {}).items()},
            "epochs_run": len(curve),
            "best_epoch": best_epoch,
            "train_seconds": train_seconds,
            "curve": curve,
            "adapt_grid": choices,
            "adapt_chosen": chosen,
            "adapt_chosen_test": chosen_test,
            "learned_rates": rates,
        },
    )
