"""Leave-one-out item bias: a training query's own rating never enters the b_i it is predicted with."""

import numpy as np
import pytest
import torch
from torch.func import vmap

from recbole_meta.model.meta_recommender.bias import BiasTerms


class _Split:
    def __init__(self, users, items, ratings, n_items):
        self.data, self.n_items = (np.asarray(users), np.asarray(items), np.asarray(ratings, float)), n_items

    def train_interactions(self):
        return self.data


def _random_split(seed=0, n_users=30, n_items=12):
    rng = np.random.default_rng(seed)
    pairs = [(u, i) for u in range(1, n_users) for i in range(1, n_items) if rng.random() < 0.5]
    users, items = map(np.array, zip(*pairs))
    return _Split(users, items, rng.integers(1, 6, len(users)), n_items)


def test_loo_bias_matches_the_bias_computed_without_the_rating():
    split = _random_split()
    users, items, ratings = split.data
    bias = BiasTerms(split, 10, 5, leave_one_out=True).train()
    mu = ratings.mean()
    for row in range(0, len(users), 7):
        u, i = users[row], items[row]
        others = (items == i) & (users != u)
        expected = (ratings[others] - mu).sum() / (others.sum() + 10)
        got = bias.item_bias_for(torch.tensor([i]), torch.tensor(u))
        assert got.item() == pytest.approx(expected, abs=1e-6)
        assert got.item() != pytest.approx(bias.item_bias[i].item(), abs=1e-9) or ratings[row] == mu


def test_changing_the_query_rating_does_not_change_its_loo_bias():
    split = _random_split(1)
    users, items, ratings = split.data
    row = 5
    u, i = torch.tensor(users[row]), torch.tensor([items[row]])
    changed = ratings.copy()
    changed[row] = 6 - ratings[row] if ratings[row] != 3 else 5
    other = _Split(users, items, changed, split.n_items)
    a = BiasTerms(split, 10, 5, leave_one_out=True).train()
    b = BiasTerms(other, 10, 5, leave_one_out=True).train()
    # up to the global mean, which moves by (change)/N: b_i^(-u) is the same
    shift = (changed[row] - ratings[row]) / len(ratings)
    n_others = ((items == items[row]) & (users != users[row])).sum()
    expected = a.item_bias_for(i, u).item() - shift * n_others / (n_others + 10)
    assert b.item_bias_for(i, u).item() == pytest.approx(expected, abs=1e-6)
    assert b.item_bias[i].item() != pytest.approx(a.item_bias[i].item(), abs=1e-3)  # the plain one moves


def test_evaluation_users_and_eval_mode_get_the_plain_bias():
    split = _random_split(2)
    bias = BiasTerms(split, 10, 5, leave_one_out=True)
    items = torch.arange(1, split.n_items)
    outsider = torch.tensor(999)  # no training rating
    bias.train()
    assert torch.allclose(bias.item_bias_for(items, outsider), bias.item_bias[items])
    bias.eval()
    assert torch.equal(bias.item_bias_for(items, torch.tensor(int(split.data[0][0]))), bias.item_bias[items])
    plain = BiasTerms(split, 10, 5, leave_one_out=False).train()
    assert torch.equal(plain.item_bias_for(items, torch.tensor(1)), plain.item_bias[items])


def test_loo_offsets_under_vmap_equal_the_per_task_values():
    split = _random_split(3)
    users, items, ratings = split.data
    bias = BiasTerms(split, 10, 5, leave_one_out=True).train()
    task_users = torch.tensor([1, 2, 3])
    s_item = torch.tensor([[1, 2, 3], [4, 5, 0], [6, 7, 8]])
    s_rating = torch.tensor([[4.0, 3.0, 5.0], [1.0, 2.0, 0.0], [3.0, 3.0, 4.0]])
    s_mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    target = torch.tensor([[9, 10], [1, 3], [2, 11]])
    batched = vmap(bias)(s_item, s_rating, s_mask, target, task_users)
    for b in range(3):
        single = bias(s_item[b], s_rating[b], s_mask[b], target[b], task_users[b])
        assert torch.allclose(batched[b], single)
