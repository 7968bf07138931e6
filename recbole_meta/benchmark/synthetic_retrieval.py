"""A seeded long-tail retrieval corpus whose user-item affinity is carried by item features.

Built to ask the question of Yao et al. (CIKM 2021, "Self-supervised Learning for Large-scale Item
Recommendations"): does a self-supervised loss on the item tower help the long tail, and more when labels are
scarce? That needs a catalogue where tail items share features with head items in a way a tower can learn, so
that what the head teaches about a feature value transfers to rare items carrying it, and where the tail can
reach a top-K list at all: if a user's most likely items are always head items, every model's tail recall is 0.

Generative model (all draws from one ``numpy.random.Generator(seed)``):

* items have a ``category`` (token), a ``brand`` nested in the category (token, ``brands_per_category`` per
  category, about ``n_items / (n_categories * brands_per_category)`` items each), 1-4 ``tags`` (token_seq;
  each from the category's own pool of ``tags_per_category`` with probability ``tag_coherence``, else from all
  tags), a ``price`` level (token, 10 levels, the brand's level plus or minus one) and a ``year`` (token,
  independent of everything: a field without signal). The fields are correlated in known groups:
  {category, brand, tags, price} and {year} alone;
* popularity is Zipf over a random ranking of the items, independent of their features,
  ``w_i = rank_i ** -popularity_exponent``: head and tail items have the same feature distribution;
* users have a ``segment`` (token); a segment likes ``categories_per_segment`` categories, and each user likes
  ``brands_per_user`` brands of their segment's categories and ``tags_per_user`` tags of those categories' tag
  pools;
* user ``u`` picks ``n_u`` distinct items (log-normal activity, at least ``min_user_interactions``) with
  probability proportional to ``w_i * exp(brand_bonus [brand_i liked by u] + category_bonus [category_i liked
  by u's segment] + tag_bonus [i carries a tag liked by u])`` (Gumbel top-k without replacement): with
  ``tag_bonus > 0`` two single-valued fields and a multi-valued one carry the affinity. The bonus of a liked brand outweighs most of the
  popularity range, so a liked brand's tail items outrank other brands' head items: the features (brand and
  its correlates) carry the affinity, and the tail is reachable. :func:`oracle_scores` is that logit (the
  planted truth, the ceiling of any ranking).

Each user's picks are split at random into train / valid / test (80/10/10, at least one valid and one test
item); the files are RecBole's ``benchmark_filename`` layout (``<name>.train.inter``, ``.valid.inter``,
``.test.inter``) with ``<name>.item`` and ``<name>.user``. :func:`write_low_data_copy` writes the same corpus
with only a fraction of each user's training interactions (at least one), valid and test unchanged: the
paper's low-data regime on the same test set.
"""

import dataclasses
import os
import shutil
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recbole_meta.benchmark.synthetic import _activity
from recbole_meta.benchmark.synthetic_files import GeneratedFiles, dataset_folder, write_atomic_file

SPLITS = ("train", "valid", "test")


@dataclass
class RetrievalCorpus(GeneratedFiles):
    """Where the files are (:class:`GeneratedFiles`) and what was planted.

    Attributes:
        n_users, n_items (int); n_interactions (dict): split -> count.
        item_weight (numpy.ndarray): planted popularity weights (item index order, 0-based).
        item_category, item_brand (numpy.ndarray): each item's category and brand (0-based).
        user_brands (numpy.ndarray): ``(n_users, brands_per_user)`` liked brands; user_categories
            ``(n_users, categories_per_segment)`` the segment's liked categories; user_tags
            ``(n_users, tags_per_user)`` liked tags.
        item_tags (scipy.sparse.csr_matrix): ``(n_items, n_tags)``, 1 where an item carries a tag.
        brand_bonus, category_bonus, tag_bonus (float): the planted logit bonuses.
    """

    n_users: int
    n_items: int
    n_interactions: dict
    item_weight: np.ndarray
    item_category: np.ndarray
    item_brand: np.ndarray
    user_brands: np.ndarray
    user_categories: np.ndarray
    user_tags: np.ndarray
    item_tags: object
    brand_bonus: float
    category_bonus: float
    tag_bonus: float = 0.0

    def config_dict(self):
        """RecBole config entries that load this corpus with its fixed train / valid / test files."""
        return {
            "data_path": self.data_path,
            "benchmark_filename": list(SPLITS),
            "load_col": {
                "inter": ["user_id", "item_id", "timestamp"],
                "user": ["user_id", "segment"],
                "item": ["item_id", "category", "brand", "tags", "price", "year"],
            },
        }

    def oracle_scores(self, users):
        """The planted logit ``log w_i + brand_bonus [liked brand] + category_bonus [liked category] +
        tag_bonus [a liked tag]``: ``(len(users), n_items)`` for 0-based user indices (item order 0-based)."""
        users = np.asarray(users)
        scores = np.repeat(np.log(self.item_weight)[None, :], len(users), axis=0)
        liked_brand = (self.item_brand[None, None, :] == self.user_brands[users][:, :, None]).any(1)
        liked_category = (self.item_category[None, None, :] == self.user_categories[users][:, :, None]).any(1)
        n_tags = self.item_tags.shape[1]
        liked_tags = np.zeros((len(users), n_tags))
        np.put_along_axis(liked_tags, self.user_tags[users], 1.0, axis=1)
        liked_tag = np.asarray(self.item_tags @ liked_tags.T).T > 0
        return (
            scores
            + self.brand_bonus * liked_brand
            + self.category_bonus * liked_category
            + self.tag_bonus * liked_tag
        )


def _pick(rng, counts, corpus, chunk_elements=4_000_000):
    """For each user, ``counts[u]`` distinct items by Gumbel top-k over the planted logits."""
    n_users, n_items = len(counts), len(corpus.item_weight)
    rows = max(1, chunk_elements // n_items)
    users, items = [], []
    for start in range(0, n_users, rows):
        stop = min(n_users, start + rows)
        keys = corpus.oracle_scores(np.arange(start, stop)) + rng.gumbel(size=(stop - start, n_items))
        k = int(counts[start:stop].max())
        top = np.argpartition(-keys, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, 1), axis=1), 1)
        take = np.arange(k)[None, :] < counts[start:stop, None]
        users.append(np.nonzero(take)[0] + start)
        items.append(order[take])
    return np.concatenate(users), np.concatenate(items)


def generate_retrieval_corpus(
    out_dir,
    n_users=4_000,
    n_items=50_000,
    n_interactions=100_000,
    seed=0,
    name=None,
    popularity_exponent=1.0,
    brand_bonus=8.0,
    category_bonus=3.0,
    tag_bonus=0.0,
    activity_sigma=0.8,
    min_user_interactions=5,
    n_categories=40,
    brands_per_category=50,
    tags_per_category=12,
    n_tags=300,
    tag_coherence=0.8,
    n_segments=50,
    categories_per_segment=2,
    brands_per_user=4,
    tags_per_user=3,
):
    """Write the corpus (see the module docstring) under ``out_dir/<name>/`` and return a :class:`RetrievalCorpus`.

    Args:
        out_dir (str): parent folder (RecBole's ``data_path``).
        n_users, n_items, n_interactions (int): sizes; the interaction count is exact.
        seed (int): same seed and arguments -> identical files.
        popularity_exponent (float): Zipf exponent of item popularity (0: uniform).
        brand_bonus, category_bonus, tag_bonus (float): logit bonus of a liked brand / a liked category / an
            item carrying a liked tag (0 by default: the tags then follow the category without affinity of
            their own).
        tag_coherence (float): probability that a tag comes from the item's category's pool.
    """
    if n_interactions < n_users * max(3, min_user_interactions):
        raise ValueError(
            f"n_interactions={n_interactions} is below n_users * max(3, min_user_interactions) = "
            f"{n_users * max(3, min_user_interactions)}: every user needs train, valid and test items"
        )
    name = name or f"retrieval_{n_items}i_{n_interactions}_s{seed}"
    rng = np.random.default_rng(seed)

    # items: correlated features
    category = rng.integers(0, n_categories, n_items)
    brand = category * brands_per_category + rng.integers(0, brands_per_category, n_items)
    brand_price = rng.integers(0, 10, n_categories * brands_per_category)
    price = np.clip(brand_price[brand] + rng.integers(-1, 2, n_items), 0, 9)
    year = rng.integers(0, 20, n_items)
    pools = rng.integers(0, n_tags, (n_categories, tags_per_category))
    n_item_tags = rng.integers(1, 5, n_items)
    tags = np.where(
        rng.random((n_items, 4)) < tag_coherence,
        pools[category[:, None], rng.integers(0, tags_per_category, (n_items, 4))],
        rng.integers(0, n_tags, (n_items, 4)),
    )
    tag_valid = np.arange(4)[None, :] < n_item_tags[:, None]

    # users: segment -> liked categories -> liked brands
    segment = rng.integers(0, n_segments, n_users)
    segment_categories = np.stack(
        [rng.choice(n_categories, categories_per_segment, replace=False) for _ in range(n_segments)]
    )
    user_categories = segment_categories[segment]
    brand_category = rng.integers(0, categories_per_segment, (n_users, brands_per_user))
    user_brands = np.take_along_axis(user_categories, brand_category, 1) * brands_per_category + rng.integers(
        0, brands_per_category, (n_users, brands_per_user)
    )

    # liked tags, from the pools of the user's liked categories; drawn from their own stream, so that the rest
    # of the corpus does not depend on tags_per_user (with tag_bonus 0 it is the corpus without tag affinity)
    tag_rng = np.random.default_rng([seed, 1])
    tag_category = tag_rng.integers(0, categories_per_segment, (n_users, tags_per_user))
    user_tags = pools[
        np.take_along_axis(user_categories, tag_category, 1),
        tag_rng.integers(0, tags_per_category, tag_category.shape),
    ]
    item_tags = sp.csr_matrix(
        (np.ones(int(tag_valid.sum())), (np.nonzero(tag_valid)[0], tags[tag_valid])), shape=(n_items, n_tags)
    )
    item_tags.data[:] = 1.0  # an item listing a tag twice carries it once
    item_weight = (rng.permutation(n_items) + 1.0) ** -popularity_exponent
    corpus = RetrievalCorpus(
        name=name,
        data_path=os.path.abspath(out_dir),
        n_users=n_users,
        n_items=n_items,
        n_interactions={},
        item_weight=item_weight,
        item_category=category,
        item_brand=brand,
        user_brands=user_brands,
        user_categories=user_categories,
        user_tags=user_tags,
        item_tags=item_tags,
        brand_bonus=float(brand_bonus),
        category_bonus=float(category_bonus),
        tag_bonus=float(tag_bonus),
    )
    cap = max(min_user_interactions, n_items // 20, 3 * n_interactions // n_users)
    counts = _activity(rng, n_users, n_interactions, min_user_interactions, cap, activity_sigma)
    users, items = _pick(rng, counts, corpus)

    # per-user random 80/10/10 split (at least one valid and one test item per user)
    order = rng.permutation(len(users))
    order = order[np.argsort(users[order], kind="stable")]
    users, items = users[order], items[order]
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    position = np.arange(len(users)) - starts[users]
    n_eval = np.maximum(1, np.round(0.1 * counts)).astype(np.int64)
    split = np.where(position < n_eval[users], 2, np.where(position < 2 * n_eval[users], 1, 0))
    timestamp = position.astype(np.int64)

    path = os.path.join(dataset_folder(out_dir, name), name)
    for index, part in enumerate(SPLITS):
        chosen = split == index
        write_atomic_file(
            f"{path}.{part}.inter",
            ["user_id:token", "item_id:token", "timestamp:float"],
            [users[chosen] + 1, items[chosen] + 1, timestamp[chosen]],
        )
    tag_text = [" ".join(f"t{t}" for t in row[valid]) for row, valid in zip(tags, tag_valid)]
    write_atomic_file(
        f"{path}.item",
        ["item_id:token", "category:token", "brand:token", "tags:token_seq", "price:token", "year:token"],
        [np.arange(1, n_items + 1), category, brand, tag_text, price, year],
    )
    write_atomic_file(
        f"{path}.user",
        ["user_id:token", "segment:token"],
        [np.arange(1, n_users + 1), segment],
    )
    corpus.n_interactions = {part: int((split == i).sum()) for i, part in enumerate(SPLITS)}
    return corpus


def write_low_data_copy(corpus, fraction, seed=0, name=None):
    """The same corpus with a random ``fraction`` of each user's training interactions (at least one).

    Valid and test files, items and users are copied unchanged. Returns the new :class:`RetrievalCorpus`.
    """
    import pandas as pd

    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1] (got {fraction})")
    name = name or f"{corpus.name}_low{round(100 * fraction)}"
    folder = dataset_folder(corpus.data_path, name)
    for suffix in ("valid.inter", "test.inter", "item", "user"):
        shutil.copyfile(
            os.path.join(corpus.folder, f"{corpus.name}.{suffix}"),
            os.path.join(folder, f"{name}.{suffix}"),
        )
    train = pd.read_csv(os.path.join(corpus.folder, f"{corpus.name}.train.inter"), sep="\t")
    rng = np.random.default_rng(seed)
    users = train.iloc[:, 0].to_numpy()
    order = np.lexsort((rng.random(len(train)), users))  # users grouped, random order within a user
    starts = np.r_[0, np.flatnonzero(users[order][1:] != users[order][:-1]) + 1]
    sizes = np.diff(np.r_[starts, len(order)])
    keep_count = np.maximum(1, np.round(fraction * sizes)).astype(np.int64)
    kept = np.zeros(len(train), dtype=bool)
    kept[order] = np.arange(len(order)) - np.repeat(starts, sizes) < np.repeat(keep_count, sizes)
    write_atomic_file(
        os.path.join(folder, f"{name}.train.inter"),
        list(train.columns),
        [train[c].to_numpy()[kept] for c in train.columns],
    )
    return dataclasses.replace(
        corpus,
        name=name,
        n_interactions=dict(corpus.n_interactions, train=int(kept.sum())),
    )
