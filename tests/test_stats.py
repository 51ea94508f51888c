"""Summary statistics over seeds: t-interval against a hand computation, degenerate cases, bootstrap."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from embedxfer.stats import (
    bootstrap_interval,
    finite_values,
    format_ci,
    format_interval,
    mean_interval,
    summarize,
    t_interval,
)


def test_t_interval_matches_hand_computation():
    # values 1, 2, 3, 4: mean 2.5, sample variance 5/3, s = 1.2909944, sem = s / 2 = 0.6454972,
    # t_{0.975, df=3} = 3.1824463 (table value), half width = 2.0542603.
    interval = t_interval([1, 2, 3, 4])
    assert interval.mean == pytest.approx(2.5)
    assert interval.ci_low == pytest.approx(2.5 - 2.0542603, abs=1e-6)
    assert interval.ci_high == pytest.approx(2.5 + 2.0542603, abs=1e-6)
    assert interval.n == 4


def test_t_interval_two_values_and_other_confidence():
    # 0.8, 0.9: mean 0.85, s = 0.0707107, sem = 0.05, t_{0.975, 1} = 12.7062047 -> half 0.6353102
    interval = t_interval([0.8, 0.9])
    assert (interval.ci_low, interval.ci_high) == pytest.approx((0.85 - 0.6353102, 0.85 + 0.6353102), abs=1e-6)
    # 90%: t_{0.95, 1} = 6.3137515 -> half 0.3156876
    narrower = t_interval([0.8, 0.9], confidence=0.90)
    assert narrower.ci_high == pytest.approx(0.85 + 0.3156876, abs=1e-6)


def test_single_value_has_a_mean_and_no_interval_and_empty_has_neither():
    # an interval from one value is undefined: None, never a zero-width [0.7, 0.7]
    one = t_interval([0.7])
    assert (one.mean, one.ci_low, one.ci_high, one.n) == (0.7, None, None, 1) and not one.has_interval
    none = t_interval([])
    assert none.n == 0 and math.isnan(none.mean) and none.ci_low is None and none.ci_high is None
    assert bootstrap_interval([0.7]).to_dict() == {"mean": 0.7, "ci_low": None, "ci_high": None, "n": 1}
    assert t_interval([0.6, 0.8]).has_interval


def test_non_finite_values_are_dropped():
    assert finite_values([1, None, float("nan"), float("inf"), "x", 2.0]).tolist() == [1.0, 2.0]
    assert t_interval([1, None, float("nan"), 3]).n == 2


def test_identical_values_give_zero_width():
    interval = t_interval([0.5, 0.5, 0.5])
    assert interval.ci_low == pytest.approx(0.5) and interval.ci_high == pytest.approx(0.5)


def test_bootstrap_is_deterministic_and_brackets_the_mean():
    values = [0.61, 0.65, 0.70, 0.58, 0.66]
    a = bootstrap_interval(values, seed=3)
    b = bootstrap_interval(values, seed=3)
    assert a == b
    assert min(values) <= a.ci_low <= a.mean <= a.ci_high <= max(values)
    assert a.method == "bootstrap"
    assert mean_interval(values, method="bootstrap", seed=3) == a


def test_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        mean_interval([1, 2], method="bayes")
    with pytest.raises(ValueError, match="confidence"):
        t_interval([1, 2], confidence=1.5)


def test_summarize_groups_in_first_seen_order():
    frame = pd.DataFrame(
        {
            "condition": ["b", "b", "a", "a", "a"],
            "acc": [0.5, 0.7, 1.0, 2.0, 3.0],
            "loss": [1.0, None, 2.0, 2.0, 2.0],
        }
    )
    out = summarize(frame, ["condition"], ["acc", "loss", "missing"])
    assert list(out.columns) == ["condition", "metric", "mean", "ci_low", "ci_high", "n"]
    assert out[["condition", "metric", "n"]].values.tolist() == [
        ["b", "acc", 2],
        ["b", "loss", 1],
        ["a", "acc", 3],
        ["a", "loss", 3],
    ]
    b_loss = out[(out.condition == "b") & (out.metric == "loss")].iloc[0]
    assert b_loss["mean"] == 1.0 and pd.isna(b_loss["ci_low"]) and pd.isna(b_loss["ci_high"])  # one value
    a_acc = out[(out.condition == "a") & (out.metric == "acc")].iloc[0]
    # 1, 2, 3: mean 2, s = 1, sem = 0.5773503, t_{0.975, 2} = 4.3026527 -> half 2.4841377
    assert a_acc["ci_high"] == pytest.approx(2 + 2.4841377, abs=1e-6)


def test_one_helper_spells_an_interval_or_its_absence():
    assert format_interval(0.666, 0.6, 0.7, 3) == "0.666 [0.6, 0.7]"
    assert format_interval(0.666, None, None, 1) == "0.666 (n=1, no interval)"
    # n=0: no mean, no interval, no crash; NaN ends (a table cell) count as missing
    assert format_interval(float("nan"), None, None, 0) == "– (n=0, no interval)"
    assert format_interval(0.5, float("nan"), float("nan"), 2) == "0.5 (n=2, no interval)"
    assert format_ci(0.6, 0.7, 2, ".2f") == "[0.60, 0.70]" and format_ci(None, None, 1) == "n=1, no interval"
    assert format_ci(1.0, 2.0, float("nan")) == "n=0, no interval"
    assert t_interval([0.25]).text(".2f") == "0.25 (n=1, no interval)"
