"""One check of split fractions for every split option (users, items; two-way ratios and three-way splits)."""

import math

import pytest

from recbole_meta.data.fractions import fraction, fractions


@pytest.mark.parametrize("bad", [0, 1, 1.0, -0.2, math.nan, True, "0.2", None])
def test_a_fraction_is_a_number_strictly_between_0_and_1(bad):
    with pytest.raises(ValueError, match=r"new_user_ratio must be a number in \(0, 1\)"):
        fraction(bad, "new_user_ratio")
    assert fraction(0.25, "new_user_ratio") == 0.25


@pytest.mark.parametrize(
    "bad", [[0.8, 0.2], [8, 1, 1], [0.5, 0.5, 0.0], [0.6, 0.3, 0.2], (0.8, 0.1, "0.1"), "0.8 0.1 0.1", None]
)
def test_a_three_way_split_is_three_fractions_summing_to_1(bad):
    with pytest.raises(ValueError, match=r"item_cold_split: expected three positive fractions of the items"):
        fractions(bad, "item_cold_split", of="items")


def test_valid_splits_come_back_unchanged():
    assert fractions([0.8, 0.1, 0.1], "item_cold_split") == [0.8, 0.1, 0.1]
    assert fractions((0.6, 0.2, 0.2), "profile_split") == [0.6, 0.2, 0.2]


def test_a_fraction_up_to_one_includes_one_only():
    assert fraction(1, "warm_holdout_fraction", upto_one=True) == 1.0
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match=r"warm_holdout_fraction must be a number in \(0, 1\]"):
            fraction(bad, "warm_holdout_fraction", upto_one=True)
