"""Item-cold split for RecBole's general models: test items are never seen in training.

With ``item_cold_split: [0.8, 0.1, 0.1]`` the *items* that occur in the interactions are split at random
(seeded by ``seed``) into train / valid / test groups, and every interaction goes to the group of its item. The
valid and test phases then rank, for each user, only the items of their own group (the new items) with
RecBole's full-sort evaluation: every other item is masked like a history item. A model can place a new item
only from its features (the id embedding of such an item never received a gradient from a positive), which is
the cold-start item recommendation protocol.

Without ``item_cold_split`` a general model gets RecBole's usual split (:func:`general_data_preparation`
delegates to it). The split works for any general model, so RecBole's baselines (BPR, LightGCN, ...) can be
compared on the same item-cold split (RecBole's traditional models, such as Pop and ItemKNN, too). RecBole's negative samplers draw negatives from all item ids, including
the new items, as they would for any item absent from a user's history; that reveals nothing about positives.
"""

from logging import getLogger

import numpy as np
import torch
from recbole.data import create_samplers, get_dataloader
from recbole.data.dataloader.general_dataloader import FullSortEvalDataLoader
from recbole.utils import ModelType

from recbole_meta.compat.data import split_dataset
from recbole_meta.data.fractions import fractions
from recbole_meta.registry import register_data_preparation


def split_items(item_ids, ratios, seed):
    """Split the distinct ``item_ids`` into three disjoint groups of sizes proportional to ``ratios``.

    Returns:
        list of torch.LongTensor: train, valid and test item ids (sorted).
    """
    items = torch.unique(torch.as_tensor(item_ids))
    order = items[torch.randperm(len(items), generator=torch.Generator().manual_seed(int(seed)))]
    bounds = np.cumsum([0] + list(ratios))
    cuts = [int(round(b * len(items))) for b in bounds]
    return [torch.sort(order[a:b]).values for a, b in zip(cuts[:-1], cuts[1:])]


def item_cold_datasets(dataset, ratios, seed):
    """Train / valid / test ``Dataset`` copies whose interactions are those of each item group, and the groups."""
    dataset._change_feat_format()
    dataset._drop_unused_col()
    item_ids = dataset.inter_feat[dataset.iid_field]
    groups = split_items(item_ids, ratios, seed)
    built = [dataset.copy(dataset.inter_feat[torch.isin(item_ids, group)]) for group in groups]
    return built, groups


class CandidateFullSortEvalDataLoader(FullSortEvalDataLoader):
    """RecBole's full-sort loader that ranks only ``candidate_items``: every other item is masked per user.

    The masked items are added to the ``history`` index that RecBole's trainer sets to ``-inf``.
    """

    def __init__(self, config, dataset, sampler, candidate_items, shuffle=False):
        super().__init__(config, dataset, sampler, shuffle=shuffle)
        is_candidate = torch.zeros(dataset.item_num, dtype=torch.bool)
        is_candidate[torch.as_tensor(candidate_items)] = True
        self.non_candidates = torch.nonzero(~is_candidate).squeeze(1)

    def collate_fn(self, index):
        user_df, (history_u, history_i), positive_u, positive_i = super().collate_fn(index)
        n_users = len(user_df)
        history_u = torch.cat([history_u, torch.arange(n_users).repeat_interleave(len(self.non_candidates))])
        history_i = torch.cat([history_i, self.non_candidates.repeat(n_users)])
        return user_df, (history_u, history_i), positive_u, positive_i


def item_cold_data_preparation(config, dataset):
    """Train / valid / test loaders of the item-cold split (see the module docstring)."""
    if config["eval_args"]["mode"]["valid"] != "full" or config["eval_args"]["mode"]["test"] != "full":
        raise ValueError("item_cold_split needs full-sort evaluation: eval_args mode full")
    ratios = fractions(config["item_cold_split"], "item_cold_split", of="items")
    built, groups = item_cold_datasets(dataset, ratios, config["seed"])
    train_sampler, valid_sampler, test_sampler = create_samplers(config, dataset, built)
    train_data = get_dataloader(config, "train")(config, built[0], train_sampler, shuffle=config["shuffle"])
    valid_data = CandidateFullSortEvalDataLoader(config, built[1], valid_sampler, groups[1])
    test_data = CandidateFullSortEvalDataLoader(config, built[2], test_sampler, groups[2])
    getLogger().info(
        f"[item-cold split]: items train/valid/test = {[len(g) for g in groups]}, "
        f"interactions = {[len(d) for d in built]}"
    )
    return train_data, valid_data, test_data


@register_data_preparation(
    model_type=ModelType.TRADITIONAL
)  # RecBole's Pop, ItemKNN, EASE...: general models too
@register_data_preparation(model_type=ModelType.GENERAL)
def general_data_preparation(config, dataset):
    """RecBole's split for general models, or the item-cold split when ``item_cold_split`` is set."""
    if config["item_cold_split"]:
        return item_cold_data_preparation(config, dataset)
    return split_dataset(config, dataset)
