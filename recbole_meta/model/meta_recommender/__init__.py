"""Episodic cold-start recommenders (MeLU, the mean baselines) on the MetaRecommender base class."""

from recbole_meta.model.meta_recommender.abstract_meta_recommender import MetaRecommender
from recbole_meta.model.meta_recommender.mean_baselines import GlobalMean, ItemMean, UserItemBias, UserMean
from recbole_meta.model.meta_recommender.melu import MeLU

__all__ = ["MetaRecommender", "MeLU", "GlobalMean", "ItemMean", "UserMean", "UserItemBias"]
