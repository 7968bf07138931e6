"""RecBole's ``Dataset`` for episodic cold-start models: ratings in raw units, NaN ratings refused.

RecBole's ml-100k yaml sets ``normalize_all: True``, which rescales every float field, the rating included, to
[0, 1]; MAE and RMSE would then be reported in the wrong units (MeLU's paper and every baseline it is compared
with report them on the 1-5 scale). RecBole also fills a missing float value with the field's mean, which would
turn a NaN rating into a silent, made-up rating. :class:`ColdStartDataset` keeps RecBole's loading, filtering and
id remapping and changes only these two things. It is built for every model of type
:attr:`recbole_meta.registry.PluginModelType.META` (see :func:`recbole_meta.data_preparation.create_dataset`).
"""

import os
from contextlib import contextmanager

import numpy as np
from recbole.data.dataset import Dataset

from recbole_meta.data.feature_fields import feature_file
from recbole_meta.registry import PluginModelType, register_dataset


@contextmanager
def _config_values(config, **values):
    """Temporarily set config keys (RecBole's ``_normalize`` reads them from the config)."""
    saved = {key: config[key] for key in values}
    for key, value in values.items():
        config[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            config[key] = value


@register_dataset(model_type=PluginModelType.META)
class ColdStartDataset(Dataset):
    """A RecBole ``Dataset`` whose rating field stays in raw units and may not contain missing values.

    After construction the features are :class:`~recbole.data.interaction.Interaction` objects (RecBole
    converts them only inside ``build()``, which the episodic pipeline does not call): ``inter_feat``,
    ``user_feat`` and ``item_feat`` hold tensors indexed by remapped ids.
    """

    def __init__(self, config):
        super().__init__(config)
        self.rating_field = config["RATING_FIELD"]
        self._change_feat_format()

    def _data_processing(self):
        rating = self.config["RATING_FIELD"]
        if rating is None or rating not in self.field2type:
            inter_file = os.path.join(self.dataset_path, f"{self.dataset_name}.inter")
            raise ValueError(
                f"cold-start models need explicit ratings: RATING_FIELD '{rating}' is not a loaded column of "
                f"{inter_file} (loaded: {sorted(self.field2source)}); "
                "set RATING_FIELD or add the field to load_col.inter"
            )
        super()._data_processing()

    def _fill_nan(self):
        rating = self.config["RATING_FIELD"]
        values = self.inter_feat[rating].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            inter_file = os.path.join(self.dataset_path, f"{self.dataset_name}.inter")
            rows = np.flatnonzero(bad)[:5].tolist()
            raise ValueError(
                f"{int(bad.sum())} interaction(s) in {inter_file} have a missing or non-finite '{rating}' "
                f"(first rows after filtering: {rows}); RecBole would replace them with the mean rating, "
                "which would invent ratings: fix or remove them"
            )
        super()._fill_nan()

    def _normalize(self):
        rating = self.config["RATING_FIELD"]
        fields = self.config["normalize_field"]
        if fields and rating in fields:
            raise ValueError(
                f"normalize_field contains the rating field '{rating}': cold-start models report MAE/RMSE in "
                "raw rating units, remove it from normalize_field"
            )
        if self.config["normalize_all"]:
            others = [field for field in self.float_like_fields if field != rating]
            self.logger.info(
                f"normalize_all: '{rating}' is kept in raw units for MAE/RMSE; normalising {others or 'nothing'}"
            )
            with _config_values(self.config, normalize_all=False, normalize_field=others or None):
                super()._normalize()
            return
        super()._normalize()

    def feature_file(self, source):
        """Path of the atomic file a feature source comes from (``'user'`` or ``'item'``), for messages."""
        return feature_file(self, source)
