"""Gradient check on planted data: a MeLU set to the truth holds it exactly, and its local update moves toward it."""

import numpy as np
import pytest
import torch

from recbole_meta.benchmark.cold_start.truth_init_check import truth_config, truth_initialised_melu
from recbole_meta.benchmark.synthetic.planted_ratings import generate_planted_ratings, true_means
from recbole_meta.trainer.maml import MAML
from tests.cold_start_helpers import build_on_planted


@pytest.fixture(scope="module")
def taste_only(tmp_path_factory):
    planted = generate_planted_ratings(
        str(tmp_path_factory.mktemp("data")),
        n_users=200,
        n_items=60,
        ratings_per_user=30,
        max_user_ratings=50,
        seed=5,
        interaction_std=0.0,
        taste_std=0.6,
        noise=0.3,
    )
    dataset, (_, _, test), model, trainer = build_on_planted(
        "MeLU", planted, ["user_cold"], **truth_config(4)
    )
    truth = dict(np.load(planted.truth_file))
    truth_initialised_melu(model, dataset, truth)
    return dataset, test, model, trainer, truth


def _raw(dataset, field, ids):
    return np.array([int(dataset.field2id_token[field][i]) - 1 for i in np.atleast_1d(ids)])


def test_truth_initialised_melu_holds_the_planted_mean_exactly(taste_only):
    dataset, _, model, _, truth = taste_only
    split = dataset.cold_split
    task = split.tasks["user_cold"][0]
    items = torch.as_tensor(split.items[task.query])
    user = torch.tensor(task.user)
    empty = torch.zeros(0)
    raw_user = _raw(dataset, "user_id", task.user)[0]
    raw_items = _raw(dataset, "item_id", split.items[task.query])
    # the shared network: mu + b_i
    shared = model(user, empty.long(), empty, empty, items).detach().numpy()
    np.testing.assert_allclose(shared, truth["mu"] + truth["item_bias"][raw_items], rtol=1e-5)
    # one linear layer away: output weights [z_u, -z_u, 1, b_u] give the true mean
    z, b = truth["user_taste"][raw_user], truth["user_bias"][raw_user]
    personal = {
        "output.weight": torch.as_tensor(np.concatenate([z, -z, [1.0, b]])[None], dtype=torch.float32),
        "output.bias": torch.zeros(1),
    }
    prediction = torch.func.functional_call(
        model, personal, (user, empty.long(), empty, empty, items), strict=False
    )
    expected = true_means(truth, np.full(len(raw_items), raw_user), raw_items)
    np.testing.assert_allclose(prediction.detach().numpy(), expected, rtol=1e-4, atol=1e-4)


def test_more_local_steps_from_the_truth_recover_the_taste(taste_only):
    _, test, model, trainer, _ = taste_only
    maes = {}
    for steps in (0, 5, 100):
        trainer.maml = MAML(model, ["decision.*", "output.*"], 0.01, steps)
        maes[steps] = trainer.evaluate(test, load_best_model=False)["user_cold"]["mae"]
    assert maes[100] < maes[5] < maes[0]
    assert (
        maes[100] < 0.3 * np.sqrt(2 / np.pi) * 1.3
    )  # near the noise floor (0.24) once the taste is recovered
