r"""Planted-signal explicit ratings for the cold-start suites, with the true mean of every rating known.

The rating of user u for item i is

    r_ui = mu + b_i + b_u + a_u . c_i + z_u . h_i + sigma * eps,   eps ~ N(0, 1),

* ``b_i`` -- item bias: a category part plus an idiosyncratic part (the item's identity);
* ``b_u`` -- user bias, seen only through the user's ratings;
* ``a_u . c_i`` -- the *feature interaction*: ``a_u`` from the user's features (gender, age, occupation
  embeddings), ``c_i`` from the item's features (category and tag embeddings); the same for every user with the
  same features, so a model that embeds the features can learn it from the training users;
* ``z_u . h_i`` -- the *latent taste*: ``z_u ~ N(0, I)`` is drawn per user and appears in no feature, so it is
  seen only through the user's support ratings; ``h_i`` comes from the item's category and tags (a user-specific
  weighting of item features: what MeLU's local update is for) plus a small idiosyncratic part;
* Gaussian noise of known standard deviation ``noise``.

Each term is rescaled on the generated (user, item) pairs to the standard deviation asked for. Ratings stay
**continuous** (no rounding or clipping), so the Oracle that predicts the true mean has an expected MAE of
``noise * sqrt(2 / pi)`` and RMSE ``noise``: the noise floor is exact. Which items a user rates does not depend
on the rating (popularity only), so the observed ratings are an unbiased sample of the planted model.

The files are RecBole atomic files written by the helpers of :mod:`.planted_preferences` (the same feature
columns as its generator); the truth is saved next to them (``<name>.truth.npz``) and read by the models of
:mod:`.planted_truth_models` (the Oracle: the noise floor; the Posterior: the attainable ceiling), which importing
this module registers.
"""

import math
import os
from dataclasses import dataclass

import numpy as np

# registers the models that read the truth
from recbole_meta.benchmark.synthetic import planted_truth_models  # noqa: F401
from recbole_meta.benchmark.synthetic.atomic_files import dataset_folder, generator_options
from recbole_meta.benchmark.synthetic.planted_preferences import (
    AGES,
    Profiles,
    draw_activity,
    draw_item_tags,
    draw_user_traits,
    pick_items,
    profile_config,
    write_profile_files,
)

TRUTH_SUFFIX = ".truth.npz"

# The model settings the suites on these ratings share: continuous ratings (no rating range, no normalisation)
# and every feature column of the files as a feature, the item id included.
FEATURE_SETTINGS = {
    "rating_range": None,
    "normalize_all": False,
    "user_features": ["gender", "age", "occupation"],
    "item_features": ["item_id", "category", "tags"],
}


@dataclass
class PlantedRatings:
    """Where the files are and the planted truth (0-based user and item indices; tokens are index + 1)."""

    name: str
    data_path: str
    n_users: int
    n_items: int
    n_interactions: int
    truth_file: str
    noise: float
    term_std: dict

    def config_dict(self):
        """RecBole config entries that load these files."""
        return {**profile_config(self.data_path), "planted_truth": self.truth_file}


def true_means(truth, users, items):
    """mu + b_i + b_u + a_u . c_i + z_u . h_i for 0-based index arrays (numpy)."""
    return (
        truth["mu"]
        + truth["item_bias"][items]
        + truth["user_bias"][users]
        + np.einsum("nd,nd->n", truth["user_feature_factor"][users], truth["item_feature_factor"][items])
        + np.einsum("nd,nd->n", truth["user_taste"][users], truth["item_taste_loading"][items])
    )


# The options of generate_planted_ratings, with their defaults (see the module docstring for the model).
OPTIONS = {
    "ratings_per_user": 40,  # mean of the log-normal activity
    "min_user_ratings": 13,
    "max_user_ratings": 100,
    "rank": 4,  # dimension of the feature interaction and of the latent taste
    "mu": 3.5,  # global mean rating
    # standard deviation of each term over the generated ratings
    "item_bias_std": 0.4,
    "user_bias_std": 0.3,
    "interaction_std": 0.5,
    "taste_std": 0.5,
    "noise": 0.5,  # sigma of the Gaussian rating noise (the Oracle's floor)
    "popularity_exponent": 0.5,  # exponent of the item popularity power law (0: uniform)
    "n_categories": 12,
    "n_tags": 30,
    "n_occupations": 21,
}


def generate_planted_ratings(out_dir, n_users, n_items, seed=0, name=None, **options):
    """Write ``<out_dir>/<name>/<name>.inter/.user/.item`` and the truth; return :class:`PlantedRatings`.

    Args:
        out_dir (str): parent folder (RecBole's ``data_path``).
        n_users, n_items (int): sizes; users rate ``min_user_ratings``..``max_user_ratings`` items (log-normal
            activity around ``ratings_per_user`` on average).
        seed (int): same seed and options -> identical files.
        name (str): dataset name (default ``planted_ratings_s<seed>``).
        options: any of ``OPTIONS`` (term sizes, noise, vocabulary sizes), by keyword.
    """
    opt = generator_options("generate_planted_ratings", OPTIONS, options)
    if not opt.min_user_ratings <= opt.ratings_per_user <= opt.max_user_ratings <= n_items:
        raise ValueError(
            f"need min_user_ratings ({opt.min_user_ratings}) <= ratings_per_user ({opt.ratings_per_user}) <= "
            f"max_user_ratings ({opt.max_user_ratings}) <= n_items ({n_items})"
        )
    name = name or f"planted_ratings_s{seed}"
    rng = np.random.default_rng(seed)
    scale = 1.0 / math.sqrt(opt.rank)

    # features
    gender, age, occupation = draw_user_traits(rng, n_users, opt.n_occupations)
    category, tag_lists = draw_item_tags(rng, n_items, opt.n_categories, opt.n_tags)
    release_year = rng.integers(1960, 2021, size=n_items)  # carries no signal

    def item_side(per_category, per_tag):
        return (per_category[category] + np.stack([per_tag[t].mean(axis=0) for t in tag_lists])) / math.sqrt(
            2
        )

    # feature interaction: a_u from the user's features, c_i from the item's features
    a = sum(
        rng.normal(0, scale, (k, opt.rank))[v]
        for k, v in ((2, gender), (len(AGES), age), (opt.n_occupations, occupation))
    )
    c = item_side(rng.normal(0, 1, (opt.n_categories, opt.rank)), rng.normal(0, 1, (opt.n_tags, opt.rank)))
    # latent taste: z_u unseen, loading h_i from the item's features plus an idiosyncratic part
    z = rng.normal(0, 1, (n_users, opt.rank))
    h = item_side(rng.normal(0, 1, (opt.n_categories, opt.rank)), rng.normal(0, 1, (opt.n_tags, opt.rank)))
    h = h + 0.3 * rng.normal(0, 1, (n_items, opt.rank))
    item_bias = rng.normal(0, 1, opt.n_categories)[category] + rng.normal(0, 1, n_items)
    user_bias = rng.normal(0, 1, n_users)

    counts = draw_activity(
        rng, n_users, n_users * opt.ratings_per_user, opt.min_user_ratings, opt.max_user_ratings, sigma=0.6
    )
    weights = np.arange(1, n_items + 1, dtype=float)[rng.permutation(n_items)] ** -opt.popularity_exponent
    users, items = pick_items(
        rng, counts, np.zeros((n_users, 1)), np.zeros((n_items, 1)), np.log(weights), strength=0.0
    )

    # each term rescaled to its standard deviation over the generated pairs (a constant factor per term)
    def factor(values, target):
        std = float(values.std())
        return target / std if std > 0 else 0.0

    interaction = np.einsum("nd,nd->n", a[users], c[items])
    taste = np.einsum("nd,nd->n", z[users], h[items])
    a = a * factor(interaction, opt.interaction_std)
    taste_scale = factor(taste, opt.taste_std)
    z = z * taste_scale
    item_bias = item_bias * factor(item_bias[items], opt.item_bias_std)
    user_bias_scale = factor(user_bias[users], opt.user_bias_std)
    user_bias = user_bias * user_bias_scale
    truth = {
        "mu": np.float64(opt.mu),
        "item_bias": item_bias,
        "user_bias": user_bias,
        "user_feature_factor": a,
        "item_feature_factor": c,
        "user_taste": z,
        "item_taste_loading": h,
        "noise": np.float64(opt.noise),
        # the priors the user terms were drawn from: b_u ~ N(0, s_b^2), z_u ~ N(0, s_z^2 I)
        "user_bias_prior_std": np.float64(user_bias_scale),
        "user_taste_prior_std": np.float64(taste_scale),
    }
    mean = true_means(truth, users, items)
    rating = np.round(mean + opt.noise * rng.normal(size=len(users)), 4)
    timestamp = 880_000_000 + np.arange(len(users), dtype=np.int64) * 60

    folder = dataset_folder(out_dir, name)
    inter = {"user": users, "item": items, "rating": rating, "timestamp": timestamp}
    write_profile_files(
        folder, name, inter, Profiles(gender, age, occupation, category, tag_lists, release_year)
    )
    truth_file = os.path.join(os.path.abspath(folder), name + TRUTH_SUFFIX)
    np.savez(truth_file, **truth)
    term_std = {
        "item_bias": float(item_bias[items].std()),
        "user_bias": float(user_bias[users].std()),
        "feature_interaction": float(np.einsum("nd,nd->n", a[users], c[items]).std()),
        "latent_taste": float(np.einsum("nd,nd->n", z[users], h[items]).std()),
        "noise": float(opt.noise),
    }
    return PlantedRatings(
        name=name,
        data_path=os.path.abspath(out_dir),
        n_users=n_users,
        n_items=n_items,
        n_interactions=len(users),
        truth_file=truth_file,
        noise=float(opt.noise),
        term_std=term_std,
    )
