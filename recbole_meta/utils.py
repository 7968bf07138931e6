"""The former home of :mod:`recbole_meta.registry` and :mod:`recbole_meta.data_preparation`.

Kept so that code written against ``recbole_meta.utils`` still imports; new code imports from those two modules.
"""

from recbole_meta.data_preparation import create_dataset, data_preparation  # noqa: F401
from recbole_meta.registry import (  # noqa: F401
    PluginModelType,
    get_model,
    get_trainer,
    plugin_metric_names,
    plugin_model_names,
    recbole_model_names,
    register_data_preparation,
    register_dataset,
    register_metric,
    register_model,
    register_trainer,
)
