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
  :mod:`recbole_meta.benchmark.synthetic`), in random time order;
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

from recbole_meta.benchmark.synthetic import AGES, GENDERS, _activity, _pick_items
from recbole_meta.benchmark.synthetic_files import GeneratedFiles, dataset_folder, write_atomic_file

SOURCE_YEAR, TARGET_YEAR = 1990, 2000
TARGET_DOMAIN = {"field": "release_year", "min": 1995}


@dataclass
class TransferSynthetic(GeneratedFiles):
    """Where the files are and the planted truth (0-based user / item indices; items: source first)."""

    n_users: int
    n_source_items: int
    n_target_items: int
    user_factors: np.ndarray
    item_factors: np.ndarray
    gender: np.ndarray
    age: np.ndarray
    labelled: np.ndarray
    target_users: np.ndarray
    n_interactions: int


def generate_transfer_synthetic(
    out_dir,
    name,
    n_users=50_000,
    n_labelled=5_000,
    n_target_users=6_000,
    n_source_items=1_000,
    n_target_items=300,
    mean_source=20,
    min_source=8,
    max_target=3,
    rank=16,
    trait_strength=1.0,
    user_noise=1.0,
    preference_strength=1.0,
    popularity_exponent=0.8,
    activity_sigma=0.5,
    seed=0,
    start_time=880_000_000,
):
    """Write ``<out_dir>/<name>/<name>.{inter,user,item}`` and return a :class:`TransferSynthetic`.

    Args:
        n_users (int): users with source behaviour (all of them; the backbone pre-trains on these).
        n_labelled (int): users with a ``.user`` row (gender and age), drawn at random.
        n_target_users (int): users who also picked target items, drawn at random.
        mean_source, min_source (int): mean and minimum number of source items per user.
        max_target (int): a target user picks 1..max_target target items (uniform).
        rank (int): dimension of the taste and item factors.
        trait_strength, user_noise (float): weight of the trait embeddings and std of the personal part of
            :math:`\\mathbf{p}_u` (their ratio sets how much of a user's taste the traits explain).
        preference_strength (float): :math:`s_{pref}`; 0 makes picks depend on popularity only.
        popularity_exponent (float): exponent of the item popularity power law (0: uniform).
        activity_sigma (float): log-normal spread of the number of source items per user.
    """
    for option, value in (("n_labelled", n_labelled), ("n_target_users", n_target_users)):
        if not 0 < value <= n_users:
            raise ValueError(f"{option} must be in 1..n_users={n_users}, got {value}")
    if not 1 <= min_source <= mean_source <= n_source_items // 2:
        raise ValueError(
            f"need 1 <= min_source ({min_source}) <= mean_source ({mean_source}) <= n_source_items / 2 "
            f"({n_source_items // 2})"
        )
    if not 1 <= max_target <= n_target_items // 2:
        raise ValueError(f"max_target must be in 1..n_target_items / 2, got {max_target}")
    rng = np.random.default_rng(seed)
    scale = 1.0 / math.sqrt(rank)

    gender = rng.choice(len(GENDERS), size=n_users, p=[0.3, 0.7])
    age = rng.choice(len(AGES), size=n_users)
    gender_embedding = rng.normal(0, scale, (len(GENDERS), rank))
    age_embedding = rng.normal(0, scale, (len(AGES), rank))
    traits = (gender_embedding[gender] + age_embedding[age]) / math.sqrt(2)
    user_factors = trait_strength * traits + user_noise * rng.normal(0, scale, (n_users, rank))

    n_items = n_source_items + n_target_items
    item_factors = rng.normal(0, scale, (n_items, rank))
    weight = np.empty(n_items)
    for lo, hi in ((0, n_source_items), (n_source_items, n_items)):
        weight[lo:hi] = (rng.permutation(hi - lo) + 1.0) ** -popularity_exponent
    strength = preference_strength * math.sqrt(rank)

    counts = _activity(rng, n_users, mean_source * n_users, min_source, n_source_items // 2, activity_sigma)
    src_users, src_items = _pick_items(
        rng, counts, user_factors, item_factors[:n_source_items], np.log(weight[:n_source_items]), strength
    )
    target_users = np.sort(rng.choice(n_users, size=n_target_users, replace=False))
    target_counts = rng.integers(1, max_target + 1, size=n_target_users)
    tgt_rows, tgt_items = _pick_items(
        rng,
        target_counts,
        user_factors[target_users],
        item_factors[n_source_items:],
        np.log(weight[n_source_items:]),
        strength,
    )
    tgt_users, tgt_items = target_users[tgt_rows], tgt_items + n_source_items
    labelled = np.sort(rng.choice(n_users, size=n_labelled, replace=False))

    # time: each user's source picks in random order, then their target picks (one step apart)
    users = np.concatenate([src_users, tgt_users])
    items = np.concatenate([src_items, tgt_items])
    phase = np.concatenate([np.zeros(len(src_users)), np.ones(len(tgt_users))])
    order = np.lexsort((rng.random(len(users)), phase, users))
    users, items = users[order], items[order]
    first = np.r_[0, np.flatnonzero(users[1:] != users[:-1]) + 1]
    position = np.arange(len(users)) - np.repeat(first, np.diff(np.r_[first, len(users)]))
    user_start = start_time + rng.integers(0, 365 * 86400, size=n_users)
    timestamp = user_start[users] + 3600 * position

    folder = dataset_folder(out_dir, name)
    _write(folder, name, users, items, timestamp, labelled, gender, age, n_source_items, n_target_items)
    return TransferSynthetic(
        name=name,
        data_path=os.path.abspath(out_dir),
        n_users=n_users,
        n_source_items=n_source_items,
        n_target_items=n_target_items,
        user_factors=user_factors,
        item_factors=item_factors,
        gender=gender,
        age=age,
        labelled=labelled,
        target_users=target_users,
        n_interactions=len(users),
    )


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
