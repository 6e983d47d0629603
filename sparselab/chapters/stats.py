r"""The one uncertainty convention of the book: a mean over seeds with a two-sided Student-:math:`t` interval.

Every number the book reports with an uncertainty, and every error bar of its figures, is computed here. For the
:math:`n` runs (seeds) :math:`v_1, \dots, v_n` of one configuration, with mean :math:`\bar v` and sample standard
deviation :math:`s = \sqrt{\sum_i (v_i - \bar v)^2 / (n - 1)}`, the interval at confidence ``level`` :math:`c` is

.. math:: \bar v \pm h, \qquad h = t_{n-1,\,(1+c)/2}\,\frac{s}{\sqrt n},

where :math:`t_{n-1,\,q}` is the :math:`q` quantile of Student's :math:`t` distribution with :math:`n - 1` degrees
of freedom (:func:`t_quantile`). With a single run there is no interval: :math:`h` is ``NaN``.

The level is always a **fraction**, ``level=0.95`` for a 95 % interval, in every function of the book's layer that
draws or tabulates an interval (:func:`summarise`, the figures of :mod:`sparselab.chapters.plots`); a percentage
(``level=95``) is rejected by :func:`check_level`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as _scipy_stats

from sparselab._validation import check_float, check_int

__all__ = [
    "check_level",
    "t_quantile",
    "half_width",
    "mean_interval",
    "percent",
    "metric_bounds",
    "summarise",
    "MIN_RANKING_SEEDS",
    "paired_difference",
    "paired_comparison",
    "describe_difference",
]


def check_level(level, name: str = "level") -> float:
    """``level`` checked: a confidence level as a fraction in :math:`(0, 1)`, such as 0.95 (not 95)."""
    try:
        return check_float(level, name, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    except ValueError as error:
        raise ValueError(
            f"{error}: {name} is a fraction, {name}=0.95 for a 95% interval (the book's one convention), "
            "not a percentage"
        ) from None


def t_quantile(n: int, level: float = 0.95) -> float:
    r"""The Student-:math:`t` quantile :math:`t_{n-1,\,(1+c)/2}` of a two-sided ``level`` interval from ``n`` runs.

    ``n >= 2`` (the quantile has :math:`n - 1 \ge 1` degrees of freedom); ``level`` :math:`c` is a fraction.
    """
    n = check_int(n, "n", low=2)
    level = check_level(level)
    return float(_scipy_stats.t.ppf(0.5 + level / 2, n - 1))


def half_width(values, level: float = 0.95) -> float:
    r"""The half-width :math:`h = t_{n-1,\,(1+c)/2}\, s/\sqrt n` of the ``level`` interval for the mean of ``values``.

    ``values`` are the :math:`n` runs as a 1-D array (NaN values are *not* dropped here; see
    :func:`mean_interval`). ``NaN`` with fewer than two values.
    """
    level = check_level(level)
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2:
        return float("nan")
    return float(t_quantile(n, level) * values.std(ddof=1) / math.sqrt(n))


def mean_interval(values, level: float | None = 0.95) -> tuple[float, float]:
    """``(mean, half_width)`` of the finite ``values``; ``level=None`` gives a ``NaN`` half-width (no interval).

    Non-finite values are dropped first; the mean of no value and the half-width of fewer than two values are
    ``NaN`` (:func:`half_width`).
    """
    if level is not None:
        level = check_level(level)
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    mean = float(values.mean()) if values.size else float("nan")
    return mean, (half_width(values, level) if level is not None else float("nan"))


def percent(level: float) -> str:
    """``level`` as the percentage figures print in their labels: ``percent(0.95) == "95"``."""
    return f"{check_level(level) * 100:g}"


#: Ranges of the book's bounded metrics, by a word their column names contain (first match wins).
_BOUNDED = (
    (
        ("f1", "precision", "recall", "success", "accuracy", "overlap", "share", "rate", "density", "fraction"),
        (0.0, 1.0),
    ),
    (("mse", "error", "loss", "seconds", "flips", "nnz", "gap", "norm"), (0.0, math.inf)),
)


def metric_bounds(name: str) -> tuple[float, float]:
    """The range ``(low, high)`` a metric named ``name`` lives in: ``(0, 1)`` for F1, precision, recall,
    success and flip rates, accuracies, overlaps, shares and densities; ``(0, inf)`` for errors, losses, times
    and counts; ``(-inf, inf)`` otherwise (e.g. a PSNR or a difference)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a metric name (a string), got {type(name).__name__}")
    lowered = name.lower()
    if "diff" in lowered or "delta" in lowered:
        return (-math.inf, math.inf)
    for words, bounds in _BOUNDED:
        if any(word in lowered for word in words):
            return bounds
    return (-math.inf, math.inf)


def summarise(frame: pd.DataFrame, by, value="test_mse", level: float = 0.95, clip: bool = True) -> pd.DataFrame:
    r"""Mean and Student-:math:`t` interval of ``value`` for each group of ``by``.

    For a group of :math:`n` values with mean :math:`\bar v` and sample standard
    deviation :math:`s`, the interval is :math:`\bar v \pm h` with
    :math:`h = t_{n-1,\,(1+c)/2}\, s/\sqrt n` (``c = level``, a fraction). A group of one run has no
    interval (``NaN``). Returns one row per group with the ``by`` columns and
    ``n``, ``mean``, ``sd``, ``half_width``, ``low``, ``high``; NaN values are dropped
    before counting. ``value`` may be a list of columns: the summaries are then
    stacked, with a ``metric`` column naming the column summarised. With ``clip`` (the default) ``low`` and
    ``high`` are clipped to the metric's range (:func:`metric_bounds`: an F1 interval never passes 1, an MSE
    interval never goes below 0); ``half_width`` stays the unclipped :math:`h`.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    by = [by] if isinstance(by, str) else list(by)
    if not by:
        raise ValueError("by must name at least one column")
    values = [value] if isinstance(value, str) else list(value)
    if not values:
        raise ValueError("value must name at least one column")
    missing = [c for c in [*by, *values] if c not in frame.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not in the frame; it has {list(frame.columns)}")
    level = check_level(level)
    if not isinstance(clip, bool):
        raise TypeError(f"clip must be True or False, got {clip!r}")

    def reduce(v: np.ndarray, bounds) -> dict:
        v = v[~np.isnan(v)]
        n = len(v)
        mean = float(v.mean()) if n else float("nan")
        sd = float(v.std(ddof=1)) if n > 1 else float("nan")
        half = half_width(v, level)
        low, high = mean - half, mean + half
        if clip and math.isfinite(half):
            low, high = max(low, bounds[0]), min(high, bounds[1])
        return {"n": n, "mean": mean, "sd": sd, "half_width": half, "low": low, "high": high}

    rows = []
    for column in values:
        bounds = metric_bounds(column)
        for key, group in frame.groupby(by, sort=True, dropna=False):
            key = key if isinstance(key, tuple) else (key,)
            metric = {} if isinstance(value, str) else {"metric": column}
            rows.append({**dict(zip(by, key)), **metric, **reduce(group[column].to_numpy(dtype=float), bounds)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- paired comparisons

#: The fewest paired seeds on which the book states a ranking of two methods as a finding.
MIN_RANKING_SEEDS = 5

PAIRED_COLUMNS = (
    "n",
    "mean_a",
    "mean_b",
    "mean",
    "sd",
    "half_width",
    "low",
    "high",
    "t_pvalue",
    "wilcoxon_pvalue",
    "verdict",
)


def paired_difference(a, b, *, level: float = 0.95) -> dict:
    r"""The paired difference :math:`\delta_i = a_i - b_i` of two methods run on the same seeds, with its interval.

    ``a`` and ``b`` are 1-D sequences of equal length :math:`n`, paired by position (run :math:`i` of both used
    the same seed, hence the same data and initialisation). The interval is the book's one convention applied to
    the differences, :math:`\bar\delta \pm t_{n-1,(1+c)/2}\, s_\delta/\sqrt n` (a paired :math:`t` interval),
    which removes the seed-to-seed variation that both methods share. Two p-values of the null
    :math:`\mathbb E\,\delta = 0` come with it: the paired :math:`t` test (``scipy.stats.ttest_rel``) and the
    Wilcoxon signed-rank test (``scipy.stats.wilcoxon``), which does not assume the differences normal.
    Pairs with a non-finite member are dropped.

    Returns a dict with ``n``, ``mean_a``, ``mean_b``, ``mean`` (:math:`\bar\delta`), ``sd``, ``half_width``,
    ``low``, ``high``, ``t_pvalue``, ``wilcoxon_pvalue`` and ``verdict``: ``"lower"`` when the whole interval
    lies below 0 (``a`` is lower than ``b``), ``"higher"`` when it lies above, and ``"indistinguishable"`` when
    it covers 0 or there are fewer than two pairs. The p-values are ``NaN`` when undefined (fewer than two
    pairs; Wilcoxon when every difference is 0).
    """
    level = check_level(level)
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"a and b must be 1-D sequences of per-seed values, got shapes {a.shape} and {b.shape}")
    if a.shape != b.shape:
        raise ValueError(f"a and b must pair up run by run: got {a.size} and {b.size} values")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    d = a - b
    n = int(d.size)
    mean = float(d.mean()) if n else float("nan")
    sd = float(d.std(ddof=1)) if n > 1 else float("nan")
    half = half_width(d, level)
    if n > 1 and sd == 0.0:
        half = 0.0
    low, high = mean - half, mean + half
    t_p = w_p = float("nan")
    if n > 1:
        if sd > 0:
            t_p = float(_scipy_stats.ttest_rel(a, b).pvalue)
        elif mean != 0:
            t_p = 0.0
        if np.any(d != 0):
            w_p = float(_scipy_stats.wilcoxon(a, b).pvalue)
    if n > 1 and high < 0:
        verdict = "lower"
    elif n > 1 and low > 0:
        verdict = "higher"
    else:
        verdict = "indistinguishable"
    return {
        "n": n,
        "mean_a": float(a.mean()) if n else float("nan"),
        "mean_b": float(b.mean()) if n else float("nan"),
        "mean": mean,
        "sd": sd,
        "half_width": half,
        "low": low,
        "high": high,
        "t_pvalue": t_p,
        "wilcoxon_pvalue": w_p,
        "verdict": verdict,
    }


def paired_comparison(
    frame: pd.DataFrame,
    *,
    value: str,
    between: str,
    a,
    b,
    pair_on="seed",
    by=None,
    level: float = 0.95,
) -> pd.DataFrame:
    r""":func:`paired_difference` of ``value`` between the rows with ``between == a`` and those with ``between == b``.

    Within each group of ``by`` (none: the whole frame), a row of method ``a`` is paired with the row of method
    ``b`` that has the same ``pair_on`` value(s) (the seed); a seed present for one method only is left out, and a
    ``pair_on`` key repeated within one method is an error (the pairing would be ambiguous). Returns one row per
    group: the ``by`` columns, ``a``, ``b`` and the keys of :func:`paired_difference`.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    level = check_level(level)
    by = [] if by is None else ([by] if isinstance(by, str) else list(by))
    pair_on = [pair_on] if isinstance(pair_on, str) else list(pair_on)
    if not pair_on:
        raise ValueError("pair_on must name at least one column (the seed)")
    missing = [c for c in [value, between, *pair_on, *by] if c not in frame.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not in the frame; it has {list(frame.columns)}")
    for name, method in (("a", a), ("b", b)):
        if not (frame[between] == method).any():
            present = sorted(map(str, frame[between].unique()))
            raise ValueError(f"{name}={method!r} matches no row of column {between!r}; it has {present}")
    groups = frame.groupby(by, sort=True, dropna=False) if by else [((), frame)]
    rows = []
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        sides = []
        for method in (a, b):
            side = group[group[between] == method]
            if side.duplicated(pair_on).any():
                raise ValueError(
                    f"{between}={method!r} has several rows with the same {pair_on} "
                    f"{'in group ' + str(dict(zip(by, key))) if by else ''}: the pairing is ambiguous"
                )
            sides.append(side.set_index(pair_on)[value])
        joined = pd.concat(sides, axis=1, keys=["a", "b"], join="inner").sort_index()
        result = paired_difference(joined["a"].to_numpy(), joined["b"].to_numpy(), level=level)
        rows.append({**dict(zip(by, key)), "a": a, "b": b, **result})
    return pd.DataFrame(rows, columns=[*by, "a", "b", *PAIRED_COLUMNS])


def describe_difference(
    result, *, a_name: str, b_name: str, quantity: str, fmt: str = "{:.3g}", level=0.95, unit: str = "seed"
) -> str:
    """One prose sentence for a :func:`paired_difference` result (a dict or a row of :func:`paired_comparison`).

    ``unit`` names what the pairs are (``"seed"``; ``"instance"`` where a pair is a grid cell and a seed).

    >>> describe_difference(paired_difference([1.0, 2.0, 3.0], [2.0, 3.1, 3.9]), a_name="A", b_name="B",
    ...                     quantity="test error")
    "A's test error is lower than B's by 1 (95 % CI 0.752 to 1.25, 3 paired seeds)"
    """
    level = check_level(level)
    n = int(result["n"])
    seeds = f"{n} paired {unit}{'s' if n != 1 else ''}"
    if n < 2:
        return f"{a_name} and {b_name} cannot be compared on {quantity}: {seeds}"
    ci = f"{percent(level)} % CI {fmt.format(result['low'])} to {fmt.format(result['high'])}"
    if result["verdict"] == "indistinguishable":
        return (
            f"{a_name} and {b_name} are indistinguishable on this task in {quantity} "
            f"(difference {fmt.format(result['mean'])}, {ci}, {seeds})"
        )
    word = result["verdict"]  # "lower" or "higher": the size of the gap and its interval, both positive
    if word == "lower":
        ci = f"{percent(level)} % CI {fmt.format(-result['high'])} to {fmt.format(-result['low'])}"
    return f"{a_name}'s {quantity} is {word} than {b_name}'s by {fmt.format(abs(result['mean']))} ({ci}, {seeds})"
