r"""Statistics for seed-paired comparisons: difference, bootstrap CI, Holm, power.

Two runs that share a seed share their receptive fields and initialisation, so comparisons
between topologies (or arms) are made on the paired differences

.. math::

    d_s = a_s - b_s, \qquad \bar d = \tfrac{1}{n} \textstyle\sum_s d_s, \qquad
    s_d^2 = \tfrac{1}{n-1} \textstyle\sum_s (d_s - \bar d)^2,

over the ``n`` seeds both were run with. :func:`paired_difference` gives :math:`\bar d`, the
paired t-test and a bootstrap confidence interval of :math:`\bar d`; :func:`holm` corrects a
family of p-values for multiple comparisons; :func:`seeds_for_power` and
:func:`achieved_power` say how many seed pairs a difference of the observed size needs, so a
report can tell "no difference" from "not answerable at this budget".

Only numpy and scipy (which scikit-learn brings).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

#: :func:`seeds_for_power` stops searching here and answers ``math.inf``.
MAX_SEEDS = 10_000


@dataclass(frozen=True)
class PairedDifference:
    r"""The result of :func:`paired_difference` (NaN where undefined).

    Attributes
    ----------
    n : int
        Number of complete pairs.
    mean : float
        Mean paired difference :math:`\bar d` (``a - b``).
    sd : float
        Sample standard deviation :math:`s_d` of the differences (NaN when ``n < 2``).
    t, p : float
        Paired t statistic and its two-sided p-value (NaN when ``n < 2`` or :math:`s_d = 0`).
    ci_low, ci_high : float
        Bootstrap percentile ``1 - alpha`` interval of :math:`\bar d` (NaN when ``n < 2``).
    alpha : float
        The level the interval was made for.
    """

    n: int
    mean: float
    sd: float
    t: float
    p: float
    ci_low: float
    ci_high: float
    alpha: float

    def as_dict(self) -> dict[str, float]:
        """The fields as a plain dict (for tables and JSON)."""
        return asdict(self)


def _pairs(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired samples must be two 1-d sequences of one length; got shapes "
                         f"{x.shape} and {y.shape}.")
    diffs = x - y
    return diffs[~np.isnan(diffs)]


def bootstrap_mean_ci(diffs: Sequence[float], *, seed: int = 0, n_boot: int = 10_000,
                      alpha: float = 0.05) -> tuple[float, float]:
    r"""Percentile bootstrap interval of the mean of ``diffs``.

    ``n_boot`` resamples :math:`d^{*(r)}` of the ``n`` values, drawn with replacement by
    ``numpy.random.default_rng(seed)``; the interval is the :math:`\alpha/2` and
    :math:`1 - \alpha/2` quantiles of their means :math:`\bar d^{*(r)}`. The same seed gives
    the same interval. With few pairs the percentile interval is too narrow (its coverage of
    :math:`\bar d` is below ``1 - alpha``; with 3 pairs it can only take 10 values).

    Returns
    -------
    (float, float)
        ``(low, high)``; NaN for fewer than 2 values.
    """
    values = np.asarray(diffs, dtype=float)
    n = values.size
    if n < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    chunk = max(1, 2**20 // n)  # bounded memory: at most ~2**20 indices at a time
    means = np.concatenate([
        values[rng.integers(0, n, size=(min(chunk, n_boot - start), n))].mean(axis=1)
        for start in range(0, n_boot, chunk)])
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def paired_difference(a: Sequence[float], b: Sequence[float], *, seed: int = 0,
                      n_boot: int = 10_000, alpha: float = 0.05) -> PairedDifference:
    r"""Mean paired difference ``a - b``, paired t-test and bootstrap CI.

    ``a[i]`` and ``b[i]`` belong to the same seed; pairs where either is NaN are dropped.
    With :math:`d_s = a_s - b_s` over the ``n`` remaining pairs,

    .. math::

        t = \frac{\bar d}{s_d / \sqrt{n}}, \qquad
        p = 2\, P(T_{n-1} > |t|),

    :math:`T_{n-1}` Student's t with :math:`n - 1` degrees of freedom (the same numbers as
    ``scipy.stats.ttest_rel``). The interval is :func:`bootstrap_mean_ci` of the differences:
    the pairs are resampled, not the two samples apart, so the pairing is kept.

    Parameters
    ----------
    a, b : sequence of float
        Paired values, one per seed, in the same seed order.
    seed : int
        Seed of the bootstrap's resampling.
    n_boot : int
        Number of bootstrap resamples.
    alpha : float
        The interval covers ``1 - alpha``.

    Returns
    -------
    PairedDifference
    """
    from scipy import stats

    diffs = _pairs(a, b)
    n = int(diffs.size)
    mean = float(diffs.mean()) if n else math.nan
    if n < 2:
        return PairedDifference(n, mean, math.nan, math.nan, math.nan, math.nan, math.nan,
                                alpha)
    sd = float(diffs.std(ddof=1))
    t = p = math.nan
    if sd > 0:
        t = mean / (sd / math.sqrt(n))
        p = float(2 * stats.t.sf(abs(t), n - 1))
    low, high = bootstrap_mean_ci(diffs, seed=seed, n_boot=n_boot, alpha=alpha)
    return PairedDifference(n, mean, sd, t, p, low, high, alpha)


def holm(pvalues: Sequence[float]) -> list[float]:
    r"""Holm–Bonferroni adjusted p-values, in the order given.

    With the :math:`m` non-NaN p-values sorted, :math:`p_{(1)} \le \dots \le p_{(m)}`,
    Holm's step-down procedure rejects :math:`H_{(1)}, \dots, H_{(k)}` for the largest
    :math:`k` with :math:`p_{(j)} \le \alpha / (m - j + 1)` for every :math:`j \le k`. The
    adjusted p-values, compared with :math:`\alpha` directly, are

    .. math::

        \tilde p_{(i)} = \min\Bigl(1, \max_{j \le i} (m - j + 1)\, p_{(j)}\Bigr),

    monotone in :math:`p` and never below the raw :math:`p`. NaN p-values stay NaN and do not
    count in :math:`m`. The family-wise error rate is at most :math:`\alpha` under any
    dependence between the tests.

    Examples
    --------
    >>> [round(p, 4) for p in holm([0.01, 0.04, 0.03, 0.005])]
    [0.03, 0.06, 0.06, 0.02]
    """
    values = np.asarray(pvalues, dtype=float)
    out = np.full(values.shape, math.nan)
    valid = np.flatnonzero(~np.isnan(values))
    m = valid.size
    if m:
        order = valid[np.argsort(values[valid], kind="stable")]
        scaled = (m - np.arange(m)) * values[order]
        out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return [float(v) for v in out]


def _power(effect: float, n: np.ndarray, alpha: float) -> np.ndarray:
    from scipy import stats

    df = n - 1
    critical = stats.t.ppf(1 - alpha / 2, df)
    delta = effect * np.sqrt(n)
    with np.errstate(all="ignore"):
        power = stats.nct.sf(critical, df, delta) + stats.nct.cdf(-critical, df, delta)
    # scipy's nct gives NaN for huge noncentralities (differences equal up to rounding,
    # delta ~ 1e15), where the power is 1 to machine precision: the normal approximation
    # T ~ N(delta, 1) says so too
    normal = stats.norm.sf(critical - delta) + stats.norm.cdf(-critical - delta)
    return np.where(np.isnan(power), normal, power)


def achieved_power(diff_mean: float, diff_sd: float, n: int, alpha: float = 0.05) -> float:
    r"""Power of a two-sided paired t-test with ``n`` pairs against a difference ``diff_mean``.

    Under a true mean difference :math:`\mu_d` with sd :math:`\sigma_d` the statistic
    :math:`t` is noncentral t with :math:`n - 1` degrees of freedom and noncentrality
    :math:`\delta = \mu_d / \sigma_d \cdot \sqrt{n}`, so with
    :math:`c = t_{1-\alpha/2,\,n-1}`

    .. math::

        \text{power} = P(T_{n-1,\delta} > c) + P(T_{n-1,\delta} < -c).

    Fed the observed :math:`\bar d` and :math:`s_d`, this is the power to detect a difference
    of the size seen (a planning number; it is a function of the observed t, so it adds no
    evidence beyond the p-value). NaN when ``n < 2`` or the inputs are NaN or
    :math:`s_d \le 0`.
    """
    if (n < 2 or not math.isfinite(diff_mean) or not math.isfinite(diff_sd)
            or diff_sd <= 0):
        return math.nan
    return float(_power(abs(diff_mean) / diff_sd, np.array([float(n)]), alpha)[0])


def seeds_for_power(diff_mean: float, diff_sd: float, alpha: float = 0.05,
                    power: float = 0.8, max_n: int = MAX_SEEDS) -> int | float | None:
    r"""Seed pairs a two-sided paired t-test needs to detect ``diff_mean`` with ``power``.

    The smallest :math:`n \ge 2` whose :func:`achieved_power` (noncentral t, noncentrality
    :math:`\delta = \bar d / s_d \cdot \sqrt{n}`, critical value
    :math:`t_{1-\alpha/2,\,n-1}`) reaches ``power``, found by evaluating
    :math:`n = 2, 3, \dots` in order (in vectorised blocks). For an effect size
    :math:`\bar d / s_d = 1` at :math:`\alpha = 0.05` and 80 % power it is 10 (power 0.803;
    9 pairs give 0.748).

    Returns
    -------
    int, math.inf or None
        ``n``; ``math.inf`` when even ``max_n`` pairs fall short (read "more than max_n");
        None when there is no effect to power: :math:`s_d` is 0 or NaN, or :math:`\bar d`
        is 0 or NaN.
    """
    if (not math.isfinite(diff_mean) or not math.isfinite(diff_sd) or diff_sd <= 0
            or diff_mean == 0):
        return None
    effect = abs(diff_mean) / diff_sd
    start, size = 2, 32
    while start <= max_n:
        n = np.arange(start, min(start + size, max_n + 1), dtype=float)
        reached = np.flatnonzero(_power(effect, n, alpha) >= power)
        if reached.size:
            return int(n[reached[0]])
        start, size = int(n[-1]) + 1, size * 2
    return math.inf
