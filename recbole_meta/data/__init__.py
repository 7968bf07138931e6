"""The plugin's datasets and loaders. Importing this package registers them."""

from recbole_meta.data import (  # noqa: F401
    cold_start_dataset,  # ColdStartDataset: raw ratings for episodic models
    cold_start_preparation,  # the cold-start split and episode loaders
    item_cold,  # item-cold split for general models
    sequence_dataloader,  # PeterRec tasks and loaders
)
