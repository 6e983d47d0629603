"""Publishing helpers: the numbers of a summary into the book's text and tables.

:func:`lookup` reads one value out of a summary of :func:`sparselab.chapters.stats.summarise`,
:func:`interval_table` lays a summary out as a wide table of ``"mean [low, high]"`` strings,
:func:`results_table` is the one formatter of every table the book shows (readable names, the same
significant digits everywhere, "—" for a missing value), and
:func:`glue_values` glues a dict of values with :func:`myst_nb.glue`, so that the prose can cite them
with the MyST role ``{glue:text}`` followed by the name and a format in backquotes.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from sparselab._validation import check_bool, check_int

__all__ = ["lookup", "interval_table", "format_number", "results_table", "glue_values", "glue_figure"]

#: What a table cell shows where a value is missing (a method without that parameter, a metric it lacks).
MISSING = "—"


def lookup(summary: pd.DataFrame, column: str = "mean", **where) -> float:
    """The one value of ``column`` in the row of ``summary`` where every ``where`` column matches.

    Floats are compared with a tolerance of 1e-9. Raises if no row or several rows match,
    naming the values that exist.

    >>> lookup(summarise(frame, ["method", "sparsity"]), method="hard+STE", sparsity=0.9)  # doctest: +SKIP
    """
    if column not in summary.columns:
        raise ValueError(f"column {column!r} not in the summary; it has {list(summary.columns)}")
    keep = np.ones(len(summary), dtype=bool)
    for name, wanted in where.items():
        if name not in summary.columns:
            raise ValueError(f"column {name!r} not in the summary; it has {list(summary.columns)}")
        col = summary[name]
        if isinstance(wanted, numbers.Real) and not isinstance(wanted, bool) and pd.api.types.is_float_dtype(col):
            keep &= np.isclose(col.to_numpy(dtype=float), float(wanted), rtol=0.0, atol=1e-9)
        else:
            keep &= (col == wanted).to_numpy()
    hits = summary.loc[keep, column]
    if len(hits) != 1:
        have = {name: sorted(summary[name].unique().tolist(), key=str) for name in where}
        raise ValueError(f"{len(hits)} rows match {where} (need exactly one); the summary has {have}")
    value = hits.iloc[0]
    return value.item() if hasattr(value, "item") else value


def interval_table(summary: pd.DataFrame, index, columns, digits: int = 3) -> pd.DataFrame:
    """A summary from :func:`sparselab.chapters.stats.summarise` as a wide table of ``"mean [low, high]"`` strings.

    The interval is the summary's (a 95 % Student-:math:`t` interval over seeds, clipped to the metric's range by
    :func:`~sparselab.chapters.stats.summarise`); a group of one run shows its value with "(1 run)", and a group with no
    finite value shows "—".
    """
    digits = check_int(digits, "digits", low=0)
    index = [index] if isinstance(index, str) else list(index)
    columns = [columns] if isinstance(columns, str) else list(columns)

    def cell(row) -> str:
        if not math.isfinite(row["mean"]):
            return "—"  # no finite run in the group (e.g. a metric the method does not have)
        if not math.isfinite(row["half_width"]):
            return f"{row['mean']:.{digits}f} (1 run)" if row.get("n", 2) == 1 else f"{row['mean']:.{digits}f}"
        return f"{row['mean']:.{digits}f} [{row['low']:.{digits}f}, {row['high']:.{digits}f}]"

    text = summary.assign(cell=summary.apply(cell, axis=1))
    if "metric" in text.columns:  # metric names as the figures label them ("test_mse" -> "test MSE")
        from sparselab.chapters.plots.style import nice

        text["metric"] = text["metric"].map(lambda name: nice(name) if isinstance(name, str) else name)
    table = text.pivot_table(index=index, columns=columns, values="cell", aggfunc="first")
    return table.fillna(MISSING)  # a combination the summary does not have


def format_number(value, digits: int = 3, *, missing: str = MISSING, whole: bool = True) -> str:
    r"""``value`` as table text with ``digits`` significant digits.

    Integers (and integral floats of at least 1) print whole with thousands separators (``2,390``);
    other magnitudes :math:`10^{-3} \le |v| < 10^{6}` print in fixed notation with ``digits``
    significant digits (``0.00230``, ``0.123``, ``5.94``, ``1,234.6``), smaller or larger ones in
    scientific notation (``2.24e-16``); zero prints ``0``. NaN, ``None`` and ``pd.NA`` print ``missing``;
    infinities print ``∞`` / ``−∞``; booleans ``yes`` / ``no``; strings pass through unchanged.
    ``whole=False`` prints an integral float like any other float (``4.00``), for a column whose other
    values have decimals (:func:`results_table` decides per column).
    """
    digits = check_int(digits, "digits", low=1)
    if value is None or value is pd.NA or value is pd.NaT:
        return missing
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if not isinstance(value, numbers.Number):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    v = float(value)
    if math.isnan(v):
        return missing
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    a = abs(v)
    if a == 0:
        return "0"
    if whole and a >= 1 and v == round(v) and a < 1e15:
        return f"{int(round(v)):,}"
    if a < 1e-3 or a >= 1e6:
        return f"{v:.{digits - 1}e}"
    decimals = max(0, digits - 1 - math.floor(math.log10(a)))
    return f"{v:,.{decimals}f}"


def results_table(frame, digits: int = 3, *, missing: str = MISSING, rename: dict | None = None) -> pd.DataFrame:
    """``frame`` (a DataFrame or Series) as the book shows a results table: every cell a string.

    Numbers go through :func:`format_number` (``digits`` significant digits; a column's integral values
    print whole only when all its values are integral, so ``4`` stands beside ``3.88`` as ``4.00``; ``missing`` for NaN: the
    prose next to a table with ``missing`` cells says why they are missing); interval strings from
    :func:`interval_table` pass through. Column labels, index labels and the names of the index and
    column levels become the names the figures use (:func:`sparselab.chapters.plots.style.nice`:
    ``test_mse`` -> ``test MSE``, other underscores as spaces), after ``rename`` (a dict old -> new label,
    applied first, to any level). The result keeps ``frame``'s index and column structure.
    """
    from sparselab.chapters.plots.style import nice

    digits = check_int(digits, "digits", low=1)
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame or Series, got {type(frame).__name__}")
    if rename is not None and not isinstance(rename, dict):
        raise TypeError(f"rename must be a dict old label -> new label, got {type(rename).__name__}")
    rename = rename or {}

    def label(x):
        x = rename.get(x, x)
        return nice(x) if isinstance(x, str) else x

    def relabel(index: pd.Index) -> pd.Index:
        names = [label(n) if n is not None else None for n in index.names]
        if isinstance(index, pd.MultiIndex):
            return pd.MultiIndex.from_tuples([tuple(label(x) for x in t) for t in index], names=names)
        return pd.Index([label(x) for x in index], name=names[0])

    text = frame.copy()
    for column in text.columns:
        values = text[column]
        integral = pd.api.types.is_integer_dtype(values.dtype)
        reals = [float(v) for v in values if isinstance(v, numbers.Real) and not isinstance(v, bool) and not pd.isna(v)]
        whole = all(math.isinf(v) or v == round(v) for v in reals)  # a column of counts prints whole numbers
        text[column] = [
            format_number(int(v) if integral and not pd.isna(v) else v, digits, missing=missing, whole=whole)
            for v in values
        ]
    text = text.astype(object)
    text.index = relabel(text.index)
    text.columns = relabel(text.columns)
    return text


def glue_values(values: dict, *, prefix: str = "", display: bool = False) -> None:
    """Glue every entry of ``values`` with :func:`myst_nb.glue` under the name ``prefix + key``.

    ``display=False`` (the default) stores the values for the prose's ``{glue:text}`` role without showing
    them in the notebook's output. :mod:`myst_nb` is imported here, on first use, so the book's layer imports without it.
    """
    if not isinstance(values, dict):
        raise TypeError(f"values must be a dict name -> value, got {type(values).__name__}")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a string, got {type(prefix).__name__}")
    display = check_bool(display, "display")
    from myst_nb import glue

    for key, value in values.items():
        glue(f"{prefix}{key}", value, display=display)


def glue_figure(name: str, fig) -> None:
    """Glue the matplotlib figure ``fig`` under ``name`` for a ``{glue:figure}`` directive, and close it.

    The page then shows the figure only where the prose places it, with its number, caption and alt text
    (``{glue:figure} name`` with ``:name: name`` and ``:alt:``), and ``{numref}`` can refer to it. Closing
    the figure keeps the inline backend from drawing it a second time at the end of the cell.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string, got {name!r}")
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    import matplotlib.pyplot as plt
    from myst_nb import glue

    glue(name, fig, display=False)
    plt.close(fig)
