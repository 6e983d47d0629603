"""Publishing helpers: the numbers of a summary into the book's text and tables.

:func:`lookup` reads one value out of a summary of :func:`sparselab.chapters.stats.summarise`,
:func:`interval_table` lays a summary out as a wide table of ``"mean [low, high]"`` strings, and
:func:`glue_values` glues a dict of values with :func:`myst_nb.glue`, so that the prose can cite them
with the MyST role ``{glue:text}`` followed by the name and a format in backquotes.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from sparselab._validation import check_bool, check_int

__all__ = ["lookup", "interval_table", "glue_values", "glue_figure"]


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
    return table.fillna("—")  # a combination the summary does not have


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
