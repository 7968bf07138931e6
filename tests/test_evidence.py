"""Evidence candidates: an item whose rating decides the user's preference, and that users know, ranks first."""

import numpy as np
import pytest

from recbole_meta.model.meta_recommender.evidence import format_candidates, select_evidence_candidates
from tests.cold_start_helpers import HIDDEN_TRAIT, build, planted_dataset

DECISIVE = {f"i{i}" for i in (2, 4, 6, 8, 10)}


def _trained(root, **overrides):
    settings = {**HIDDEN_TRAIT, "item_features": ["item_id", "class"], **overrides}
    dataset, (train, valid, _), model, trainer = build(
        "MeLU",
        "planted",
        data_path=root,
        epochs=15,
        embedding_size=8,
        mlp_hidden_size=[16, 16],
        local_update_steps=3,
        local_lr=0.2,
        **settings,
    )
    trainer.fit(train, valid, saved=False)
    return dataset, model


@pytest.fixture(scope="module")
def planted_root(tmp_path_factory):
    # i0 is rated by every user and splits them by their hidden trait; i1..i29 are rated by about half of the
    # users, and only the even ones among i2..i10 are decisive too.
    root, _ = planted_dataset(str(tmp_path_factory.mktemp("a")), decisive={0, 2, 4, 6, 8, 10})
    return root


@pytest.fixture(scope="module")
def decisive_i0(planted_root):
    return _trained(planted_root)


@pytest.mark.parametrize("gradient", ["norm", "spread"])
def test_the_decisive_popular_item_ranks_first(decisive_i0, gradient):
    dataset, model = decisive_i0
    candidates = select_evidence_candidates(model, dataset, k=6, gradient=gradient)
    assert candidates[0]["item"] == "i0"
    assert candidates[0]["title"] == "Item 0"
    assert candidates[0]["popularity_score"] == 1.0
    assert candidates[0]["gradient_score"] > 0.5
    assert {c["item"] for c in candidates[1:]} == DECISIVE
    assert all(a["score"] >= b["score"] for a, b in zip(candidates, candidates[1:]))
    assert "i0" in format_candidates(candidates).splitlines()[1]


def test_popularity_alone_does_not_win(tmp_path):
    # the same, but i0 decides nothing: it is still the most popular item, yet decisive ones rank first
    root, _ = planted_dataset(str(tmp_path / "b"), decisive={2, 4, 6, 8, 10})
    dataset, model = _trained(root)
    scores = {c["item"]: c for c in select_evidence_candidates(model, dataset, k=30)}
    assert scores["i0"]["popularity_score"] == 1.0
    assert scores["i0"]["gradient_score"] < np.median([c["gradient_score"] for c in scores.values()])
    assert {c["item"] for c in select_evidence_candidates(model, dataset, k=5)} == DECISIVE


def test_the_spread_survives_an_offset_initialisation(planted_root):
    # Without the output-bias initialisation the meta-learned MeLU predicts about 0.2 for every rating and the
    # local update lifts it: the paper's mean gradient norm then ranks by rating level, the spread does not.
    dataset, model = _trained(planted_root, init_output_bias=False)
    spread = select_evidence_candidates(model, dataset, k=6, gradient="spread")
    assert spread[0]["item"] == "i0" and {c["item"] for c in spread[1:]} == DECISIVE
    norm = select_evidence_candidates(model, dataset, k=6, gradient="norm")
    # the mean norm ranks by rating level instead: at most one of the five decisive items makes its top 6
    assert len({c["item"] for c in norm} & DECISIVE) <= 1


def test_bad_arguments_are_errors(decisive_i0):
    dataset, model = decisive_i0
    with pytest.raises(ValueError, match="k must be a positive integer"):
        select_evidence_candidates(model, dataset, k=0)
    with pytest.raises(ValueError, match="gradient must be 'spread' or 'norm'"):
        select_evidence_candidates(model, dataset, gradient="max")
    with pytest.raises(ValueError, match="pool must be an integer >= k"):
        select_evidence_candidates(model, dataset, k=10, pool=5)
