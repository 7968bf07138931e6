"""The transfer-built synthetic data: loads through PeterRec's tasks, seeded, traits planted in both domains."""

import hashlib
import os

import numpy as np
import pytest

from recbole_meta.benchmark.synthetic.transfer_domains import TARGET_DOMAIN, generate_transfer_synthetic

SMALL = {
    "n_users": 1_500,
    "n_labelled": 600,
    "n_target_users": 700,
    "n_source_items": 120,
    "n_target_items": 40,
    "mean_source": 15,
    "min_source": 6,
    "max_target": 3,
}


def _digest(folder):
    return {
        name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
        for name in sorted(os.listdir(folder))
    }


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return generate_transfer_synthetic(tmp_path_factory.mktemp("transfer"), "tr", seed=0, **SMALL)


def _config(data, **overrides):
    from recbole_meta.config import Config

    settings = {
        "data_path": data.data_path,
        "filter_inter_by_user_or_item": False,
        "load_col": {
            "inter": ["user_id", "item_id", "rating", "timestamp"],
            "user": ["user_id", "age", "gender"],
            "item": ["item_id", "release_year"],
        },
        "label_buckets": {},
        "target_domain": TARGET_DOMAIN,
        "MAX_ITEM_LIST_LENGTH": 60,
        "stage": "finetune",
        "seed": 0,
        "state": "WARNING",
    }
    settings.update(overrides)
    return Config(model="PeterRec", dataset=data.name, config_dict=settings, argv=[])


def test_tasks_see_every_user_labels_only_for_the_labelled(data):
    from recbole_meta.data.sequence_tasks import build_task
    from recbole_meta.data_preparation import create_dataset

    config = _config(data, downstream_task="gender")
    dataset = create_dataset(config)
    assert dataset.user_num - 1 == SMALL["n_users"]  # unlabelled users keep their behaviour
    profile = build_task(config, dataset, domain="source")
    assert sum(profile.summary["users"].values()) == SMALL["n_labelled"]
    assert profile.summary["users_without_label (excluded)"] == SMALL["n_users"] - SMALL["n_labelled"]
    # the input is the whole source history: no target item, nothing cut
    train = profile.splits["train"]
    seq = train.fields["item_id_list"].numpy()
    tokens = np.asarray(dataset.field2id_token["item_id"], dtype=object)
    items = tokens[seq[seq > 0]].astype(int)
    assert items.max() <= SMALL["n_source_items"]
    transfer = build_task(_config(data, downstream_task="transfer"), dataset)
    assert transfer.summary["users_with_target_interactions"] == SMALL["n_target_users"]
    assert transfer.summary["target_items"] == SMALL["n_target_items"]


def test_same_seed_same_bytes(tmp_path, data):
    again = generate_transfer_synthetic(tmp_path, "tr", seed=0, **SMALL)
    assert _digest(again.folder) == _digest(data.folder)
    other = generate_transfer_synthetic(tmp_path / "other", "tr", seed=1, **SMALL)
    assert _digest(other.folder)["tr.inter"] != _digest(data.folder)["tr.inter"]


def _picks(data, lo, hi):
    import pandas as pd

    inter = pd.read_csv(os.path.join(data.folder, "tr.inter"), sep="\t")
    users, items = inter.iloc[:, 0].to_numpy() - 1, inter.iloc[:, 1].to_numpy() - 1
    keep = (items >= lo) & (items < hi)
    matrix = np.zeros((data.options.n_users, hi - lo))
    matrix[users[keep], items[keep] - lo] = 1
    return matrix, inter


def test_traits_shape_both_domains(data):
    """Gender is readable from the source picks, and women and men prefer different target items."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    source, inter = _picks(data, 0, data.options.n_source_items)
    train, test = data.labelled[:400], data.labelled[400:]
    model = LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000)
    model.fit(source[train], data.planted.gender[train])
    assert (
        f1_score(data.planted.gender[test], model.predict(source[test]), average="macro") > 0.7
    )  # chance: 0.5

    target, _ = _picks(
        data, data.options.n_source_items, data.options.n_source_items + data.options.n_target_items
    )
    has_target = target.sum(1) > 0
    assert has_target.sum() == SMALL["n_target_users"]
    share = [target[has_target & (data.planted.gender == g)].mean(0) for g in (0, 1)]
    shuffled = np.random.default_rng(0).permutation(data.planted.gender)
    null = [target[has_target & (shuffled == g)].mean(0) for g in (0, 1)]
    assert np.abs(share[0] - share[1]).sum() > 2 * np.abs(null[0] - null[1]).sum()
    # target picks come after every source pick of the user
    by_user = inter.groupby(inter.columns[0])
    last_source = by_user.apply(lambda g: g.iloc[:, 3][g.iloc[:, 1] <= data.options.n_source_items].max())
    first_target = by_user.apply(lambda g: g.iloc[:, 3][g.iloc[:, 1] > data.options.n_source_items].min())
    both = first_target.notna()
    assert (first_target[both] > last_source[both]).all()


def test_bad_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="n_labelled"):
        generate_transfer_synthetic(tmp_path, "bad", **{**SMALL, "n_labelled": SMALL["n_users"] + 1})
    with pytest.raises(ValueError, match="min_source"):
        generate_transfer_synthetic(tmp_path, "bad", **{**SMALL, "min_source": 80})
