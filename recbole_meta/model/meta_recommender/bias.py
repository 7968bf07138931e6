"""Baseline predictor b_ui = mu + b_i + b_u with shrunk biases, from the training split and the task's support.

Koren, "Factor in the Neighbors: Scalable and Accurate Collaborative Filtering", TKDD 2010, Section 2.1
(baseline estimates, with the shrunk, decoupled estimates of b_i and b_u given there):

* mu: the mean training rating;
* b_i = sum_{u in R(i)} (r_ui - mu) / (lambda_item + |R(i)|) over the item's *training* ratings (0 for a new item);
* b_u = sum_{j in S(u)} (r_uj - mu - b_j) / (lambda_user + |S(u)|) over the task's *support* set, so that a new
  user's offset comes from what the user revealed, never from a query rating.

Used by the mean baselines of the cold-start protocol and by MeLU's ``predict_residual`` option (the network then
predicts r_ui - b_ui). Every statistic is a buffer computed once from ``split.train_interactions()``.

Leave-one-out in training (``bias_leave_one_out: True``): a training task's ratings are training ratings, so the
plain b_i of a training query item contains the very rating being predicted (a train/test mismatch: a test
query's rating is never in b_i). In training mode, given the task's user, b_i is recomputed without that user's
own rating of i, b_i^(-u) = (sum_{v in R(i)} (r_vi - mu) - (r_ui - mu)) / (lambda_item + |R(i)| - 1), for the
query and the support items alike (so b_u is the offset a new user would get). Evaluation (``model.eval()``) uses
the plain b_i: test queries are never training ratings.
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

    def __init__(self, split, item_shrinkage, user_shrinkage, leave_one_out=False):
        super().__init__()
        for name, value in (("bias_item_shrinkage", item_shrinkage), ("bias_user_shrinkage", user_shrinkage)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        users, items, ratings = split.train_interactions()
        mu = float(ratings.mean())
        counts = np.bincount(items, minlength=split.n_items).astype(np.float64)
        sums = np.bincount(items, weights=ratings - mu, minlength=split.n_items)
        dtype = torch.get_default_dtype()
        self.user_shrinkage = float(user_shrinkage)
        self.item_shrinkage = float(item_shrinkage)
        self.leave_one_out = bool(leave_one_out)
        self.n_items = int(split.n_items)
        if self.leave_one_out:
            # each training (user, item) pair as one sorted key, with its residual r - mu
            keys = users.astype(np.int64) * self.n_items + items.astype(np.int64)
            order = np.argsort(keys, kind="stable")
            self.register_buffer("pair_key", torch.as_tensor(keys[order]), persistent=False)
            self.register_buffer(
                "pair_residual", torch.as_tensor((ratings - mu)[order], dtype=dtype), persistent=False
            )
            self.register_buffer("item_count", torch.as_tensor(counts, dtype=dtype), persistent=False)
            self.register_buffer("item_sum", torch.as_tensor(sums, dtype=dtype), persistent=False)
        self.register_buffer("global_mean", torch.tensor(mu, dtype=dtype))
        self.register_buffer(
            "item_bias", torch.as_tensor(sums / (counts + float(item_shrinkage)), dtype=dtype)
        )
        item_mean = np.where(counts > 0, mu + sums / np.maximum(counts, 1.0), mu)
        self.register_buffer("item_mean", torch.as_tensor(item_mean, dtype=dtype))

    @classmethod
    def from_config(cls, split, config, leave_one_out=None):
        """Bias terms with the model's ``bias_item_shrinkage`` and ``bias_user_shrinkage``; leave-one-out in
        training as ``bias_leave_one_out`` says, unless ``leave_one_out`` is given."""
        if leave_one_out is None:
            leave_one_out = config["bias_leave_one_out"]
        return cls(
            split, config["bias_item_shrinkage"], config["bias_user_shrinkage"], leave_one_out=leave_one_out
        )

    def item_bias_for(self, items, user=None):
        """b_i of ``items``; in training mode with ``leave_one_out`` and a ``user`` (0-d), b_i^(-u)."""
        if not (self.leave_one_out and self.training and user is not None):
            return self.item_bias[items]
        keys = user * self.n_items + items
        position = torch.searchsorted(self.pair_key, keys).clamp(max=self.pair_key.shape[0] - 1)
        own = (self.pair_key[position] == keys).to(self.item_sum.dtype)
        residual = self.pair_residual[position] * own
        return (self.item_sum[items] - residual) / (self.item_count[items] - own + self.item_shrinkage).clamp(
            min=1e-12
        )

    def user_offset(self, support_item, support_rating, support_mask, user=None):
        """b_u of one task (0-d) from its support ``[S]``."""
        item_bias = self.item_bias_for(support_item, user)
        residual = (support_rating - self.global_mean - item_bias) * support_mask
        return residual.sum() / (support_mask.sum() + self.user_shrinkage)

    def support_mean(self, support_rating, support_mask):
        """The plain mean of the support ratings (the global mean when the support is empty)."""
        count = support_mask.sum()
        total = (support_rating * support_mask).sum()
        return torch.where(count > 0, total / count.clamp(min=1.0), self.global_mean)

    def forward(self, support_item, support_rating, support_mask, target_item, user=None):
        """b_ui = mu + b_i + b_u for the target items ``[T]`` of one task (``user``: for leave-one-out)."""
        return (
            self.global_mean
            + self.item_bias_for(target_item, user)
            + self.user_offset(support_item, support_rating, support_mask, user)
        )
