"""A/B timing in one process: interleaved repetitions after a warm-up, median ratio.

Timing A in one process and B in another (or A then B) folds machine drift, other users' load, CPU frequency
changes and cache state into the comparison. Interleaving A and B, alternating which goes first (A B, B A,
A B, ...), exposes both to the same conditions; the median of per-repetition ratios then resists outliers.
"""

import statistics
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class TimingResult:
    """Seconds per call of A and B in each repetition, and their summary.

    Attributes:
        times_a, times_b (tuple of float): seconds per call, one per repetition.
        ratios (tuple of float): ``times_a[i] / times_b[i]``.
        ratio (float): median of ``ratios``: > 1 means A is slower than B (B is ``ratio`` times faster).
        median_a, median_b (float): median seconds per call.
        number (int): calls per measurement.
    """

    times_a: tuple
    times_b: tuple
    ratios: tuple
    ratio: float
    median_a: float
    median_b: float
    number: int

    def describe(self, name_a="A", name_b="B"):
        return (
            f"{name_a} {self.median_a * 1e3:.3f} ms, {name_b} {self.median_b * 1e3:.3f} ms per call; "
            f"median ratio {name_a}/{name_b} {self.ratio:.3f} (range {min(self.ratios):.3f}-"
            f"{max(self.ratios):.3f}, {len(self.ratios)} interleaved repetitions of {self.number} call(s))"
        )


def _measure(fn, number, clock):
    start = clock()
    for _ in range(number):
        fn()
    return (clock() - start) / number


def compare_timing(fn_a, fn_b, repeats=7, warmup=1, number=1, min_time=None, clock=time.perf_counter):
    """Time two zero-argument callables interleaved in this process; return a :class:`TimingResult`.

    Args:
        fn_a, fn_b (callable): the work to compare (bind arguments with ``functools.partial`` or a lambda).
            Make them self-contained: any state they share is seen by both.
        repeats (int): measured repetitions of each (>= 1); the order alternates A B / B A.
        warmup (int): unmeasured calls of each first (JIT, caches, lazy initialisation, allocator growth).
        number (int): calls per measurement (raise it for functions much faster than a millisecond).
        min_time (float): if given, ``number`` is raised until one measurement of the slower function takes
            at least ``min_time`` seconds.
        clock (callable): the clock (default ``time.perf_counter``; ``time.process_time`` for CPU time).

    The function has no side effects besides calling ``fn_a`` and ``fn_b``.
    """
    if not callable(fn_a) or not callable(fn_b):
        raise TypeError("compare_timing: fn_a and fn_b must be callables without arguments")
    if repeats < 1 or warmup < 0 or number < 1:
        raise ValueError(
            f"compare_timing: need repeats >= 1, warmup >= 0, number >= 1 (got {repeats}, {warmup}, {number})"
        )
    for _ in range(warmup):
        fn_a()
        fn_b()
    if min_time is not None:
        while max(_measure(fn_a, number, clock), _measure(fn_b, number, clock)) * number < min_time:
            number *= 2
    times_a, times_b = [], []
    for repetition in range(repeats):
        if repetition % 2 == 0:
            times_a.append(_measure(fn_a, number, clock))
            times_b.append(_measure(fn_b, number, clock))
        else:
            times_b.append(_measure(fn_b, number, clock))
            times_a.append(_measure(fn_a, number, clock))
    ratios = tuple(a / b if b > 0 else float("inf") for a, b in zip(times_a, times_b))
    return TimingResult(
        times_a=tuple(times_a),
        times_b=tuple(times_b),
        ratios=ratios,
        ratio=statistics.median(ratios),
        median_a=statistics.median(times_a),
        median_b=statistics.median(times_b),
        number=number,
    )
