"""f(u, i): one embedding of a (user, item) pair from their feature embeddings, for metric-based meta-learners.

Matching networks (Vinyals et al., NeurIPS 2016, the embedding functions f and g of Section 2.1) and prototypical
networks (Snell et al., NeurIPS 2017, the embedding function f_phi of Section 2.1) compare items through one
learned embedding. Here the embedded "example" is a rating of a user: f(u, i) = MLP([U; I]) over the user's and
the item's feature embeddings (:class:`~recbole_meta.model.layers.feature_encoder.FeatureEncoder`, as MeLU embeds them),
so a new item is embedded from its features. Used by MatchingNet and ProtoRec.
"""

import torch
from torch import nn

from recbole_meta.input_checks import check_option
from recbole_meta.model.layers.feature_encoder import FeatureEncoder


class TaskEmbedding(nn.Module):
    """f(u, i) = MLP([U; I]) from the shared feature encoders; used by MatchingNet and ProtoRec."""

    def __init__(self, model, config, dataset):
        super().__init__()
        size = check_option(config, "embedding_size", "positive integer")
        hidden = check_option(config, "hidden_size", "positive integer")
        mask_unseen = config["mask_unseen_tokens"]
        self.user_encoder = FeatureEncoder(
            dataset, "user", config["user_features"], size, model.known_users(), mask_unseen
        )
        self.item_encoder = FeatureEncoder(
            dataset, "item", config["item_features"], size, model.known_items(), mask_unseen
        )
        if self.item_encoder.output_size == 0:
            raise ValueError(
                f"{type(model).__name__} needs at least one item feature (item_features: {config['item_features']}),"
                f" and dataset {dataset.dataset_name} loads none: add a {dataset.dataset_name}.item file with "
                "feature columns, or set item_features: [item_id] to embed the item ids"
            )
        width = self.user_encoder.output_size + self.item_encoder.output_size
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.output_size = hidden

    def forward(self, user, items):
        """Embeddings ``[N, hidden]`` of ``items`` ``[N]`` for one ``user`` (0-d)."""
        item_embedding = self.item_encoder(items)
        user_embedding = self.user_encoder(user).expand(items.shape[0], -1)
        return self.mlp(torch.cat([user_embedding, item_embedding], dim=-1))
