"""A/B timing utility: interleaving, warm-up, and a ratio that recovers a known relative cost."""

import itertools
import time

import pytest

from recbole_meta.benchmark.timing import compare_timing


def _work(n):
    """Deterministic CPU work proportional to n (no sleep, no allocation growth)."""
    total = 0
    for i in range(n):
        total = (total + i * i) % 1_000_003
    return total


def test_ratio_recovers_known_relative_cost():
    # CPU time (process_time) rather than wall time: the machine is shared, and being descheduled for a few
    # milliseconds would otherwise dominate measurements this short
    result = compare_timing(
        lambda: _work(150_000), lambda: _work(50_000), repeats=7, warmup=1, clock=time.process_time
    )
    # A does three times B's work: loose bounds
    assert 2.0 < result.ratio < 4.5
    assert len(result.times_a) == len(result.times_b) == len(result.ratios) == 7
    assert result.median_a > result.median_b
    assert "median ratio A/B" in result.describe()


def test_interleaving_alternates_and_warmup_is_not_measured():
    order = []
    ticks = itertools.count()

    def clock():
        return float(next(ticks))

    result = compare_timing(
        lambda: order.append("a"), lambda: order.append("b"), repeats=4, warmup=2, clock=clock
    )
    assert order == ["a", "b"] * 2 + ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert result.times_a == result.times_b == (1.0, 1.0, 1.0, 1.0) and result.ratio == 1.0


def test_min_time_raises_number_and_bad_arguments_are_refused():
    result = compare_timing(lambda: _work(100), lambda: _work(100), repeats=3, warmup=0, min_time=0.005)
    assert result.number > 1
    with pytest.raises(ValueError, match="repeats"):
        compare_timing(lambda: 0, lambda: 0, repeats=0)
    with pytest.raises(TypeError):
        compare_timing(1, lambda: 0)
