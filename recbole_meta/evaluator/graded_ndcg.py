r"""NDCG@k with graded relevance within each task's query set (MeLU's ranking metric).

RecBole's ``NDCG`` is binary (an item is relevant or not) and ranks the whole catalogue. MeLU (Lee et al., KDD
2019, Section 4, "Evaluation metrics") ranks each user's query items by predicted rating and scores the ranking
with the graded gain of Jarvelin and Kekalainen (TOIS 2002):

.. math::
    \mathrm{DCG@k}_u = \sum_{p=1}^{\min(k, |Q_u|)} \frac{2^{r_{u,\pi(p)}} - 1}{\log_2(p + 1)}, \qquad
    \mathrm{NDCG@k}_u = \mathrm{DCG@k}_u / \mathrm{IDCG@k}_u,

where :math:`\pi` orders the query items by predicted rating (ties keep the query order) and IDCG orders them by
true rating. The metric is the mean over tasks; a task whose IDCG is 0 (every query rating 0) has no defined
NDCG and is left out, with a logged count.

It needs only the scores and ratings of the labelled query items, which is RecBole's *value* evaluation (not a
full ranking), so it is registered with ``EvaluatorType.VALUE`` and can be listed with MAE and RMSE. It reads
``rec.score``, ``data.label`` and ``data.task_index`` (the task each score belongs to) from the DataStruct that
:class:`~recbole_meta.trainer.meta_trainer.MetaTrainer` fills, and the cut-offs from ``topk``.
"""

from logging import getLogger

import numpy as np
from recbole.evaluator.base_metric import AbstractMetric
from recbole.utils import EvaluatorType

from recbole_meta.registry import register_metric


def graded_ndcg(scores, labels, task_index, ks):
    """Mean graded NDCG@k over tasks, for each k in ``ks``; also returns the number of tasks left out.

    Args:
        scores, labels, task_index (np.ndarray): one entry per query rating.
        ks (list of int): cut-offs.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    task_index = np.asarray(task_index)
    tasks, task_pos = np.unique(task_index, return_inverse=True)
    counts = np.bincount(task_pos, minlength=len(tasks))
    width = counts.max()
    # position of each entry inside its task (entries of a task keep their order)
    order = np.argsort(task_pos, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.empty(len(order), dtype=np.int64)
    slot[order] = np.arange(len(order)) - np.repeat(starts, counts)

    pred = np.full((len(tasks), width), -np.inf)
    gain = np.zeros((len(tasks), width))
    pred[task_pos, slot] = scores
    gain[task_pos, slot] = np.power(2.0, labels) - 1.0
    ranked = np.take_along_axis(gain, np.argsort(-pred, axis=1, kind="stable"), axis=1)
    ideal = -np.sort(-gain, axis=1)
    discount = 1.0 / np.log2(np.arange(2, width + 2))
    result = {}
    idcg_full = None
    for k in ks:
        dcg = (ranked[:, :k] * discount[:k]).sum(axis=1)
        idcg = (ideal[:, :k] * discount[:k]).sum(axis=1)
        valid = idcg > 0
        idcg_full = valid
        result[k] = float((dcg[valid] / idcg[valid]).mean()) if valid.any() else float("nan")
    left_out = int((~idcg_full).sum()) if idcg_full is not None else 0
    return result, left_out


@register_metric
class GradedNDCG(AbstractMetric):
    """Graded NDCG@k within each task's query set; see the module docstring. Result keys ``gradedndcg@k``."""

    metric_type = EvaluatorType.VALUE
    metric_need = ["rec.score", "data.label", "data.task_index"]
    smaller = False

    def __init__(self, config):
        super().__init__(config)
        self.topk = config["topk"]

    def calculate_metric(self, dataobject):
        scores = dataobject.get("rec.score").squeeze(-1).numpy()
        labels = dataobject.get("data.label").squeeze(-1).numpy()
        task_index = dataobject.get("data.task_index").numpy()
        values, left_out = graded_ndcg(scores, labels, task_index, self.topk)
        if left_out:
            getLogger().warning(
                f"gradedndcg: {left_out} task(s) with all query ratings 0 left out (IDCG = 0)"
            )
        return {f"gradedndcg@{k}": round(v, self.decimal_place) for k, v in values.items()}
