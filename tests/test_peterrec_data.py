"""PeterRec's tasks: histories, domains, labels, splits, candidates (leak-freeness and hand-checked values)."""

import numpy as np
import pytest
import torch

from recbole_meta.config import Config
from recbole_meta.data.sequence_tasks import (
    CANDIDATES_FIELD,
    NO_SOURCE_GROUP,
    balanced_class_weights,
    build_task,
    pad_sequences,
    profile_labels,
    split_users,
    target_item_mask,
    user_histories,
)
from recbole_meta.data_preparation import create_dataset
from tests.peterrec_planted import N_SOURCE, planted_config, write_planted


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    path = tmp_path_factory.mktemp("planted_data")
    types = write_planted(path)
    config = Config(model="PeterRec", dataset="planted", config_dict=planted_config(path), argv=[])
    return config, create_dataset(config), types, path


def _tokens(dataset, ids):
    return [str(t) for t in dataset.field2id_token[dataset.iid_field][np.asarray(ids)]]


def _config(base, **overrides):
    for key, value in overrides.items():
        base[key] = value
    return base


def test_user_histories_are_in_time_order(planted):
    config, dataset, _, path = planted
    histories = user_histories(dataset)
    assert len(histories) == dataset.user_num and len(histories[0]) == 0
    raw = open(f"{path}/planted/planted.inter").read().split("\n")[1:]
    rows = [line.split("\t") for line in raw if line]
    for u in (1, 7, 50):
        token = dataset.field2id_token[dataset.uid_field][u]
        mine = sorted((float(r[3]), r[1]) for r in rows if r[0] == token)
        assert _tokens(dataset, histories[u]) == [item for _, item in mine]


def test_target_domain_rules(planted):
    _, dataset, _, _ = planted
    mask, unparsed = target_item_mask(dataset, {"field": "release_year", "min": 1995})
    names = _tokens(dataset, np.arange(dataset.item_num))
    assert [n for n, m in zip(names, mask) if m] == sorted((f"t{i}" for i in range(16)), key=names.index)
    assert unparsed == 1  # x0's "unknown" year: source domain
    assert not mask[0]
    with pytest.raises(ValueError, match="target_domain must be a dict"):
        target_item_mask(dataset, {"field": "release_year"})
    with pytest.raises(ValueError, match="not loaded"):
        target_item_mask(dataset, {"field": "class", "min": 1})
    with pytest.raises(ValueError, match="no item"):
        target_item_mask(dataset, {"field": "release_year", "min": 3000})


def test_profile_labels_tokens_and_buckets(planted):
    _, dataset, types, _ = planted
    labels, classes = profile_labels(dataset, "gender")
    assert classes == ["F", "M"] and labels[0] == -1
    users = dataset.field2id_token[dataset.uid_field]
    assert all(labels[u] == types[users[u]] for u in range(1, dataset.user_num))
    ages, names = profile_labels(dataset, "age", buckets=[18, 25, 35, 45, 50, 56])
    assert names == ["<18", "18-24", "25-34", "35-44", ">=56"]  # 45-49 and 50-55 are empty here
    raw = dataset.field2id_token["age"][dataset.user_feat["age"].values.astype(int)]
    expected = {"17": 0, "22": 1, "30": 2, "40": 3, "60": 4}
    assert all(ages[u] == expected[raw[u]] for u in range(1, dataset.user_num))


def test_pad_split_and_weights_by_hand():
    seq, lengths, empty = pad_sequences([[1, 2, 3, 4], [], [5]], 3, empty_token=9)
    assert seq.tolist() == [[2, 3, 4], [9, 0, 0], [5, 0, 0]]
    assert lengths.tolist() == [3, 1, 1] and empty.tolist() == [False, True, False]
    users = np.arange(100)
    strata = (users % 4 == 0).astype(int)
    parts = split_users(users, [0.6, 0.2, 0.2], np.random.default_rng(0), strata=strata)
    assert sorted(np.concatenate(parts).tolist()) == users.tolist()
    assert [len(p) for p in parts] == [60, 20, 20]
    assert [int(strata[p].sum()) for p in parts] == [15, 5, 5]  # stratified: 25% in every split
    weights = balanced_class_weights(np.array([0, 0, 0, 1]), 3)
    assert weights.tolist() == pytest.approx([4 / 6, 2.0, 1.0])  # n / (k * count), k = 2 present classes
    with pytest.raises(ValueError, match="empty"):
        split_users(np.arange(4), [0.9, 0.05, 0.05], np.random.default_rng(0))


def test_pretrain_task_holds_out_the_last_two_items(planted):
    config, dataset, _, path = planted
    config = _config(planted_config(path), stage="pretrain", pretrain_domain="source")
    config = Config(model="PeterRec", dataset="planted", config_dict=config, argv=[])
    task = build_task(config, dataset)
    target, _ = target_item_mask(dataset, config["target_domain"])
    histories = user_histories(dataset)
    valid, test = task.splits["valid"].fields, task.splits["test"].fields
    train_seqs = task.splits["train"].fields["item_id_list"]
    assert not target[train_seqs.numpy()].any()  # the source domain only
    assert task.mask_token == dataset.item_num and task.vocab_size == dataset.item_num + 1
    for row in range(len(test["item_id"])):
        seq = test["item_id_list"][row, : test["item_length"][row]]
        vseq = valid["item_id_list"][row, : valid["item_length"][row]]
        assert torch.equal(vseq, seq[:-1]) and int(seq[-1]) == int(valid["item_id"][row])
    # Rebuild each user's source history: the test target is its last item, the valid target the one before,
    # and every training window of the user lies inside the history without its last two items.
    train_users = task.splits["train"].fields["user_id"].numpy()
    n_eval = 0
    for u in range(1, dataset.user_num):
        source = histories[u][~target[histories[u]]].tolist()
        rows = np.flatnonzero(test["user_id"].numpy() == u)
        if len(source) < 3:
            assert len(rows) == 0
            continue
        n_eval += 1
        (row,) = rows
        assert (
            test["item_id_list"][row, : test["item_length"][row]].tolist() + [int(test["item_id"][row])]
            == source
        )
        assert int(valid["item_id"][row]) == source[-2]
        prefix = " " + " ".join(map(str, source[:-2])) + " "
        for window in train_seqs[train_users == u]:
            assert " " + " ".join(map(str, window[window > 0].tolist())) + " " in prefix
    assert n_eval == len(test["item_id"])
    assert task.summary["users_without_items_of_the_domain (no_source_history, not pre-trained on)"] == 20


def test_profile_task_splits_users_and_flags_missing_source_history(planted):
    config, dataset, types, path = planted
    config = Config(
        model="PeterRec",
        dataset="planted",
        config_dict=_config(planted_config(path), stage="finetune", downstream_task="gender"),
        argv=[],
    )
    task = build_task(config, dataset, domain="source")
    users = [task.splits[p].fields["user_id"].numpy() for p in ("train", "valid", "test")]
    assert sum(len(u) for u in users) == dataset.user_num - 1
    assert len(set(np.concatenate(users).tolist())) == dataset.user_num - 1
    empty = 0
    for phase in ("train", "valid", "test"):
        split = task.splits[phase]
        flags = split.groups[NO_SOURCE_GROUP]
        empty += int(flags.sum())
        assert (split.fields["item_id_list"][flags, 0] == task.mask_token).all()
        assert (split.fields["item_length"][flags] == 1).all()
        names = dataset.field2id_token[dataset.uid_field][split.fields["user_id"].numpy()]
        assert split.fields["label"].tolist() == [types[n] for n in names]
    assert empty == 20  # every 8th of 160 users: represented by [MASK], kept in the task
    train_labels = task.splits["train"].fields["label"].numpy()
    assert task.class_weights == pytest.approx(balanced_class_weights(train_labels, 2))


def test_transfer_task_is_cold_start_and_candidates_are_leak_free(planted):
    config, dataset, _, path = planted
    overrides = {"stage": "finetune", "downstream_task": "transfer", "target_max_per_user": 2}
    config = Config(
        model="PeterRec",
        dataset="planted",
        config_dict=_config(planted_config(path), **overrides),
        argv=[],
    )
    task = build_task(config, dataset, n_negatives=10)
    target, _ = target_item_mask(dataset, config["target_domain"])
    histories = user_histories(dataset)
    tid = np.zeros(dataset.item_num, dtype=int)
    tid[np.flatnonzero(target)] = np.arange(1, target.sum() + 1)
    split_users_ = {p: set(task.splits[p].fields["user_id"].tolist()) for p in task.splits}
    assert not (split_users_["train"] & split_users_["test"]) and not (
        split_users_["train"] & split_users_["valid"]
    )
    for phase, split in task.splits.items():
        fields = split.fields
        inputs = fields["item_id_list"].numpy()
        assert not target[np.where(inputs == task.mask_token, 0, inputs)].any()  # source items or [MASK]
        for row in range(len(fields["item_id"])):
            u = int(fields["user_id"][row])
            seen = tid[histories[u][target[histories[u]]]]
            first_two = list(dict.fromkeys(seen.tolist()))[:2]
            assert int(fields["item_id"][row]) in first_two
            if phase == "train":
                continue
            candidates = fields[CANDIDATES_FIELD][row].numpy()
            assert candidates[0] == fields["item_id"][row]
            negatives = candidates[1:]
            assert len(set(negatives.tolist())) == 10 and not set(negatives) & set(seen.tolist())
            assert set(split.history[row].tolist()) == set(seen.tolist()) - {int(fields["item_id"][row])}
    rows_per_user = np.bincount(task.splits["test"].fields["user_id"].numpy())
    assert rows_per_user.max() == 2
    assert task.summary["no_source_history (users)"]["test"] == int(
        sum(len(histories[u][~target[histories[u]]]) == 0 for u in split_users_["test"])
    )
    again = build_task(config, dataset, n_negatives=10)
    assert torch.equal(
        again.splits["test"].fields[CANDIDATES_FIELD], task.splits["test"].fields[CANDIDATES_FIELD]
    )
    assert task.n_outputs == 16 + 1 and task.vocab_size == N_SOURCE + 16 + 3  # + x0, padding, [MASK]


def test_task_option_errors(planted):
    config, dataset, _, path = planted
    for overrides, message in (
        ({"downstream_task": "occupation"}, "not loaded"),
        ({"downstream_task": "gender", "profile_split": [0.5, 0.5]}, "profile_split"),
        ({"downstream_task": "transfer", "target_max_per_user": 0}, "target_max_per_user"),
        ({"downstream_task": "gender", "pretrain_domain": "target"}, "pretrain_domain"),
    ):
        config = Config(
            model="PeterRec",
            dataset="planted",
            config_dict=_config(planted_config(path), stage="finetune", **overrides),
            argv=[],
        )
        with pytest.raises(ValueError, match=message):
            build_task(config, dataset)
