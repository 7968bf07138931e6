r"""MFFoldIn: biased matrix factorisation on the training ratings, a new user's factor folded in from the support.

The baseline a cold-start meta-learner must beat when ratings hold personal taste beyond the biases. Biased MF
(Koren, Bell and Volinsky, "Matrix Factorization Techniques for Recommender Systems", IEEE Computer 2009, Eq. 3):

    r_ui ~ mu + b_u + b_i + p_u . q_i,

fitted by alternating least squares (Zhou et al., "Large-Scale Parallel Collaborative Filtering for the Netflix
Prize", AAIM 2008; biases as one more column) on exactly the meta-training ratings: each step solves, for every
user (then item), the ridge problem min sum_i (r_ui - mu - b_i - b_u - p_u . q_i)^2 + lambda (|p_u|^2 + b_u^2) in
closed form. The item side (q_i, b_i) is kept; the user side is thrown away.

At test time every user, existing or new, is *folded in* from the task's support by the same ridge problem with the
items fixed (Sarwar et al.'s fold-in, solved exactly): w_u = (Z^T Z + lambda I)^-1 Z^T y with Z = [q_j, 1] and
y = r_uj - mu - b_j over the support, so the model sees the same information as every other model of the table.
A new item has q_i = 0 and b_i = 0. Nothing is trained by gradient: the MetaTrainer evaluates it directly.
"""

import numpy as np
import torch

from recbole_meta.model.meta_recommender.abstract_meta_recommender import MetaRecommender
from recbole_meta.registry import register_model


def _ridge_rows(owner, features, target, n_owners, reg):
    """Per owner o, the ridge solution w_o of sum over its rows (target - features . w)^2 + reg |w|^2."""
    dim = features.shape[1]
    gram = np.zeros((n_owners, dim, dim))
    for a in range(dim):
        for b in range(a, dim):
            value = np.bincount(owner, weights=features[:, a] * features[:, b], minlength=n_owners)
            gram[:, a, b] = value
            gram[:, b, a] = value
    gram += reg * np.eye(dim)
    rhs = np.stack(
        [np.bincount(owner, weights=features[:, a] * target, minlength=n_owners) for a in range(dim)], axis=1
    )
    return np.linalg.solve(gram, rhs[..., None])[..., 0]


def fit_biased_mf(users, items, ratings, n_users, n_items, rank, reg, iterations, seed):
    """(mu, item factors ``[n_items, rank]``, item biases, user factors, user biases) by ALS."""
    rng = np.random.default_rng(seed)
    mu = float(ratings.mean())
    user_factor = rng.normal(0.0, 0.1, (n_users, rank))
    item_factor = rng.normal(0.0, 0.1, (n_items, rank))
    user_bias, item_bias = np.zeros(n_users), np.zeros(n_items)
    ones = np.ones((len(ratings), 1))
    for _ in range(iterations):
        solved = _ridge_rows(
            users, np.hstack([item_factor[items], ones]), ratings - mu - item_bias[items], n_users, reg
        )
        user_factor, user_bias = solved[:, :rank], solved[:, rank]
        solved = _ridge_rows(
            items, np.hstack([user_factor[users], ones]), ratings - mu - user_bias[users], n_items, reg
        )
        item_factor, item_bias = solved[:, :rank], solved[:, rank]
    rated = np.bincount(items, minlength=n_items) > 0
    item_factor[~rated], item_bias[~rated] = 0.0, 0.0  # an item without training ratings: no factor, no bias
    return mu, item_factor, item_bias, user_factor, user_bias


@register_model
class MFFoldIn(MetaRecommender):
    """Biased MF (ALS) on the training ratings; each task's user folded in by ridge on its support.

    Config (``properties/model/MFFoldIn.yaml``): ``mf_rank`` (k), ``mf_reg`` (lambda, training and fold-in),
    ``mf_iterations`` (ALS sweeps).
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        rank, reg, iterations = config["mf_rank"], config["mf_reg"], config["mf_iterations"]
        for name, value in (("mf_rank", rank), ("mf_iterations", iterations)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if isinstance(reg, bool) or not isinstance(reg, (int, float)) or reg <= 0:
            raise ValueError(f"mf_reg must be a positive number, got {reg!r}")
        users, items, ratings = self.split.train_interactions()
        mu, item_factor, item_bias, _, _ = fit_biased_mf(
            users,
            items,
            ratings,
            self.split.n_users,
            self.split.n_items,
            rank,
            float(reg),
            iterations,
            int(config["seed"]),
        )
        dtype = torch.get_default_dtype()
        self.reg = float(reg)
        self.register_buffer("global_mean", torch.tensor(mu, dtype=dtype))
        self.register_buffer("item_factor", torch.as_tensor(item_factor, dtype=dtype))
        self.register_buffer("item_bias", torch.as_tensor(item_bias, dtype=dtype))

    def fold_in(self, support_item, support_rating, support_mask):
        """[p_u, b_u] ``[k + 1]`` of one task by ridge regression on its (masked) support."""
        z = torch.cat([self.item_factor[support_item], torch.ones_like(support_rating).unsqueeze(-1)], dim=-1)
        z = z * support_mask.unsqueeze(-1)
        y = (support_rating - self.global_mean - self.item_bias[support_item]) * support_mask
        gram = z.transpose(0, 1) @ z + self.reg * torch.eye(z.shape[1], dtype=z.dtype, device=z.device)
        return torch.linalg.solve(gram, z.transpose(0, 1) @ y)

    def forward(self, user, support_item, support_rating, support_mask, target_item):
        w = self.fold_in(support_item, support_rating, support_mask)
        rank = self.item_factor.shape[1]
        return (
            self.global_mean
            + self.item_bias[target_item]
            + self.item_factor[target_item] @ w[:rank]
            + w[rank]
        )
