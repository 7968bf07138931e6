"""Metrics RecBole lacks. Importing this package registers them into RecBole's evaluator registries."""

from recbole_meta.evaluator import (
    classification_metrics,  # noqa: F401,E402  (Accuracy, MacroF1)
    graded_ndcg,  # noqa: F401  (registers GradedNDCG)
    tail_metrics,  # noqa: F401  (registers TailRecall, TailNDCG)
)
