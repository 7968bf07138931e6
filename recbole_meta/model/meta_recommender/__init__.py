"""Episodic cold-start recommenders (MeLU, MatchingNet, ProtoRec, mean and MF fold-in baselines) on MetaRecommender."""

from recbole_meta.model.meta_recommender.abstract_meta_recommender import MetaRecommender
from recbole_meta.model.meta_recommender.matching_net import MatchingNet
from recbole_meta.model.meta_recommender.mean_baselines import GlobalMean, ItemMean, UserItemBias, UserMean
from recbole_meta.model.meta_recommender.melu import MeLU
from recbole_meta.model.meta_recommender.mf_fold_in import MFFoldIn
from recbole_meta.model.meta_recommender.proto_rec import ProtoRec

__all__ = [
    "MetaRecommender",
    "MeLU",
    "GlobalMean",
    "ItemMean",
    "UserMean",
    "UserItemBias",
    "MatchingNet",
    "ProtoRec",
    "MFFoldIn",
]
