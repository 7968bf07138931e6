"""Training episodes shaped like test episodes (support first) and the training-pool options (no test leak)."""

import numpy as np
import pytest

from recbole_meta.data.cold_start_split import EXISTING, STATES
from recbole_meta.data.episodes import EpisodeLoader
from tests.cold_start_helpers import build, leak_dataset

LEAKY = {"epochs": 1, "query_size": 3, "min_user_inter": 13, "max_user_inter": 30}


def _split(root, **overrides):
    dataset, loaders, _, _ = build("UserItemBias", "leaky", data_path=root, **{**LEAKY, **overrides})
    return dataset.cold_split, loaders[0]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return leak_dataset(str(tmp_path_factory.mktemp("data")))


def _sizes(loader, epochs):
    support, query, n_rows = [], [], []
    for _ in range(epochs):
        for task in loader.sample_training_tasks():
            support.append(len(task.support))
            query.append(len(task.query))
            n_rows.append(len(loader.split.train_rows[task.user]))
    return np.array(support), np.array(query), np.array(n_rows)


def test_support_sizes_follow_a_configured_range(root):
    split, loader = _split(root, train_support_size=[3, 6], min_train_support=3)
    support, query, n_rows = _sizes(loader, 200)
    free = n_rows >= 6 + 1 + 3  # users whose ratings never cap the draw
    assert set(support[free]) == {3, 4, 5, 6}
    counts = np.bincount(support[free], minlength=7)[3:]
    assert counts.min() > 0.8 * counts.mean()  # uniform
    assert (support >= 3).all() and (support <= np.minimum(6, n_rows - 1)).all()
    assert (query == np.minimum(3, n_rows - support)).all() and (query >= 1).all()
    # users with fewer than min_train_support + 1 training ratings give no task
    users = {t.user for t in loader.sample_training_tasks()}
    assert users == {u for u, rows in split.train_rows.items() if len(rows) > 3}


def test_support_sizes_follow_the_validation_tasks(root):
    split, loader = _split(root, min_train_support=1)
    valid_sizes = np.array([len(t.support) for t in split.tasks["valid"]])
    support, _, n_rows = _sizes(loader, 300)
    free = n_rows > valid_sizes.max()
    assert free.sum() > 100
    drawn = np.bincount(support[free], minlength=valid_sizes.max() + 1)
    expected = np.bincount(valid_sizes, minlength=valid_sizes.max() + 1)
    assert set(np.flatnonzero(drawn)) <= set(np.flatnonzero(expected))
    share = drawn / drawn.sum() - expected / expected.sum()
    assert np.abs(share).max() < 0.08  # the empirical distribution, within sampling noise
    capped = ~free
    assert (support[capped] <= n_rows[capped] - 1).all()


def test_query_first_episodes_are_kept_as_an_option(root):
    split, loader = _split(root, train_support_size=None)
    support, query, n_rows = _sizes(loader, 5)
    assert (query == np.maximum(1, np.minimum(3, n_rows - split.min_support))).all()
    assert (support == n_rows - query).all()


def test_bad_support_size_options_are_errors(root):
    split, loader = _split(root)
    for value in ("test", [5, 2], [1, 4], 7):
        config = dict(loader.config.final_config_dict, train_support_size=value)
        with pytest.raises(ValueError, match="train_support_size"):
            EpisodeLoader(config, split)


def _tasks(split, state):
    return [
        (t.user, tuple(sorted(split.items[t.support])), tuple(sorted(split.items[t.query])))
        for t in split.tasks[state]
    ]


def test_pool_options_leave_test_and_validation_users_unchanged(root):
    base, _ = _split(root, max_user_inter=20)
    pooled, loader = _split(root, max_user_inter=20, heavy_users_for_training=True, warm_holdout_fraction=0.5)
    for state in ("user_cold", "user_item_cold", "valid"):
        assert _tasks(pooled, state) == _tasks(base, state)
    heavy = pooled.heavy_users
    assert len(heavy) >= 5
    counts = np.bincount(pooled.users, minlength=pooled.n_users)
    assert (counts[heavy] > 20).all()
    assert (pooled.user_group[heavy] == EXISTING).all()
    tested = {t.user for state in (*STATES, "valid") for t in pooled.tasks[state]}
    assert not tested & set(heavy.tolist())
    for user in heavy:
        rows = pooled.train_rows[int(user)]
        assert len(rows) == int((~pooled.item_is_new[pooled.items[pooled.users == user]]).sum())
        assert not pooled.item_is_new[pooled.items[rows]].any()
    # half the existing users keep every existing-item rating for training and have no warm task
    warm_users = {t.user for t in pooled.tasks["warm"]}
    base_warm = {t.user for t in base.tasks["warm"]}
    assert warm_users < base_warm and abs(len(warm_users) - len(base_warm) / 2) <= 1
    for user in base_warm - warm_users:
        old = (pooled.users == user) & ~pooled.item_is_new[pooled.items]
        assert len(pooled.train_rows[user]) == int(old.sum())
    # nothing a test query asks about is trained on
    trained = {
        (int(pooled.users[r]), int(pooled.items[r])) for rows in pooled.train_rows.values() for r in rows
    }
    for state in (*STATES, "valid"):
        for task in pooled.tasks[state]:
            assert not trained & {(task.user, int(pooled.items[r])) for r in task.query}
    assert set(loader.split.train_users.tolist()) >= set(heavy.tolist()) - {
        int(u) for u in heavy if len(pooled.train_rows.get(int(u), [])) < 2
    }


def test_pool_option_values_are_checked(root):
    with pytest.raises(ValueError, match="warm_holdout_fraction"):
        _split(root, warm_holdout_fraction=0.0)
    with pytest.raises(ValueError, match="heavy_users_for_training"):
        _split(root, heavy_users_for_training="yes")


def test_state_protocol_draws_support_and_query_from_the_state_items(root):
    base, _ = _split(root)
    state, _ = _split(root, item_state_support="state")
    for name in ("warm", "user_cold", "valid"):
        assert _tasks(state, name) == _tasks(base, name)
    for name in ("item_cold", "user_item_cold"):
        assert state.tasks[name]
        queries = {t.user: tuple(sorted(base.items[t.query])) for t in base.tasks[name]}
        for task in state.tasks[name]:
            assert state.item_is_new[state.items[task.support]].all()
            assert state.item_is_new[state.items[task.query]].all()
            assert not set(task.support) & set(task.query)
            assert (
                tuple(sorted(state.items[task.query])) == queries[task.user]
            )  # the same query as the default
    with pytest.raises(ValueError, match="item_state_support"):
        _split(root, item_state_support="new")
