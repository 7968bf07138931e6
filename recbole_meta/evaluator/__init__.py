"""Metrics RecBole lacks. Importing this package registers them into RecBole's evaluator registries."""

from recbole_meta.evaluator import tail_metrics  # noqa: F401  (registers TailRecall, TailNDCG)
from recbole_meta.evaluator import classification_metrics  # noqa: F401,E402  (Accuracy, MacroF1)
