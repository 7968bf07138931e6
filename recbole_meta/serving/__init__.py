"""Using a trained model: reload a run, recommend for a known or a brand-new user, serve PeterRec tasks."""

from recbole_meta.serving.cold_start import ColdStartRecommender, Recommendation, UnknownItemsError
from recbole_meta.serving.peterrec import PeterRecServer
from recbole_meta.serving.saved_run import config_from_checkpoint, load_data_and_model

__all__ = [
    "load_data_and_model",
    "config_from_checkpoint",
    "ColdStartRecommender",
    "Recommendation",
    "UnknownItemsError",
    "PeterRecServer",
]
