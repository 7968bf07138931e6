r"""Multi-class classification metrics for RecBole's evaluator (user profile prediction).

RecBole's value metrics (AUC, LogLoss, MAE, ...) score one number per row. Here ``rec.score`` holds a row of
class scores (logits) per user, ``[n, n_classes]``, and ``data.label`` the true class index; the predicted class
is the arg-max. Both metrics are computed with scikit-learn, by :func:`accuracy` and :func:`macro_f1`, which
the profile baselines (scikit-learn classifiers) call too, so that every profile result is scored by one code.

* ``Accuracy``: the fraction of users whose predicted class is the true one.
* ``MacroF1``: the unweighted mean over classes of :math:`F_1 = 2PR/(P+R)`, over the classes that occur in the
  labels or the predictions (scikit-learn's default); a class never predicted correctly scores 0. Under class
  imbalance it exposes a model that predicts the majority class, which accuracy rewards.
"""

import numpy as np
from recbole.evaluator.base_metric import AbstractMetric
from recbole.utils import EvaluatorType
from sklearn.metrics import accuracy_score, f1_score

from recbole_meta.registry import register_metric


def accuracy(labels, predictions):
    """Share of ``predictions`` equal to ``labels`` (class indices)."""
    return float(accuracy_score(labels, predictions)) if len(labels) else np.nan


def macro_f1(labels, predictions):
    """Unweighted mean of per-class F1 over the classes present in ``labels`` or ``predictions``."""
    return float(f1_score(labels, predictions, average="macro", zero_division=0)) if len(labels) else np.nan


def classification_scores(labels, predictions):
    """``{"accuracy": ..., "macrof1": ...}``, named as RecBole's evaluator names the two metrics."""
    return {"accuracy": accuracy(labels, predictions), "macrof1": macro_f1(labels, predictions)}


class _ClassificationMetric(AbstractMetric):
    metric_type = EvaluatorType.VALUE
    metric_need = ["rec.score", "data.label"]
    smaller = False

    def used_info(self, dataobject):
        scores = dataobject.get("rec.score")
        labels = dataobject.get("data.label").reshape(-1).long().numpy()
        if scores.dim() != 2 or scores.size(0) != len(labels):
            raise ValueError(
                f"{type(self).__name__} needs one row of class scores per label, got scores {tuple(scores.shape)} "
                f"for {len(labels)} labels"
            )
        return scores.argmax(dim=1).numpy(), labels

    def calculate_metric(self, dataobject):
        predictions, labels = self.used_info(dataobject)
        name = type(self).__name__.lower()
        return {name: round(float(self.metric_info(predictions, labels)), self.decimal_place)}


@register_metric
class Accuracy(_ClassificationMetric):
    """Share of rows whose arg-max class equals the label."""

    def metric_info(self, predictions, labels):
        return accuracy(labels, predictions)


@register_metric
class MacroF1(_ClassificationMetric):
    """Unweighted mean of per-class F1 (classes present in labels or predictions)."""

    def metric_info(self, predictions, labels):
        return macro_f1(labels, predictions)
