"""recbole_meta: cold-start and transfer-learning recommenders as a RecBole 1.2.1 plugin."""

from recbole_meta import compat

compat.apply()

from recbole_meta.quick_start import objective_function, run_recbole_meta  # noqa: E402
from recbole_meta.serving.saved_run import load_data_and_model  # noqa: E402

__version__ = "0.1.0"
__all__ = ["run_recbole_meta", "objective_function", "load_data_and_model", "__version__"]
