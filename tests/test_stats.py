"""graphens.stats: paired differences with bootstrap CIs, Holm's correction, power."""

import math

import numpy as np
import pytest
from scipy import stats

from graphens.stats import (
    MAX_SEEDS,
    achieved_power,
    bootstrap_mean_ci,
    holm,
    paired_difference,
    seeds_for_power,
)


def test_holm_matches_a_hand_worked_example():
    # sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04, but
    # the step-down keeps the running maximum: 0.06); returned in the order given
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_is_monotone_capped_and_skips_nan():
    p = [0.2, math.nan, 0.001, 0.5, 0.02, 0.019, 0.9]
    adjusted = holm(p)
    assert math.isnan(adjusted[1])
    # m = 6 (the NaN does not count): the smallest is multiplied by 6
    assert adjusted[2] == pytest.approx(0.006)
    kept = [(raw, adj) for raw, adj in zip(p, adjusted, strict=True) if not math.isnan(raw)]
    ordered = sorted(kept)
    assert all(a[1] <= b[1] for a, b in zip(ordered, ordered[1:], strict=False))
    assert all(raw <= adj <= 1.0 for raw, adj in kept)
    assert adjusted[6] == 1.0  # 0.9 x 1, but the running maximum of 0.5 x 2 = 1 (capped)
    assert holm([]) == [] and all(math.isnan(v) for v in holm([math.nan]))


def test_paired_difference_matches_the_paired_t_test():
    a = [0.81, 0.79, 0.84, 0.80, 0.83]
    b = [0.80, 0.76, 0.82, 0.80, 0.80]
    result = paired_difference(a, b)
    scipy_t = stats.ttest_rel(a, b)
    diffs = np.subtract(a, b)
    assert result.n == 5
    assert result.mean == pytest.approx(diffs.mean())
    assert result.sd == pytest.approx(diffs.std(ddof=1))
    assert result.t == pytest.approx(scipy_t.statistic)
    assert result.p == pytest.approx(scipy_t.pvalue)
    assert result.ci_low <= result.mean <= result.ci_high
    # a bootstrap mean is a mean of resampled differences: inside their range
    assert diffs.min() <= result.ci_low and result.ci_high <= diffs.max()


def test_paired_difference_drops_incomplete_pairs_and_handles_degenerate_input():
    result = paired_difference([1.0, 2.0, math.nan, 4.0], [0.5, 1.0, 3.0, 3.0])
    assert result.n == 3 and result.mean == pytest.approx((0.5 + 1.0 + 1.0) / 3)
    constant = paired_difference([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])  # s_d = 0
    assert constant.mean == 1.0 and math.isnan(constant.p) and constant.sd == 0.0
    assert constant.ci_low == constant.ci_high == 1.0
    single = paired_difference([1.0], [0.0])
    assert single.n == 1 and math.isnan(single.sd) and math.isnan(single.ci_low)
    assert math.isnan(paired_difference([], []).mean)
    with pytest.raises(ValueError, match="one length"):
        paired_difference([1.0, 2.0], [1.0])


def test_bootstrap_ci_is_deterministic_under_its_seed():
    diffs = np.random.default_rng(3).normal(0.01, 0.02, size=8)
    first = bootstrap_mean_ci(diffs, seed=7)
    assert bootstrap_mean_ci(diffs, seed=7) == first
    assert bootstrap_mean_ci(diffs, seed=8) != first
    a, b = diffs + 0.5, np.full(8, 0.5)
    assert paired_difference(a, b, seed=7).ci_low == paired_difference(a, b, seed=7).ci_low


def test_bootstrap_ci_covers_the_true_mean_in_a_seeded_simulation():
    # 200 experiments of 30 seed pairs, true mean difference 0.02: a 95 % percentile
    # interval should cover it in roughly 95 % of them (slightly fewer: percentile intervals
    # undercover at small n); 1 000 resamples keep the test fast
    rng = np.random.default_rng(0)
    covered = 0
    for experiment in range(200):
        a = rng.normal(0.8, 0.05, size=30)
        b = a - rng.normal(0.02, 0.03, size=30)
        result = paired_difference(a, b, seed=experiment, n_boot=1000)
        covered += result.ci_low <= 0.02 <= result.ci_high
    assert 0.88 <= covered / 200 <= 0.99


def test_seeds_for_power_at_effect_size_one_is_ten():
    # d/s_d = 1, two-sided alpha 0.05, 80 %: with 10 pairs the noncentral t (df 9,
    # delta = sqrt(10)) beyond t_0.975,9 = 2.262 has probability 0.803, with 9 pairs
    # (df 8, delta 3) 0.748; statsmodels' TTestPower().solve_power(effect_size=1,
    # alpha=0.05, power=0.8) gives 9.94, G*Power 10.
    assert seeds_for_power(1.0, 1.0) == 10
    assert seeds_for_power(-0.02, 0.02) == 10  # the sign does not matter
    assert achieved_power(1.0, 1.0, 10) == pytest.approx(0.8031, abs=1e-4)
    assert achieved_power(1.0, 1.0, 9) == pytest.approx(0.7480, abs=1e-4)


def test_seeds_for_power_falls_as_the_effect_grows():
    needed = [seeds_for_power(effect, 1.0) for effect in (0.2, 0.35, 0.5, 1.0, 2.0, 5.0)]
    assert all(x > y for x, y in zip(needed, needed[1:], strict=False))
    assert needed[-1] == 3 and seeds_for_power(30.0, 1.0) == 2  # n 2: one df, c = 12.7
    assert needed[0] > 100
    assert seeds_for_power(0.5, 1.0, power=0.9) > seeds_for_power(0.5, 1.0, power=0.8)
    assert seeds_for_power(0.5, 1.0, alpha=0.01) > seeds_for_power(0.5, 1.0, alpha=0.05)
    n = seeds_for_power(0.35, 1.0)
    assert achieved_power(0.35, 1.0, n) >= 0.8 > achieved_power(0.35, 1.0, n - 1)


def test_seeds_for_power_without_an_effect_or_beyond_the_cap():
    assert seeds_for_power(0.0, 1.0) is None
    assert seeds_for_power(0.01, 0.0) is None
    assert seeds_for_power(math.nan, 1.0) is None
    assert seeds_for_power(0.001, 1.0) == math.inf  # about 7.8 million pairs
    assert seeds_for_power(0.001, 1.0, max_n=MAX_SEEDS) > MAX_SEEDS
    # differences equal up to rounding (s_d ~ 1e-17): scipy's nct is NaN there, power is 1
    assert seeds_for_power(0.01, 1e-17) == 2 and achieved_power(0.01, 1e-17, 3) == 1.0
    assert math.isnan(achieved_power(0.1, 0.0, 5)) and math.isnan(achieved_power(0.1, 1, 1))
    assert achieved_power(0.0, 1.0, 10) == pytest.approx(0.05)  # no effect: the test's size
