"""The plugin's models. Importing this package registers them (see :func:`recbole_meta.registry.register_model`)."""

from recbole_meta.model import meta_recommender  # noqa: F401  (registers MeLU and the mean baselines)
from recbole_meta.model.general_recommender import ssl_two_tower  # noqa: F401  (registers SSLTwoTower)
from recbole_meta.model.sequential_recommender import peterrec  # noqa: F401,E402  (registers PeterRec)
