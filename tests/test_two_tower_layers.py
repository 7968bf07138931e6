"""Building blocks of SSLTwoTower: mutual information, feature masking, the tower, logQ and the frequency estimator."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import mutual_info_score

from recbole_meta.model.layers.feature_correlation import (
    field_incidence,
    mutual_information,
    mutual_information_matrix,
)
from recbole_meta.model.layers.feature_masking import FeatureMasker, correlated_groups, parse_augmentations
from recbole_meta.model.layers.feature_tower import FeatureTower, FieldSpec
from recbole_meta.model.layers.sampling_bias import (
    StreamingFrequencyEstimator,
    in_batch_logits,
    static_log_frequency,
)


# ------------------------------------------------------------------------------------ mutual information
def test_mutual_information_of_a_hand_made_table():
    # Items: A = 1 1 2 2 3 3, B = 1 1 2 2 2 1. Joint (1,1) 2/6, (2,2) 2/6, (3,2) 1/6, (3,1) 1/6;
    # P(A=a) = 1/3 each, P(B=b) = 1/2 each: MI = 2 * 1/3 * log(1/3 / (1/3 * 1/2)) + 0 + 0 = 2/3 log 2.
    a = np.array([1, 1, 2, 2, 3, 3])
    b = np.array([1, 1, 2, 2, 2, 1])
    mi = mutual_information(field_incidence(a, "token"), field_incidence(b, "token"))
    assert mi == pytest.approx(2 / 3 * math.log(2), abs=1e-12)
    assert mi == pytest.approx(mutual_info_score(a, b), abs=1e-12)


def test_mutual_information_of_a_multi_valued_field_by_hand():
    # item 1: A=1, B={1, 2}; item 2: A=2, B={1}. Item 1 spreads its weight 1/2 over (1,1) and (1,2).
    # P(1,1) = 1/4, P(1,2) = 1/4, P(2,1) = 1/2; P(A) = 1/2, 1/2; P(B=1) = 3/4, P(B=2) = 1/4.
    a = np.array([1, 2])
    b = np.array([[1, 2], [1, 0]])
    expected = 0.25 * math.log(0.25 / (0.5 * 0.75)) + 0.25 * math.log(0.25 / (0.5 * 0.25))
    expected += 0.5 * math.log(0.5 / (0.5 * 0.75))
    mi = mutual_information(field_incidence(a, "token"), field_incidence(b, "token_seq"))
    assert mi == pytest.approx(expected, abs=1e-12)


def test_empty_multi_valued_rows_are_one_value_and_floats_are_binned():
    seq = np.array([[0, 0], [0, 0], [3, 0], [3, 0]])  # two items without values, two with {3}
    token = np.array([5, 5, 6, 6])
    assert mutual_information(field_incidence(seq, "token_seq"), field_incidence(token, "token")) == (
        pytest.approx(math.log(2))
    )
    floats = np.array([0.1, 0.2, 10.0, 11.0])  # two quantile bins separate the two groups exactly
    assert mutual_information(
        field_incidence(floats, "float", n_bins=2), field_incidence(token, "token")
    ) == (pytest.approx(math.log(2)))


def test_mutual_information_matrix_matches_scikit_learn():
    rng = np.random.default_rng(0)
    a = rng.integers(1, 5, 300)
    b = (a + rng.integers(0, 2, 300)) % 5 + 1  # correlated with a
    c = rng.integers(1, 7, 300)  # independent
    matrix = mutual_information_matrix([a, b, c], ["token"] * 3)
    for i, x in enumerate([a, b, c]):
        for j, y in enumerate([a, b, c]):
            assert matrix[i, j] == pytest.approx(mutual_info_score(x, y), abs=1e-10)
    assert matrix[0, 1] > 10 * matrix[0, 2]


# ------------------------------------------------------------------------------------------- masking
def test_rfm_views_are_complementary_and_mask_half_the_fields():
    masker = FeatureMasker(5, ["rfm"])
    view1, view2 = masker.field_masks(200, torch.Generator().manual_seed(0))
    assert torch.equal(view1, ~view2)
    assert (view1.sum(1) == 3).all()  # ceil(5 / 2)
    assert len({tuple(r.tolist()) for r in view1}) > 5  # random subsets, not one fixed split


def test_cfm_masks_the_seed_with_its_most_correlated_fields():
    # Fields 0-1-2 are strongly related to each other, 3 and 4 weakly; F = 5 -> view 1 masks 3 fields.
    mi = np.array(
        [
            [2.0, 0.9, 0.8, 0.1, 0.0],
            [0.9, 2.0, 0.7, 0.0, 0.1],
            [0.8, 0.7, 2.0, 0.2, 0.0],
            [0.1, 0.0, 0.2, 2.0, 0.5],
            [0.0, 0.1, 0.0, 0.5, 2.0],
        ]
    )
    groups = correlated_groups(mi, 3)
    assert groups[0].tolist() == [True, True, True, False, False]
    assert groups[3].tolist() == [False, False, True, True, True]  # seed 3: companions 4 (0.5) then 2 (0.2)
    masker = FeatureMasker(5, ["cfm"], mutual_info=mi)
    view1, view2 = masker.field_masks(300, torch.Generator().manual_seed(1))
    assert torch.equal(view1, ~view2)
    rows = {tuple(r.tolist()) for r in view1}
    assert rows <= {tuple(g.tolist()) for g in torch.as_tensor(groups)}
    assert len(rows) == len({tuple(g) for g in groups.tolist()})  # every seed drawn


def test_cfm_leaves_the_id_out_of_the_ranking_and_flips_a_coin_for_it():
    # fields: 0 = id, then 4 features in two pairs (1, 2) and (3, 4); the id never joins a group
    mi = np.array([[2.0, 0.9, 0.0, 0.1], [0.9, 2.0, 0.1, 0.0], [0.0, 0.1, 2.0, 0.8], [0.1, 0.0, 0.8, 2.0]])
    masker = FeatureMasker(5, ["cfm"], mutual_info=mi, id_position=0)
    assert masker.cfm_groups.tolist() == [
        [False, True, True, False, False],
        [False, True, True, False, False],
        [False, False, False, True, True],
        [False, False, False, True, True],
    ]
    view1, view2 = masker.field_masks(2000, torch.Generator().manual_seed(3))
    assert torch.equal(view1, ~view2)
    assert 0.45 < view1[:, 0].float().mean() < 0.55
    assert 0.45 < view1[:, 1].float().mean() < 0.55  # both groups drawn about equally often
    with pytest.raises(ValueError, match="at least 2 item feature fields besides the item id"):
        FeatureMasker(2, ["cfm"], mutual_info=np.ones((1, 1)), id_position=0)
    with pytest.raises(ValueError, match=r"\(4, 4\) mutual information matrix over the item feature fields"):
        FeatureMasker(5, ["cfm"], mutual_info=np.ones((5, 5)), id_position=0)


def test_dropout_keeps_about_half_of_the_values_independently_per_view():
    masker = FeatureMasker(3, ["rfm", "dropout"], dropout_rate=0.5)
    generator = torch.Generator().manual_seed(2)
    values = torch.ones(500, 8, dtype=torch.long)
    keep1, keep2 = masker.value_keep(values, generator), masker.value_keep(values, generator)
    assert 0.45 < keep1.float().mean() < 0.55
    assert not torch.equal(keep1, keep2)
    assert FeatureMasker(3, ["rfm"]).value_keep(values, generator) is None


def test_augmentation_config_errors_are_clear():
    with pytest.raises(ValueError, match="rfm and cfm are alternatives"):
        parse_augmentations(["rfm", "cfm"])
    with pytest.raises(ValueError, match="ssl_augment: expected"):
        parse_augmentations(["crop"])
    with pytest.raises(ValueError, match="at least 2 item-tower fields"):
        FeatureMasker(1, ["rfm"])
    with pytest.raises(ValueError, match="mutual information matrix"):
        FeatureMasker(3, ["cfm"])


# --------------------------------------------------------------------------------------------- tower
def _tower():
    torch.manual_seed(0)
    specs = [
        FieldSpec("id", "token", 10),
        FieldSpec("genre", "token_seq", 6),
        FieldSpec("year", "float"),
        FieldSpec("price", "float_pair", 3),
    ]
    return FeatureTower(specs, embedding_size=8, hidden_sizes=[16], output_size=4)


def _features():
    return {
        "id": torch.tensor([1, 2, 3]),
        "genre": torch.tensor([[1, 2, 0], [3, 0, 0], [0, 0, 0]]),
        "year": torch.tensor([0.5, -1.0, 2.0]),
        "price": torch.tensor([[0.3, 1.0], [0.7, 2.0], [1.0, 0.0]]),
    }


def test_tower_outputs_are_unit_vectors_and_masked_fields_use_the_default():
    tower = _tower()
    features = _features()
    out = tower(features)
    assert torch.allclose(out.norm(dim=1), torch.ones(3))
    mask = torch.tensor([[True, False, False, False]] * 3)
    changed = dict(features, id=torch.tensor([7, 8, 9]))
    assert torch.allclose(tower(features, mask), tower(changed, mask))  # id masked: its value is irrelevant
    assert not torch.allclose(tower(features), tower(changed))
    fields = tower.field_embeddings(features, mask)
    assert torch.allclose(fields[:, 0], tower.default_embedding[0].expand(3, -1))
    # item 3 has no genre: the default embedding stands in, exactly as if the field were masked
    assert torch.allclose(fields[2, 1], tower.default_embedding[1])


def test_tower_mean_pools_kept_values():
    tower = _tower()
    features = _features()
    keep = {"genre": torch.tensor([[True, False, True], [True, True, True], [True, True, True]])}
    fields = tower.field_embeddings(features, value_keep=keep)
    assert torch.allclose(fields[0, 1], tower.embeddings["genre"].weight[1])  # value 2 dropped
    full = tower.field_embeddings(features)
    assert torch.allclose(full[0, 1], tower.embeddings["genre"].weight[[1, 2]].mean(0))


def _reference_field_embeddings(tower, features, mask, keep):
    """The field embeddings written out plainly: per-value lookups, a masked mean, torch.where for defaults."""
    emb = tower.embeddings
    genre = features["genre"]
    valid = (genre != 0) & keep
    pooled = (emb["genre"](genre) * valid.unsqueeze(-1)).sum(1) / valid.sum(1, keepdim=True).clamp(min=1)
    price = features["price"]
    fields = torch.stack(
        [
            emb["id"](features["id"]),
            pooled,
            emb["year"](features["year"].unsqueeze(1)),
            price[:, :1] * emb["price"](price[:, 1].long()),
        ],
        dim=1,
    )
    use_default = mask.clone()
    use_default[:, 0] |= features["id"] == 0
    use_default[:, 1] |= valid.sum(1) == 0
    return torch.where(use_default.unsqueeze(-1), tower.default_embedding.unsqueeze(0), fields)


def test_field_embeddings_match_the_plain_computation_in_values_and_gradients():
    # the tower picks defaults with lerp and pools multi-valued fields with embedding_bag (faster on CPU):
    # the same values and gradients as lookups, a masked mean and torch.where
    torch.manual_seed(0)
    tower = _tower()
    features = _features()
    mask = torch.tensor(
        [[True, False, False, True], [False, True, False, False], [False, False, True, False]]
    )
    keep = torch.tensor([[True, False, True], [True, True, True], [False, True, True]])
    weights = torch.randn(3, 4, 8)
    grads = []
    for compute in (
        lambda: tower.field_embeddings(features, mask, {"genre": keep}),
        lambda: _reference_field_embeddings(tower, features, mask, keep),
    ):
        tower.zero_grad()
        out = compute()
        (out * weights).sum().backward()
        grads.append(
            (out.detach(), {n: p.grad.clone() for n, p in tower.named_parameters() if p.grad is not None})
        )
    (fast, fast_grads), (plain, plain_grads) = grads
    assert torch.equal(fast, plain)
    assert fast_grads.keys() == plain_grads.keys()
    for name in fast_grads:
        assert torch.allclose(fast_grads[name], plain_grads[name], atol=1e-6), name
    # a masked field's gradient reaches its default embedding only: item 1's id is masked, so only items 2-3
    # send gradient to the id table
    assert torch.count_nonzero(fast_grads["embeddings.id.weight"].abs().sum(1)) == 2


# ------------------------------------------------------------------------------------------ logQ
def test_logq_shifts_each_column_by_exactly_minus_log_p():
    torch.manual_seed(0)
    query, items = torch.randn(4, 3), torch.randn(4, 3)
    ids = torch.tensor([5, 6, 7, 8])
    p = torch.tensor([0.5, 0.25, 0.125, 0.125])
    plain = in_batch_logits(query, items, ids, 0.2)
    corrected = in_batch_logits(query, items, ids, 0.2, torch.log(p))
    assert torch.allclose(corrected - plain, -torch.log(p).expand(4, 4))
    assert torch.allclose(plain, query @ items.t() / 0.2)


def test_accidental_hits_are_masked_but_the_positive_is_kept():
    torch.manual_seed(0)
    query, items = torch.randn(4, 3), torch.randn(4, 3)
    ids = torch.tensor([5, 6, 5, 8])  # item 5 is the positive of rows 0 and 2
    logits = in_batch_logits(query, items, ids, 1.0)
    assert torch.isinf(logits[0, 2]) and torch.isinf(logits[2, 0])
    assert torch.isfinite(logits.diagonal()).all()
    assert torch.isfinite(logits).sum() == 16 - 2


def test_static_log_frequency():
    logp = static_log_frequency([0, 1, 3])
    assert torch.allclose(logp.exp(), torch.tensor([0.2, 0.2, 0.6]))  # unseen floored at count 1


def _reference_algorithm2(stream, slots_of, alpha, hash_size):
    """Algorithm 2 of Yi et al. (2019) one example at a time, for one hash function (first sighting: B = t)."""
    last, gap = np.zeros(hash_size), np.zeros(hash_size)
    for step, batch in enumerate(stream, start=1):
        for item in batch.tolist():
            slot = slots_of(item)
            if last[slot] == 0:
                gap[slot] = step
            else:
                gap[slot] = (1 - alpha) * gap[slot] + alpha * (step - last[slot])
            last[slot] = step
    return gap


def test_vectorised_streaming_update_equals_the_per_example_loop():
    generator = torch.Generator().manual_seed(3)
    stream = [torch.randint(1, 30, (16,), generator=generator) for _ in range(200)]  # with duplicates
    estimator = StreamingFrequencyEstimator(hash_size=64, num_hashes=1, alpha=0.05, seed=0)
    for batch in stream:
        estimator.update(batch)
    slot = lambda item: int(estimator.slots(torch.tensor([item]))[0, 0])  # noqa: E731
    reference = _reference_algorithm2(stream, slot, 0.05, 64)
    np.testing.assert_allclose(estimator.gap[0].numpy(), reference, rtol=1e-12, atol=1e-12)


def test_streaming_estimator_converges_to_the_true_frequencies():
    n_items, batch_size = 40, 32
    true_p = 1.0 / np.arange(1, n_items + 1) ** 0.8
    true_p /= true_p.sum()
    generator = torch.Generator().manual_seed(0)
    estimator = StreamingFrequencyEstimator(hash_size=4096, num_hashes=2, alpha=0.002, seed=1)
    weights = torch.as_tensor(true_p)
    for _ in range(6000):
        batch = torch.multinomial(weights, batch_size, replacement=True, generator=generator) + 1
        estimator.update(batch)
    estimated = estimator.frequency(torch.arange(1, n_items + 1)).numpy() / batch_size
    relative_error = np.abs(estimated - true_p) / true_p
    assert np.median(relative_error) < 0.04
    assert relative_error.max() < 0.2
    # and logQ from the estimate equals log p up to one constant for all items
    offset = np.log(estimated) - np.log(true_p)
    assert offset.std() < 0.1


def test_streaming_estimator_bad_options():
    with pytest.raises(ValueError, match="logq_stream_alpha"):
        StreamingFrequencyEstimator(alpha=0.0)
    with pytest.raises(ValueError, match="positive"):
        StreamingFrequencyEstimator(hash_size=0)
