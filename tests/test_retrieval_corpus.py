"""The long-tail retrieval corpus: its planted structure, its files, its low-data copy."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from recbole_meta.benchmark.synthetic.retrieval_corpus import generate_retrieval_corpus, write_low_data_copy
from recbole_meta.model.layers.feature_correlation import mutual_information_matrix


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("retrieval")
    return generate_retrieval_corpus(
        str(out), n_users=300, n_items=3000, n_interactions=9000, seed=1, brands_per_category=5, tag_bonus=2.0
    )


def _read(corpus, suffix):
    return pd.read_csv(os.path.join(corpus.folder, f"{corpus.name}.{suffix}"), sep="\t")


def test_files_splits_and_exact_counts(corpus):
    parts = {part: _read(corpus, f"{part}.inter") for part in ("train", "valid", "test")}
    assert sum(len(p) for p in parts.values()) == 9000
    assert {part: len(p) for part, p in parts.items()} == corpus.n_interactions
    pairs = pd.concat(parts.values()).iloc[:, :2]
    assert not pairs.duplicated().any()  # distinct items per user, across the splits
    for part in ("valid", "test"):  # every user has a valid and a test item
        assert parts[part].iloc[:, 0].nunique() == corpus.n_users
    items = _read(corpus, "item")
    assert list(items.columns) == [
        "item_id:token",
        "category:token",
        "brand:token",
        "tags:token_seq",
        "price:token",
        "year:token",
    ]
    assert len(items) == corpus.n_items


def test_popularity_is_long_tailed_and_affinity_follows_liked_brands(corpus):
    inter = pd.concat([_read(corpus, f"{p}.inter") for p in ("train", "valid", "test")])
    users, items = inter.iloc[:, 0].to_numpy() - 1, inter.iloc[:, 1].to_numpy() - 1
    counts = np.sort(np.bincount(items, minlength=corpus.n_items))[::-1]
    assert (
        counts[: corpus.n_items // 5].sum() > 0.4 * counts.sum()
    )  # the head 20% of items: twice their share
    liked = (corpus.items.brand[items][:, None] == corpus.likes.brands[users]).any(1)
    # a liked brand holds about 0.2% of the catalogue per brand; it gets far more of each user's picks
    assert liked.mean() > 0.7
    head = np.argsort(-corpus.items.weight)[: corpus.n_items // 5]
    tail_picks = ~np.isin(items, head)
    assert liked[tail_picks].mean() > 0.8  # tail items are reached through the features (liked brands)


def test_the_multi_valued_tags_carry_affinity_of_their_own(corpus):
    # Among picks outside the user's liked brands and categories, items carrying a liked tag are picked far
    # more often than their share of such items in the catalogue (tag_bonus): the tags field carries affinity.
    inter = pd.concat([_read(corpus, f"{p}.inter") for p in ("train", "valid", "test")])
    users, items = inter.iloc[:, 0].to_numpy() - 1, inter.iloc[:, 1].to_numpy() - 1
    tags = _read(corpus, "item")["tags:token_seq"].fillna("").str.split()
    liked_tag_names = [{f"t{t}" for t in row} for row in corpus.likes.tags]
    carries = np.array([bool(liked_tag_names[u] & set(tags.iloc[i])) for u, i in zip(users, items)])
    other = ~(corpus.items.brand[items][:, None] == corpus.likes.brands[users]).any(1)
    other &= ~(corpus.items.category[items][:, None] == corpus.likes.categories[users]).any(1)
    rng = np.random.default_rng(0)
    random_items = rng.integers(0, corpus.n_items, len(users))  # the catalogue's share, same users
    base = np.array([bool(liked_tag_names[u] & set(tags.iloc[i])) for u, i in zip(users, random_items)])
    assert other.sum() > 100 and carries[other].mean() > 2 * base.mean()
    scores = corpus.oracle_scores(users[:50])
    assert np.allclose(
        scores[np.arange(50), items[:50]]
        - np.log(corpus.items.weight[items[:50]])
        - corpus.options.brand_bonus
        * (corpus.items.brand[items[:50]][:, None] == corpus.likes.brands[users[:50]]).any(1)
        - corpus.options.category_bonus
        * (corpus.items.category[items[:50]][:, None] == corpus.likes.categories[users[:50]]).any(1),
        corpus.options.tag_bonus * carries[:50],
    )


def test_feature_groups_are_correlated_as_planted(corpus):
    items = _read(corpus, "item")
    codes = [
        pd.factorize(items[c])[0] for c in ("category:token", "brand:token", "price:token", "year:token")
    ]
    mi = mutual_information_matrix(codes, ["token"] * 4)
    # brand determines category; price follows the brand; year is independent of everything
    assert mi[0, 1] == pytest.approx(mi[0, 0])
    assert mi[1, 2] > 10 * mi[3, 2] and mi[0, 1] > 10 * mi[3, 0]


def test_oracle_scores_rank_the_test_items_far_above_popularity(corpus):
    test = _read(corpus, "test.inter")
    users, items = test.iloc[:, 0].to_numpy() - 1, test.iloc[:, 1].to_numpy() - 1
    scores = corpus.oracle_scores(users)
    oracle_rank = (scores > scores[np.arange(len(users)), items][:, None]).sum(1)
    popularity = np.log(corpus.items.weight)
    popularity_rank = (popularity[None, :] > popularity[items][:, None]).sum(1)
    assert np.median(oracle_rank) * 5 < np.median(popularity_rank)


def test_low_data_copy_keeps_valid_and_test_and_a_tenth_of_training(corpus):
    low = write_low_data_copy(corpus, 0.1, seed=0)
    train, low_train = _read(corpus, "train.inter"), _read(low, "train.inter")
    assert low.n_interactions["valid"] == corpus.n_interactions["valid"]
    for suffix in ("valid.inter", "test.inter", "item", "user"):
        assert _read(low, suffix).equals(_read(corpus, suffix))
    full_pairs = set(map(tuple, train.iloc[:, :2].to_numpy()))
    assert set(map(tuple, low_train.iloc[:, :2].to_numpy())) <= full_pairs
    assert low_train.iloc[:, 0].nunique() == train.iloc[:, 0].nunique()  # at least one per user
    assert 0.08 * len(train) < len(low_train) < 0.2 * len(train)
    assert json.dumps(low.config_dict()["benchmark_filename"]) == '["train", "valid", "test"]'
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
        write_low_data_copy(corpus, 0.0)


def test_same_seed_same_files(tmp_path):
    a = generate_retrieval_corpus(str(tmp_path / "a"), n_users=40, n_items=300, n_interactions=600, seed=3)
    b = generate_retrieval_corpus(str(tmp_path / "b"), n_users=40, n_items=300, n_interactions=600, seed=3)
    for suffix in ("train.inter", "test.inter", "item", "user"):
        assert _read(a, suffix).equals(_read(b, suffix))
    # liked tags have their own random stream: without tag affinity the corpus does not depend on them
    c = generate_retrieval_corpus(
        str(tmp_path / "c"), n_users=40, n_items=300, n_interactions=600, seed=3, tags_per_user=5
    )
    assert _read(c, "train.inter").equals(_read(a, "train.inter")) and c.likes.tags.shape == (40, 5)
    d = generate_retrieval_corpus(
        str(tmp_path / "d"), n_users=40, n_items=300, n_interactions=600, seed=3, tag_bonus=2.0
    )
    assert not _read(d, "train.inter").equals(_read(a, "train.inter"))
    with pytest.raises(ValueError, match="every user needs train, valid and test items"):
        generate_retrieval_corpus(str(tmp_path / "e"), n_users=400, n_items=300, n_interactions=600)
