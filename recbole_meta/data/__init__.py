"""The plugin's datasets and loaders. Importing this package registers them."""

from recbole_meta.data import item_cold  # noqa: F401  (item-cold split for general models)
from recbole_meta.data import sequence_dataloader  # noqa: F401,E402  (PeterRec tasks and loaders)
