"""Planted ratings: each term has the asked size, the Oracle sits at the noise floor, features carry the planted part."""

import math

import numpy as np
import pandas as pd
import pytest

from recbole_meta.benchmark.synthetic.planted_ratings import generate_planted_ratings, true_means
from tests.cold_start_helpers import build_on_planted


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return generate_planted_ratings(
        str(tmp_path_factory.mktemp("data")),
        n_users=300,
        n_items=80,
        ratings_per_user=25,
        max_user_ratings=60,
        seed=3,
        noise=0.4,
    )


def _ratings(planted):
    inter = pd.read_csv(f"{planted.data_path}/{planted.name}/{planted.name}.inter", sep="\t")
    return inter["user_id:token"].to_numpy() - 1, inter["item_id:token"].to_numpy() - 1, inter["rating:float"]


def test_terms_have_the_asked_sizes_and_the_noise_is_what_remains(planted):
    assert planted.term_std["item_bias"] == pytest.approx(0.4, rel=1e-6)
    assert planted.term_std["latent_taste"] == pytest.approx(0.5, rel=1e-6)
    users, items, ratings = _ratings(planted)
    assert len(ratings) == planted.n_interactions == 300 * 25
    counts = np.bincount(users, minlength=300)
    assert counts.min() >= 13 and counts.max() <= 60
    assert len(set(zip(users, items))) == len(users)  # no duplicates
    truth = dict(np.load(planted.truth_file))
    residual = ratings.to_numpy() - true_means(truth, users, items)
    assert residual.std() == pytest.approx(0.4, rel=0.05)
    assert abs(residual.mean()) < 0.02
    assert np.abs(residual).mean() == pytest.approx(0.4 * math.sqrt(2 / math.pi), rel=0.05)


def test_oracle_predicts_the_true_means_and_the_taste_is_hidden_from_the_features(planted):
    states = ["warm", "user_cold"]
    dataset, (_, _, test), model, trainer = build_on_planted("PlantedOracle", planted, states)
    truth = dict(np.load(planted.truth_file))
    split = dataset.cold_split
    tokens = dataset.field2id_token
    task = split.tasks["user_cold"][0]
    raw_user = int(tokens["user_id"][task.user]) - 1
    raw_items = np.array([int(tokens["item_id"][i]) - 1 for i in split.items[task.query]])
    scores, labels, index = trainer.predict_tasks(test["user_cold"])
    expected = true_means(truth, np.full(len(raw_items), raw_user), raw_items)
    np.testing.assert_allclose(scores[index == 0].numpy(), expected, rtol=1e-5)
    bias = build_on_planted("UserItemBias", planted, states)[3]
    oracle_mae = trainer.evaluate(test, load_best_model=False)["user_cold"]["mae"]
    bias_mae = bias.evaluate(test, load_best_model=False)["user_cold"]["mae"]
    assert oracle_mae == pytest.approx(0.4 * math.sqrt(2 / math.pi), rel=0.15)
    assert bias_mae > oracle_mae + 0.15  # the interaction and the taste are left to the models
    # users with the same features share a_u (the feature part); z_u differs (the hidden taste)
    gender = pd.read_csv(f"{planted.data_path}/{planted.name}/{planted.name}.user", sep="\t")
    same = gender.groupby(["gender:token", "age:token", "occupation:token"]).indices
    group = next(rows for rows in same.values() if len(rows) >= 2)
    a, z = truth["user_feature_factor"], truth["user_taste"]
    np.testing.assert_allclose(a[group[0]], a[group[1]])
    assert not np.allclose(z[group[0]], z[group[1]])


def test_posterior_ceiling_is_the_exact_bayesian_update_and_sits_between_bias_and_oracle(planted):
    dataset, (_, _, test), _, trainer = build_on_planted("PlantedPosterior", planted, ["user_cold"])
    truth = dict(np.load(planted.truth_file))
    split, tokens = dataset.cold_split, dataset.field2id_token
    scores, _, index = trainer.predict_tasks(test["user_cold"])
    sigma2 = float(truth["noise"]) ** 2
    prior = np.diag([truth["user_bias_prior_std"] ** 2] + [truth["user_taste_prior_std"] ** 2] * 4)
    known = truth["mu"] + truth["item_bias"] + truth["user_feature_factor"] @ truth["item_feature_factor"].T
    design = np.hstack([np.ones((planted.n_items, 1)), truth["item_taste_loading"]])
    predictive_var, squared_error = [], []
    for t, task in enumerate(split.tasks["user_cold"]):
        user = int(tokens["user_id"][task.user]) - 1
        s_items = np.array([int(tokens["item_id"][i]) - 1 for i in split.items[task.support]])
        q_items = np.array([int(tokens["item_id"][i]) - 1 for i in split.items[task.query]])
        x, y = design[s_items], split.ratings[task.support] - known[user, s_items]
        # precision form, independent of the model's whitened solve
        cov = np.linalg.inv(x.T @ x / sigma2 + np.linalg.inv(prior))
        w = cov @ x.T @ y / sigma2
        expected = known[user, q_items] + design[q_items] @ w
        np.testing.assert_allclose(scores[index == t].numpy(), expected, rtol=1e-4, atol=1e-4)
        predictive_var += list(np.einsum("qd,de,qe->q", design[q_items], cov, design[q_items]))
        squared_error += list((expected - true_means(truth, np.full(len(q_items), user), q_items)) ** 2)
    # the error against the true mean is what the posterior covariance says it is (Monte Carlo over users)
    assert np.mean(squared_error) == pytest.approx(np.mean(predictive_var), rel=0.25)
    posterior_mae = trainer.evaluate(test, load_best_model=False)["user_cold"]["mae"]
    oracle, bias = (
        build_on_planted(name, planted, ["user_cold"])[3] for name in ("PlantedOracle", "UserItemBias")
    )
    oracle_mae = oracle.evaluate(test, load_best_model=False)["user_cold"]["mae"]
    bias_mae = bias.evaluate(test, load_best_model=False)["user_cold"]["mae"]
    assert oracle_mae < posterior_mae < bias_mae
    # MAE of a Gaussian error: sqrt(2/pi) * sqrt(sigma^2 + predictive variance), averaged over the queries
    theory = np.mean(np.sqrt(2 / math.pi) * np.sqrt(sigma2 + np.array(predictive_var)))
    assert posterior_mae == pytest.approx(theory, rel=0.1)
