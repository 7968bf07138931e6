"""Seeded synthetic RecBole atomic files with a planted preference model, of any size.

Generative model (all draws from one ``numpy.random.Generator(seed)``):

* users have token traits ``gender``, ``age``, ``occupation``; each trait value has an embedding, and the
  user factor is ``p_u = trait_strength * mean(trait embeddings) + z_u`` with ``z_u ~ N(0, I / rank)``;
* items have a token ``category``, a ``token_seq`` of 1-3 ``tags`` and a token ``release_year``; the item
  factor is ``q_i = feature_strength * mean(category and tag embeddings) + z_i``; the item bias ``b_i`` is a
  category bias plus the mean tag bias plus noise; users have a bias ``b_u``;
* popularity follows a power law: item ``i`` has weight ``w_i = rank_i ** -popularity_exponent`` for a random
  ranking of the items (so ids carry no popularity);
* user activity is log-normal: ``n_u = min_user_interactions + Multinomial(rest, a_u / sum a)`` with
  ``a_u ~ LogNormal(0, activity_sigma)``, capped at half the catalogue;
* user ``u`` picks ``n_u`` distinct items with probability proportional to
  ``w_i * exp(preference_strength * p_u . q_i)`` (sampling without replacement by Gumbel top-k), so traits
  are visible in what a user picks, not only in ratings;
* rating = quantile bucket (target shares ``rating_shares`` of 1..5 stars) of
  ``b_u + b_i + p_u . q_i + noise * eps``; timestamps increase along each user's picks.

The interaction count is exact; the ground truth (factors, biases, weights, traits) is returned.
"""

import math
import os
from dataclasses import dataclass

import numpy as np

from recbole_meta.benchmark.synthetic.atomic_files import (
    GeneratedFiles,
    dataset_folder,
    generator_options,
    write_atomic_file,
)

AGES = ("1", "18", "25", "35", "45", "50", "56")
GENDERS = ("F", "M")


@dataclass
class Profiles:
    """What the ``.user`` and ``.item`` files say of each user and item (0-based indices; tokens are index + 1).

    Attributes:
        gender, age, occupation (ndarray of int): per user; indices into ``GENDERS``, ``AGES`` and ``occ<k>``.
        category (ndarray of int), tags (list of int arrays, 1-3 distinct tags each), release_year (ndarray):
            per item.
    """

    gender: np.ndarray
    age: np.ndarray
    occupation: np.ndarray
    category: np.ndarray
    tags: list
    release_year: np.ndarray


@dataclass
class PlantedFactors:
    """The planted preference model of :func:`generate_synthetic` (0-based user and item order).

    Attributes:
        user_factors (ndarray n_users x rank), item_factors (ndarray n_items x rank)
        user_bias (ndarray), item_bias (ndarray), item_weight (ndarray): planted popularity weights.
    """

    user_factors: np.ndarray
    item_factors: np.ndarray
    user_bias: np.ndarray
    item_bias: np.ndarray
    item_weight: np.ndarray


@dataclass
class SyntheticDataset(GeneratedFiles):
    """Where the files are (:class:`GeneratedFiles`) and the planted truth.

    Attributes:
        profiles (Profiles): the user and item features written to the files.
        planted (PlantedFactors): factors, biases and popularity weights.
        inter (dict of ndarray): ``user``, ``item`` (0-based indices), ``rating``, ``timestamp``.
    """

    profiles: Profiles
    planted: PlantedFactors
    inter: dict

    @property
    def n_users(self):
        return len(self.profiles.gender)

    @property
    def n_items(self):
        return len(self.profiles.category)

    @property
    def n_interactions(self):
        return len(self.inter["user"])

    def config_dict(self):
        """RecBole config entries that load every column of these files."""
        return profile_config(self.data_path)


def profile_config(data_path):
    """RecBole config entries that load every column of the files :func:`write_profile_files` writes."""
    return {
        "data_path": data_path,
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "RATING_FIELD": "rating",
        "TIME_FIELD": "timestamp",
        "load_col": {
            "inter": ["user_id", "item_id", "rating", "timestamp"],
            "user": ["user_id", "age", "gender", "occupation"],
            "item": ["item_id", "category", "tags", "release_year"],
        },
    }


def draw_user_traits(rng, n_users, n_occupations):
    """Each user's ``(gender, age, occupation)``: 30% F / 70% M, uniform age group, uniform occupation."""
    gender = rng.choice(len(GENDERS), size=n_users, p=[0.3, 0.7])
    age = rng.choice(len(AGES), size=n_users)
    return gender, age, rng.integers(0, n_occupations, size=n_users)


def draw_item_tags(rng, n_items, n_categories, n_tags):
    """Each item's ``(category, tags)``: a uniform category and 1-3 distinct uniform tags."""
    category = rng.integers(0, n_categories, size=n_items)
    return category, [rng.choice(n_tags, size=k, replace=False) for k in rng.integers(1, 4, size=n_items)]


def default_sizes(n_interactions):
    """Users and items for a size: ``4 sqrt(n)`` and ``8 sqrt(n)`` (density about 3%; ml-100k has 6%)."""
    root = math.sqrt(n_interactions)
    return max(20, math.ceil(4 * root)), max(20, math.ceil(8 * root))


def draw_activity(rng, n_users, n_interactions, minimum, cap, sigma):
    """Interactions per user: ``minimum`` each plus a log-normal share of the rest, none above ``cap``."""
    weights = rng.lognormal(0.0, sigma, n_users)
    counts = np.full(n_users, minimum, dtype=np.int64)
    rest = n_interactions - counts.sum()
    while rest > 0:
        open_users = counts < cap
        share = np.where(open_users, weights, 0.0)
        counts += rng.multinomial(rest, share / share.sum())
        overflow = np.maximum(counts - cap, 0)
        counts -= overflow
        rest = int(overflow.sum())
    return counts


def pick_items(rng, counts, logits_user, logits_item, item_log_weight, strength, chunk_elements=2_000_000):
    """For each user, ``counts[u]`` distinct items by Gumbel top-k over ``log w_i + strength * p_u . q_i``."""
    n_users, n_items = len(counts), len(item_log_weight)
    rows = max(1, chunk_elements // n_items)
    users, items = [], []
    for start in range(0, n_users, rows):
        stop = min(n_users, start + rows)
        keys = item_log_weight[None, :] + strength * (logits_user[start:stop] @ logits_item.T)
        keys += rng.gumbel(size=keys.shape)
        order = np.argsort(-keys, axis=1, kind="stable")
        take = np.arange(n_items)[None, :] < counts[start:stop, None]
        rows_idx = np.nonzero(take)[0]
        users.append(rows_idx + start)
        items.append(order[take])
    return np.concatenate(users), np.concatenate(items)


# The options of generate_synthetic, with their defaults (see the module docstring for the model).
OPTIONS = {
    "rank": 8,  # dimension of the user and item factors
    "popularity_exponent": 1.0,  # exponent of the item popularity power law (0: uniform)
    "activity_sigma": 1.0,  # log-normal spread of the interactions per user
    "min_user_interactions": 5,
    "preference_strength": 1.0,  # weight of p_u . q_i in what users pick (0: popularity only)
    "trait_strength": 1.0,  # how much user traits shape the user factors
    "feature_strength": 1.0,  # how much item features shape the item factors
    "noise": 0.5,  # rating noise standard deviation
    "n_categories": 12,
    "n_tags": 30,
    "n_occupations": 21,
    "rating_shares": (0.06, 0.11, 0.27, 0.34, 0.22),  # target share of each star rating, 1 to 5
    "start_time": 880_000_000,  # earliest timestamp (seconds)
}


def generate_synthetic(out_dir, n_interactions, n_users=None, n_items=None, seed=0, name=None, **options):
    """Write ``<out_dir>/<name>/<name>.inter``, ``.user`` and ``.item`` and return a :class:`SyntheticDataset`.

    Args:
        out_dir (str): parent folder (becomes RecBole's ``data_path``).
        n_interactions (int): exact number of (user, item) interactions, no duplicates.
        n_users, n_items (int): default :func:`default_sizes`.
        seed (int): same seed and options -> byte-identical files.
        name (str): dataset name (default ``synthetic_<n_interactions>_s<seed>``).
        options: any of ``OPTIONS`` (strengths, noise, vocabulary sizes), by keyword.
    """
    opt = generator_options("generate_synthetic", OPTIONS, options)
    n_interactions = int(n_interactions)
    default_users, default_items = default_sizes(n_interactions)
    n_users = int(n_users or default_users)
    n_items = int(n_items or default_items)
    cap = max(1, n_items // 2)
    if n_interactions < 1:
        raise ValueError(f"n_interactions must be positive, got {n_interactions}")
    if n_users * opt.min_user_interactions > n_interactions:
        raise ValueError(
            f"n_interactions={n_interactions} < n_users * min_user_interactions = "
            f"{n_users} * {opt.min_user_interactions}: lower n_users or min_user_interactions"
        )
    if n_interactions > n_users * cap:
        raise ValueError(
            f"n_interactions={n_interactions} exceeds n_users * n_items / 2 = {n_users * cap}: "
            "raise n_users or n_items (each user rates at most half the catalogue)"
        )
    if opt.min_user_interactions > cap:
        raise ValueError(
            f"min_user_interactions={opt.min_user_interactions} exceeds half of n_items={n_items}"
        )
    if len(opt.rating_shares) != 5 or min(opt.rating_shares) <= 0:
        raise ValueError(f"rating_shares must be 5 positive shares, got {opt.rating_shares}")
    name = name or f"synthetic_{n_interactions}_s{seed}"
    rng = np.random.default_rng(seed)
    scale = 1.0 / math.sqrt(opt.rank)

    # users: traits -> factors
    gender, age, occupation = draw_user_traits(rng, n_users, opt.n_occupations)
    trait_embedding = [
        rng.normal(0, scale, (k, opt.rank)) for k in (len(GENDERS), len(AGES), opt.n_occupations)
    ]
    traits = (trait_embedding[0][gender] + trait_embedding[1][age] + trait_embedding[2][occupation]) / 3
    user_factors = opt.trait_strength * traits * math.sqrt(3) + rng.normal(0, scale, (n_users, opt.rank))
    user_bias = rng.normal(0, 0.3, n_users)

    # items: category + tags -> factors and bias
    category, tag_lists = draw_item_tags(rng, n_items, opt.n_categories, opt.n_tags)
    category_embedding = rng.normal(0, scale, (opt.n_categories, opt.rank))
    tag_embedding = rng.normal(0, scale, (opt.n_tags, opt.rank))
    tag_mean = np.stack([tag_embedding[t].mean(axis=0) for t in tag_lists])
    item_features = (category_embedding[category] + tag_mean) / math.sqrt(2)
    item_factors = opt.feature_strength * item_features + rng.normal(0, scale, (n_items, opt.rank))
    category_bias = rng.normal(0, 0.4, opt.n_categories)
    tag_bias = rng.normal(0, 0.2, opt.n_tags)
    item_bias = (
        category_bias[category]
        + np.array([tag_bias[t].mean() for t in tag_lists])
        + rng.normal(0, 0.2, n_items)
    )
    release_year = rng.integers(1960, 2021, size=n_items)

    # popularity power law over a random ranking; activity; picks
    popularity_rank = rng.permutation(n_items) + 1
    item_weight = popularity_rank.astype(float) ** -opt.popularity_exponent
    counts = draw_activity(rng, n_users, n_interactions, opt.min_user_interactions, cap, opt.activity_sigma)
    users, items = pick_items(
        rng, counts, user_factors, item_factors, np.log(item_weight), opt.preference_strength
    )

    # ratings from the planted model, bucketed to the target star shares
    score = (
        user_bias[users]
        + item_bias[items]
        + np.einsum("ij,ij->i", user_factors[users], item_factors[items])
        + opt.noise * rng.normal(size=len(users))
    )
    cut_points = np.quantile(score, np.cumsum(opt.rating_shares)[:-1] / np.sum(opt.rating_shares))
    rating = np.searchsorted(cut_points, score, side="right") + 1

    # timestamps: each user starts somewhere in two years, then about a day between picks, in pick order
    user_start = opt.start_time + rng.integers(0, 2 * 365 * 86400, size=n_users)
    order = rng.permutation(len(users))
    order = order[np.argsort(users[order], kind="stable")]  # users grouped, random order within a user
    users, items, rating = users[order], items[order], rating[order]
    gaps = rng.exponential(86400.0, size=len(users)).astype(np.int64) + 1
    first = np.r_[True, users[1:] != users[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(users)), 0))
    cumulative = np.cumsum(gaps)
    timestamp = user_start[users] + cumulative - cumulative[group_start] + gaps[group_start]

    profiles = Profiles(gender, age, occupation, category, tag_lists, release_year)
    inter = {"user": users, "item": items, "rating": rating, "timestamp": timestamp}
    write_profile_files(dataset_folder(out_dir, name), name, inter, profiles)
    planted = PlantedFactors(user_factors, item_factors, user_bias, item_bias, item_weight)
    return SyntheticDataset(name, os.path.abspath(out_dir), profiles, planted, inter)


def write_profile_files(folder, name, inter, profiles):
    """Write ``<folder>/<name>.inter``, ``.user`` and ``.item``.

    Args:
        inter (dict of ndarray): ``user``, ``item`` (0-based indices), ``rating``, ``timestamp``.
        profiles (Profiles): the user and item features.
    """
    path = os.path.join(folder, name)
    write_atomic_file(
        f"{path}.inter",
        ["user_id:token", "item_id:token", "rating:float", "timestamp:float"],
        [inter["user"] + 1, inter["item"] + 1, inter["rating"], inter["timestamp"]],
    )
    write_atomic_file(
        f"{path}.user",
        ["user_id:token", "age:token", "gender:token", "occupation:token"],
        [
            np.arange(1, len(profiles.gender) + 1),
            np.asarray(AGES)[profiles.age],
            np.asarray(GENDERS)[profiles.gender],
            [f"occ{o}" for o in profiles.occupation],
        ],
    )
    write_atomic_file(
        f"{path}.item",
        ["item_id:token", "category:token", "tags:token_seq", "release_year:token"],
        [
            np.arange(1, len(profiles.category) + 1),
            [f"cat{c}" for c in profiles.category],
            [" ".join(f"tag{t}" for t in sorted(ts)) for ts in profiles.tags],
            profiles.release_year,
        ],
    )
