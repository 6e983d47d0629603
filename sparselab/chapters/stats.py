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

__all__ = ["check_level", "t_quantile", "half_width", "mean_interval", "percent", "summarise"]


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


def summarise(frame: pd.DataFrame, by, value="test_mse", level: float = 0.95) -> pd.DataFrame:
    r"""Mean and Student-:math:`t` interval of ``value`` for each group of ``by``.

    For a group of :math:`n` values with mean :math:`\bar v` and sample standard
    deviation :math:`s`, the interval is :math:`\bar v \pm h` with
    :math:`h = t_{n-1,\,(1+c)/2}\, s/\sqrt n` (``c = level``, a fraction). A group of one run has no
    interval (``NaN``). Returns one row per group with the ``by`` columns and
    ``n``, ``mean``, ``sd``, ``half_width``, ``low``, ``high``; NaN values are dropped
    before counting. ``value`` may be a list of columns: the summaries are then
    stacked, with a ``metric`` column naming the column summarised.
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

    def reduce(v: np.ndarray) -> dict:
        v = v[~np.isnan(v)]
        n = len(v)
        mean = float(v.mean()) if n else float("nan")
        sd = float(v.std(ddof=1)) if n > 1 else float("nan")
        half = half_width(v, level)
        return {"n": n, "mean": mean, "sd": sd, "half_width": half, "low": mean - half, "high": mean + half}

    rows = []
    for column in values:
        for key, group in frame.groupby(by, sort=True, dropna=False):
            key = key if isinstance(key, tuple) else (key,)
            metric = {} if isinstance(value, str) else {"metric": column}
            rows.append({**dict(zip(by, key)), **metric, **reduce(group[column].to_numpy(dtype=float))})
    return pd.DataFrame(rows)
