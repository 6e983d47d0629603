"""Tests of sparselab.chapters.stats: the book's one uncertainty convention (mean and Student-t interval)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from sparselab.chapters import stats
from sparselab.chapters.publish import lookup


# ----------------------------------------------------------------------------- the interval
@pytest.mark.parametrize("n", [2, 5, 30])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_half_width_is_the_student_t_half_width(n, level):
    values = np.random.default_rng(n).normal(size=n)
    expected = scipy_stats.t.ppf((1 + level) / 2, n - 1) * values.std(ddof=1) / math.sqrt(n)
    assert stats.half_width(values, level) == pytest.approx(expected, rel=1e-12)
    assert stats.t_quantile(n, level) == pytest.approx(scipy_stats.t.ppf((1 + level) / 2, n - 1), rel=1e-12)
    mean, half = stats.mean_interval(values, level)
    assert mean == pytest.approx(values.mean()) and half == stats.half_width(values, level)


def test_one_run_has_no_interval():
    assert math.isnan(stats.half_width([3.0]))
    assert math.isnan(stats.half_width([]))
    mean, half = stats.mean_interval([3.0, float("nan")])  # non-finite values are dropped first
    assert mean == 3.0 and math.isnan(half)
    mean, half = stats.mean_interval([])
    assert math.isnan(mean) and math.isnan(half)
    mean, half = stats.mean_interval([1.0, 2.0], None)  # no level: no interval
    assert mean == 1.5 and math.isnan(half)
    with pytest.raises(ValueError, match="n"):
        stats.t_quantile(1)


@pytest.mark.parametrize("bad", [95, 1.0, 0.0, -0.5, float("nan")])
def test_a_percentage_or_a_level_outside_zero_one_is_rejected(bad):
    for call in (
        lambda: stats.half_width([1.0, 2.0], bad),
        lambda: stats.t_quantile(3, bad),
        lambda: stats.mean_interval([1.0, 2.0], bad),
        lambda: stats.summarise(pd.DataFrame({"g": ["a"], "v": [1.0]}), "g", "v", level=bad),
    ):
        with pytest.raises(ValueError, match=r"level must be a finite number in \(0\.0, 1\.0\).*fraction"):
            call()
    with pytest.raises(TypeError, match="level"):
        stats.half_width([1.0, 2.0], "0.95")


def test_percent_labels():
    assert stats.percent(0.95) == "95" and stats.percent(0.9) == "90" and stats.percent(0.995) == "99.5"


# ----------------------------------------------------------------------------- summaries
def test_summarise_matches_a_hand_computed_t_interval():
    values = [1.0, 2.0, 4.0]
    frame = pd.DataFrame({"method": ["a"] * 3 + ["b"], "test_mse": values + [7.0]})
    summary = stats.summarise(frame, "method", "test_mse")
    a = summary[summary["method"] == "a"].iloc[0]
    mean = 7.0 / 3.0
    sd = math.sqrt(((1 - mean) ** 2 + (2 - mean) ** 2 + (4 - mean) ** 2) / 2)
    half = 4.302652729911275 * sd / math.sqrt(3)  # t_{2, 0.975}
    assert a["n"] == 3
    assert a["mean"] == pytest.approx(mean)
    assert a["sd"] == pytest.approx(sd)
    assert a["half_width"] == pytest.approx(half)
    assert a["low"] == pytest.approx(mean - half) and a["high"] == pytest.approx(mean + half)
    assert scipy_stats.t.ppf(0.975, 2) == pytest.approx(4.302652729911275) == stats.t_quantile(3)
    b = summary[summary["method"] == "b"].iloc[0]
    assert b["n"] == 1 and b["mean"] == 7.0 and math.isnan(b["half_width"])  # one run: no interval


def test_summarise_level_groups_and_several_values():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"g": ["x"] * 5 + ["y"] * 5, "s": [0.5] * 10, "v": rng.normal(size=10), "w": rng.normal(size=10)}
    )
    s90 = stats.summarise(frame, ["g", "s"], "v", level=0.9)
    s95 = stats.summarise(frame, ["g", "s"], "v", level=0.95)
    assert (s90["half_width"] < s95["half_width"]).all()
    assert list(s90.columns) == ["g", "s", "n", "mean", "sd", "half_width", "low", "high"]
    both = stats.summarise(frame, "g", ["v", "w"])
    assert both["metric"].tolist() == ["v", "v", "w", "w"]
    assert lookup(both, "mean", g="y", metric="w") == pytest.approx(frame["w"][5:].mean())
    with pytest.raises(ValueError, match="level"):
        stats.summarise(frame, "g", "v", level=1.5)
    with pytest.raises(ValueError, match="nope"):
        stats.summarise(frame, "nope", "v")
