"""Tail-slice ranking metrics: ``TailRecall@K`` and ``TailNDCG@K``, registered into RecBole's evaluator.

The *tail* is the least popular ``tail_ratio`` (default 0.8) of the items, by interaction count in the training
split: items are sorted by (count, item id) ascending and the first ``round(tail_ratio * n_items)`` are tail
(items with no training interaction, e.g. item-cold ones, are always tail). For each user, only the ground-truth
items in the tail count as relevant:

* ``TailRecall@K = |top-K  intersect  tail positives| / |tail positives|``,
* ``TailNDCG@K`` = NDCG@K with the tail positives as the relevant set (head positives in the list are misses),

averaged over the users that have at least one tail positive (for the others the ratio is undefined). This is
the "slice" metric of Yao et al. (CIKM 2021, Sec. 5: recall on the long-tail slice). RecBole's
``TailPercentage`` measures something else: the share of tail items among the recommended ones.

RecBole's ``Collector`` hands metrics only a hit matrix and the number of positives per user, not which
positives are tail items. The metrics therefore need one more resource, ``rec.tailtopk`` (same layout as
``rec.topk``: tail-hit flags of the top-K positions and the number of tail positives), which
:func:`recbole_meta.compat.evaluator.add_collector_resource` has ``Collector`` gather when a configured metric
needs it.
"""

import numpy as np
import torch
from recbole.evaluator.metrics import NDCG, Recall

from recbole_meta.compat.evaluator import add_collector_resource
from recbole_meta.registry import register_metric

TAIL_KEY = "rec.tailtopk"
DEFAULT_TAIL_RATIO = 0.8


def tail_item_mask(item_counts, n_items, tail_ratio=DEFAULT_TAIL_RATIO):
    """Bool mask over item ids ``0..n_items-1``: True for the least popular ``tail_ratio`` of items ``1..``.

    Args:
        item_counts (dict or array): training interaction count per item id (missing ids count 0).
        n_items (int): number of item ids including RecBole's padding id 0 (never tail).
        tail_ratio (float): fraction of the items that is tail, in (0, 1].
    """
    if not 0.0 < float(tail_ratio) <= 1.0:
        raise ValueError(f"tail_ratio must be in (0, 1] (got {tail_ratio})")
    counts = np.zeros(n_items, dtype=np.int64)
    if isinstance(item_counts, dict):
        for item, count in item_counts.items():
            counts[int(item)] = count
    else:
        counts[: len(item_counts)] = np.asarray(item_counts)
    items = np.arange(1, n_items)
    order = items[np.lexsort((items, counts[1:]))]  # by count, then by id
    mask = np.zeros(n_items, dtype=bool)
    mask[order[: int(round(float(tail_ratio) * (n_items - 1)))]] = True
    return torch.from_numpy(mask)


def _tail_ratio(config):
    value = config["tail_ratio"]
    return DEFAULT_TAIL_RATIO if value is None else float(value)


def _tail_of_training_items(config, train_data):
    """Tail mask of the training split's items (the state of the ``rec.tailtopk`` resource)."""
    dataset = train_data.dataset
    return tail_item_mask(dataset.item_counter, dataset.item_num, _tail_ratio(config))


def _tail_hits(tail, scores_tensor, interaction, positive_u, positive_i, topk):
    """Per user: tail-hit flags of the top-``max(topk)`` positions and the number of tail positives."""
    if tail is None:
        raise RuntimeError(
            "TailRecall/TailNDCG need the training item counts: evaluate after Trainer.fit, or call "
            "trainer.eval_collector.data_collect(train_data) first"
        )
    tail = tail.to(scores_tensor.device)
    _, topk_idx = torch.topk(scores_tensor, max(topk), dim=-1)
    is_tail = tail[positive_i]
    pos_matrix = torch.zeros_like(scores_tensor, dtype=torch.int)
    pos_matrix[positive_u[is_tail], positive_i[is_tail]] = 1
    return torch.cat((torch.gather(pos_matrix, 1, topk_idx), pos_matrix.sum(1, keepdim=True)), dim=1)


class _TailTopkMixin:
    metric_need = [TAIL_KEY]

    def used_info(self, dataobject):
        """Tail-hit flags and tail-positive counts of the users with at least one tail positive."""
        rec_mat = dataobject.get(TAIL_KEY)
        hits, pos_len = torch.split(rec_mat, [max(self.topk), 1], dim=1)
        pos_len = pos_len.squeeze(-1)
        has_tail = pos_len > 0
        return hits[has_tail].to(torch.bool).numpy(), pos_len[has_tail].numpy()

    def calculate_metric(self, dataobject):
        pos_index, pos_len = self.used_info(dataobject)
        return self.topk_result(type(self).__name__.lower(), self.metric_info(pos_index, pos_len))

    def topk_result(self, metric, value):
        if len(value) == 0:  # no user has a tail positive
            return {f"{metric}@{k}": float("nan") for k in self.topk}
        return super().topk_result(metric, value)


@register_metric
class TailRecall(_TailTopkMixin, Recall):
    r"""Recall@K restricted to ground-truth items in the popularity tail (``tail_ratio``, training counts)."""


@register_metric
class TailNDCG(_TailTopkMixin, NDCG):
    r"""NDCG@K with the tail ground-truth items as the relevant set (``tail_ratio``, training counts)."""


add_collector_resource(TAIL_KEY, _tail_of_training_items, _tail_hits)
