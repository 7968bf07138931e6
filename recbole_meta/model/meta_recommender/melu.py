r"""MeLU: meta-learned user preference estimator.

Reference:
    Hoyeop Lee, Jinbae Im, Seongwon Jang, Hyunsouk Cho and Sehee Chung. "MeLU: Meta-Learned User Preference
    Estimator for Cold-Start Recommendation." KDD 2019 (arXiv:1908.00413).

The user preference estimator (the paper's Section 3, Eq. 1-3):

* user embedding U = [e_1 c_1; ...; e_P c_P] and item embedding I = [e_1 c_1; ...; e_Q c_Q] (Eq. 1-2): one
  embedding per content field (:class:`~recbole_meta.model.layers.feature_encoder.FeatureEncoder`; multi-valued
  contents such as genres averaged);
* decision-making layers x_1 = ReLU(W_1 [U; I] + b_1), ..., x_N = ReLU(W_N x_{N-1} + b_N) and a linear output
  layer y = w_o x_N + b_o (Eq. 3), trained with the squared error.

Meta-optimisation (Algorithm 1, the local update Eq. 4 and the global update Eq. 5) is the trainer's
(:class:`~recbole_meta.trainer.maml.MAML`): only the decision and output layers (``local_update_params``) adapt
per user, the embeddings are shared; the global update differentiates through the local steps (second order
unless ``first_order``), which the authors' released code did not do. MeLU-1 / MeLU-5 are
``local_update_steps: 1 / 5``.

Option not in the paper (``predict_residual: True``): the network predicts r_ui - b_ui, the residual over the
baseline predictor b_ui = mu + b_i + b_u of :mod:`~recbole_meta.model.meta_recommender.bias` (b_u from the
support set), so that the meta-learner starts from what the bias model already knows; in training its b_i leaves
out the task user's own rating (``bias_leave_one_out``, see the bias module).
"""

import torch
from torch import nn
from torch.nn import functional as F

from recbole_meta.model.layers.feature_encoder import FeatureEncoder
from recbole_meta.model.meta_recommender.abstract_meta_recommender import MetaRecommender
from recbole_meta.model.meta_recommender.bias import BiasTerms
from recbole_meta.registry import register_model


@register_model
class MeLU(MetaRecommender):
    """MeLU's user preference estimator; see the module docstring. Config keys in ``properties/model/MeLU.yaml``."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        size = config["embedding_size"]
        hidden = config["mlp_hidden_size"]
        if not hidden or any(not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"mlp_hidden_size must be a non-empty list of positive integers, got {hidden!r}")
        mask_unseen = config["mask_unseen_tokens"]
        self.user_encoder, self.item_encoder = (
            FeatureEncoder(
                dataset, side, config[f"{side}_features"], size, known, mask_unseen_tokens=mask_unseen
            )
            for side, known in (("user", self.known_users()), ("item", self.known_items()))
        )
        width = self.user_encoder.output_size + self.item_encoder.output_size
        if width == 0:
            raise ValueError(
                f"MeLU needs at least one user or item feature (user_features: {config['user_features']}, "
                f"item_features: {config['item_features']}), and dataset {dataset.dataset_name} loads none: add "
                f"{dataset.dataset_name}.user / .item files with feature columns, or set item_features: [item_id] "
                "to embed the item ids"
            )
        layers = []
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.decision = nn.Sequential(*layers)
        self.output = nn.Linear(width, 1)
        self.predict_residual = bool(config["predict_residual"])
        if self.predict_residual:
            self.bias = BiasTerms.from_config(self.split, config)
        elif config["init_output_bias"]:
            # start from the global-mean predictor rather than from 0 on a 1-5 scale
            _, _, ratings = self.split.train_interactions()
            nn.init.constant_(self.output.bias, float(ratings.mean()))

    head_modules = ("decision", "output")  # the personalised layers: what the local update adapts by default
    head_input_layer = "decision.0"  # the first decision layer, on [U; I]

    def forward(self, user, support_item, support_rating, support_mask, target_item):
        return self.head(*self.encode(user, support_item, support_rating, support_mask, target_item))

    def encode(self, user, support_item, support_rating, support_mask, target_item):
        """``[U; I]`` of every target (Eq. 1-2), and the baseline b_ui with ``predict_residual``."""
        user_embedding = self.user_encoder(user)
        item_embedding = self.item_encoder(target_item)
        x = torch.cat([user_embedding.expand(target_item.shape[0], -1), item_embedding], dim=-1)
        if self.predict_residual:
            return x, self.bias(support_item, support_rating, support_mask, target_item, user)
        return (x,)

    def head(self, x, baseline=None):
        """The decision layers and the output layer (Eq. 3), plus the baseline with ``predict_residual``.

        Also a whole meta-batch at once: ``x`` ``[B, T, width]`` with per-task weights ``[B, out, in]`` (MAML's
        adapted copies), each task's targets through its own layers (one batched product per layer).
        """
        return self.head_after_input(_linear(x, self.decision[0]), baseline)

    def head_after_input(self, pre_activation, baseline=None):
        """:meth:`head` from the first decision layer's output W_1 [U; I] + b_1 on (its ReLU onwards)."""
        x = pre_activation
        for layer in (
            *list(self.decision)[1:],
            self.output,
        ):  # a list: higher's patched Sequential cannot slice
            x = _linear(x, layer) if isinstance(layer, nn.Linear) else layer(x)
        prediction = x.squeeze(-1)
        return prediction if baseline is None else prediction + baseline


def _linear(x, layer):
    """``layer(x)``; with per-task weights ``[B, out, in]`` and biases ``[B, out]``, ``x`` ``[B, T, in]`` -> ``[B, T, out]``."""
    if layer.weight.dim() == 2:
        return F.linear(x, layer.weight, layer.bias)
    bias = layer.bias.unsqueeze(-2) if layer.bias.dim() == 2 else layer.bias
    return torch.baddbmm(bias, x, layer.weight.transpose(-1, -2))
