"""MeLU's meta-step written with the ``higher`` library: what a user would write instead, for the speed suite.

``higher`` (Grefenstette et al., "Generalized Inner Loop Meta-Learning", arXiv:1910.01727, 2019) is the common
way to write MAML in PyTorch: per task, ``higher.innerloop_ctx`` makes a functional copy of the model whose
local SGD steps stay differentiable, and the task's query loss is back-propagated to the initial parameters.
The function below is MeLU Eq. 4-5 (the local update of the ``local_update_params`` on the support, the mean
query loss over the meta-batch, exact second order) in that style, task by task on unpadded tensors. It is a
benchmark reference only: nothing outside :mod:`recbole_meta.benchmark` imports it, and ``higher`` is the
optional ``bench`` extra (``pip install 'recbole_meta[bench]'``).
"""

import torch

from recbole_meta.data.episodes import task_tensors
from recbole_meta.model.losses import masked_mse

HIGHER_MISSING = (
    "the `higher` library is not installed (pip install 'recbole_meta[bench]' or pip install higher==0.2.1)"
)


def higher_available():
    """Whether ``higher`` can be imported."""
    import importlib.util

    return importlib.util.find_spec("higher") is not None


def higher_meta_backward(maml, batch):
    """Accumulate MeLU's meta-gradient of ``batch`` into the model's ``.grad``, the ``higher`` way; the meta-loss.

    Args:
        maml (recbole_meta.trainer.maml.MAML): the adaptation settings (adapted parameters, local rate and
            steps; second order only) and the model.
        batch (Interaction): a padded meta-batch (:func:`recbole_meta.data.episodes.collate_tasks`).

    Returns:
        torch.Tensor: the mean query loss (detached), the value :meth:`MAML.meta_loss` gives.
    """
    import higher

    if maml.first_order:
        raise ValueError("the higher reference is second order only (first_order: False)")
    model = maml.model
    params = dict(model.named_parameters())
    local_sgd = torch.optim.SGD([params[name] for name in maml.adapted_names], lr=maml.local_lr)
    user, s_item, s_rating, s_mask, q_item, q_rating, q_mask = task_tensors(batch, model.USER_ID)
    s_len = s_mask.sum(dim=1).long().tolist()
    q_len = q_mask.sum(dim=1).long().tolist()
    size = len(s_len)
    total = torch.zeros((), dtype=s_rating.dtype)
    for b in range(size):
        s, q = slice(0, s_len[b]), slice(0, q_len[b])
        support = (user[b], s_item[b, s], s_rating[b, s], s_mask[b, s])
        with higher.innerloop_ctx(model, local_sgd, copy_initial_weights=False) as (task_model, task_sgd):
            for _ in range(maml.steps):
                task_sgd.step(masked_mse(task_model(*support, s_item[b, s]), s_rating[b, s], s_mask[b, s]))
            loss = masked_mse(task_model(*support, q_item[b, q]), q_rating[b, q], q_mask[b, q]) / size
            loss.backward()
        total += loss.detach()
    return total
