r"""ProtoRec: prototypes of a user's liked and disliked items (metric-based meta-learning, no inner loop).

Reference:
    Jake Snell, Kevin Swersky and Richard Zemel. "Prototypical Networks for Few-shot Learning." NeurIPS 2017
    (arXiv:1703.05175).

For implicit (or binarised) feedback. A support rating r_j >= ``like_threshold`` makes item j liked, otherwise
disliked. With the embedding f(u, i) of :class:`~recbole_meta.model.layers.task_embedding.TaskEmbedding`
(the shared feature encoders, so new items are embedded from their features):

* prototypes c_+ and c_- = the mean embedding of the liked / disliked support items (the paper's Eq. 1); a
  class the support lacks (a single item, all ratings equal) uses a learned default prototype instead;
* score s(q) = alpha (||f(u, q) - c_-||^2 - ||f(u, q) - c_+||^2) + beta, the logit of the softmax over the
  negative squared Euclidean distances to the two prototypes (Eq. 2), with a learned scale alpha > 0 and
  bias beta; with ``use_item_bias`` (not in the paper) plus w b_q, the shrunk training item bias of
  :mod:`~recbole_meta.model.meta_recommender.bias` (0 for a new item), weighted by a learned w;
* prediction y(q) = r_low + (r_high - r_low) sigmoid(s(q)) on the rating range, so that the trainer's squared
  error and the value metrics apply; with ratings in [0, 1] (implicit feedback) it is the like probability and
  the loss is its Brier score. Ranking metrics (graded NDCG within the query) order items by s(q).
"""

import torch
import torch.nn.functional as F
from torch import nn

from recbole_meta.model.layers.task_embedding import TaskEmbedding
from recbole_meta.model.meta_recommender.abstract_meta_recommender import MetaRecommender
from recbole_meta.model.meta_recommender.bias import BiasTerms
from recbole_meta.registry import register_model


def prototypes(support, weights, default):
    """Weighted mean ``[d]`` of support embeddings ``[S, d]`` (weights ``[S]`` of 0/1), ``default`` if none."""
    count = weights.sum()
    mean = (weights.unsqueeze(-1) * support).sum(dim=0) / count.clamp(min=1.0)
    return torch.where(count > 0, mean, default)


def prototype_logit(query, liked, disliked, scale, shift):
    """s = scale (||q - c_-||^2 - ||q - c_+||^2) + shift for queries ``[T, d]`` (Snell et al., Eq. 2)."""
    d_liked = ((query - liked) ** 2).sum(dim=-1)
    d_disliked = ((query - disliked) ** 2).sum(dim=-1)
    return scale * (d_disliked - d_liked) + shift


@register_model
class ProtoRec(MetaRecommender):
    """Liked / disliked prototypes per user; see the module docstring. Config in ``properties/model/ProtoRec.yaml``."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        threshold = config["like_threshold"]
        low, high = self.split.rating_min, self.split.rating_max
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not low < threshold <= high
        ):
            raise ValueError(
                f"like_threshold must be a number in ({low}, {high}] (the ratings' range), got {threshold!r}"
            )
        self.like_threshold = float(threshold)
        self.rating_low, self.rating_span = float(low), float(high - low)
        self.embed = TaskEmbedding(self, config, dataset)
        size = self.embed.output_size
        self.default_liked = nn.Parameter(torch.randn(size) * 0.1)
        self.default_disliked = nn.Parameter(torch.randn(size) * 0.1)
        self.log_scale = nn.Parameter(torch.zeros(()))
        self.shift = nn.Parameter(torch.zeros(()))
        self.use_item_bias = bool(config["use_item_bias"])
        if self.use_item_bias:
            self.bias = BiasTerms.from_config(self.split, config)
            self.item_bias_weight = nn.Parameter(torch.ones(()))

    def score(self, user, support_item, support_rating, support_mask, target_item):
        """The logit s(q) ``[T]`` of liking each target item (the ranking score)."""
        query = self.embed(user, target_item)
        support = self.embed(user, support_item)
        liked = (support_rating >= self.like_threshold).to(support_mask.dtype) * support_mask
        c_liked = prototypes(support, liked, self.default_liked)
        c_disliked = prototypes(support, support_mask - liked, self.default_disliked)
        logit = prototype_logit(query, c_liked, c_disliked, F.softplus(self.log_scale), self.shift)
        if self.use_item_bias:
            logit = logit + self.item_bias_weight * self.bias.item_bias_for(target_item, user)
        return logit

    def forward(self, user, support_item, support_rating, support_mask, target_item):
        logit = self.score(user, support_item, support_rating, support_mask, target_item)
        return self.rating_low + self.rating_span * torch.sigmoid(logit)
