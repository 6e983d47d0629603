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
    assert mean - half < 0  # the raw interval of an MSE reaches below 0: clipped to the metric's range
    assert a["low"] == 0.0 and a["high"] == pytest.approx(mean + half)
    raw = stats.summarise(frame, "method", "test_mse", clip=False)
    assert raw.iloc[0]["low"] == pytest.approx(mean - half) and raw.iloc[0]["high"] == pytest.approx(mean + half)
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


# ------------------------------------------------------------------------------------------- paired comparisons


@pytest.mark.parametrize("n", [3, 5, 12])
@pytest.mark.parametrize("level", [0.9, 0.95])
def test_paired_difference_matches_scipy(n, level):
    rng = np.random.default_rng(n)
    shared = rng.normal(size=n) * 5.0  # seed-to-seed variation both methods share
    a = shared + rng.normal(size=n) * 0.1
    b = shared + 0.3 + rng.normal(size=n) * 0.1
    r = stats.paired_difference(a, b, level=level)
    d = a - b
    ci = scipy_stats.ttest_rel(a, b).confidence_interval(confidence_level=level)
    assert r["n"] == n
    assert r["mean"] == pytest.approx(d.mean(), abs=1e-12)
    assert r["low"] == pytest.approx(ci.low, rel=1e-10)
    assert r["high"] == pytest.approx(ci.high, rel=1e-10)
    assert r["t_pvalue"] == pytest.approx(scipy_stats.ttest_rel(a, b).pvalue, rel=1e-10)
    assert r["wilcoxon_pvalue"] == pytest.approx(scipy_stats.wilcoxon(a, b).pvalue, rel=1e-10)
    assert r["mean_a"] == pytest.approx(a.mean()) and r["mean_b"] == pytest.approx(b.mean())


def test_pairing_detects_a_difference_that_unpaired_intervals_hide():
    rng = np.random.default_rng(0)
    shared = rng.normal(size=8) * 10.0
    a, b = shared, shared + 0.5 + rng.normal(size=8) * 0.01
    assert stats.paired_difference(a, b)["verdict"] == "lower"
    assert stats.paired_difference(b, a)["verdict"] == "higher"
    # the unpaired intervals overlap: the per-method means alone could not rank them
    assert stats.half_width(a) > 0.5 and stats.half_width(b) > 0.5


def test_paired_difference_indistinguishable_and_degenerate_cases():
    rng = np.random.default_rng(1)
    a = rng.normal(size=6)
    b = a + rng.normal(size=6)  # pure noise difference, CI covers 0 for this draw
    r = stats.paired_difference(a, b)
    assert r["low"] < 0 < r["high"] and r["verdict"] == "indistinguishable"
    same = stats.paired_difference([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same["mean"] == 0 and same["half_width"] == 0 and same["verdict"] == "indistinguishable"
    assert math.isnan(same["wilcoxon_pvalue"])
    shift = stats.paired_difference([1.0, 2.0, 3.0], [2.0, 3.0, 4.0])  # an exact constant shift
    assert shift["verdict"] == "lower" and shift["t_pvalue"] == 0.0
    one = stats.paired_difference([1.0], [2.0])
    assert one["n"] == 1 and one["verdict"] == "indistinguishable" and math.isnan(one["half_width"])
    nan = stats.paired_difference([1.0, np.nan, 3.0, 4.0], [1.5, 2.0, 3.5, 4.6])
    assert nan["n"] == 3


def test_paired_difference_rejects_bad_input():
    with pytest.raises(ValueError, match="pair up"):
        stats.paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="1-D"):
        stats.paired_difference([[1.0, 2.0]], [[1.0, 2.0]])
    with pytest.raises(ValueError, match="fraction"):
        stats.paired_difference([1.0, 2.0], [1.0, 3.0], level=95)


def test_paired_comparison_pairs_on_seed_within_groups():
    rows = []
    for sparsity in (0.5, 0.9):
        for seed in range(5):
            base = 10.0 * seed + sparsity
            rows.append({"method": "A", "sparsity": sparsity, "seed": seed, "err": base})
            rows.append({"method": "B", "sparsity": sparsity, "seed": seed, "err": base + (1.0 + 0.1 * seed)})
    rows.append({"method": "A", "sparsity": 0.9, "seed": 99, "err": 0.0})  # no partner: left out
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # order must not matter
    out = stats.paired_comparison(frame, value="err", between="method", a="A", b="B", by="sparsity")
    assert list(out["sparsity"]) == [0.5, 0.9]
    assert list(out["n"]) == [5, 5]
    expected = stats.paired_difference(np.zeros(5), 1.0 + 0.1 * np.arange(5))
    for _, row in out.iterrows():
        assert row["mean"] == pytest.approx(-1.2)
        assert row["low"] == pytest.approx(expected["low"]) and row["verdict"] == "lower"
    whole = stats.paired_comparison(frame, value="err", between="method", a="A", b="B", pair_on=["sparsity", "seed"])
    assert len(whole) == 1 and whole["n"].iloc[0] == 10


def test_paired_comparison_rejects_ambiguous_or_unknown():
    frame = pd.DataFrame({"method": ["A", "A", "B"], "seed": [0, 0, 0], "err": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="ambiguous"):
        stats.paired_comparison(frame, value="err", between="method", a="A", b="B")
    with pytest.raises(ValueError, match="matches no row"):
        stats.paired_comparison(frame, value="err", between="method", a="A", b="C")
    with pytest.raises(ValueError, match="not in the frame"):
        stats.paired_comparison(frame, value="loss", between="method", a="A", b="B")


def test_describe_difference_says_indistinguishable_when_the_interval_covers_zero():
    lower = stats.paired_difference([1.0, 2.0, 3.0, 4.0, 5.0], [1.5, 2.4, 3.6, 4.5, 5.5])
    text = stats.describe_difference(lower, a_name="hard+STE", b_name="sigmoid", quantity="test MSE")
    assert text.startswith("hard+STE's test MSE is lower than sigmoid's by 0.5 (95 % CI")
    assert "5 paired seeds" in text
    lo, hi = -lower["high"], -lower["low"]
    assert f"{lo:.3g} to {hi:.3g}" in text
    tie = stats.paired_difference([1.0, 2.0, 3.0], [1.1, 1.9, 3.05])
    text = stats.describe_difference(tie, a_name="A", b_name="B", quantity="error")
    assert "indistinguishable on this task" in text and "3 paired seeds" in text
    assert stats.MIN_RANKING_SEEDS == 5


@pytest.mark.parametrize(
    "name, bounds",
    [
        ("f1", (0.0, 1.0)),
        ("support_f1", (0.0, 1.0)),
        ("success", (0.0, 1.0)),
        ("test_accuracy", (0.0, 1.0)),
        ("test_mse", (0.0, math.inf)),
        ("rel_error", (0.0, math.inf)),
        ("psnr_test", (-math.inf, math.inf)),
        ("f1_diff", (-math.inf, math.inf)),
    ],
)
def test_metric_bounds(name, bounds):
    assert stats.metric_bounds(name) == bounds


def test_summarise_clips_a_bounded_metric_to_its_range():
    frame = pd.DataFrame({"method": ["a"] * 3, "f1": [1.0, 1.0, 0.8], "psnr": [10.0, 300.0, 20.0]})
    summary = stats.summarise(frame, "method", ["f1", "psnr"])
    f1 = summary[summary["metric"] == "f1"].iloc[0]
    assert f1["mean"] + f1["half_width"] > 1.0 and f1["high"] == 1.0 and 0.0 < f1["low"] < f1["mean"]
    psnr = summary[summary["metric"] == "psnr"].iloc[0]
    assert psnr["low"] < 0 and psnr["low"] == pytest.approx(psnr["mean"] - psnr["half_width"])  # not clipped
