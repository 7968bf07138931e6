"""The planted-preferences generator: RecBole loads it, sizes as asked, seeded, popularity and taste planted."""

import hashlib
import os

import numpy as np
import pytest

from recbole_meta.benchmark.synthetic.planted_preferences import generate_synthetic


def _digest(folder):
    return {
        name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
        for name in sorted(os.listdir(folder))
    }


def test_files_load_with_recbole_dataset(tmp_path):
    from recbole.data.dataset import Dataset

    from recbole_meta.config import Config

    data = generate_synthetic(tmp_path, 3_000, n_users=80, n_items=150, seed=3)
    config = Config(model="BPR", dataset=data.name, config_dict=data.config_dict(), argv=[])
    dataset = Dataset(config)
    assert len(dataset.inter_feat) == 3_000 == data.n_interactions
    assert dataset.user_num - 1 == 80 and dataset.item_num - 1 == 150  # RecBole adds [PAD]
    assert set(dataset.user_feat.columns) >= {"age", "gender", "occupation"}
    assert set(dataset.item_feat.columns) >= {"category", "tags", "release_year"}
    assert dataset.field2type["tags"].value == "token_seq"
    assert dataset.inter_feat["rating"].between(1, 5).all()
    inter = dataset.inter_feat
    assert not inter.duplicated(["user_id", "item_id"]).any()
    # timestamps increase along each user's history
    assert (inter.groupby("user_id")["timestamp"].apply(lambda t: t.is_monotonic_increasing)).all()


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = generate_synthetic(tmp_path / "a", 2_000, seed=7, name="s")
    b = generate_synthetic(tmp_path / "b", 2_000, seed=7, name="s")
    c = generate_synthetic(tmp_path / "c", 2_000, seed=8, name="s")
    assert _digest(a.folder) == _digest(b.folder)
    assert _digest(a.folder)["s.inter"] != _digest(c.folder)["s.inter"]
    assert len(_digest(a.folder)) == 3


def _popularity_slope(data):
    counts = np.bincount(data.inter["item"], minlength=data.n_items)[np.argsort(-data.planted.item_weight)]
    ranks = np.arange(1, data.n_items + 1)
    middle = (ranks >= data.n_items // 10) & (ranks <= data.n_items // 2) & (counts > 0)
    return np.polyfit(np.log(ranks[middle]), np.log(counts[middle]), 1)[0], counts


def test_planted_power_law_popularity_is_visible(tmp_path):
    data = generate_synthetic(tmp_path, 20_000, seed=0, popularity_exponent=1.0)
    slope, counts = _popularity_slope(data)
    assert -1.25 < slope < -0.75
    top_share = np.sort(counts)[::-1][: data.n_items // 10].sum() / counts.sum()
    assert top_share > 0.4  # top 10% of items take > 40% of interactions
    flat = generate_synthetic(tmp_path, 20_000, seed=0, popularity_exponent=0.0, name="flat")
    flat_slope, flat_counts = _popularity_slope(flat)
    assert abs(flat_slope) < 0.25
    assert np.sort(flat_counts)[::-1][: flat.n_items // 10].sum() / flat_counts.sum() < 0.25


def test_planted_preferences_shape_ratings_and_picks(tmp_path):
    data = generate_synthetic(tmp_path, 20_000, seed=1, noise=0.3)
    users, items, rating = data.inter["user"], data.inter["item"], data.inter["rating"]
    planted = data.planted
    truth = (
        planted.user_bias[users]
        + planted.item_bias[items]
        + np.einsum("ij,ij->i", planted.user_factors[users], planted.item_factors[items])
    )
    assert np.corrcoef(truth, rating)[0, 1] > 0.6
    shares = np.bincount(rating, minlength=6)[1:] / len(rating)
    assert np.allclose(shares, [0.06, 0.11, 0.27, 0.34, 0.22], atol=0.01)
    # picks follow p_u . q_i: picked items score higher for their user than random items do
    rng = np.random.default_rng(0)
    random_items = rng.integers(0, data.n_items, len(users))
    picked = np.einsum("ij,ij->i", planted.user_factors[users], planted.item_factors[items])
    other = np.einsum("ij,ij->i", planted.user_factors[users], planted.item_factors[random_items])
    assert picked.mean() > other.mean() + 0.1


def test_impossible_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="n_users \\* min_user_interactions"):
        generate_synthetic(tmp_path, 100, n_users=50, n_items=100)
    with pytest.raises(ValueError, match="half the catalogue"):
        generate_synthetic(tmp_path, 5_000, n_users=20, n_items=100)


def test_unknown_option_is_named_with_the_closest_known_one(tmp_path):
    with pytest.raises(
        TypeError, match="unknown option 'popularity_exponant'; did you mean popularity_exponent"
    ):
        generate_synthetic(tmp_path, 3_000, popularity_exponant=0.5)
