"""The simple baselines of the cold-start protocol, as episodic models with nothing to train.

They read the same split, tasks and evaluation code as the meta-learners (the cold-start protocol of
:mod:`recbole_meta.data.cold_start_split`), so a table compares like with like:

* :class:`GlobalMean`: mu, the mean training rating;
* :class:`ItemMean`: the item's mean training rating (mu for an item without training ratings, e.g. a new item);
* :class:`UserMean`: the mean of the user's support ratings;
* :class:`UserItemBias`: mu + b_i + b_u with shrunk biases (Koren, TKDD 2010, Section 2.1; see
  :mod:`recbole_meta.model.meta_recommender.bias`), b_u from the support set.

The MetaTrainer detects that they have no trainable parameters and evaluates them without a training loop.
"""

from recbole_meta.model.meta_recommender.abstract_meta_recommender import MetaRecommender
from recbole_meta.model.meta_recommender.bias import BiasTerms
from recbole_meta.registry import register_model


class MeanBaseline(MetaRecommender):
    """An episodic model estimated from the training split, with nothing to train."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.bias = BiasTerms.from_config(self.split, config, leave_one_out=False)  # nothing is trained


@register_model
class GlobalMean(MeanBaseline):
    """r_ui = mu."""

    def forward(self, user, support_item, support_rating, support_mask, target_item):
        return self.bias.global_mean.expand(target_item.shape)


@register_model
class ItemMean(MeanBaseline):
    """r_ui = mean training rating of item i (mu when it has none)."""

    def forward(self, user, support_item, support_rating, support_mask, target_item):
        return self.bias.item_mean[target_item]


@register_model
class UserMean(MeanBaseline):
    """r_ui = mean of the user's support ratings."""

    def forward(self, user, support_item, support_rating, support_mask, target_item):
        return self.bias.support_mean(support_rating, support_mask).expand(target_item.shape)


@register_model
class UserItemBias(MeanBaseline):
    """r_ui = mu + b_i + b_u (shrunk; b_u from the support set)."""

    def forward(self, user, support_item, support_rating, support_mask, target_item):
        return self.bias(support_item, support_rating, support_mask, target_item)
