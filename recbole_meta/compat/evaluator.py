"""RecBole's evaluator, extended: plugin metrics in its registries, extra resources in its ``Collector``.

* RecBole 1.2.1 finds metrics in four module-level tables of ``recbole.evaluator.register`` (built once from
  its own metric classes) and offers no call to add one, so :func:`add_metric` writes a plugin metric into
  them; ``metrics: [...]`` in a config can then name it, and ``Evaluator`` computes it.
* RecBole's ``Collector`` gathers a fixed set of resources (``rec.topk``, ``rec.score``, ...) for the metrics.
  A metric that needs another one registers it with :func:`add_collector_resource`: ``Collector`` then
  computes it, only when a configured metric names it in ``metric_need``, and drops it after each evaluation
  as it does ``rec.topk``. Three ``Collector`` methods are wrapped once, process-wide; their behaviour for every
  other metric is unchanged.
"""

from dataclasses import dataclass
from typing import Callable

from recbole.evaluator import register as recbole_register
from recbole.evaluator.collector import Collector


def recbole_metric(name):
    """The metric class RecBole's evaluator knows under ``name`` (lower-case), or ``None``."""
    return recbole_register.metrics_dict.get(name)


def add_metric(name, cls):
    """Make ``cls`` (RecBole's metric protocol) RecBole's metric ``name``: class, needs, type, direction."""
    recbole_register.metrics_dict[name] = cls
    recbole_register.metric_information[name] = cls.metric_need
    recbole_register.metric_types[name] = cls.metric_type
    if cls.smaller and name not in recbole_register.smaller_metrics:
        recbole_register.smaller_metrics.append(name)


@dataclass(frozen=True)
class _Resource:
    on_train_data: Callable
    on_eval_batch: Callable


_RESOURCES = {}


def add_collector_resource(key, on_train_data, on_eval_batch):
    """Teach RecBole's ``Collector`` to gather the resource ``key`` when a configured metric needs it.

    Args:
        key (str): resource name, as in a metric's ``metric_need`` (e.g. ``"rec.tailtopk"``).
        on_train_data (callable): ``(config, train_data) -> state``, called where ``Collector.data_collect``
            sees the training data (once per fit); ``state`` is handed to ``on_eval_batch``.
        on_eval_batch (callable): ``(state, scores, interaction, positive_u, positive_i, topk) -> tensor``, one
            row per user of the batch, appended to the resource as ``Collector`` does with ``rec.topk``.
            ``state`` is ``None`` when no training data was seen.
    """
    _RESOURCES[key] = _Resource(on_train_data, on_eval_batch)
    _wrap_collector()


def _needed(collector):
    return [key for key in _RESOURCES if collector.register.need(key)]


def _wrap_collector():
    if getattr(Collector, "_recbole_meta_resources", False):
        return
    data_collect, eval_batch_collect, get_data_struct = (
        Collector.data_collect,
        Collector.eval_batch_collect,
        Collector.get_data_struct,
    )

    def data_collect_with_resources(self, train_data):
        data_collect(self, train_data)
        states = self.__dict__.setdefault("_recbole_meta_states", {})
        for key in _needed(self):
            states[key] = _RESOURCES[key].on_train_data(self.config, train_data)

    def eval_batch_collect_with_resources(self, scores_tensor, interaction, positive_u, positive_i):
        eval_batch_collect(self, scores_tensor, interaction, positive_u, positive_i)
        states = self.__dict__.get("_recbole_meta_states", {})
        for key in _needed(self):
            value = _RESOURCES[key].on_eval_batch(
                states.get(key), scores_tensor, interaction, positive_u, positive_i, self.topk
            )
            self.data_struct.update_tensor(key, value)

    def get_data_struct_with_resources(self):
        returned = get_data_struct(self)
        for key in _RESOURCES:
            if key in self.data_struct:
                del self.data_struct[key]  # a per-evaluation resource, as rec.topk
        return returned

    Collector.data_collect = data_collect_with_resources
    Collector.eval_batch_collect = eval_batch_collect_with_resources
    Collector.get_data_struct = get_data_struct_with_resources
    Collector._recbole_meta_resources = True
