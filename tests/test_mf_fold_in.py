"""MF fold-in baseline: ALS recovers a planted low-rank signal; the fold-in is the ridge solution; padding is inert."""

import numpy as np
import pytest
import torch

from recbole_meta import run_recbole_meta
from recbole_meta.model.meta_recommender.mf_fold_in import fit_biased_mf
from tests.cold_start_helpers import build, cold_config, planted_dataset


def test_als_fits_a_planted_low_rank_matrix():
    rng = np.random.default_rng(0)
    n_users, n_items, rank = 200, 60, 2
    p, q = rng.normal(size=(n_users, rank)), rng.normal(size=(n_items, rank))
    bu, bi = rng.normal(0, 0.5, n_users), rng.normal(0, 0.5, n_items)
    users, items = np.nonzero(rng.random((n_users, n_items)) < 0.4)
    ratings = 3 + bu[users] + bi[items] + (p[users] * q[items]).sum(1)
    mu, qf, qb, pf, pb = fit_biased_mf(users, items, ratings, n_users, n_items, rank, 0.01, 30, seed=0)
    fitted = mu + pb[users] + qb[items] + (pf[users] * qf[items]).sum(1)
    assert np.abs(fitted - ratings).mean() < 0.02
    rank_one = fit_biased_mf(users, items, ratings, n_users, n_items, 1, 0.01, 30, seed=0)
    fitted_one = (
        rank_one[0]
        + rank_one[4][users]
        + rank_one[2][items]
        + (rank_one[3][users] * rank_one[1][items]).sum(1)
    )
    assert np.abs(fitted_one - ratings).mean() > 0.2  # the rank matters: the fit is not trivially exact


def test_fold_in_is_the_ridge_solution_and_ignores_padding():
    dataset, _, model, _ = build("MFFoldIn", "tiny", epochs=1)
    split = model.split
    task = split.tasks["user_cold"][0]
    items = torch.as_tensor(split.items[task.support])
    ratings = torch.as_tensor(split.ratings[task.support], dtype=torch.get_default_dtype())
    mask = torch.ones_like(ratings)
    w = model.fold_in(items, ratings, mask)
    z = np.hstack([model.item_factor[items].numpy(), np.ones((len(items), 1))])
    y = ratings.numpy() - model.global_mean.item() - model.item_bias[items].numpy()
    expected = np.linalg.solve(z.T @ z + model.reg * np.eye(z.shape[1]), z.T @ y)
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-4, atol=1e-5)
    padded = model.fold_in(
        torch.cat([items, torch.tensor([3, 0])]),
        torch.cat([ratings, torch.tensor([5.0, 0.0])]),
        torch.cat([mask, torch.zeros(2)]),
    )
    torch.testing.assert_close(padded, w)


def test_mf_fold_in_finds_a_hidden_taste_the_bias_model_cannot(tmp_path):
    root, _ = planted_dataset(str(tmp_path / "data"))
    config = cold_config(
        data_path=root, new_item_rule=None, eval_states=["warm", "user_cold"], mf_rank=2, mf_reg=1.0
    )
    mf = run_recbole_meta("MFFoldIn", "planted", config_dict=config, argv=[])["test_result"]
    bias = run_recbole_meta("UserItemBias", "planted", config_dict=config, argv=[])["test_result"]
    for state in ("warm", "user_cold"):
        assert mf[state]["mae"] < 0.6 < 1.3 < bias[state]["mae"], (state, mf[state], bias[state])


def test_bad_mf_options_are_errors():
    for key, value in (("mf_rank", 0), ("mf_reg", -1.0), ("mf_iterations", 1.5)):
        with pytest.raises(ValueError, match=key):
            build("MFFoldIn", "tiny", epochs=1, **{key: value})
