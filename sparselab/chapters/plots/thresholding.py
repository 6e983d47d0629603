r"""Figures of the thresholding chapter (``book/thresholding.ipynb``): compressed sensing.

:func:`phase_transition` (a Donoho–Tanner diagram over :math:`(\delta, \rho)`) and :func:`coefficients`
(estimated against true coefficients). The chapter also draws with
:func:`sparselab.chapters.plots.recovery.metric_vs_nnz`.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from sparselab.chapters.plots.common import (
    axis_label,
    numeric_column,
    require_frame,
    runs_range,
)
from sparselab.chapters.plots.style import (
    LINESTYLES,
    MARKERS,
    PALETTE,
    PAPER,
    new_axes,
    paint,
    styled,
)

__all__ = [
    "phase_transition",
    "coefficients",
]


# ---------------------------------------------------------------------------- thresholding and compressed sensing
def _edges(values) -> np.ndarray:
    """Cell edges around sorted grid ``values``: midpoints inside, half a step beyond the ends."""
    v = np.asarray(values, dtype=float)
    if v.size == 1:
        return np.array([v[0] - 0.05, v[0] + 0.05])
    mid = (v[1:] + v[:-1]) / 2
    return np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])


@styled
def phase_transition(frame, *, value="success", x="delta", y="rho", panel="method", curves=None, title=None) -> Figure:
    r"""Donoho–Tanner diagram: the mean of ``value`` over a grid of :math:`(\delta, \rho)`, one panel per ``panel``.

    Unlike :func:`phase_diagram` the axes are numeric: each grid point is a cell of a
    ``pcolormesh`` whose edges are the midpoints between neighbouring grid values, so
    that theoretical curves can be drawn over the cells. ``curves`` maps a label to a
    pair ``(xs, ys)`` drawn on every panel (e.g. the :math:`\ell_1` weak threshold
    :math:`\rho(\delta)`). Booleans such as ``success`` count as 0/1 (the mean is the
    success probability, colour scale ``[0, 1]``, ``cividis``); a cell without runs is
    blank. Panels are the values of ``panel`` in the order of first appearance
    (``None``: one panel), at most two across (four panels: a 2 × 2 grid). The mesh arrays (``ax.collections[0].get_array()``) hold the
    means, rows = ``y`` ascending, columns = ``x`` ascending.
    """
    frame = require_frame(frame, [value, x, y] + ([panel] if panel is not None else []))
    frame = numeric_column(frame, value)
    xs = np.sort(frame[x].unique().astype(float))
    ys = np.sort(frame[y].unique().astype(float))
    panels = list(dict.fromkeys(frame[panel])) if panel is not None else [None]
    curves = dict(curves or {})
    for label, pair in curves.items():
        if len(pair) != 2 or len(pair[0]) != len(pair[1]):
            raise ValueError(f"curve {label!r} must be a pair (xs, ys) of equal lengths")
    n = len(panels)
    ncols = min(n, 2)  # at most two panels across, so that each stays readable on a laptop screen
    nrows = -(-n // ncols)
    fig, grid_axes = plt.subplots(
        nrows,
        ncols,
        figsize=(3.6 * ncols + 1.2, 3.4 * nrows + 0.4),
        layout="constrained",
        sharey=True,
        squeeze=False,
    )
    for ax in grid_axes.ravel()[n:]:
        ax.remove()  # an odd number of panels leaves the last cell empty
    axes = list(grid_axes.ravel()[:n])
    norm = mpl.colors.Normalize(vmin=0.0, vmax=1.0)
    cmap = mpl.colormaps["cividis"].with_extremes(bad=PAPER)
    mesh, counts = None, []
    for ax, p in zip(axes, panels):
        rows = frame if p is None else frame[frame[panel] == p]
        grid = rows.pivot_table(index=y, columns=x, values=value, aggfunc="mean").reindex(index=ys, columns=xs)
        counts += list(rows.groupby([y, x]).size())
        mesh = ax.pcolormesh(
            _edges(xs),
            _edges(ys),
            np.ma.masked_invalid(grid.to_numpy(dtype=float)),
            cmap=cmap,
            norm=norm,
            shading="flat",
        )
        for i, (label, (cx, cy)) in enumerate(curves.items()):
            ax.plot(
                np.asarray(cx, dtype=float),
                np.asarray(cy, dtype=float),
                color=[PALETTE[3], PALETTE[7]][i % 2],
                linestyle=LINESTYLES[i % len(LINESTYLES)],
                linewidth=2.0,
                label=label,
            )
        ax.set_xlim(_edges(xs)[0], _edges(xs)[-1])
        ax.set_ylim(_edges(ys)[0], _edges(ys)[-1])
        ax.grid(False)
        ax.set_xlabel(r"$\delta = m/N$" if x == "delta" else axis_label(x))
        if p is not None:
            ax.set_title(str(p), fontsize="medium")
    for row in range(nrows):
        axes[row * ncols].set_ylabel(r"$\rho = k/m$" if y == "rho" else axis_label(y))
    if curves:
        axes[0].legend(fontsize="small", loc="upper left")
    fig.colorbar(mesh, ax=axes, location="right", shrink=0.9, aspect=25, pad=0.02, label=f"mean of {axis_label(value)}")
    head = f"{axis_label(value)}: mean over {runs_range(counts)} run(s) per cell"
    fig.suptitle(head if title is None else f"{title}\n{head}", fontsize="medium")
    return paint(fig)


_ESTIMATE_STYLES = {
    "lasso": dict(color=PALETTE[5], marker="P"),
    "debiased lasso": dict(color=PALETTE[1], marker="s"),
    "IHT": dict(color="#332288", marker="o"),
}


@styled
def coefficients(frame, *, true="true", estimates=("lasso", "debiased lasso", "IHT"), ax=None) -> Figure:
    r"""Estimated against true coefficients, one marker style per estimate, with the identity line.

    ``frame`` has one row per coordinate with the true value in column ``true`` and one
    column per estimate. Drawn are the coordinates where the true value or that estimate is
    non-zero (an estimate's false positives sit on the vertical axis, its misses on the
    horizontal one). A point on the diagonal is unbiased; the lasso's points lie between
    the diagonal and the horizontal axis (every surviving coefficient shrunk towards 0).
    One scatter collection per estimate, in the order of ``estimates``.
    """
    estimates = list(estimates)
    frame = require_frame(frame, [true] + estimates)
    fig, ax = new_axes(ax, (5.6, 4.8))
    t = frame[true].to_numpy(dtype=float)
    span = [float(np.nanmin(t)), float(np.nanmax(t))]
    for i, name in enumerate(estimates):
        e = frame[name].to_numpy(dtype=float)
        keep = (t != 0) | (e != 0)
        style = _ESTIMATE_STYLES.get(name, dict(color=PALETTE[i % len(PALETTE)], marker=MARKERS[i % len(MARKERS)]))
        ax.scatter(
            t[keep],
            e[keep],
            s=30,
            facecolors="none" if i else style["color"],
            edgecolors=style["color"],
            marker=style["marker"],
            linewidths=1.2,
            label=name,
            zorder=3 + i,
        )
        if keep.any():
            span = [min(span[0], float(e[keep].min())), max(span[1], float(e[keep].max()))]
    ax.plot(span, span, color="#888888", linestyle=":", linewidth=1.2, label="estimate = true", zorder=1)
    ax.axhline(0.0, color="#BBBBBB", linewidth=0.8, zorder=0)
    ax.set_xlabel("true coefficient")
    ax.set_ylabel("estimate")
    ax.legend(fontsize="small", loc="upper left")
    return paint(fig, ax)
