r"""Seeded synthetic data built for PeterRec's transfer claims: plentiful unlabelled behaviour, few labels.

The premise of PeterRec (Yuan et al., SIGIR 2020, Sec. 1 and 4.1) is that a user model pre-trained on many users'
unlabelled behaviour sequences carries what downstream tasks with few labelled users need. This generator plants
exactly that structure, with known truth:

* every user has two latent traits, ``gender`` (F 30%, M 70%) and ``age`` (7 groups, uniform); each trait value
  has an embedding in :math:`\mathbb{R}^r`, and the user's taste is

  .. math:: \mathbf{p}_u = s_{trait}\,\frac{\mathbf{e}_{g(u)} + \mathbf{e}_{a(u)}}{\sqrt 2} + \mathbf{z}_u,
     \qquad \mathbf{z}_u \sim \mathcal N(0, \sigma_z^2 I / r);

* **source domain** (``release_year`` 1990): ``n_source_items`` items with factors
  :math:`\mathbf{q}_i \sim \mathcal N(0, I / r)` and power-law popularity :math:`w_i`. Every user picks
  :math:`n_u` distinct source items (log-normal activity, at least ``min_source``) with probability proportional
  to :math:`w_i \exp(s_{pref} \sqrt r\, \mathbf{p}_u \cdot \mathbf{q}_i)` (Gumbel top-k, the helper of
  :mod:`recbole_meta.benchmark.synthetic.planted_preferences`), in random time order;
* **target domain** (``release_year`` 2000): ``n_target_items`` items drawn the same way, picked by the same
  :math:`\mathbf{p}_u` but only by ``n_target_users`` users, 1 to ``max_target`` items each, after all their source
  items: the target domain's preferences depend on the same traits, so a representation of the source behaviour
  that recovers :math:`\mathbf{p}_u` transfers;
* **labels**: only ``n_labelled`` users (drawn at random) have a row in ``.user``; the others are unlabelled
  (PeterRec's profile tasks exclude and count them).

The files are RecBole atomic files (``.inter``, ``.user`` with ``gender`` and ``age``, ``.item`` with
``release_year``), byte-identical for the same arguments. The planted truth is returned, so that a check can
compute the ceiling of a task (e.g. the trait read from :math:`\mathbf{p}_u`).
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
from recbole_meta.benchmark.synthetic.planted_preferences import AGES, GENDERS, draw_activity, pick_items

SOURCE_YEAR, TARGET_YEAR = 1990, 2000
TARGET_DOMAIN = {"field": "release_year", "min": 1995}


@dataclass
class PlantedTaste:
    """The planted traits and taste (0-based user and item indices; items: source first).

    Attributes:
        gender, age (numpy.ndarray): each user's traits (indices into ``GENDERS`` and ``AGES``).
        user_factors (numpy.ndarray): ``(n_users, rank)``, the taste p_u; item_factors: ``(n_items, rank)``, q_i.
    """

    gender: np.ndarray
    age: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray


@dataclass
class TransferSynthetic(GeneratedFiles):
    """Where the files are (:class:`GeneratedFiles`) and the planted truth.

    Attributes:
        options (types.SimpleNamespace): the generator's options (sizes, strengths; see ``OPTIONS``).
        planted (PlantedTaste): traits, taste and item factors.
        labelled (numpy.ndarray): the users with a ``.user`` row; target_users: the users who picked target items.
        n_interactions (int): lines of the ``.inter`` file.
    """

    options: object
    planted: PlantedTaste
    labelled: np.ndarray
    target_users: np.ndarray
    n_interactions: int


# The options of generate_transfer_synthetic, with their defaults (see the module docstring for the model).
OPTIONS = {
    "n_users": 50_000,  # users with source behaviour (all of them; the backbone pre-trains on these)
    "n_labelled": 5_000,  # users with a .user row (gender and age), drawn at random
    "n_target_users": 6_000,  # users who also picked target items, drawn at random
    "n_source_items": 1_000,
    "n_target_items": 300,
    "mean_source": 20,  # mean number of source items per user
    "min_source": 8,  # minimum number of source items per user
    "max_target": 3,  # a target user picks 1..max_target target items (uniform)
    "rank": 16,  # dimension of the taste and item factors
    "trait_strength": 1.0,  # weight of the trait embeddings in p_u
    "user_noise": 1.0,  # std of the personal part of p_u (its ratio to trait_strength: how much traits explain)
    "preference_strength": 1.0,  # s_pref; 0 makes picks depend on popularity only
    "popularity_exponent": 0.8,  # exponent of the item popularity power law (0: uniform)
    "activity_sigma": 0.5,  # log-normal spread of the number of source items per user
    "start_time": 880_000_000,  # earliest timestamp (seconds)
}


def generate_transfer_synthetic(out_dir, name, seed=0, **options):
    """Write ``<out_dir>/<name>/<name>.{inter,user,item}`` and return a :class:`TransferSynthetic`.

    Args:
        out_dir (str): parent folder (RecBole's ``data_path``); name (str): dataset name.
        seed (int): same seed and options -> identical files.
        options: any of ``OPTIONS`` (sizes, strengths), by keyword.
    """
    opt = generator_options("generate_transfer_synthetic", OPTIONS, options)
    n_users, n_source_items = opt.n_users, opt.n_source_items
    for option, value in (("n_labelled", opt.n_labelled), ("n_target_users", opt.n_target_users)):
        if not 0 < value <= n_users:
            raise ValueError(f"{option} must be in 1..n_users={n_users}, got {value}")
    if not 1 <= opt.min_source <= opt.mean_source <= n_source_items // 2:
        raise ValueError(
            f"need 1 <= min_source ({opt.min_source}) <= mean_source ({opt.mean_source}) <= n_source_items / 2 "
            f"({n_source_items // 2})"
        )
    if not 1 <= opt.max_target <= opt.n_target_items // 2:
        raise ValueError(f"max_target must be in 1..n_target_items / 2, got {opt.max_target}")
    rng = np.random.default_rng(seed)
    scale = 1.0 / math.sqrt(opt.rank)

    gender = rng.choice(len(GENDERS), size=n_users, p=[0.3, 0.7])
    age = rng.choice(len(AGES), size=n_users)
    gender_embedding = rng.normal(0, scale, (len(GENDERS), opt.rank))
    age_embedding = rng.normal(0, scale, (len(AGES), opt.rank))
    traits = (gender_embedding[gender] + age_embedding[age]) / math.sqrt(2)
    user_factors = opt.trait_strength * traits + opt.user_noise * rng.normal(0, scale, (n_users, opt.rank))

    n_items = n_source_items + opt.n_target_items
    item_factors = rng.normal(0, scale, (n_items, opt.rank))
    weight = np.empty(n_items)
    for lo, hi in ((0, n_source_items), (n_source_items, n_items)):
        weight[lo:hi] = (rng.permutation(hi - lo) + 1.0) ** -opt.popularity_exponent
    strength = opt.preference_strength * math.sqrt(opt.rank)

    counts = draw_activity(
        rng, n_users, opt.mean_source * n_users, opt.min_source, n_source_items // 2, opt.activity_sigma
    )
    src_users, src_items = pick_items(
        rng, counts, user_factors, item_factors[:n_source_items], np.log(weight[:n_source_items]), strength
    )
    target_users = np.sort(rng.choice(n_users, size=opt.n_target_users, replace=False))
    target_counts = rng.integers(1, opt.max_target + 1, size=opt.n_target_users)
    tgt_rows, tgt_items = pick_items(
        rng,
        target_counts,
        user_factors[target_users],
        item_factors[n_source_items:],
        np.log(weight[n_source_items:]),
        strength,
    )
    tgt_users, tgt_items = target_users[tgt_rows], tgt_items + n_source_items
    labelled = np.sort(rng.choice(n_users, size=opt.n_labelled, replace=False))

    # time: each user's source picks in random order, then their target picks (one step apart)
    users = np.concatenate([src_users, tgt_users])
    items = np.concatenate([src_items, tgt_items])
    phase = np.concatenate([np.zeros(len(src_users)), np.ones(len(tgt_users))])
    order = np.lexsort((rng.random(len(users)), phase, users))
    users, items = users[order], items[order]
    first = np.r_[0, np.flatnonzero(users[1:] != users[:-1]) + 1]
    position = np.arange(len(users)) - np.repeat(first, np.diff(np.r_[first, len(users)]))
    user_start = opt.start_time + rng.integers(0, 365 * 86400, size=n_users)
    timestamp = user_start[users] + 3600 * position

    folder = dataset_folder(out_dir, name)
    _write(folder, name, users, items, timestamp, labelled, gender, age, n_source_items, opt.n_target_items)
    planted = PlantedTaste(gender, age, user_factors, item_factors)
    return TransferSynthetic(name, os.path.abspath(out_dir), opt, planted, labelled, target_users, len(users))


def _write(folder, name, users, items, timestamp, labelled, gender, age, n_source, n_target):
    path = os.path.join(folder, name)
    write_atomic_file(
        f"{path}.inter",
        ["user_id:token", "item_id:token", "rating:float", "timestamp:float"],
        [users + 1, items + 1, np.ones(len(users), dtype=np.int64), timestamp],
    )
    write_atomic_file(
        f"{path}.user",
        ["user_id:token", "age:token", "gender:token"],
        [labelled + 1, np.asarray(AGES)[age[labelled]], np.asarray(GENDERS)[gender[labelled]]],
    )
    write_atomic_file(
        f"{path}.item",
        ["item_id:token", "release_year:token"],
        [np.arange(1, n_source + n_target + 1), [SOURCE_YEAR] * n_source + [TARGET_YEAR] * n_target],
    )
