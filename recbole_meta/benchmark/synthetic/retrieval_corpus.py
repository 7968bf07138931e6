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

from recbole_meta.benchmark.synthetic.atomic_files import (
    GeneratedFiles,
    dataset_folder,
    generator_options,
    write_atomic_file,
)
from recbole_meta.benchmark.synthetic.planted_preferences import draw_activity

SPLITS = ("train", "valid", "test")


@dataclass
class PlantedItems:
    """Each item's planted popularity and features (0-based item order).

    Attributes:
        weight (numpy.ndarray): popularity weight ``w_i``.
        category, brand (numpy.ndarray): category and brand indices.
        tags (scipy.sparse.csr_matrix): ``(n_items, n_tags)``, 1 where the item carries the tag.
    """

    weight: np.ndarray
    category: np.ndarray
    brand: np.ndarray
    tags: object


@dataclass
class PlantedLikes:
    """What each user likes (0-based user order).

    Attributes:
        categories (numpy.ndarray): ``(n_users, categories_per_segment)``: the user's segment's categories.
        brands (numpy.ndarray): ``(n_users, brands_per_user)``; tags: ``(n_users, tags_per_user)``.
    """

    categories: np.ndarray
    brands: np.ndarray
    tags: np.ndarray


@dataclass
class RetrievalCorpus(GeneratedFiles):
    """Where the files are (:class:`GeneratedFiles`) and what was planted.

    Attributes:
        options (types.SimpleNamespace): the generator's options (sizes, logit bonuses...; see ``OPTIONS``).
        items (PlantedItems), likes (PlantedLikes): the planted truth.
        n_interactions (dict): split -> count.
    """

    options: object
    items: PlantedItems
    likes: PlantedLikes
    n_interactions: dict

    @property
    def n_users(self):
        return self.options.n_users

    @property
    def n_items(self):
        return self.options.n_items

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
        users, items, likes, opt = np.asarray(users), self.items, self.likes, self.options
        scores = np.repeat(np.log(items.weight)[None, :], len(users), axis=0)
        liked_brand = (items.brand[None, None, :] == likes.brands[users][:, :, None]).any(1)
        liked_category = (items.category[None, None, :] == likes.categories[users][:, :, None]).any(1)
        liked_tags = np.zeros((len(users), items.tags.shape[1]))
        np.put_along_axis(liked_tags, likes.tags[users], 1.0, axis=1)
        liked_tag = np.asarray(items.tags @ liked_tags.T).T > 0
        return (
            scores
            + opt.brand_bonus * liked_brand
            + opt.category_bonus * liked_category
            + opt.tag_bonus * liked_tag
        )


def _pick(rng, counts, corpus, chunk_elements=4_000_000):
    """For each user, ``counts[u]`` distinct items by Gumbel top-k over the planted logits."""
    n_users, n_items = len(counts), corpus.n_items
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


# The options of generate_retrieval_corpus, with their defaults (see the module docstring for the model).
OPTIONS = {
    "n_users": 4_000,
    "n_items": 50_000,
    "n_interactions": 100_000,  # exact count, split 80/10/10 per user
    "popularity_exponent": 1.0,  # Zipf exponent of item popularity (0: uniform)
    "brand_bonus": 8.0,  # logit bonus of a liked brand
    "category_bonus": 3.0,  # logit bonus of a category the user's segment likes
    "tag_bonus": 0.0,  # logit bonus of an item carrying a liked tag (0: tags follow the category, no affinity)
    "activity_sigma": 0.8,  # log-normal spread of the interactions per user
    "min_user_interactions": 5,
    "n_categories": 40,
    "brands_per_category": 50,
    "tags_per_category": 12,  # size of each category's tag pool
    "n_tags": 300,
    "tag_coherence": 0.8,  # probability that a tag comes from the item's category's pool
    "n_segments": 50,
    "categories_per_segment": 2,
    "brands_per_user": 4,
    "tags_per_user": 3,
}


def generate_retrieval_corpus(out_dir, seed=0, name=None, **options):
    """Write the corpus (see the module docstring) under ``out_dir/<name>/`` and return a :class:`RetrievalCorpus`.

    Args:
        out_dir (str): parent folder (RecBole's ``data_path``).
        seed (int): same seed and options -> identical files.
        name (str): dataset name (default ``retrieval_<n_items>i_<n_interactions>_s<seed>``).
        options: any of ``OPTIONS`` (sizes, logit bonuses, vocabulary sizes), by keyword.
    """
    opt = generator_options("generate_retrieval_corpus", OPTIONS, options)
    n_users, n_items = opt.n_users, opt.n_items
    if opt.n_interactions < n_users * max(3, opt.min_user_interactions):
        raise ValueError(
            f"n_interactions={opt.n_interactions} is below n_users * max(3, min_user_interactions) = "
            f"{n_users * max(3, opt.min_user_interactions)}: every user needs train, valid and test items"
        )
    name = name or f"retrieval_{n_items}i_{opt.n_interactions}_s{seed}"
    rng = np.random.default_rng(seed)

    # items: correlated features
    category = rng.integers(0, opt.n_categories, n_items)
    brand = category * opt.brands_per_category + rng.integers(0, opt.brands_per_category, n_items)
    brand_price = rng.integers(0, 10, opt.n_categories * opt.brands_per_category)
    price = np.clip(brand_price[brand] + rng.integers(-1, 2, n_items), 0, 9)
    year = rng.integers(0, 20, n_items)
    pools = rng.integers(0, opt.n_tags, (opt.n_categories, opt.tags_per_category))
    n_item_tags = rng.integers(1, 5, n_items)
    tags = np.where(
        rng.random((n_items, 4)) < opt.tag_coherence,
        pools[category[:, None], rng.integers(0, opt.tags_per_category, (n_items, 4))],
        rng.integers(0, opt.n_tags, (n_items, 4)),
    )
    tag_valid = np.arange(4)[None, :] < n_item_tags[:, None]

    # users: segment -> liked categories -> liked brands
    segment = rng.integers(0, opt.n_segments, n_users)
    segment_categories = np.stack(
        [
            rng.choice(opt.n_categories, opt.categories_per_segment, replace=False)
            for _ in range(opt.n_segments)
        ]
    )
    user_categories = segment_categories[segment]
    brand_category = rng.integers(0, opt.categories_per_segment, (n_users, opt.brands_per_user))
    user_brands = np.take_along_axis(
        user_categories, brand_category, 1
    ) * opt.brands_per_category + rng.integers(0, opt.brands_per_category, (n_users, opt.brands_per_user))

    # liked tags, from the pools of the user's liked categories; drawn from their own stream, so that the rest
    # of the corpus does not depend on tags_per_user (with tag_bonus 0 it is the corpus without tag affinity)
    tag_rng = np.random.default_rng([seed, 1])
    tag_category = tag_rng.integers(0, opt.categories_per_segment, (n_users, opt.tags_per_user))
    user_tags = pools[
        np.take_along_axis(user_categories, tag_category, 1),
        tag_rng.integers(0, opt.tags_per_category, tag_category.shape),
    ]
    item_tags = sp.csr_matrix(
        (np.ones(int(tag_valid.sum())), (np.nonzero(tag_valid)[0], tags[tag_valid])),
        shape=(n_items, opt.n_tags),
    )
    item_tags.data[:] = 1.0  # an item listing a tag twice carries it once
    item_weight = (rng.permutation(n_items) + 1.0) ** -opt.popularity_exponent
    catalogue = PlantedItems(item_weight, category, brand, item_tags)
    likes = PlantedLikes(user_categories, user_brands, user_tags)
    corpus = RetrievalCorpus(name, os.path.abspath(out_dir), opt, catalogue, likes, n_interactions={})
    cap = max(opt.min_user_interactions, n_items // 20, 3 * opt.n_interactions // n_users)
    counts = draw_activity(
        rng, n_users, opt.n_interactions, opt.min_user_interactions, cap, opt.activity_sigma
    )
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
