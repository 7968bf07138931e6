"""The cold-start split: nothing a test task asks about is ever trained on; ratings raw; bad input is loud."""

import numpy as np
import pytest
import torch

from recbole_meta.config import Config
from recbole_meta.data.cold_start_dataset import ColdStartDataset
from recbole_meta.data.cold_start_split import EXISTING, NEW, STATES, VALIDATION
from recbole_meta.data.episodes import QUERY_ITEM, QUERY_MASK, SUPPORT_ITEM, SUPPORT_MASK
from tests.cold_start_helpers import (
    build,
    cold_config,
    leak_dataset,
    write_atomic,
)


def _pairs(split, rows):
    return {(int(split.users[r]), int(split.items[r])) for r in rows}


def _batch_pairs(batch, uid="user_id"):
    pairs = set()
    users = batch[uid].tolist()
    for items_key, mask_key in ((SUPPORT_ITEM, SUPPORT_MASK), (QUERY_ITEM, QUERY_MASK)):
        for b, u in enumerate(users):
            for item, m in zip(batch[items_key][b].tolist(), batch[mask_key][b].tolist()):
                if m > 0:
                    pairs.add((u, item))
    return pairs


@pytest.fixture
def leaky(tmp_path):
    root = leak_dataset(str(tmp_path / "data"))
    dataset, (train, valid, test), model, trainer = build(
        "UserItemBias", "leaky", data_path=root, epochs=1, query_size=3, min_user_inter=13, max_user_inter=30
    )
    return dataset, train, valid, test, model


def test_training_never_sees_a_test_or_new_pair(leaky):
    dataset, train, valid, test, _ = leaky
    split = dataset.cold_split
    trained = set()
    for _ in range(5):  # episodes are redrawn every epoch
        for batch in train:
            trained |= _batch_pairs(batch)
    allowed = _pairs(split, np.concatenate(list(split.train_rows.values())))
    assert trained <= allowed and len(trained) > len(allowed) // 2  # support first: the query takes <= 10
    for user, item in trained:
        assert split.user_group[user] == EXISTING
        assert not split.item_is_new[item]
    queried = set()
    for state in (*STATES, "valid"):
        for task in split.tasks[state]:
            queried |= _pairs(split, task.query)
            assert not _pairs(split, task.support) & _pairs(split, task.query)
            assert not split.item_is_new[split.items[task.support]].any()
    assert not trained & queried
    # the split holds each (user, item) pair once, although the data rates some twice
    assert len(set(zip(split.users.tolist(), split.items.tolist()))) == len(split.users)
    assert split.report["duplicate (user, item) ratings dropped (latest kept)"] == 11


def test_states_have_the_right_users_and_items(leaky):
    dataset, _, valid, test, _ = leaky
    split = dataset.cold_split
    expected = {
        "warm": (EXISTING, False),
        "user_cold": (NEW, False),
        "item_cold": (EXISTING, True),
        "user_item_cold": (NEW, True),
        "valid": (VALIDATION, False),
    }
    for state, (group, new_items) in expected.items():
        assert split.tasks[state], state
        for task in split.tasks[state]:
            assert split.user_group[task.user] == group
            assert (split.item_is_new[split.items[task.query]] == new_items).all()
            assert len(task.query) == split.query_size
    assert list(test) == list(STATES)
    assert [t.user for t in valid.tasks] == [t.user for t in split.tasks["valid"]]


def test_users_outside_the_interaction_bounds_are_removed(leaky):
    dataset, *_ = leaky
    split = dataset.cold_split
    removed = [dataset.token2id(dataset.uid_field, f"u{u}") for u in (40, 41, 42)]  # 8, 9, 35 ratings
    assert all(split.user_group[u] == 0 for u in removed)
    assert not np.isin(split.users, removed).any()
    assert split.report["users removed: fewer than 13 ratings"] == 2
    assert split.report["users removed: more than 30 ratings"] == 1


def test_non_numeric_years_are_reported_and_placed(leaky, tmp_path, caplog):
    dataset, *_ = leaky
    split = dataset.cold_split
    odd = {dataset.token2id(dataset.iid_field, t) for t in ("i3", "i4", "i34", "i35")}
    assert all(split.item_is_new[i] for i in odd)  # default side: new
    key = "items with non-numeric release_year -> new"
    assert (
        split.report[key].startswith("4 ") and "'V'" in split.report[key] and "<missing>" in split.report[key]
    )

    caplog.clear()
    root = str(tmp_path / "data")
    dataset2, *_ = build(
        "UserItemBias",
        "leaky",
        data_path=root,
        query_size=3,
        min_user_inter=13,
        new_item_rule={"field": "release_year", "min": 1995, "non_numeric": "existing"},
    )
    split2 = dataset2.cold_split
    assert not any(split2.item_is_new[i] for i in odd)
    assert "items with non-numeric release_year -> existing" in split2.report
    # the side was chosen explicitly: reported, but no warning
    assert not [r for r in caplog.records if r.levelname == "WARNING" and "non-numeric" in r.getMessage()]


def test_bias_statistics_come_from_training_ratings_only(leaky):
    dataset, _, _, _, model = leaky
    split = dataset.cold_split
    users, items, ratings = split.train_interactions()
    mu = ratings.mean()
    assert float(model.bias.global_mean) == pytest.approx(mu)
    for item in np.unique(split.items):
        mine = ratings[items == item]
        expected = mine.mean() if len(mine) else mu
        assert float(model.bias.item_mean[item]) == pytest.approx(expected)
        assert float(model.bias.item_bias[item]) == pytest.approx((mine - mu).sum() / (len(mine) + 10))


def test_ratings_stay_raw_although_normalize_all_is_set():
    config = Config("MeLU", "tiny", config_dict=cold_config(normalize_all=True), argv=[])
    dataset = ColdStartDataset(config)
    ratings = dataset.inter_feat["rating"].numpy()
    assert ratings.min() == 1.0 and ratings.max() == 5.0 and set(np.unique(ratings)) <= {1, 2, 3, 4, 5}
    times = dataset.inter_feat["timestamp"].numpy()
    assert times.min() == 0.0 and times.max() == 1.0  # other float fields are still normalised

    config = Config("MeLU", "tiny", config_dict=cold_config(normalize_field=["rating"]), argv=[])
    with pytest.raises(ValueError, match="normalize_field contains the rating field 'rating'"):
        ColdStartDataset(config)


def _write_tiny_variant(root, ratings):
    rows = [(f"u{u}", f"i{i}", ratings(u, i), 1000 + u * 50 + i) for u in range(30) for i in range(20)]
    items = [(f"i{i}", str(1990 + i % 10)) for i in range(20)]
    write_atomic(
        root,
        "bad",
        (None, None),
        (["item_id:token", "release_year:token"], items),
        (["user_id:token", "item_id:token", "rating:float", "timestamp:float"], rows),
    )
    return root


def test_nan_and_out_of_range_ratings_are_errors(tmp_path):
    root = _write_tiny_variant(str(tmp_path / "nan"), lambda u, i: "" if (u, i) == (3, 4) else 3)
    with pytest.raises(
        ValueError, match="1 interaction\\(s\\) in .*bad.inter have a missing or non-finite 'rating'"
    ):
        build("UserItemBias", "bad", data_path=root)
    root = _write_tiny_variant(str(tmp_path / "range"), lambda u, i: 7 if (u, i) == (2, 1) else 3)
    with pytest.raises(
        ValueError, match="1 rating\\(s\\) outside rating_range \\[1, 5\\].*user u2 item i1: 7"
    ):
        build("UserItemBias", "bad", data_path=root)


def test_too_few_users_and_empty_states_are_errors(tmp_path):
    with pytest.raises(ValueError, match="too few users for the cold-start split"):
        build("UserItemBias", "tiny", min_user_inter=25, max_user_inter=25, valid_user_ratio=0.05)
    with pytest.raises(ValueError, match="state 'item_cold' has no tasks"):
        build("UserItemBias", "tiny", new_item_rule={"field": "release_year", "min": 3000})
    with pytest.raises(ValueError, match="new_item_rule.field 'year' is not loaded from .*tiny.item"):
        build("UserItemBias", "tiny", new_item_rule={"field": "year", "min": 1997})
    # no new items is fine when only the existing-item states are evaluated
    dataset, *_ = build("UserItemBias", "tiny", new_item_rule=None, eval_states=["warm", "user_cold"])
    assert dataset.cold_split.report["new items (rated)"] == 0


def test_users_too_short_for_a_state_are_counted_not_dropped_silently():
    dataset, *_ = build("UserItemBias", "tiny", query_size=8)
    split = dataset.cold_split
    n_existing = int((split.user_group == EXISTING).sum())
    key = "warm: users skipped (need 8 query + 1 support ratings of the state's kind)"
    assert split.report["warm tasks"] + split.report[key] == n_existing
    assert split.report[key] > 0


def test_item_rules_time_quantile_and_random_fraction():
    dataset, *_ = build("UserItemBias", "tiny", new_item_rule={"time_quantile": 0.7})
    split = dataset.cold_split
    first = split.item_first_time
    new, old = split.item_is_new, ~split.item_is_new & np.isfinite(first)
    assert new.any() and first[new].min() > first[old].max()
    dataset, *_ = build("UserItemBias", "tiny", new_item_rule={"fraction": 0.3})
    rated = np.unique(dataset.cold_split.items)
    assert dataset.cold_split.item_is_new[rated].sum() == pytest.approx(0.3 * len(rated), abs=1)
    with pytest.raises(ValueError, match="names no rule"):
        build("UserItemBias", "tiny", new_item_rule={"threshold": 3})


def test_split_is_seeded():
    a, *_ = build("UserItemBias", "tiny")
    b, *_ = build("UserItemBias", "tiny")
    c, *_ = build("UserItemBias", "tiny", seed=7)
    assert np.array_equal(a.cold_split.user_group, b.cold_split.user_group)
    assert not np.array_equal(a.cold_split.user_group, c.cold_split.user_group)
    assert [t.query.tolist() for t in a.cold_split.tasks["warm"]] == [
        t.query.tolist() for t in b.cold_split.tasks["warm"]
    ]


def test_new_item_ids_and_unseen_tokens_get_the_padding_embedding():
    dataset, _, model, _ = build("MeLU", "tiny", item_features=["item_id", "release_year", "class"])
    split = dataset.cold_split
    encoder = model.item_encoder
    new_items = torch.as_tensor(np.flatnonzero(split.item_is_new))
    assert (encoder.table_item_id[new_items] == 0).all()
    # release years 1997/1998 occur only on new items: never trained, so mapped to padding
    assert (encoder.table_release_year[new_items] == 0).all()
    assert (encoder(new_items)[:, :4] == 0).all()  # the item-id part of the embedding
    with pytest.raises(ValueError, match=r"item_features: \['director'\] not loaded from .*tiny\.item"):
        build("MeLU", "tiny", item_features=["director"])


def test_feature_encoder_embeds_token_sequence_and_float_fields(tmp_path):
    from recbole_meta.model.layers.feature_encoder import FeatureEncoder

    rows = [(f"u{u}", f"i{i}", 1 + (u + i) % 5, u * 100 + i) for u in range(30) for i in range(20)]
    users = [(f"u{u}", f"{0.5 * u:.1f}", "a b" if u % 2 else "c") for u in range(30)]
    root = write_atomic(
        str(tmp_path / "data"),
        "feat",
        (["user_id:token", "score:float", "tags:token_seq"], users),
        (["item_id:token", "release_year:token"], [(f"i{i}", str(1990 + i % 10)) for i in range(20)]),
        (["user_id:token", "item_id:token", "rating:float", "timestamp:float"], rows),
    )
    dataset, *_ = build("UserItemBias", "feat", data_path=root, new_item_rule=None, eval_states=["warm"])
    encoder = FeatureEncoder(dataset, "user", ["score", "tags"], 3, mask_unseen_tokens=False)
    user = torch.as_tensor(dataset.token2id("user_id", ["u3", "u4"]))
    out = encoder(user)
    assert out.shape == (2, 6)
    linear = encoder.embeddings["score"]
    expected = torch.tensor([[1.5], [2.0]]) * linear.weight.T + linear.bias
    torch.testing.assert_close(out[:, :3], expected)
    tags = encoder.embeddings["tags"].weight
    a, b, c = (int(dataset.token2id("tags", t)) for t in ("a", "b", "c"))
    torch.testing.assert_close(out[0, 3:], (tags[a] + tags[b]) / 2)
    torch.testing.assert_close(out[1, 3:], tags[c])
