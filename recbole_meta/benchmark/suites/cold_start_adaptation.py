"""``cold_start_adaptation``: what MeLU's local update recovers of a planted latent taste (a diagnosis).

Planted ratings (:mod:`recbole_meta.benchmark.synthetic.planted_ratings`) with the feature interaction switched off, so
that beyond the biases the only signal is the latent taste z_u . h_i that a user shows only through the
support. MeLU-5 is meta-trained with its defaults (item id among the item features, at most ``epochs``
epochs); then the *same trained model* is evaluated on the new users with the local update changed at test time
(0, 1, 5, 20 steps; local lr 0.01 / 0.05 / 0.1), beside the Oracle (true mean) and UserItemBias on the same tasks.
It separates "meta-training did not learn" from "the local update cannot express the taste": 0 steps shows what
the shared network predicts, more steps or a larger rate show whether further adaptation would help, and the mean
change of a query prediction made by the 5 local steps shows how far adaptation moves.

    python -m recbole_meta.benchmark cold_start_adaptation
"""

import time

from recbole_meta.benchmark import Run, RunResult, Suite, register_suite
from recbole_meta.benchmark.recbole_run import models_defaults
from recbole_meta.benchmark.synthetic.planted_ratings import FEATURE_SETTINGS, generate_planted_ratings

TEST_TIME = [(0, 0.01), (1, 0.01), (5, 0.01), (20, 0.01), (5, 0.05), (5, 0.1), (20, 0.05)]


def _adaptation(ctx):
    import os

    import torch

    from recbole_meta.config import Config
    from recbole_meta.quick_start import build_run
    from recbole_meta.trainer.maml import MAML

    config = dict(ctx.config)
    planted = config.pop("planted")
    torch.set_num_threads(config.get("meta_num_threads") or 1)
    data = generate_planted_ratings(
        os.path.join(ctx.out_dir, "data", "cold_start_adaptation"),
        seed=ctx.seed,
        name=f"taste_only_s{ctx.seed}",
        **planted,
    )
    config.update(data.config_dict())
    config.update(
        seed=ctx.seed, state="WARNING", show_progress=False, checkpoint_dir=os.path.join(ctx.run_dir, "saved")
    )
    metrics = {}
    for name, model in (("oracle", "PlantedOracle"), ("user_item_bias", "UserItemBias")):
        _, (_, _, test), _, trainer = build_run(Config(model, data.name, config_dict=config, argv=[]))
        metrics[f"{name}_mae"] = trainer.evaluate(test, load_best_model=False)["user_cold"]["mae"]
    run_config = Config("MeLU", data.name, config_dict=config, argv=[])
    _, (train, valid, test), model, trainer = build_run(run_config)
    started = time.perf_counter()
    trainer.fit(train, valid, saved=False)
    trained = trainer.maml
    for steps, lr in TEST_TIME:
        trainer.maml = MAML(model, run_config["local_update_params"], lr, steps, vectorize=True)
        metrics[f"melu_steps{steps}_lr{lr:g}_mae"] = trainer.evaluate(test, load_best_model=False)[
            "user_cold"
        ]["mae"]
    frozen = MAML(model, run_config["local_update_params"], 0.01, 0)
    moved, count = 0.0, 0.0
    with torch.no_grad():
        for batch in test["user_cold"]:
            mask = batch["query_mask"]
            moved += float(((trained.predict_query(batch) - frozen.predict_query(batch)).abs() * mask).sum())
            count += float(mask.sum())
    metrics["mean_prediction_change_5_steps"] = moved / count
    gap = metrics["user_item_bias_mae"] - metrics["oracle_mae"]
    metrics["gap_closed_5_steps"] = (metrics["user_item_bias_mae"] - metrics["melu_steps5_lr0.01_mae"]) / gap
    metrics["gap_closed_20_steps"] = (
        metrics["user_item_bias_mae"] - metrics["melu_steps20_lr0.01_mae"]
    ) / gap
    return RunResult(
        metrics=metrics,
        trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
        info={"train_seconds": time.perf_counter() - started, "term_std": data.term_std},
    )


@register_suite("cold_start_adaptation")
def cold_start_adaptation(options):
    return Suite(
        name="cold_start_adaptation",
        description=(
            "Planted ratings without the feature interaction: r = 3.5 + b_i (0.4) + b_u (0.3) + latent taste "
            "z_u . h_i (0.5; z_u in no feature) + N(0, 0.5^2), 800 users x 200 items, about 32k ratings, all "
            "items existing, users 70/10/20. MeLU-5 (item id + category + tags, user gender/age/occupation; "
            "local lr 0.01, Adam 0.001, support-first episodes) meta-trained for 15 epochs (the last epoch's model), then evaluated on "
            "the new users (user_cold MAE) with the local update changed at test time; Oracle and UserItemBias "
            "on the same tasks. gap_closed = (bias - MeLU) / (bias - Oracle)."
        ),
        config={
            "meta_num_threads": 1,
            "new_item_rule": None,
            "eval_states": ["user_cold"],
            **FEATURE_SETTINGS,
            "epochs": 15,
            "stopping_step": 100,
            "planted": {"n_users": 800, "n_items": 200, "ratings_per_user": 40, "interaction_std": 0.0},
        },
        quick_config={
            "epochs": 1,
            "query_size": 4,
            "embedding_size": 4,
            "mlp_hidden_size": [8, 8],
            "planted": {"n_users": 120, "n_items": 60, "ratings_per_user": 20, "max_user_ratings": 40},
        },
        seeds=(0,),
        runs=[
            Run(
                "MeLU-5",
                _adaptation,
                config={},
                defaults=models_defaults(["MeLU", "UserItemBias", "PlantedOracle"]),
            )
        ],
        mark_best=False,
    )
