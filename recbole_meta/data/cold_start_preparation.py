"""``data_preparation`` for episodic models: the cold-start split and its episode loaders.

Replaces RecBole's interaction split (``eval_args.split`` is not used) for every model of type
:attr:`~recbole_meta.registry.PluginModelType.META`. Returns ``(train, valid, test)`` where ``train`` draws
training episodes, ``valid`` holds the validation users' tasks (early stopping), and ``test`` is a
:class:`~recbole_meta.data.episodes.StateLoaders` with one loader per state in ``eval_states``.
"""

from logging import getLogger

from recbole_meta.data.cold_start_split import VALID_STATE, ColdStartSplit
from recbole_meta.data.episodes import EpisodeLoader, StateLoaders
from recbole_meta.registry import PluginModelType, register_data_preparation


@register_data_preparation(model_type=PluginModelType.META)
def cold_start_data_preparation(config, dataset):
    split = ColdStartSplit(dataset, config)
    dataset.cold_split = split
    train = EpisodeLoader(config, split, None, name="train")
    valid = EpisodeLoader(config, split, split.tasks[VALID_STATE], name=VALID_STATE)
    test = StateLoaders(
        (state, EpisodeLoader(config, split, split.tasks[state], name=state)) for state in split.eval_states
    )
    getLogger().info(f"[Episodes]: {train}, {valid}, " + ", ".join(map(repr, test.values())))
    return train, valid, test
