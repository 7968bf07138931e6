"""Trainer stages of the ``scale`` suite: one epoch and one evaluation of MeLU, SSLTwoTower and PeterRec pre-training.

Each model gets three stages, registered with :func:`recbole_meta.benchmark.suites.scale.register_scale_stage` and
run on the size's synthetic dataset (:mod:`recbole_meta.benchmark.synthetic.planted_preferences`) through the plugin's own pipeline
(``create_dataset``, ``data_preparation``, the registered model and trainer), so that what is timed is what a user
runs:

* ``<model>_load``: the model's dataset and loaders (for MeLU the cold-start split and episodes; for the
  two-tower RecBole's random 8/1/1 split; for PeterRec its pre-training windows);
* ``<model>_train``: one training epoch (MeLU: one meta-epoch of MAML over every training user, second order,
  5 local steps; SSLTwoTower: one epoch of in-batch softmax + SSL; PeterRec: one epoch of causal NextItNet
  pre-training over the whole vocabulary at every position);
* ``<model>_eval``: one evaluation of the test part: MeLU ranks every existing item that the split rates for each
  new user (full-catalogue ranking, in chunks of ``full_ranking_chunk_size`` candidates) besides its value metrics;
  the two-tower ranks every item for every test user (RecBole's full sort); PeterRec ranks the whole vocabulary.

The models run at their shipped defaults except where :data:`MODEL_OVERRIDES` says why. Training and evaluation
stages are not run a second time under tracemalloc (torch's tensors are not traced, and the pass would double
the suite's time): their memory is the rise of peak RSS over the stage.
"""

import gc
import os

from recbole_meta.benchmark.suites.scale import COLD_START_OVERRIDES, register_scale_stage

# MeLU's cold-start split is the data stages' (no upper bound on a user's ratings, new items released >= 2010);
# evaluation on new users (user_cold) only, with full-catalogue ranking of the existing items (ratings 1-5,
# a rating >= 4 is a positive).
MODEL_OVERRIDES = {
    "MeLU": {
        **COLD_START_OVERRIDES,
        "eval_states": ["user_cold"],
        "full_ranking_topk": [10],
        "full_ranking_threshold": 4,
    },
    # RecBole's full-sort protocol on a random 8/1/1 split per user.
    "SSLTwoTower": {
        "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "RO", "group_by": "user", "mode": "full"},
    },
    # Pre-training only; the synthetic items have no `class` field, so no target domain is needed.
    "PeterRec": {"stage": "pretrain", "label_buckets": {}, "train_batch_size": 128},
}
# Quick (CI) sizes have a few hundred items: the SSL batch draws that many without replacement.
QUICK_OVERRIDES = {"SSLTwoTower": {"ssl_batch_size": 32}}
COLUMNS = {  # PeterRec reads numeric release years; the towers and MeLU embed every loaded feature
    "PeterRec": {
        "inter": ["user_id", "item_id", "rating", "timestamp"],
        "user": ["user_id", "age", "gender", "occupation"],
        "item": ["item_id", "release_year"],
    }
}
PREFIX = {"MeLU": "melu", "SSLTwoTower": "two_tower", "PeterRec": "peterrec"}


def model_config(ctx, model):
    """The RecBole ``Config`` of ``model`` on the stage context's synthetic dataset."""
    from recbole_meta.config import Config

    config_dict = ctx.synthetic.config_dict()
    if model in COLUMNS:
        config_dict["load_col"] = COLUMNS[model]
    run_dir = os.path.join(os.path.dirname(ctx.synthetic.data_path), "runs")
    config_dict.update(
        {
            "seed": ctx.seed,
            "state": "WARNING",
            "show_progress": False,
            "checkpoint_dir": os.path.join(run_dir, "saved"),
            "epochs": 1,
            **MODEL_OVERRIDES[model],
            **(QUICK_OVERRIDES.get(model, {}) if ctx.quick else {}),
        }
    )
    return Config(model=model, dataset=ctx.synthetic.name, config_dict=config_dict, argv=[])


def _load(model):
    def stage(ctx):
        from recbole.utils import init_seed

        from recbole_meta.data_preparation import create_dataset, data_preparation
        from recbole_meta.registry import get_model, get_trainer

        for name in list(ctx.artifacts):  # earlier stages' data is not needed any more: free it first
            ctx.artifacts[name] = None
        gc.collect()
        config = model_config(ctx, model)
        init_seed(config["seed"], config["reproducibility"])
        dataset = create_dataset(config)
        train, valid, test = data_preparation(config, dataset)
        init_seed(config["seed"], config["reproducibility"])
        network = get_model(model)(config, train._dataset).to(config["device"])
        trainer = get_trainer(config["MODEL_TYPE"], model)(config, network)
        return {"config": config, "loaders": (train, valid, test), "model": network, "trainer": trainer}

    return stage


def _train(model):
    def stage(ctx):
        built = ctx.artifacts[f"{PREFIX[model]}_load"]
        trainer, train = built["trainer"], built["loaders"][0]
        trainer.eval_collector.data_collect(
            train
        )  # what Trainer.fit does first (training counts for the metrics)
        loss = trainer._train_epoch(train, 0, show_progress=False)
        return {"loss": loss}

    return stage


def _evaluate(model):
    def stage(ctx):
        built = ctx.artifacts[f"{PREFIX[model]}_load"]
        result = built["trainer"].evaluate(built["loaders"][2], load_best_model=False, show_progress=False)
        # what the stage's memory holds: drop the model's loaders and network before the next model's stages
        ctx.artifacts[f"{PREFIX[model]}_load"] = None
        return result

    return stage


for _model, _prefix in PREFIX.items():
    register_scale_stage(f"{_prefix}_load")(_load(_model))
    register_scale_stage(f"{_prefix}_train", trace=False)(_train(_model))
    register_scale_stage(f"{_prefix}_eval", trace=False)(_evaluate(_model))
