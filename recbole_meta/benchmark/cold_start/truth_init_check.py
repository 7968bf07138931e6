r"""Gradient check: can MeLU's local update recover a planted latent taste when its layers already hold the truth?

On planted ratings without the feature interaction (:mod:`recbole_meta.benchmark.synthetic.planted_ratings`,
``interaction_std: 0``) the mean rating is mu + b_i + b_u + z_u . h_i. A MeLU (Lee et al., KDD 2019, Eq. 1-3)
with only ``item_id`` as a feature can represent it exactly: the item embedding is set to [h_i, mu + b_i], the
first decision layer to ReLU([h_i, -h_i, mu + b_i, 1]), the second to the identity, and the output layer to
[0, 0, 1, 0]: the shared model predicts mu + b_i, and the user's own terms are the output weights
[z_u, -z_u, 1, b_u]. That is the best initial point meta-training could reach; what remains is the local update
(MeLU Eq. 4) on the support. :func:`truth_initialised_melu` sets the layers, :func:`adaptation_check` measures the
user_cold MAE after (steps, local rate) gradient steps, beside UserItemBias and the exact-posterior ceiling on the
same tasks: whether gradient steps from the truth can reach the ceiling, and how far MeLU's default steps get.
"""

import os

import numpy as np
import torch

from recbole_meta.benchmark.suite import RunResult

GRID = [
    (0, 0.01),
    (1, 0.01),
    (5, 0.01),
    (20, 0.01),
    (100, 0.01),
    (5, 0.02),
    (20, 0.02),
    (5, 0.05),
    (20, 0.05),
]


def truth_config(rank):
    """The MeLU settings under which :func:`truth_initialised_melu` can hold the truth of a rank-``rank`` taste."""
    width = 2 * rank + 2
    return {
        "user_features": [],
        "item_features": ["item_id"],
        "embedding_size": rank + 1,
        "mlp_hidden_size": [width, width],
        "predict_residual": False,
    }


@torch.no_grad()
def truth_initialised_melu(model, dataset, truth):
    """Set ``model`` (a MeLU built with :func:`truth_config`) to predict mu + b_i, with z_u and b_u one linear
    layer away (see the module docstring). ``truth``: the planted truth (a dict of arrays)."""
    if float(np.abs(truth["user_feature_factor"]).max()) > 0:
        raise ValueError(
            "truth_initialised_melu needs planted data without the feature interaction (interaction_std 0)"
        )
    loading = truth["item_taste_loading"]
    rank = loading.shape[1]
    known = float(truth["mu"]) + truth["item_bias"]
    tokens = dataset.field2id_token[dataset.iid_field]
    index = np.array([int(t) - 1 for t in tokens[1:]])
    embedding = model.item_encoder.embeddings[dataset.iid_field].weight
    dtype = embedding.dtype
    embedding.zero_()
    embedding[1:, :rank] = torch.as_tensor(loading[index], dtype=dtype)
    embedding[1:, rank] = torch.as_tensor(known[index], dtype=dtype)
    first, second = model.decision[0], model.decision[2]
    for layer in (first, second, model.output):
        layer.weight.zero_()
        layer.bias.zero_()
    eye = torch.eye(rank, dtype=dtype)
    first.weight[:rank, :rank] = eye
    first.weight[rank : 2 * rank, :rank] = -eye
    first.weight[2 * rank, rank] = 1.0
    first.bias[2 * rank + 1] = 1.0
    second.weight.copy_(torch.eye(2 * rank + 2, dtype=dtype))
    model.output.weight[0, 2 * rank] = 1.0
    return model


def adaptation_check(ctx):
    """Run function: user_cold MAE of the truth-initialised MeLU after each (steps, local rate) of :data:`GRID`."""
    from recbole_meta.config import Config
    from recbole_meta.quick_start import build_run
    from recbole_meta.trainer.maml import MAML

    config = dict(ctx.config)
    config.pop("model")
    dataset_name = config.pop("dataset")
    with np.load(config["planted_truth"]) as data:
        truth = {key: data[key] for key in data.files}
    rank = truth["user_taste"].shape[1]
    config.update(truth_config(rank))
    config.update(
        seed=ctx.seed,
        state="WARNING",
        show_progress=False,
        eval_states=["user_cold"],
        checkpoint_dir=os.path.join(ctx.run_dir, "saved"),
    )
    reference = {}
    for name, model_name in (("UserItemBias", "UserItemBias"), ("Posterior", "PlantedPosterior")):
        _, (_, _, test), _, trainer = build_run(Config(model_name, dataset_name, config_dict=config, argv=[]))
        reference[name] = float(trainer.evaluate(test, load_best_model=False)["user_cold"]["mae"])
    run_config = Config("MeLU", dataset_name, config_dict=config, argv=[])
    dataset, (_, _, test), model, trainer = build_run(run_config)
    truth_initialised_melu(model, dataset, truth)
    grid, default = [], None
    for steps, lr in GRID:
        trainer.maml = MAML(model, run_config["local_update_params"], lr, steps)
        result = trainer.evaluate(test, load_best_model=False)["user_cold"]
        share = (reference["UserItemBias"] - result["mae"]) / (
            reference["UserItemBias"] - reference["Posterior"]
        )
        grid.append({"steps": steps, "local_lr": lr, "mae": float(result["mae"]), "attainable_share": share})
        if (steps, lr) == (run_config["local_update_steps"], run_config["local_lr"]):
            default = {k: float(v) for k, v in result.items()}
    return RunResult(
        metrics={"user_cold": default},
        trainable_parameters=0,
        info={"reference_mae": reference, "grid": grid},
    )
