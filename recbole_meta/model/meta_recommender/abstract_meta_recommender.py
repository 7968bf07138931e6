"""Base class of the episodic (task-based) cold-start recommenders.

A :class:`MetaRecommender` predicts the ratings of one task: its ``forward`` takes one user's support set and a
list of target items, unbatched. :class:`~recbole_meta.trainer.maml.MAML` builds everything else on it with
``torch.func`` (local adaptation, the meta-loss, and a whole meta-batch through ``vmap``), so a subclass writes
the model for a single task, as its paper does. Models are built on the
:class:`~recbole_meta.data.cold_start_dataset.ColdStartDataset` that the cold-start data preparation annotated
with its split (``dataset.cold_split``); they may use the training split's statistics, never a test rating.
"""

import torch
from recbole.model.abstract_recommender import AbstractRecommender
from recbole.utils import InputType
from torch.func import vmap

from recbole_meta.data.cold_start_split import EXISTING
from recbole_meta.data.episodes import QUERY_MASK, QUERY_RATING, task_tensors
from recbole_meta.model.losses import masked_mse
from recbole_meta.registry import PluginModelType

EPISODIC_FULL_SORT = (
    "{model} is an episodic model: it scores a user's items only after adapting to that user's ratings, so "
    "RecBole's full_sort_topk / full_sort_scores do not apply; use recbole_meta.serving.ColdStartRecommender "
    "(python -m recbole_meta.recommend) with the user's ratings"
)


class MetaRecommender(AbstractRecommender):
    """An episodic recommender: ``forward(user, support_item, support_rating, support_mask, target_item)``.

    Args:
        config (Config): the run's config.
        dataset (ColdStartDataset): the dataset, carrying ``cold_split`` (see the module docstring).
    """

    type = PluginModelType.META
    input_type = InputType.POINTWISE

    def __init__(self, config, dataset):
        super().__init__()
        split = getattr(dataset, "cold_split", None)
        if split is None:
            raise ValueError(
                f"{type(self).__name__} needs the cold-start split: build it with recbole_meta's data_preparation "
                "(run_recbole_meta / recbole_meta.quick_start.build_run), which sets dataset.cold_split"
            )
        self.split = split
        self.USER_ID = config["USER_ID_FIELD"]
        self.ITEM_ID = config["ITEM_ID_FIELD"]
        self.device = config["device"]

    # ---------------------------------------------------------------------------------- what training knows
    def known_users(self):
        """Per user id: True for existing users with training ratings (the only users training sees)."""
        known = torch.zeros(self.split.n_users, dtype=torch.bool)
        known[torch.as_tensor(self.split.train_users)] = True
        known &= torch.as_tensor(self.split.user_group == EXISTING)
        return known.numpy()

    def known_items(self):
        """Per item id: True for items with at least one training rating (never a new item)."""
        _, items, _ = self.split.train_interactions()
        known = torch.zeros(self.split.n_items, dtype=torch.bool)
        known[torch.as_tensor(items)] = True
        return known.numpy()

    # ---------------------------------------------------------------------------------- one task
    # Optional split of ``forward`` into ``head(*encode(...))`` (see :meth:`encode`): the names of the submodules
    # that ``head`` uses; ``None``: no split. A model that sets it defines ``encode`` and ``head``.
    head_modules = None

    def forward(self, user, support_item, support_rating, support_mask, target_item):
        """Predicted ratings ``[T]`` of ``target_item`` ``[T]`` for ``user`` (a 0-d id) given its support ``[S]``."""
        raise NotImplementedError

    def encode(self, user, support_item, support_rating, support_mask, target_item):
        """A tuple of tensors that ``head`` maps to ``forward``'s prediction, computed without ``head_modules``.

        When the local update adapts only parameters of ``head_modules``, the encoding is the same at every local
        step: :class:`~recbole_meta.trainer.maml.MAML` computes it once per task and meta-step and runs the local
        steps on ``head`` alone (the same function and gradients, less work).
        """
        raise NotImplementedError(f"{type(self).__name__} has no encode/head split (head_modules is None)")

    def head(self, *encoded):
        """The prediction from :meth:`encode`'s tensors, using only ``head_modules`` (and no other parameter).

        Must also take a whole meta-batch: ``encoded`` with a leading task dimension ``[B, ...]`` and the adapted
        parameters of ``head_modules`` as per-task copies ``[B, ...]`` (the others as they are), giving ``[B, T]``.
        """
        raise NotImplementedError(f"{type(self).__name__} has no encode/head split (head_modules is None)")

    # Optional, with the split above: the name of the ``nn.Linear`` that ``head`` applies first, to ``encode``'s
    # first tensor, ``head`` being ``head_after_input(that layer's output, *the other encode tensors)``. When the
    # local update adapts that layer's weight, MAML runs it in kernel form (see ``MAML._kernel_query_predictions``).
    head_input_layer = None

    def head_after_input(self, pre_activation, *encoded_rest):
        """``head`` after its :attr:`head_input_layer`: the prediction from that layer's output ``[B, T, out]``."""
        raise NotImplementedError(f"{type(self).__name__} has no head_input_layer")

    # ---------------------------------------------------------------------------------- RecBole's API
    def load_state_dict(self, state_dict, strict=True, assign=False):
        """``nn.Module.load_state_dict``; a checkpoint with Meta-SGD's learned local rates brings them along.

        The rates (their parameters phi, see :mod:`recbole_meta.trainer.maml`) are created by the MAML of the
        trainer that trained them; a model rebuilt from its config for serving has none yet, so they are made here
        (any values: the checkpoint's overwrite them). A checkpoint of the unbounded rates (``local_lr_rates``,
        before ``local_lr_max``) is refused in one line: its values are rates, not phi.
        """
        from recbole_meta.trainer.maml import LOCAL_RATES, UNBOUNDED_RATES

        if any(key.startswith(UNBOUNDED_RATES + ".") for key in state_dict):
            raise ValueError(
                f"checkpoint holds Meta-SGD's unbounded local rates ({UNBOUNDED_RATES}.*), which this version "
                "replaced by bounded ones (local_lr_max); retrain the model"
            )
        prefix = LOCAL_RATES + "."
        rates = {key[len(prefix) :]: value for key, value in state_dict.items() if key.startswith(prefix)}
        if rates and not hasattr(self, LOCAL_RATES):
            self.add_module(
                LOCAL_RATES,
                torch.nn.ParameterDict(
                    {key: torch.nn.Parameter(torch.zeros_like(v)) for key, v in rates.items()}
                ),
            )
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def _batched_forward(self, interaction):
        user, support_item, support_rating, support_mask, query_item, _, _ = task_tensors(
            interaction, self.USER_ID
        )
        return vmap(self.forward)(user, support_item, support_rating, support_mask, query_item)

    def predict(self, interaction):
        """Query predictions ``[B, Q]`` of a meta-batch *without* local adaptation (the trainer adapts)."""
        return self._batched_forward(interaction)

    def full_sort_predict(self, interaction):
        """Refused with one line: an episodic model scores a user's items only after adapting to their ratings.

        Raises ``TypeError``, not ``NotImplementedError``, on purpose: RecBole's ``full_sort_scores`` catches the
        latter and would fall back to ``predict`` on a batch that has no support set.
        """
        raise TypeError(EPISODIC_FULL_SORT.format(model=type(self).__name__))

    def calculate_loss(self, interaction):
        """Mean over the tasks of the query MSE *without* local adaptation (the trainer's MAML adapts)."""
        prediction = self._batched_forward(interaction)
        mask = interaction[QUERY_MASK]
        return masked_mse(prediction, interaction[QUERY_RATING], mask, dim=1).mean()
