"""MatchingNet and ProtoRec: attention / prototype maths by hand, masks, degenerate supports, a planted
preference, new items, and the episodic pipeline end to end."""

import math

import pytest
import torch
import yaml

from recbole_meta import run_recbole_meta
from recbole_meta.data.cold_start_split import STATES
from recbole_meta.model.meta_recommender.matching_net import masked_attention
from recbole_meta.model.meta_recommender.proto_rec import prototype_logit, prototypes
from tests.cold_start_helpers import (
    HIDDEN_TRAIT,
    assert_metrics_are_those_of_the_predictions,
    build,
    cold_config,
    planted_dataset,
)
from tests.helpers import REPO_ROOT, run_python

METRICS = {"mae", "rmse", "gradedndcg@1", "gradedndcg@3"}
SMALL = {"embedding_size": 4, "hidden_size": 8, "gate_hidden_size": 4}


def test_attention_by_hand():
    query = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    support = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 0.0]])  # the last one is padding
    mask = torch.tensor([1.0, 1.0, 0.0])
    attention, cosine = masked_attention(query, support, mask, temperature=0.5)
    # query 0: cos = (1, 0) -> logits (2, 0); query 1: cos = (1/sqrt2, 1/sqrt2) -> equal weights
    e2 = math.exp(2.0)
    expected = torch.tensor([[e2 / (e2 + 1), 1 / (e2 + 1), 0.0], [0.5, 0.5, 0.0]])
    torch.testing.assert_close(attention, expected)
    torch.testing.assert_close(cosine[1, :2], torch.full((2,), 1 / math.sqrt(2)))
    ratings = torch.tensor([5.0, 1.0, 3.0])
    torch.testing.assert_close(attention @ ratings, torch.tensor([(5 * e2 + 1) / (e2 + 1), 3.0]))
    # an empty support attends to nothing
    assert masked_attention(query, support, torch.zeros(3), 0.5)[0].abs().sum() == 0


def test_prototypes_by_hand():
    support = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [9.0, 9.0]])
    liked = torch.tensor([1.0, 1.0, 0.0, 0.0])
    disliked = torch.tensor([0.0, 0.0, 1.0, 0.0])  # row 3 is padding: in neither class
    default = torch.tensor([7.0, 7.0])
    c_liked, c_disliked = prototypes(support, liked, default), prototypes(support, disliked, default)
    torch.testing.assert_close(c_liked, torch.tensor([2.0, 0.0]))
    torch.testing.assert_close(c_disliked, torch.tensor([0.0, 2.0]))
    torch.testing.assert_close(prototypes(support, torch.zeros(4), default), default)
    # q = (2, 1): ||q - c+||^2 = 1, ||q - c-||^2 = 4 + 1 = 5 -> s = 0.5 * (5 - 1) - 1 = 1
    logit = prototype_logit(torch.tensor([[2.0, 1.0]]), c_liked, c_disliked, 0.5, -1.0)
    torch.testing.assert_close(logit, torch.tensor([1.0]))


@pytest.fixture(scope="module")
def built():
    torch.manual_seed(0)
    runs = {}
    for name in ("MatchingNet", "ProtoRec"):
        runs[name] = build(name, "tiny", **SMALL)
    return runs


def _task(model, n_support, pad=3, rating=None):
    split = model.split
    user = torch.tensor(int(split.train_users[0]))
    items = torch.arange(1, n_support + 1 + pad)
    ratings = torch.tensor([rating or (1 + i % 5) for i in range(n_support)] + [0.0] * pad, dtype=torch.float)
    mask = torch.tensor([1.0] * n_support + [0.0] * pad)
    return user, items, ratings, mask, torch.arange(10, 16)


@pytest.mark.parametrize("name", ["MatchingNet", "ProtoRec"])
def test_padding_changes_nothing_and_matches_the_unpadded_task(built, name):
    model = built[name][2]
    user, items, ratings, mask, target = _task(model, n_support=4, pad=3)
    out = model(user, items, ratings, mask, target)
    scrambled_items, scrambled_ratings = items.clone(), ratings.clone()
    scrambled_items[4:] = torch.tensor([20, 21, 22])
    scrambled_ratings[4:] = 5.0
    torch.testing.assert_close(model(user, scrambled_items, scrambled_ratings, mask, target), out)
    torch.testing.assert_close(model(user, items[:4], ratings[:4], mask[:4], target), out)
    if name == "MatchingNet":
        attention = model.parts(user, items, ratings, mask, target)[0]
        assert attention[:, 4:].abs().max() == 0
        torch.testing.assert_close(attention.sum(-1), torch.ones(len(target)))


@pytest.mark.parametrize("name", ["MatchingNet", "ProtoRec"])
def test_vectorised_meta_batch_equals_each_task_alone(built, name):
    _, (train, _, _), model, trainer = built[name]
    batch = next(iter(train))
    vectorised = trainer.maml.predict_query(batch)
    trainer.maml.vectorize = False
    try:
        looped = trainer.maml.predict_query(batch)
    finally:
        trainer.maml.vectorize = True
    mask = batch["query_mask"] > 0
    torch.testing.assert_close(vectorised[mask], looped[mask])
    assert batch["support_mask"].sum(1).unique().numel() > 1  # supports really are ragged


@pytest.mark.parametrize("name", ["MatchingNet", "ProtoRec"])
@pytest.mark.parametrize("n_support, rating", [(1, None), (6, 5.0), (6, 1.0)])
def test_single_item_and_all_equal_supports(built, name, n_support, rating):
    model = built[name][2]
    user, items, ratings, mask, target = _task(model, n_support=n_support, rating=rating)
    model.zero_grad()
    out = model(user, items, ratings, mask, target)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    if name == "MatchingNet":
        attention, attended, _, baseline = model.parts(user, items, ratings, mask, target)
        if n_support == 1:
            torch.testing.assert_close(attention[:, 0], torch.ones(len(target)))
        if rating == 5.0:
            # all 5s: the attended rating is 5, but the bias model is not; with the gate shut the model
            # predicts the (shrunk) baseline, not 5
            torch.testing.assert_close(attended, torch.full_like(attended, 5.0))
            assert (baseline < 4.9).all()
            with torch.no_grad():
                saved = model.gate[-1].bias.clone()
                model.gate[-1].bias.fill_(-50.0)
                torch.testing.assert_close(model(user, items, ratings, mask, target), baseline)
                model.gate[-1].bias.copy_(saved)


def test_residual_attention_corrects_the_baseline(built):
    from recbole_meta.config import Config
    from recbole_meta.model.meta_recommender import MatchingNet

    dataset, _, model, _ = built["MatchingNet"]
    config = Config("MatchingNet", "tiny", config_dict=cold_config(attend_to="residual", **SMALL), argv=[])
    residual = MatchingNet(config, dataset)
    residual.load_state_dict(model.state_dict())
    user, items, ratings, mask, target = _task(model, n_support=5)
    attention, attended, gate, baseline = residual.parts(user, items, ratings, mask, target)
    support_baseline = residual.bias(items, ratings, mask, items, user)
    torch.testing.assert_close(attended, attention @ (ratings - support_baseline))
    torch.testing.assert_close(residual(user, items, ratings, mask, target), baseline + gate * attended)
    # an item exactly like the support's only item: full attention, its residual is passed on (gate open)
    one = mask.clone()
    one[1:] = 0
    with torch.no_grad():
        residual.gate[-1].bias.fill_(50.0)
        out = residual(user, items, ratings, one, items[:1])
    base = residual.bias(items, ratings, one, items[:1], user)
    torch.testing.assert_close(out, base + ratings[0] - base)


def test_item_bias_enters_the_prototype_score(built):
    from recbole_meta.config import Config
    from recbole_meta.model.meta_recommender import ProtoRec

    dataset, _, model, _ = built["ProtoRec"]
    config = Config("ProtoRec", "tiny", config_dict=cold_config(use_item_bias=True, **SMALL), argv=[])
    with_bias = ProtoRec(config, dataset)
    with_bias.load_state_dict(model.state_dict(), strict=False)
    user, items, ratings, mask, target = _task(model, n_support=5)
    difference = with_bias.score(user, items, ratings, mask, target) - model.score(
        user, items, ratings, mask, target
    )
    torch.testing.assert_close(difference, with_bias.bias.item_bias_for(target, user))
    with_bias.eval()  # evaluation: the plain training item bias
    model.eval()
    difference = with_bias.score(user, items, ratings, mask, target) - model.score(
        user, items, ratings, mask, target
    )
    torch.testing.assert_close(difference, with_bias.bias.item_bias[target])


def test_new_items_are_embedded_from_their_features(built):
    dataset, _, model, _ = built["MatchingNet"]
    split = model.split
    new_items = torch.as_tensor(split.item_is_new.nonzero()[0][:4])
    assert len(new_items) >= 2 and not model.known_items()[new_items.numpy()].any()
    embedding = model.embed.item_encoder(new_items)
    assert embedding.abs().sum(-1).min() > 0  # not the padding vector
    user, items, ratings, mask, _ = _task(model, n_support=4)
    assert torch.isfinite(model(user, items, ratings, mask, new_items)).all()


def test_a_planted_preference_is_recovered(tmp_path):
    # Whether a user likes genre g0 or g1 is hidden (no user feature reveals it); only the support shows it.
    # The bias model cannot tell (items are balanced); attention / prototypes over the support can.
    root, _ = planted_dataset(str(tmp_path / "data"))
    config = cold_config(data_path=root, epochs=10, stopping_step=50, **HIDDEN_TRAIT, **SMALL)
    bias = run_recbole_meta("UserItemBias", "planted", config_dict=config, argv=[])["test_result"]
    matching = run_recbole_meta("MatchingNet", "planted", config_dict=config, argv=[])["test_result"]
    proto = run_recbole_meta("ProtoRec", "planted", config_dict=config, argv=[])["test_result"]
    for state in ("warm", "user_cold"):
        assert bias[state]["mae"] > 1.3, state
        assert matching[state]["mae"] < 0.8, (state, matching[state])
        assert proto[state]["mae"] < 0.8, (state, proto[state])
        assert proto[state]["gradedndcg@3"] > bias[state]["gradedndcg@3"] + 0.1, state


def test_matching_net_end_to_end_maps_each_state_to_its_metrics():
    _, (train, valid, test), _, trainer = build("MatchingNet", "tiny", epochs=1, **SMALL)
    trainer.fit(train, valid, saved=True)
    test_result = trainer.evaluate(test, load_best_model=True)
    assert list(test_result) == list(STATES)
    for state, metrics in test_result.items():
        assert set(metrics) == METRICS, state
    assert_metrics_are_those_of_the_predictions(trainer, test, test_result)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="like_threshold"):
        build("ProtoRec", "tiny", like_threshold=9, **SMALL)
    with pytest.raises(ValueError, match="attend_to"):
        build("MatchingNet", "tiny", attend_to="ratings", **SMALL)
    with pytest.raises(ValueError, match="option temperature must be a positive number, got 0"):
        build("MatchingNet", "tiny", temperature=0, **SMALL)


def test_cli_runs_matching_net_and_prints_the_states(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cold_config(epochs=1, **SMALL)))
    done = run_python(
        f"{REPO_ROOT}/run_recbole_meta.py", "--model=MatchingNet", "--dataset=tiny", f"--config_files={path}"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    header = lines.index("test result, MatchingNet beside UserItemBias on the same split:")
    rows = lines[header + 2 : header + 2 + 2 * len(STATES)]
    assert [row.split()[:2] for row in rows[::2]] == [[state, "MatchingNet"] for state in STATES]
    assert [row.split()[0] for row in rows[1::2]] == ["UserItemBias"] * len(STATES)


def test_metric_suites_run_in_quick_mode(tmp_path):
    from recbole_meta.benchmark.cli import main

    out = tmp_path / "bench"
    assert main(["cold_start_metric", "--quick", "--out", str(out), "--no-progress"]) == 0
    report = (out / "cold_start_metric.md").read_text()
    for run in ("| UserItemBias |", "| MeLU-5 |", "| MatchingNet |", "| ProtoRec |"):
        assert run in report
    assert main(["cold_start_metric_speed", "--quick", "--out", str(out), "--no-progress"]) == 0
    assert "matchingnet_over_melu5_train_cost" in (out / "cold_start_metric_speed.md").read_text()
