"""Every synthetic generator writes, for a fixed seed and small sizes, exactly the bytes (and returns exactly the
planted truth) it did when the committed results were made: a refactor must not move a single random draw.

If a generator is changed on purpose (a new draw, another order), every results file built on its data is stale:
rerun those suites, then update the digests here.
"""

import hashlib
import operator
import os

import numpy as np
import scipy.sparse as sp

from recbole_meta.benchmark.synthetic.planted_preferences import generate_synthetic
from recbole_meta.benchmark.synthetic.planted_ratings import generate_planted_ratings
from recbole_meta.benchmark.synthetic.retrieval_corpus import generate_retrieval_corpus, write_low_data_copy
from recbole_meta.benchmark.synthetic.transfer_domains import generate_transfer_synthetic

FILES = {
    "syn/syn.inter": "b4073c5748480d1c",
    "syn/syn.item": "17a812f283eef61e",
    "syn/syn.user": "08084c7f729ffea7",
    "pl/pl.inter": "59d7af02c2cf59b7",
    "pl/pl.item": "d5af753949f3c418",
    "pl/pl.user": "29786177d3fe966d",
    "pl/pl.truth.npz": "19905293619c54cd",
    "ret/ret.item": "badce0fd821bb90e",
    "ret/ret.user": "47f067d48c121c44",
    "ret/ret.train.inter": "b96f642066ec8073",
    "ret/ret.valid.inter": "80352385376be477",
    "ret/ret.test.inter": "5e167dc20f50e5ac",
    "ret_low30/ret_low30.item": "badce0fd821bb90e",
    "ret_low30/ret_low30.user": "47f067d48c121c44",
    "ret_low30/ret_low30.train.inter": "d1cbdb5b669e37da",
    "ret_low30/ret_low30.valid.inter": "80352385376be477",
    "ret_low30/ret_low30.test.inter": "5e167dc20f50e5ac",
    "rtag/rtag.item": "4caf4ac28134d722",
    "rtag/rtag.user": "953251eeeb53c658",
    "rtag/rtag.train.inter": "d5f543e027254234",
    "rtag/rtag.valid.inter": "70886d30024cb268",
    "rtag/rtag.test.inter": "9c5b1d6dab6170b3",
    "tr/tr.inter": "fdd29e3923c5217b",
    "tr/tr.item": "265d6cf813b461c1",
    "tr/tr.user": "ce8e42de06ad2e77",
}

TRUTH = {
    "syn": "2febae88040ca4ae",
    "pl": "1987133aa7bfb35a",
    "ret": "1792e62434b68f76",
    "rtag": "7ec7e588e4116bcd",
    "tr": "334755e4e2064081",
}

TRUTH_FIELDS = {
    "syn": (
        "planted.user_factors",
        "planted.item_factors",
        "planted.user_bias",
        "planted.item_bias",
        "planted.item_weight",
        "profiles.gender",
        "profiles.category",
    ),
    "pl": ("n_users", "n_items", "n_interactions", "noise", "term_std"),
    "ret": (
        "items.weight",
        "items.category",
        "items.brand",
        "likes.brands",
        "likes.categories",
        "likes.tags",
        "items.tags",
    ),
    "rtag": (
        "items.weight",
        "likes.tags",
        "items.tags",
        "options.brand_bonus",
        "options.category_bonus",
        "options.tag_bonus",
        "n_interactions",
    ),
    "tr": (
        "planted.user_factors",
        "planted.item_factors",
        "planted.gender",
        "planted.age",
        "labelled",
        "target_users",
        "n_interactions",
    ),
}


# the small configurations (the other generators' fit on one line)
TAGGED_CORPUS = {"n_users": 60, "n_items": 400, "n_interactions": 900, "tag_bonus": 2.0, "tags_per_user": 2}
TRANSFER = {
    "n_users": 300,
    "n_labelled": 100,
    "n_target_users": 100,
    "n_source_items": 60,
    "n_target_items": 20,
    "mean_source": 10,
    "min_source": 5,
    "max_target": 2,
}


def _bytes(value):
    if sp.issparse(value):
        return b"".join(_bytes(part) for part in (value.indptr, value.indices, value.data))
    if isinstance(value, np.ndarray):
        return np.ascontiguousarray(value).tobytes()
    return repr(value).encode()


def _digest_file(path):
    if path.endswith(".npz"):  # the zip container stamps the time: digest the arrays it holds
        with np.load(path) as data:
            return _digest(b"".join(key.encode() + _bytes(data[key]) for key in sorted(data.files)))
    with open(path, "rb") as file:
        return _digest(file.read())


def _digest(content):
    return hashlib.sha256(content).hexdigest()[:16]


def test_each_generator_writes_the_pinned_bytes_and_truth(tmp_path):
    out = str(tmp_path)
    made = {
        "syn": generate_synthetic(out, 3000, seed=1, name="syn"),
        "pl": generate_planted_ratings(out, 100, 150, seed=2, name="pl"),
        "ret": generate_retrieval_corpus(
            out, n_users=100, n_items=500, n_interactions=1500, seed=3, name="ret"
        ),
        "rtag": generate_retrieval_corpus(out, seed=6, name="rtag", **TAGGED_CORPUS),
        "tr": generate_transfer_synthetic(out, "tr", seed=5, **TRANSFER),
    }
    write_low_data_copy(made["ret"], 0.3, seed=4)
    written = {
        os.path.relpath(os.path.join(root, name), out): _digest_file(os.path.join(root, name))
        for root, _, names in os.walk(out)
        for name in names
    }
    assert written == FILES
    truth = {
        key: _digest(b"".join(_bytes(operator.attrgetter(field)(made[key])) for field in fields))
        for key, fields in TRUTH_FIELDS.items()
    }
    assert truth == TRUTH
