"""Baseline predictor b_ui = mu + b_i + b_u with shrunk biases, from the training split and the task's support.

Koren, "Factor in the Neighbors: Scalable and Accurate Collaborative Filtering", TKDD 2010, Section 2.1
(baseline estimates, with the shrunk, decoupled estimates of b_i and b_u given there):

* mu: the mean training rating;
* b_i = sum_{u in R(i)} (r_ui - mu) / (lambda_item + |R(i)|) over the item's *training* ratings (0 for a new item);
* b_u = sum_{j in S(u)} (r_uj - mu - b_j) / (lambda_user + |S(u)|) over the task's *support* set, so that a new
  user's offset comes from what the user revealed, never from a query rating.

Used by the mean baselines of the cold-start protocol and by MeLU's ``predict_residual`` option (the network then
predicts r_ui - b_ui). Every statistic is a buffer computed once from ``split.train_interactions()``.
"""

import numpy as np
import torch
from torch import nn


class BiasTerms(nn.Module):
    """mu, shrunk item biases and plain item means of the training ratings; user offsets from a support set.

    Args:
        split (ColdStartSplit): the cold-start split (only its training ratings are read).
        item_shrinkage (float): lambda_item >= 0.
        user_shrinkage (float): lambda_user >= 0.
    """

    def __init__(self, split, item_shrinkage, user_shrinkage):
        super().__init__()
        for name, value in (("bias_item_shrinkage", item_shrinkage), ("bias_user_shrinkage", user_shrinkage)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        _, items, ratings = split.train_interactions()
        mu = float(ratings.mean())
        counts = np.bincount(items, minlength=split.n_items).astype(np.float64)
        sums = np.bincount(items, weights=ratings - mu, minlength=split.n_items)
        dtype = torch.get_default_dtype()
        self.user_shrinkage = float(user_shrinkage)
        self.register_buffer("global_mean", torch.tensor(mu, dtype=dtype))
        self.register_buffer(
            "item_bias", torch.as_tensor(sums / (counts + float(item_shrinkage)), dtype=dtype)
        )
        item_mean = np.where(counts > 0, mu + sums / np.maximum(counts, 1.0), mu)
        self.register_buffer("item_mean", torch.as_tensor(item_mean, dtype=dtype))

    def user_offset(self, support_item, support_rating, support_mask):
        """b_u of one task (0-d) from its support ``[S]``."""
        residual = (support_rating - self.global_mean - self.item_bias[support_item]) * support_mask
        return residual.sum() / (support_mask.sum() + self.user_shrinkage)

    def support_mean(self, support_rating, support_mask):
        """The plain mean of the support ratings (the global mean when the support is empty)."""
        count = support_mask.sum()
        total = (support_rating * support_mask).sum()
        return torch.where(count > 0, total / count.clamp(min=1.0), self.global_mean)

    def forward(self, support_item, support_rating, support_mask, target_item):
        """b_ui = mu + b_i + b_u for the target items ``[T]`` of one task."""
        return (
            self.global_mean
            + self.item_bias[target_item]
            + self.user_offset(support_item, support_rating, support_mask)
        )
