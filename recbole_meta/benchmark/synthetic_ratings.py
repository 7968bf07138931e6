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

The files are RecBole atomic files written by the helpers of :mod:`recbole_meta.benchmark.synthetic` (the same
feature columns as its generator); the truth is saved next to them (``<name>.truth.npz``) and read by
:class:`PlantedOracle` (the noise floor); :class:`PlantedPosterior` is the attainable ceiling (the exact posterior
mean of the user's own terms given the support).
"""

import math
import os
from dataclasses import dataclass

import numpy as np
import torch

from recbole_meta.benchmark.synthetic import (
    AGES,
    Profiles,
    _activity,
    _pick_items,
    draw_item_tags,
    draw_user_traits,
    profile_config,
    write_profile_files,
)
from recbole_meta.benchmark.synthetic_files import dataset_folder, generator_options
from recbole_meta.model.meta_recommender.abstract_meta_recommender import MetaRecommender
from recbole_meta.registry import register_model

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

    counts = _activity(
        rng, n_users, n_users * opt.ratings_per_user, opt.min_user_ratings, opt.max_user_ratings, sigma=0.6
    )
    weights = np.arange(1, n_items + 1, dtype=float)[rng.permutation(n_items)] ** -opt.popularity_exponent
    users, items = _pick_items(
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


def _load_truth(model_name, config, dataset):
    """The planted truth (``planted_truth``) and, per side, the 0-based generator index of each RecBole id."""
    path = config["planted_truth"]
    if not path or not os.path.exists(str(path)):
        raise ValueError(
            f"{model_name} needs planted_truth, the truth file of the planted data; got {path!r}"
        )
    with np.load(path) as data:
        truth = {key: data[key] for key in data.files}
    index = {}
    for side, field in (("user", dataset.uid_field), ("item", dataset.iid_field)):
        tokens = dataset.field2id_token[field]
        index[side] = np.array([int(t) - 1 if i > 0 else 0 for i, t in enumerate(tokens)], dtype=np.int64)
    return truth, index


@register_model
class PlantedOracle(MetaRecommender):
    """Predicts the planted true mean of each rating (the noise floor); reads ``planted_truth`` (a ``.npz``).

    Data generated by :func:`generate_planted_ratings` only: user and item tokens are 1-based indices.
    Nothing to train; the support is ignored.
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        truth, index = _load_truth(type(self).__name__, config, dataset)
        dtype = torch.get_default_dtype()
        user_vector = np.hstack(
            [truth["user_feature_factor"], truth["user_taste"], truth["user_bias"][:, None]]
        )[index["user"]]
        item_vector = np.hstack(
            [truth["item_feature_factor"], truth["item_taste_loading"], np.ones((len(truth["item_bias"]), 1))]
        )[index["item"]]
        self.register_buffer("user_vector", torch.as_tensor(user_vector, dtype=dtype))
        self.register_buffer("item_vector", torch.as_tensor(item_vector, dtype=dtype))
        self.register_buffer(
            "item_offset",
            torch.as_tensor(float(truth["mu"]) + truth["item_bias"][index["item"]], dtype=dtype),
        )

    def forward(self, user, support_item, support_rating, support_mask, target_item):
        return self.item_offset[target_item] + self.item_vector[target_item] @ self.user_vector[user]


@register_model
class PlantedPosterior(MetaRecommender):
    r"""The attainable ceiling: the Bayes-optimal prediction given the generator and the task's support only.

    Knows everything the generator fixed before drawing the user's own terms: mu, b_i, the feature interaction
    a_u . c_i (a_u is a function of the user's features), the taste loadings h_i, the priors b_u ~ N(0, s_b^2),
    z_u ~ N(0, s_z^2 I) and the noise sigma. It does not know b_u and z_u; it estimates them from the support by
    their exact posterior mean (Bayesian linear regression, e.g. Bishop, *Pattern Recognition and Machine
    Learning*, 2006, Eq. 3.53-3.54): with x_j = [1, h_j] and y_j = r_uj - mu - b_j - a_u . c_j over the support,

        w_hat = (X^T X / sigma^2 + Lambda^-1)^-1 X^T y / sigma^2,   Lambda = diag(s_b^2, s_z^2, ..., s_z^2),

    computed as ridge regression in the whitened coordinates v = Lambda^(-1/2) w (so a zero prior is exact):
    v_hat = (G^T G + sigma^2 I)^-1 G^T y with G = X Lambda^(1/2). The predictive distribution of a query rating
    is Gaussian with mean mu + b_i + a_u . c_i + x_i . w_hat, so this mean minimises both the expected squared
    and the expected absolute error: no learner that sees only the support can do better in expectation; the
    Oracle (which knows b_u and z_u) is the noise floor below it. Nothing to train.
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        truth, index = _load_truth(type(self).__name__, config, dataset)
        missing = {"user_bias_prior_std", "user_taste_prior_std"} - set(truth)
        if missing:
            raise ValueError(
                f"PlantedPosterior needs the priors in planted_truth (regenerate the data): missing {sorted(missing)}"
            )
        dtype = torch.get_default_dtype()
        users, items = index["user"], index["item"]
        rank = truth["user_taste"].shape[1]
        prior_std = np.array(
            [float(truth["user_bias_prior_std"])] + [float(truth["user_taste_prior_std"])] * rank
        )
        design = np.hstack([np.ones((len(truth["item_bias"]), 1)), truth["item_taste_loading"]])
        self.register_buffer("user_known", torch.as_tensor(truth["user_feature_factor"][users], dtype=dtype))
        self.register_buffer("item_known", torch.as_tensor(truth["item_feature_factor"][items], dtype=dtype))
        self.register_buffer(
            "item_offset", torch.as_tensor(float(truth["mu"]) + truth["item_bias"][items], dtype=dtype)
        )
        self.register_buffer("item_design", torch.as_tensor(design[items], dtype=dtype))
        self.register_buffer("prior_std", torch.as_tensor(prior_std, dtype=dtype))
        self.noise_var = float(truth["noise"]) ** 2

    def known_mean(self, user, item):
        """mu + b_i + a_u . c_i: the part of the mean that does not depend on the user's unseen terms."""
        return self.item_offset[item] + self.item_known[item] @ self.user_known[user]

    def posterior_mean(self, user, support_item, support_rating, support_mask):
        """E[(b_u, z_u) | support] ``[1 + rank]``: the posterior mean of the user's own terms."""
        g = self.item_design[support_item] * self.prior_std * support_mask.unsqueeze(-1)
        y = (support_rating - self.known_mean(user, support_item)) * support_mask
        eye = torch.eye(g.shape[1], dtype=g.dtype, device=g.device)
        v = torch.linalg.solve(g.transpose(0, 1) @ g + self.noise_var * eye, g.transpose(0, 1) @ y)
        return self.prior_std * v

    def forward(self, user, support_item, support_rating, support_mask, target_item):
        w = self.posterior_mean(user, support_item, support_rating, support_mask)
        return self.known_mean(user, target_item) + self.item_design[target_item] @ w
