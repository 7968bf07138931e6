"""Helpers for the cold-start tests: atomic files written on the fly, configs and built runs."""

import numpy as np

from recbole_meta.benchmark.suite import TINY_EPISODES
from tests.helpers import TEST_DATA, write_atomic  # noqa: F401  (write_atomic: used here)


def leak_dataset(root, seed=0):
    """A dataset built to tempt a leak.

    * users with 14..26 ratings, plus three users outside 13..30 (8, 9 and 35 ratings) that must be filtered;
    * items whose release_year is numeric (1990..1999), 'V', 'unkonwn' or missing from the .item file;
    * existing users rate new items (their ratings must never be trained on);
    * duplicate (user, item) ratings with different values and times (one copy could be trained on while the
      other is a test query).
    """
    rng = np.random.default_rng(seed)
    n_items = 36
    years = [str(1990 + i % 10) for i in range(n_items)]
    years[3], years[4] = "V", "unkonwn"
    item_rows = [
        (f"i{i}", years[i], f"g{i % 3} g{(i + 1) % 4}") for i in range(n_items - 2)
    ]  # last 2 lack a row
    sizes = list(rng.integers(14, 27, size=40)) + [8, 9, 35]
    user_rows, inter_rows = [], []
    t = 1000
    for u, size in enumerate(sizes):
        user_rows.append((f"u{u}", str(20 + u % 5), "MF"[u % 2]))
        chosen = rng.choice(n_items, size=size, replace=False)
        for i in chosen:
            t += 1
            inter_rows.append((f"u{u}", f"i{i}", int(rng.integers(1, 6)), t))
        if u % 4 == 0:  # a duplicate with another rating, later
            t += 1
            inter_rows.append((f"u{u}", f"i{chosen[0]}", int(rng.integers(1, 6)), t))
    write_atomic(
        root,
        "leaky",
        (["user_id:token", "age:token", "gender:token"], user_rows),
        (["item_id:token", "release_year:token", "class:token_seq"], item_rows),
        (["user_id:token", "item_id:token", "rating:float", "timestamp:float"], inter_rows),
    )
    return root


# The protocol of :func:`planted_dataset`'s tests: no item is new, warm and user_cold tasks, and no user feature
# (the constant ``const``): the hidden trait shows only in the support; meta-training at rate 0.01.
HIDDEN_TRAIT = {
    "user_features": ["const"],
    "item_features": ["class"],
    "new_item_rule": None,
    "eval_states": ["warm", "user_cold"],
    "meta_lr": 0.01,
}


def planted_dataset(root, n_users=120, n_items=30, per_user=16, decisive=None, seed=0):
    """Ratings driven by a *hidden* user trait (no user feature reveals it).

    Users have a trait t in {0, 1}; item i has genre g0 (even i) or g1. With ``decisive=None`` every item is
    decisive: r = 3 + 1.5 s + noise, s = +1 when the trait matches the genre, -1 otherwise. Otherwise only the
    items in ``decisive`` follow that rule and the others are rated 3 + q_i + noise (q_i in [-0.5, 0.5]) by
    everyone. Item ``i0`` is rated by every user; the others by a random ``per_user - 1`` subset.
    Returns (root, traits).
    """
    rng = np.random.default_rng(seed)
    traits = rng.integers(0, 2, n_users)
    genre0 = np.arange(n_items) % 2 == 0
    quality = rng.uniform(-0.5, 0.5, n_items)
    decisive = set(range(n_items)) if decisive is None else set(decisive)
    inter, t = [], 0
    for u in range(n_users):
        chosen = [0] + list(rng.choice(np.arange(1, n_items), per_user - 1, replace=False))
        for i in chosen:
            if i in decisive:
                mean = 3 + 1.5 * (1 if (traits[u] == 1) == genre0[i] else -1)
            else:
                mean = 3 + quality[i]
            t += 1
            inter.append((f"u{u}", f"i{i}", int(np.clip(np.rint(mean + rng.normal(0, 0.4)), 1, 5)), t))
    write_atomic(
        root,
        "planted",
        (["user_id:token", "const:token"], [(f"u{u}", "x") for u in range(n_users)]),
        (
            ["item_id:token", "class:token_seq", "title:token_seq"],
            [(f"i{i}", "g0" if genre0[i] else "g1", f"Item {i}") for i in range(n_items)],
        ),
        (["user_id:token", "item_id:token", "rating:float", "timestamp:float"], inter),
    )
    return root, traits


def cold_config(data_path=TEST_DATA, **overrides):
    """A fast config for episodic models (on the packaged quick dataset ``tiny`` by default)."""
    config = {
        "data_path": data_path,
        "epochs": 2,
        "show_progress": False,
        "seed": 2020,
        "state": "WARNING",
        "checkpoint_dir": "saved",
        **TINY_EPISODES,
        "new_user_ratio": 0.25,
        "valid_user_ratio": 0.15,
        "embedding_size": 4,
        "mlp_hidden_size": [8, 8],
    }
    config.update(overrides)
    return config


def build(model, dataset, **overrides):
    """(dataset, (train, valid, test), model, trainer) for a config built with :func:`cold_config`."""
    from recbole_meta.config import Config
    from recbole_meta.quick_start import build_run

    data_path = overrides.pop("data_path", TEST_DATA)
    config = Config(model, dataset, config_dict=cold_config(data_path, **overrides), argv=[])
    return build_run(config)


def build_on_planted(model, planted, eval_states, **overrides):
    """:func:`build` on planted ratings (``generate_planted_ratings``): users with 13-100 ratings, no new items,
    queries of 10, continuous ratings (no rating range, no normalisation)."""
    config = {
        **planted.config_dict(),
        "new_item_rule": None,
        "eval_states": eval_states,
        "rating_range": None,
        "min_user_inter": 13,
        "max_user_inter": 100,
        "query_size": 10,
        "normalize_all": False,
        **overrides,
    }
    return build(model, planted.name, **config)


def assert_metrics_are_those_of_the_predictions(trainer, test_loaders, test_result, places=4):
    """Each state's reported MAE / RMSE are those of the trainer's adapted query predictions against the raw
    1-5 ratings of that state (not a rescaled copy), to ``places`` decimals."""
    for state, metrics in test_result.items():
        scores, labels, _ = trainer.predict_tasks(test_loaders[state])
        assert set(np.unique(labels.numpy())) <= {1.0, 2.0, 3.0, 4.0, 5.0}, state  # raw rating units
        errors = (scores - labels).double()
        assert metrics["mae"] == round(float(errors.abs().mean()), places), state
        assert metrics["rmse"] == round(float(errors.pow(2).mean().sqrt()), places), state
        assert metrics["rmse"] >= metrics["mae"]
