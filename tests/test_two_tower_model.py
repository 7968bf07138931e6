"""SSLTwoTower end to end on the tiny dataset: training, full-sort scoring, SSL sampling, item-cold split, bad input."""

import os
import shutil

import numpy as np
import pytest
import torch
from recbole.data.interaction import Interaction

from recbole_meta import run_recbole_meta
from recbole_meta.config import Config
from recbole_meta.data.item_cold import CandidateFullSortEvalDataLoader
from recbole_meta.quick_start import build_run
from tests.helpers import TEST_DATA, two_cluster_data


def _config_dict(**overrides):
    config = {
        "data_path": TEST_DATA,
        "load_col": {
            "inter": ["user_id", "item_id", "rating", "timestamp"],
            "user": ["user_id", "age", "gender"],
            "item": ["item_id", "release_year", "class"],
        },
        "embedding_size": 8,
        "tower_hidden_sizes": [16],
        "output_size": 8,
        "ssl_batch_size": 16,
        "train_batch_size": 64,
        "epochs": 2,
        "eval_step": 1,
        "topk": [5, 10],
        "valid_metric": "Recall@10",
        "show_progress": False,
        "state": "WARNING",
        "seed": 2020,
        "checkpoint_dir": "saved",
    }
    config.update(overrides)
    return config


def _build(dataset="tiny", **overrides):
    config = Config("SSLTwoTower", dataset, config_dict=_config_dict(**overrides), argv=[])
    return build_run(config)


def _all_pairs(model, users):
    n_items = model.n_items
    return Interaction(
        {
            model.USER_ID: users.repeat_interleave(n_items),
            model.ITEM_ID: torch.arange(n_items).repeat(len(users)),
        }
    )


# ------------------------------------------------------------------------------------------- training
@pytest.mark.parametrize(
    "overrides",
    [{}, {"logq": "streaming", "ssl_augment": ["cfm", "dropout"]}, {"logq": "none", "ssl_alpha": 0.0}],
    ids=["rfm-static", "cfm-dropout-streaming", "no-ssl-no-logq"],
)
def test_trains_and_reports_overall_and_tail_metrics(tmp_path, overrides):
    # planted clusters: users of one parity interact only with items of that parity; the item features say
    # nothing about it, so the towers must learn it from the interactions
    planted = {
        "data_path": two_cluster_data(str(tmp_path / "data")),
        "load_col": {"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id", "shade", "tags"]},
        "metrics": ["Recall", "NDCG", "TailRecall", "TailNDCG"],
        "learning_rate": 0.01,
        "epochs": 15,
    }
    result = run_recbole_meta(
        "SSLTwoTower", "clusters", config_dict=_config_dict(**overrides, **planted), argv=[]
    )
    metrics = result["test_result"]
    assert {"recall@10", "ndcg@10", "tailrecall@10", "tailndcg@10"} <= set(metrics)
    random = run_recbole_meta("Random", "clusters", config_dict=_config_dict(**planted), argv=[])[
        "test_result"
    ]
    assert metrics["recall@10"] > random["recall@10"] + 0.4  # random is about 0.3


def test_loss_parts_and_learning_signal():
    _, (train_data, _, _), model, _ = _build(ssl_alpha=0.5)
    batch = next(iter(train_data))
    main, ssl = model.calculate_loss(batch)
    assert main.ndim == 0 and ssl.ndim == 0 and torch.isfinite(main) and torch.isfinite(ssl)
    generator_state = model._ssl_generator.get_state()
    unscaled = model.ssl_loss()
    model._ssl_generator.set_state(generator_state)
    assert torch.allclose(0.5 * unscaled, 0.5 * model.ssl_loss())  # the generator alone decides the draw
    _, (train_data, _, _), plain, _ = _build(ssl_alpha=0.0)
    assert not hasattr(plain, "masker") and plain.calculate_loss(next(iter(train_data))).ndim == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"ssl_augment": ["rfm"]},
        {"ssl_augment": ["cfm", "dropout"], "main_id_dropout": 0.3, "logq": "streaming"},
    ],
    ids=["rfm", "cfm-dropout-iddrop-streaming"],
)
def test_one_item_tower_pass_gives_the_losses_and_gradients_of_separate_passes(overrides):
    # calculate_loss encodes the main batch's items and the SSL views in one item-tower pass; for the same
    # random draws it must equal main_loss and ssl_loss computed apart (values and gradients).
    _, (train_data, _, _), model, _ = _build(ssl_alpha=0.5, **overrides)
    model.train()
    batch = next(iter(train_data))
    states = (model._ssl_generator.get_state(), model._main_generator.get_state())
    estimator = getattr(model, "frequency_estimator", None)
    saved = {k: v.clone() for k, v in estimator.state_dict().items()} if estimator is not None else None
    main, ssl = model.calculate_loss(batch)
    model.zero_grad()
    (main + ssl).backward()
    fused = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model._ssl_generator.set_state(states[0])
    model._main_generator.set_state(states[1])
    if estimator is not None:
        estimator.load_state_dict(saved)
    apart_main, apart_ssl = model.main_loss(batch), 0.5 * model.ssl_loss()
    model.zero_grad()
    (apart_main + apart_ssl).backward()
    assert torch.allclose(main, apart_main, atol=1e-6) and torch.allclose(ssl, apart_ssl, atol=1e-6)
    separate = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
    assert fused.keys() == separate.keys() and len(fused) > 4
    for name, grad in fused.items():  # float rounding only; tolerance relative to the largest entry
        assert torch.allclose(grad, separate[name], atol=1e-6 * (1 + separate[name].abs().max())), name


def test_ssl_items_are_uniform_without_replacement_from_training_items_and_leave_global_rng_alone():
    _, (train_data, _, _), model, _ = _build(ssl_batch_size=30)
    trained_items = set(train_data.dataset.inter_feat["item_id"].tolist())
    global_state = torch.random.get_rng_state()
    picks = model.sample_ssl_items()
    model.ssl_loss()
    assert torch.equal(torch.random.get_rng_state(), global_state)
    assert len(set(picks.tolist())) == 30 and set(picks.tolist()) <= trained_items
    counts = torch.zeros(model.n_items)
    for _ in range(300):
        counts.index_add_(0, model.sample_ssl_items(), torch.ones(30))
    seen = counts[list(trained_items)]
    assert seen.min() > 0.5 * seen.mean() and seen.max() < 1.5 * seen.mean()  # uniform over the corpus
    # the same seed gives the same SSL draws
    _, _, twin, _ = _build(ssl_batch_size=30)
    _, _, again, _ = _build(ssl_batch_size=30)
    assert torch.equal(twin.sample_ssl_items(), again.sample_ssl_items())


def test_cfm_ranks_the_item_features_without_the_id():
    _, _, model, _ = _build(ssl_augment=["cfm"])
    mi = model.item_mutual_information
    assert mi.shape == (2, 2) and (mi >= -1e-12).all()  # release_year and class; the id is not ranked
    # two features: each seed masks itself, the id sits in either view by a coin flip
    assert model.masker.cfm_groups.tolist() == [[False, True, False], [False, False, True]]


def _write_correlated_items(root, n_items=600, seed=0):
    """Items whose features come in two known clusters: {genre, subgenre, tags} and {year, decade}.

    ``subgenre`` refines ``genre`` (4 subgenres per genre), ``tags`` are drawn from the genre's own 5 tags;
    ``decade`` is ``year // 5``; the two clusters are independent of each other.
    """
    rng = np.random.default_rng(seed)
    folder = root / "clusters"
    folder.mkdir(parents=True)
    genre = rng.integers(8, size=n_items)
    subgenre = genre * 4 + rng.integers(4, size=n_items)
    year = rng.integers(20, size=n_items)
    rows = []
    for i in range(n_items):
        tags = " ".join(f"t{genre[i] * 5 + t}" for t in rng.choice(5, size=2, replace=False))
        rows.append(f"i{i}\tg{genre[i]}\ts{subgenre[i]}\t{tags}\ty{year[i]}\td{year[i] // 5}\n")
    (folder / "clusters.item").write_text(
        "item_id:token\tgenre:token\tsubgenre:token\ttags:token_seq\tyear:token\tdecade:token\n"
        + "".join(rows)
    )
    inter = [
        f"u{u}\ti{i}\t{t}\n" for u in range(40) for t, i in enumerate(rng.choice(n_items, 40, replace=False))
    ]
    (folder / "clusters.inter").write_text("user_id:token\titem_id:token\ttimestamp:float\n" + "".join(inter))
    return str(root)


def test_cfm_masks_vary_with_the_seed_field_and_follow_the_known_correlates(tmp_path):
    item_fields = ["item_id", "genre", "subgenre", "tags", "year", "decade"]
    _, _, model, _ = _build(
        "clusters",
        data_path=_write_correlated_items(tmp_path),
        load_col={"inter": ["user_id", "item_id", "timestamp"], "item": item_fields},
        ssl_augment=["cfm"],
        ssl_item_corpus="all",
    )
    assert [s.name for s in model.item_specs] == item_fields
    genre_cluster, year_cluster = {"genre", "subgenre", "tags"}, {"year", "decade"}
    # 5 features -> view 1 masks the seed and its 2 top correlates: the rest of its own cluster first
    for seed_field, group in zip(item_fields[1:], model.masker.cfm_groups.tolist()):
        masked = {name for name, m in zip(item_fields, group) if m}
        assert "item_id" not in masked and seed_field in masked and len(masked) == 3
        own = genre_cluster if seed_field in genre_cluster else year_cluster
        assert own <= masked, (seed_field, masked)
    view1, view2 = model.ssl_views(torch.arange(1, 401))[0].chunk(2)
    assert torch.equal(view1, ~view2)
    patterns = {tuple(row[1:].tolist()) for row in view1}
    # the masks vary with the seed: both clusters' groups are drawn (seeds of one cluster share a group)
    assert patterns == {tuple(g[1:]) for g in model.masker.cfm_groups.tolist()} and len(patterns) == 2
    assert 0.4 < view1[:, 0].float().mean() < 0.6  # the id goes to either view


def test_main_id_dropout_masks_only_the_id_of_a_share_of_the_batch_in_training():
    _, (train_data, _, _), model, _ = _build(main_id_dropout=0.5, ssl_alpha=0.0)
    seen = []
    original = model.item_embedding

    def spy(item_ids, field_mask=None, value_keep=None):
        seen.append(field_mask)
        return original(item_ids, field_mask, value_keep)

    model.item_embedding = spy
    batch = next(iter(train_data))
    model.train()
    model.main_loss(batch)
    mask = seen[-1]
    assert mask[:, 1:].sum() == 0 and 0.3 < mask[:, 0].float().mean() < 0.7  # the id column only
    model.eval()
    model.main_loss(batch)
    assert seen[-1] is None  # evaluation sees every id
    with pytest.raises(ValueError, match=r"main_id_dropout must be in \[0, 1\)"):
        _build(main_id_dropout=1.0)
    with pytest.raises(ValueError, match="main_id_dropout > 0 needs the item id in the item tower"):
        _build(main_id_dropout=0.2, item_id_in_tower=False)


# ---------------------------------------------------------------------------------------- prediction
def test_full_sort_predict_equals_predict_on_all_items_and_the_cache_follows_the_weights():
    _, (train_data, _, _), model, trainer = _build(item_cold_split=[0.6, 0.2, 0.2])
    assert not model.item_seen[1:].all()  # some items are unseen: their id takes the default embedding
    model.eval()
    users = torch.tensor([1, 5, 9])
    with torch.no_grad():
        full = model.full_sort_predict(Interaction({model.USER_ID: users})).view(len(users), -1)
        pairs = model.predict(_all_pairs(model, users)).view(len(users), -1)
    assert torch.allclose(full, pairs, atol=1e-5)

    trainer._train_epoch(train_data, 0)  # train() drops the cache, the next evaluation recomputes it
    model.eval()
    with torch.no_grad():
        after = model.full_sort_predict(Interaction({model.USER_ID: users})).view(len(users), -1)
        assert not torch.allclose(after, full)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        for parameter in model.item_tower.parameters():
            parameter.add_(1.0)
        model.load_state_dict(state)
        assert torch.allclose(model.full_sort_predict(Interaction({model.USER_ID: users})).view(3, -1), after)


def test_unseen_items_are_scored_from_features_only():
    _, _, model, _ = _build(item_cold_split=[0.6, 0.2, 0.2])
    unseen = torch.nonzero(~model.item_seen[1:]).squeeze(1)[:3] + 1
    model.eval()
    with torch.no_grad():
        before = model.item_embedding(unseen)
        model.item_tower.embeddings["item_id"].weight[unseen] += 5.0
        assert torch.allclose(model.item_embedding(unseen), before)


# ------------------------------------------------------------------------------------------ item cold
def test_item_cold_split_keeps_test_items_out_of_training_and_ranks_only_them():
    _, (train_data, valid_data, test_data), _, _ = _build(item_cold_split=[0.6, 0.2, 0.2], ssl_alpha=0.0)
    train_items = set(train_data.dataset.inter_feat["item_id"].tolist())
    valid_items = set(valid_data.dataset.inter_feat["item_id"].tolist())
    test_items = set(test_data.dataset.inter_feat["item_id"].tolist())
    assert (
        not (train_items & test_items) and not (train_items & valid_items) and not (valid_items & test_items)
    )
    assert isinstance(test_data, CandidateFullSortEvalDataLoader)
    _, (history_u, history_i), positive_u, positive_i = next(iter(test_data))
    n_users, n_items = int(positive_u.max()) + 1, test_data._dataset.item_num
    masked = torch.zeros(n_users, n_items, dtype=torch.bool)
    masked[history_u, history_i] = True
    rankable = {int(i) for i in torch.nonzero(~masked[0]).squeeze(1)}
    assert rankable <= test_items and set(positive_i[positive_u == 0].tolist()) <= rankable


@pytest.mark.parametrize("model", ["BPR", "Pop"])  # Pop: a RecBole traditional model (the split was ignored)
def test_recbole_baselines_rank_only_the_new_items(model):
    config = _config_dict(item_cold_split=[0.6, 0.2, 0.2], epochs=1)
    result = run_recbole_meta(model, "tiny", config_dict=config, argv=[])["test_result"]
    # tiny has 40 items, 20% of them test items: ranking only those puts all of a user's test items in the top 10
    # (over the whole catalogue the same models reach recall@10 of about 0.4)
    assert result["recall@10"] == 1.0 and result["hit@10"] == 1.0


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"ssl_alpha": -0.1}, "ssl_alpha must be >= 0"),
        ({"ssl_batch_size": 1000}, r"ssl_batch_size=1000 must be between 2 and .* \(\d+ items"),
        ({"item_feature_fields": ["genre"]}, r"\['genre'\] not loaded from .*tiny\.item"),
        ({"user_feature_fields": ["occupation"]}, r"\['occupation'\] not loaded from .*tiny\.user"),
        (
            {"item_feature_fields": ["item_id"]},
            "item_feature_fields lists the id field item_id; set item_id_in_tower",
        ),
        ({"logq": "sampled"}, "logq: expected one of static, streaming, none"),
        ({"ssl_augment": ["rfm", "cfm"]}, "rfm and cfm are alternatives"),
        ({"item_cold_split": [0.9, 0.1]}, "item_cold_split: expected three positive fractions"),
        ({"temperature": 0}, "option temperature must be a positive number, got 0"),
    ],
)
def test_bad_configuration_is_a_clear_error(overrides, message):
    with pytest.raises(ValueError, match=message):
        _build(**overrides)


def test_items_without_a_feature_file(tmp_path):
    data = tmp_path / "data" / "noitem"
    data.mkdir(parents=True)
    shutil.copy(os.path.join(TEST_DATA, "tiny", "tiny.inter"), data / "noitem.inter")
    base = {"data_path": str(tmp_path / "data"), "load_col": {"inter": ["user_id", "item_id", "rating"]}}
    config = Config("SSLTwoTower", "noitem", config_dict=_config_dict(**base), argv=[])
    with pytest.raises(ValueError, match=r"ssl_alpha=0.3 needs item features .*noitem\.item"):
        build_run(config)
    # documented behaviour without SSL: the towers train on ids alone
    config = Config("SSLTwoTower", "noitem", config_dict=_config_dict(**base, ssl_alpha=0.0), argv=[])
    _, _, model, _ = build_run(config)
    assert [s.name for s in model.item_specs] == ["item_id"]
    config = Config(
        "SSLTwoTower",
        "noitem",
        config_dict=_config_dict(**base, ssl_alpha=0.0, item_id_in_tower=False),
        argv=[],
    )
    with pytest.raises(ValueError, match="the item tower has no input"):
        build_run(config)


# -------------------------------------------------------------------------------------- planted signal
def _write_genre_dataset(root, seed=0):
    """60 users, 60 items; users of gender F interact only with genre-g0 items, M only with g1 (12 each)."""
    rng = np.random.default_rng(seed)
    folder = root / "genres"
    folder.mkdir(parents=True)
    genders = ["F" if u % 2 == 0 else "M" for u in range(60)]
    genres = ["g0" if i % 2 == 0 else "g1" for i in range(60)]
    (folder / "genres.user").write_text(
        "user_id:token\tgender:token\n" + "".join(f"u{u}\t{genders[u]}\n" for u in range(60))
    )
    (folder / "genres.item").write_text(
        "item_id:token\tgenre:token\tyear:token\n"
        + "".join(f"i{i}\t{genres[i]}\t{rng.integers(4)}\n" for i in range(60))
    )
    lines = []
    for u in range(60):
        liked = [i for i in range(60) if (genres[i] == "g0") == (genders[u] == "F")]
        for t, i in enumerate(rng.choice(liked, size=12, replace=False)):
            lines.append(f"u{u}\ti{i}\t{t}\n")
    (folder / "genres.inter").write_text("user_id:token\titem_id:token\ttimestamp:float\n" + "".join(lines))
    return str(root)


@pytest.mark.parametrize("augment", [["rfm"], ["cfm"]])
def test_item_cold_items_are_ranked_from_their_features(tmp_path, augment):
    # Cold test items were never trained on: only their genre can place them. Random ranking of the ~12 test
    # items gives Recall@5 about 0.4; ranking the user's genre first gives about 0.8.
    config = _config_dict(
        data_path=_write_genre_dataset(tmp_path),
        load_col={"inter": ["user_id", "item_id", "timestamp"], "user": ["user_id", "gender"], "item": None},
        item_cold_split=[0.6, 0.2, 0.2],
        ssl_augment=augment,
        epochs=10,
        eval_step=5,
        learning_rate=0.01,
    )
    config["load_col"]["item"] = ["item_id", "genre", "year"]
    result = run_recbole_meta("SSLTwoTower", "genres", config_dict=config, argv=[])
    assert result["test_result"]["recall@5"] > 0.65
