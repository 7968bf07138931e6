r"""MatchingNet: a matching-network preference estimator (metric-based meta-learning, no inner gradient loop).

Reference:
    Oriol Vinyals, Charles Blundell, Timothy Lillicrap, Koray Kavukcuoglu and Daan Wierstra. "Matching Networks
    for One Shot Learning." NeurIPS 2016 (arXiv:1606.04080).

A task is one user; the support set is the user's known ratings. For a query item q (the paper's Eq. 1-2):

* embedding f(u, i) = MLP([U; I]) of the user's and the item's feature embeddings (the feature encoders MeLU
  uses, :class:`~recbole_meta.model.layers.feature_encoder.FeatureEncoder`), so a new item is embedded from its
  features;
* attention a(q, j) = softmax_j( cos(f(u, q), f(u, j)) / tau ) over the support items j (Eq. 2; padded
  positions get weight exactly 0);
* attended rating y_att(q) = sum_j a(q, j) r_j (Eq. 1, with ratings in place of one-hot labels).

Calibration (not in the paper): y_att alone predicts 5 for every item of a user whose support is all 5s. The
prediction blends it with the baseline predictor b_uq = mu + b_q + b_u of
:mod:`~recbole_meta.model.meta_recommender.bias` (b_u from the support, shrunk), through a learned gate

    g(q) = sigmoid( MLP([f(u, q); max_j cos_qj; sum_j a_qj cos_qj; mean(r_S) - mu; log(1 + |S|)]) ),
    y(q) = g(q) y_att(q) + (1 - g(q)) b_uq,

so the model trusts the neighbours when the query resembles them and falls back to the bias model otherwise
(and always for an empty support). With ``attend_to: residual`` the attention averages the support residuals
r_j - b_uj instead (the neighbourhood model over baseline residuals of Koren, TKDD 2010, Section 3) and
y(q) = b_uq + g(q) sum_j a(q, j) (r_j - b_uj). Trained episodically by :class:`~recbole_meta.trainer.meta_trainer.MetaTrainer`
with ``local_update_steps: 0``: the loss of the query given the support.
"""

import torch
import torch.nn.functional as F
from torch import nn

from recbole_meta.input_checks import check_option
from recbole_meta.model.layers.task_embedding import TaskEmbedding
from recbole_meta.model.meta_recommender.abstract_meta_recommender import MetaRecommender
from recbole_meta.model.meta_recommender.bias import BiasTerms
from recbole_meta.registry import register_model


def masked_attention(query, support, support_mask, temperature):
    """Matching-network attention (Vinyals et al., Eq. 2) of queries ``[T, d]`` over a support ``[S, d]``.

    Returns (attention ``[T, S]``, cosine ``[T, S]``). Padded positions (``support_mask == 0``) get weight exactly
    0; a row over an empty support is all zeros.
    """
    cosine = F.normalize(query, dim=-1) @ F.normalize(support, dim=-1).transpose(-1, -2)
    logits = cosine / temperature
    present = support_mask > 0
    # the maximum over real positions only, so padding can shift nothing
    peak = torch.where(present, logits, torch.full_like(logits, -1e9)).amax(dim=-1, keepdim=True)
    weights = torch.exp(torch.where(present, logits - peak, torch.zeros_like(logits))) * support_mask
    return weights / weights.sum(dim=-1, keepdim=True).clamp(min=1e-12), cosine


@register_model
class MatchingNet(MetaRecommender):
    """Matching-network rating estimator; see the module docstring. Config in ``properties/model/MatchingNet.yaml``."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.temperature = float(check_option(config, "temperature", "positive number"))
        self.embed = TaskEmbedding(self, config, dataset)
        gate_hidden = check_option(config, "gate_hidden_size", "positive integer")
        self.gate = nn.Sequential(
            nn.Linear(self.embed.output_size + 4, gate_hidden), nn.ReLU(), nn.Linear(gate_hidden, 1)
        )
        self.bias = BiasTerms.from_config(self.split, config)
        self.attend_to = config["attend_to"]
        if self.attend_to not in ("rating", "residual"):
            raise ValueError(f"attend_to must be 'rating' or 'residual', got {self.attend_to!r}")

    def parts(self, user, support_item, support_rating, support_mask, target_item):
        """(attention ``[T, S]``, attended values ``[T]``, gate ``[T]``, baseline ``[T]``) of one task.

        The attended values are ratings (``attend_to: rating``) or residuals r_j - b_uj (``residual``).
        """
        query = self.embed(user, target_item)
        support = self.embed(user, support_item)
        attention, cosine = masked_attention(query, support, support_mask, self.temperature)
        values = support_rating
        if self.attend_to == "residual":
            values = support_rating - self.bias(
                support_item, support_rating, support_mask, support_item, user
            )
        attended = attention @ values
        count = support_mask.sum()
        nearest = torch.where(support_mask > 0, cosine, torch.full_like(cosine, -1.0)).amax(dim=-1)
        stats = torch.stack(
            [
                nearest,
                (attention * cosine).sum(dim=-1),
                (self.bias.support_mean(support_rating, support_mask) - self.bias.global_mean).expand_as(
                    nearest
                ),
                torch.log1p(count).expand_as(nearest),
            ],
            dim=-1,
        )
        gate = torch.sigmoid(self.gate(torch.cat([query, stats], dim=-1)).squeeze(-1))
        gate = gate * (count > 0).to(gate.dtype)  # nothing to attend to: the baseline alone
        baseline = self.bias(support_item, support_rating, support_mask, target_item, user)
        return attention, attended, gate, baseline

    def forward(self, user, support_item, support_rating, support_mask, target_item):
        _, attended, gate, baseline = self.parts(
            user, support_item, support_rating, support_mask, target_item
        )
        if self.attend_to == "residual":
            return baseline + gate * attended
        return gate * attended + (1.0 - gate) * baseline
