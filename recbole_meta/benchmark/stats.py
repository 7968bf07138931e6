"""Summary statistics over seeds and the paired comparison of two runs on the same seeds.

Two runs evaluated on the same seeds share the split and the sampling noise of each seed, so their
difference is compared seed by seed (a paired design): Student's paired t-test (``scipy.stats.ttest_rel``)
and Wilcoxon's signed-rank test (``scipy.stats.wilcoxon``, exact distribution for small n). With n seeds the
smallest two-sided Wilcoxon p-value is ``2 / 2**n`` (0.25 for n = 3): below n = 6 it can never reach 0.05,
and the comparison says so instead of printing a p-value that looks like evidence.
"""

import math
import statistics
import warnings
from dataclasses import dataclass

from scipy import stats as scipy_stats


def mean_std(values):
    """Mean and sample standard deviation (ddof = 1; 0.0 for a single value) of finite values.

    Returns ``(nan, nan)`` when there is none.
    """
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return float("nan"), float("nan")
    if len(values) == 1:
        return values[0], 0.0
    return statistics.fmean(values), statistics.stdev(values)


def wilcoxon_min_p(n):
    """Smallest two-sided p-value the exact Wilcoxon signed-rank test can give with ``n`` non-zero pairs."""
    return min(1.0, 2.0 / 2.0**n) if n > 0 else 1.0


@dataclass(frozen=True)
class PairedComparison:
    """``model - baseline`` per seed and the paired tests.

    Attributes:
        seeds (tuple): seeds present for both runs.
        differences (tuple of float): model minus baseline, per seed.
        mean_difference (float)
        t_statistic, t_pvalue (float): paired t-test (``nan`` when n < 2 or the differences are constant).
        wilcoxon_statistic, wilcoxon_pvalue (float): exact Wilcoxon signed-rank (``nan`` when not computed).
        wins (int): seeds where the model is better (direction-aware).
        note (str): what limits the tests (n too small, zero variance).
    """

    seeds: tuple
    differences: tuple
    mean_difference: float
    t_statistic: float
    t_pvalue: float
    wilcoxon_statistic: float
    wilcoxon_pvalue: float
    wins: int
    note: str


def paired_comparison(model, baseline, smaller_is_better=False, alpha=0.05):
    """Compare ``model`` and ``baseline``, two dicts ``{seed: value}``, on their common seeds.

    Args:
        model, baseline (dict): metric value per seed (``None`` values are dropped).
        smaller_is_better (bool): direction of the metric (for ``wins``).
        alpha (float): level the note refers to when n is too small for Wilcoxon to reach it.

    Returns:
        PairedComparison
    """
    seeds = tuple(
        sorted(s for s in model if s in baseline and model[s] is not None and baseline[s] is not None)
    )
    diffs = tuple(float(model[s]) - float(baseline[s]) for s in seeds)
    n = len(diffs)
    sign = -1.0 if smaller_is_better else 1.0
    wins = sum(1 for d in diffs if sign * d > 0)
    nan = float("nan")
    t_stat = t_p = w_stat = w_p = nan
    notes = []
    if n == 0:
        return PairedComparison(seeds, diffs, nan, nan, nan, nan, nan, 0, "no common seeds")
    mean_diff = statistics.fmean(diffs)
    if n < 2:
        notes.append("n=1: no test possible")
    else:
        if len(set(diffs)) == 1:
            notes.append("constant differences: t-test undefined")
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                t = scipy_stats.ttest_rel([model[s] for s in seeds], [baseline[s] for s in seeds])
            t_stat, t_p = float(t.statistic), float(t.pvalue)
        nonzero = sum(1 for d in diffs if d != 0)
        if nonzero == 0:
            notes.append("all differences are zero: Wilcoxon undefined")
        else:
            w = scipy_stats.wilcoxon(diffs, zero_method="wilcox", alternative="two-sided", method="auto")
            w_stat, w_p = float(w.statistic), float(w.pvalue)
            if wilcoxon_min_p(nonzero) > alpha:
                notes.append(
                    f"n={nonzero}: Wilcoxon's smallest possible p is {wilcoxon_min_p(nonzero):.3g} "
                    f"(> {alpha}); too few seeds for it to show significance"
                )
        if n < 5:
            notes.append(f"n={n}: the t-test assumes normal differences and has little power")
    return PairedComparison(seeds, diffs, mean_diff, t_stat, t_p, w_stat, w_p, wins, "; ".join(notes))


def loglog_slope(sizes, values):
    """Least-squares slope of ``log(value)`` against ``log(size)``: the growth exponent (1 = linear).

    Pairs with a non-positive or missing value are dropped; ``nan`` with fewer than two points left.
    """
    points = [(math.log(s), math.log(v)) for s, v in zip(sizes, values) if v is not None and v > 0 and s > 0]
    if len(points) < 2 or len({x for x, _ in points}) < 2:
        return float("nan")
    return float(scipy_stats.linregress([x for x, _ in points], [y for _, y in points]).slope)
