r"""Figures of the factorisation chapter (``book/factorization.ipynb``): sparse matrix factorisation.

:func:`ill_posedness` (error against parameter norm on the LU support),
:func:`relu_training`, :func:`fsmf_gaps` (end points of local solvers from random starts),
:func:`butterfly_errors`, :func:`product_timing` (log–log, with :math:`N^2` and
:math:`N \log N` guides) and :func:`layer_comparison`, styled by :data:`FACTORIZATION_STYLES`
(:mod:`sparselab.factorization`, :mod:`sparselab.factorization.butterfly`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from sparselab.chapters.plots.common import (
    axis_label,
    method_style,
    numeric_column,
    require_frame,
    runs_range,
)
from sparselab.chapters.plots.style import (
    INK,
    PALETTE,
    log_ticks,
    new_axes,
    paint,
    plain_log,
    styled,
    three_panels,
)
from sparselab.chapters.stats import mean_interval, percent

__all__ = [
    "FACTORIZATION_STYLES",
    "ill_posedness",
    "relu_training",
    "fsmf_gaps",
    "butterfly_errors",
    "product_timing",
    "layer_comparison",
]


#: Colours, markers and line styles of the factorisation chapter's groups (supports, solvers, orders of
#: the butterfly algorithm, matrices, kinds of products, structured layers); other names fall back to
#: :data:`METHOD_STYLES` and then to the palette by position.
FACTORIZATION_STYLES = {
    # supports and solvers (fixed-support factorisation)
    "LU": dict(color=PALETTE[3], marker="o", linestyle="-"),
    "full": dict(color=PALETTE[0], marker="s", linestyle="--"),
    "tractable": dict(color=PALETTE[2], marker="o", linestyle="-"),
    "general": dict(color=PALETTE[3], marker="s", linestyle="--"),
    "exact": dict(color=PALETTE[6], marker="*", linestyle="-"),
    "als": dict(color=PALETTE[0], marker="o", linestyle="-"),
    "gd": dict(color=PALETTE[1], marker="s", linestyle="--"),
    # orders of the hierarchical butterfly algorithm
    "balanced": dict(color=PALETTE[0], marker="o", linestyle="-"),
    "left_to_right": dict(color=PALETTE[1], marker="s", linestyle="--"),
    "right_to_left": dict(color=PALETTE[2], marker="^", linestyle=":"),
    # matrices
    "DFT": dict(color=PALETTE[0], marker="o", linestyle="-"),
    "Hadamard": dict(color=PALETTE[2], marker="s", linestyle="--"),
    "DFT (no permutation)": dict(color=PALETTE[3], marker="^", linestyle=":"),
    # products and layers
    "butterfly": dict(color=PALETTE[0], marker="o", linestyle="-"),
    "monarch": dict(color=PALETTE[2], marker="s", linestyle="--"),
    "fft": dict(color=PALETTE[4], marker="D", linestyle="-."),
    "dense": dict(color="#555555", marker="^", linestyle=":"),
    "sparse": dict(color=PALETTE[1], marker="v", linestyle=":"),
    "low-rank": dict(color=PALETTE[3], marker="P", linestyle="-."),
}

_FACTOR_NICE = {
    "relative_error": "relative error",
    "monarch_relative_error": "relative error (Monarch)",
    "test_relative_error": "test relative error",
    "train_mse": "train MSE",
    "test_accuracy": "test accuracy",
    "train_accuracy": "train accuracy",
    "seconds": "time (s)",
    "N": "size $N$",
    "noise": r"noise $\|E\|/\|B\|$",
    "gap": r"gap $(\|A - XY^\top\| - \mathrm{opt}) / \|A\|$",
    "error": r"error $\|A - XY^\top\|_F$",
    "norm": r"norm $\sqrt{\|X\|^2 + \|Y\|^2}$",
    "loss": "training loss",
    "step": "step",
}


def _flabel(name) -> str:
    return _FACTOR_NICE.get(name, axis_label(name))


def _fstyle(name, index: int) -> dict:
    """The :data:`FACTORIZATION_STYLES` entry of ``name``, else :func:`method_style`'s."""
    if name in FACTORIZATION_STYLES:
        return dict(FACTORIZATION_STYLES[name])
    return method_style(name, index)


def _levels(values, order=tuple(FACTORIZATION_STYLES)) -> list:
    """The distinct ``values`` in the order of ``order`` (unknown ones last, in order of appearance)."""
    seen = list(dict.fromkeys(values))
    return [v for v in order if v in seen] + [v for v in seen if v not in order]


def _positive_or_nan(values) -> np.ndarray:
    """Floats with values at or below 0 (or not finite) replaced by NaN: what a log axis can show."""
    v = np.asarray(values, dtype=float)
    return np.where(np.isfinite(v) & (v > 0), v, np.nan)


def _mean_curve(rows, x, y):
    """``(xs, means)`` of ``y`` per ``x``, sorted by ``x``."""
    means = rows.groupby(x, sort=True)[y].mean()
    return means.index.to_numpy(dtype=float), means.to_numpy(dtype=float)


@styled
def ill_posedness(path_frame, descent_frame) -> Figure:
    r"""An infimum that is not attained: error against parameter norm, and both against the step.

    Three panels on log axes:

    1. **error against norm.** ``path_frame`` (columns ``eps``, ``error``, ``norm``; one row per
       :math:`\varepsilon`, :func:`sparselab.factorization.lu_path`) as a black line: the norm
       :math:`\sqrt{\|X\|_F^2 + \|Y\|_F^2}` of a minimising sequence of the LU support at error
       :math:`\varepsilon`, growing like :math:`\varepsilon^{-1/2}`. Over it, the trajectories of
       gradient descent of ``descent_frame`` (columns ``support``, ``seed``, ``step``, ``error``,
       ``norm``), one line per support and seed (one colour per support).
    2. **error against step**, the same runs.
    3. **norm against step**, the same runs.

    Errors at or below 0 cannot sit on a log axis and are left out (an exact fit of the full support).
    Lines are drawn in the order: path, then each support (in the order of
    :data:`FACTORIZATION_STYLES`) and seed (ascending).
    """
    path = require_frame(path_frame, ["eps", "error", "norm"]).sort_values("eps")
    descent = require_frame(descent_frame, ["support", "seed", "step", "error", "norm"])
    supports = _levels(descent["support"])
    fig, axes = three_panels(11.0, 8.2)
    ax = axes[0]
    ax.plot(
        path["norm"].to_numpy(dtype=float),
        _positive_or_nan(path["error"]),
        color=INK,
        linewidth=2.0,
        marker="o",
        markersize=4,
        label=r"LU: minimising path at error $\varepsilon$",
        zorder=4,
    )
    for i, support in enumerate(supports):
        style = _fstyle(support, i)
        rows = descent[descent["support"] == support]
        seeds = sorted(rows["seed"].unique())
        for j, seed in enumerate(seeds):
            run = rows[rows["seed"] == seed].sort_values("step")
            steps = run["step"].to_numpy(dtype=float)
            error, norm = _positive_or_nan(run["error"]), run["norm"].to_numpy(dtype=float)
            label = f"{support}: gradient descent" if j == 0 else None
            ax.plot(
                norm,
                error,
                color=style["color"],
                linestyle=style["linestyle"],
                linewidth=1.3,
                alpha=0.85,
                label=label,
                zorder=3,
            )
            axes[1].plot(
                steps,
                error,
                color=style["color"],
                linestyle=style["linestyle"],
                linewidth=1.3,
                alpha=0.85,
                label=f"{support} ({len(seeds)} seeds)" if j == 0 else None,
            )
            axes[2].plot(
                steps,
                norm,
                color=style["color"],
                linestyle=style["linestyle"],
                linewidth=1.3,
                alpha=0.85,
                label=f"{support} ({len(seeds)} seeds)" if j == 0 else None,
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(_flabel("norm"))
    ax.set_ylabel(_flabel("error"))
    ax.set_title("error against norm", fontsize="medium")
    ax.legend(fontsize="small", loc="lower left")
    for ax, column in ((axes[1], "error"), (axes[2], "norm")):
        ax.set_yscale("log")
        ax.set_xlabel(_flabel("step"))
        ax.set_ylabel(_flabel(column))
        ax.set_title(f"{_flabel(column).split(' ')[0]} during gradient descent", fontsize="medium")
        ax.legend(fontsize="small", title="support")
    plain_log(axes[0].xaxis)
    return paint(fig)


@styled
def relu_training(frame) -> Figure:
    r"""Training a sparse one-hidden-layer ReLU network: loss and parameter norm against the step.

    ``frame`` has columns ``seed``, ``step``, ``loss`` and ``norm`` (one row per record). Two
    panels, one line per seed: the training loss (log axis) and the parameter norm
    :math:`\sqrt{\|W\|_F^2 + \|v\|^2}` (linear axis from 0, so that a bounded norm reads as a flat
    line). A dotted line in the loss panel marks the smallest loss reached by any seed.
    """
    frame = require_frame(frame, ["seed", "step", "loss", "norm"])
    seeds = sorted(frame["seed"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 4.2), layout="constrained")
    for i, seed in enumerate(seeds):
        run = frame[frame["seed"] == seed].sort_values("step")
        colour = PALETTE[i % len(PALETTE)]
        steps = run["step"].to_numpy(dtype=float)
        axes[0].plot(steps, _positive_or_nan(run["loss"]), color=colour, linewidth=1.5, label=f"seed {seed}")
        axes[1].plot(steps, run["norm"].to_numpy(dtype=float), color=colour, linewidth=1.5, label=f"seed {seed}")
    best = float(np.nanmin(_positive_or_nan(frame["loss"]))) if np.any(frame["loss"].to_numpy(float) > 0) else None
    if best is not None:
        axes[0].axhline(best, color="#888888", linestyle=":", linewidth=1.2, label=f"lowest loss {best:.3g}")
    axes[0].set_yscale("log")
    axes[0].set_ylabel(_flabel("loss"))
    axes[0].set_title("training loss", fontsize="medium")
    axes[1].set_ylim(bottom=0.0, top=1.1 * float(np.nanmax(frame["norm"].to_numpy(dtype=float))))
    axes[1].set_ylabel(r"norm $\sqrt{\|W\|^2 + \|v\|^2}$")
    axes[1].set_title("parameter norm", fontsize="medium")
    for ax in axes:
        ax.set_xlabel(_flabel("step"))
        ax.legend(fontsize="small")
    return paint(fig)


@styled
def fsmf_gaps(frame, *, value="gap", floor=1e-16) -> Figure:
    r"""Where local solvers end on a fixed-support problem: one strip of ``value`` per solver, one panel per support.

    ``frame`` has columns ``support``, ``method``, ``start`` and ``value`` (one row per start;
    :func:`sparselab.chapters.factorization.fsmf_starts`). Rows of method ``"exact"`` are the
    reference and are not drawn as a strip. In each panel (supports in the order of
    :data:`FACTORIZATION_STYLES`) every start of every solver is a point, spread horizontally
    around the solver's position, on a log axis: values below ``floor`` (including 0 and tiny
    negative round-off) are drawn *at* ``floor``, below a dotted line labelled as such. A short
    black bar marks each solver's median. Panels share the y axis. One scatter collection per
    solver and panel, whose offsets are the drawn (clipped) values.
    """
    frame = require_frame(frame, ["support", "method", "start", value])
    frame = numeric_column(frame, value)
    floor = float(floor)
    if not floor > 0:
        raise ValueError(f"floor must be > 0, got {floor}")
    supports = _levels(frame["support"])
    fig, axes = plt.subplots(
        1, len(supports), figsize=(max(5.5, 4.6 * len(supports)), 4.3), layout="constrained", sharey=True, squeeze=False
    )
    axes = list(axes[0])
    top = floor
    for ax, support in zip(axes, supports):
        rows = frame[(frame["support"] == support) & (frame["method"] != "exact")]
        methods = _levels(rows["method"])
        for i, method in enumerate(methods):
            values = rows.loc[rows["method"] == method, value].to_numpy(dtype=float)
            shown = np.maximum(values, floor)
            top = max(top, float(shown.max()))
            spread = np.linspace(-0.18, 0.18, len(shown)) if len(shown) > 1 else np.zeros(1)
            order = np.argsort(np.argsort(shown))  # spread by rank, so that equal values do not hide each other
            style = _fstyle(method, i)
            ax.scatter(
                i + spread[order],
                shown,
                s=22,
                color=style["color"],
                marker=style["marker"],
                alpha=0.75,
                edgecolors="none",
                zorder=3,
                label=f"{method} ({len(shown)} starts)",
            )
            median = float(np.median(shown))
            ax.plot([i - 0.28, i + 0.28], [median, median], color=INK, linewidth=2.0, zorder=4)
        ax.axhline(floor, color="#888888", linestyle=":", linewidth=1.2, zorder=1)
        ax.text(
            1.0,
            floor,
            f" ≤ {floor:g}",
            transform=ax.get_yaxis_transform(),
            va="bottom",
            ha="right",
            fontsize="x-small",
            color="#666666",
        )
        ax.set_xticks(range(len(methods)))
        ax.set_xticklabels([str(m) for m in methods])
        ax.set_xlim(-0.6, len(methods) - 0.4)
        ax.grid(False, axis="x")
        ax.set_title(f"{support} support", fontsize="medium")
        ax.set_xlabel("solver")
        ax.legend(fontsize="small", loc="upper center", ncol=2)
    axes[0].set_yscale("log")
    axes[0].set_ylim(floor / 10, top * 3e3)  # head room for the legends above the highest point
    axes[0].set_ylabel(_flabel(value))
    fig.suptitle("end points of local solvers from random starts (bars: medians)", fontsize="medium")
    return paint(fig)


@styled
def butterfly_errors(exactness, noise, dense, *, floor=1e-17) -> Figure:
    r"""How well the hierarchical algorithm fits a butterfly: exact matrices, noisy butterflies, random matrices.

    Three panels on log axes:

    1. ``exactness`` (columns ``matrix``, ``N``, ``order``, ``relative_error``): relative error
       against :math:`N`, one line per matrix and order (colour = matrix, marker and line style of
       the first order, dashed for the others). Errors below ``floor`` are drawn at ``floor``
       (dotted line).
    2. ``noise`` (columns ``noise``, ``order``, ``seed``, ``relative_error``): relative error of
       :math:`B + E` against :math:`\|E\|/\|B\|`, the mean over seeds per order, with the
       line :math:`y = x` (error as large as the noise); noise 0 is left out (log axis).
    3. ``dense`` (columns ``N``, ``order``, ``seed``, ``relative_error``,
       ``monarch_relative_error``): Gaussian matrices, mean over seeds per order, and the
       Monarch projection (black, dashed); linear y axis from 0 to 1.05.
    """
    exact = require_frame(exactness, ["matrix", "N", "order", "relative_error"])
    noisy = require_frame(noise, ["noise", "order", "seed", "relative_error"])
    dense = require_frame(dense, ["N", "order", "seed", "relative_error", "monarch_relative_error"])
    floor = float(floor)
    fig, axes = three_panels(11.0, 8.4)
    ax = axes[0]
    orders = _levels(exact["order"])
    for i, matrix in enumerate(_levels(exact["matrix"])):
        colour = _fstyle(matrix, i)["color"]
        for j, order in enumerate(orders):
            rows = exact[(exact["matrix"] == matrix) & (exact["order"] == order)]
            if rows.empty:
                continue
            xs, ys = _mean_curve(rows, "N", "relative_error")
            ostyle = _fstyle(order, j)
            ax.plot(
                xs,
                np.maximum(ys, floor),
                color=colour,
                marker=ostyle["marker"],
                linestyle=ostyle["linestyle"],
                markersize=6,
                linewidth=1.5,
                label=f"{matrix}, {order}",
            )
    ax.axhline(floor, color="#888888", linestyle=":", linewidth=1.0)
    log_ticks(ax, exact["N"])
    ax.set_yscale("log")
    ax.set_xlabel(_flabel("N"))
    ax.set_ylabel(_flabel("relative_error"))
    ax.set_title("structured matrices", fontsize="medium")
    ax.legend(fontsize="x-small", loc="center right")

    ax = axes[1]
    positive = noisy[noisy["noise"] > 0]
    if positive.empty:
        raise ValueError("the noise frame has no row with noise > 0")
    for j, order in enumerate(_levels(positive["order"])):
        xs, ys = _mean_curve(positive[positive["order"] == order], "noise", "relative_error")
        style = _fstyle(order, j)
        ax.plot(
            xs,
            _positive_or_nan(ys),
            color=style["color"],
            marker=style["marker"],
            linestyle=style["linestyle"],
            markersize=6,
            linewidth=1.5,
            label=str(order),
        )
    levels = np.sort(positive["noise"].unique().astype(float))
    ax.plot(levels, levels, color="#888888", linestyle=":", linewidth=1.2, label="error = noise")
    log_ticks(ax, levels)
    ax.set_yscale("log")
    ax.set_xlabel(_flabel("noise"))
    ax.set_ylabel(r"relative error $\|A - \hat A\| / \|A\|$")
    ax.set_title(
        f"noisy butterfly $A = B + E$ (mean over {runs_range(positive.groupby(['noise', 'order']).size())} seed(s))",
        fontsize="medium",
    )
    ax.legend(fontsize="small", title="order")

    ax = axes[2]
    for j, order in enumerate(_levels(dense["order"])):
        xs, ys = _mean_curve(dense[dense["order"] == order], "N", "relative_error")
        style = _fstyle(order, j)
        ax.plot(
            xs,
            ys,
            color=style["color"],
            marker=style["marker"],
            linestyle=style["linestyle"],
            markersize=6,
            linewidth=1.5,
            label=f"butterfly, {order}",
        )
    xs, ys = _mean_curve(dense, "N", "monarch_relative_error")
    ax.plot(xs, ys, color=INK, marker="s", linestyle="--", markersize=6, linewidth=1.5, label="Monarch")
    log_ticks(ax, dense["N"])
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel(_flabel("N"))
    ax.set_ylabel(_flabel("relative_error"))
    ax.set_title("Gaussian random matrices", fontsize="medium")
    ax.legend(fontsize="small", loc="lower left")
    return paint(fig)


@styled
def product_timing(frame, slopes=None, *, guides=True, factorization=None, factorization_slopes=None) -> Figure:
    r"""Time of one matrix product against :math:`N` on log–log axes, one panel per batch size.

    With ``factorization`` (columns ``N``, ``order``, ``seconds``, from
    :func:`sparselab.chapters.factorization.factorization_timing`) a last panel shows the time of
    the butterfly factorisation itself against :math:`N`, one line per order, with a
    :math:`\propto N^2` guide; ``factorization_slopes`` (columns ``order``, ``slope``) labels the lines.

    ``frame`` has columns ``N``, ``kind``, ``batch`` and ``seconds`` (repeated rows are averaged);
    one line per kind (in the order of :data:`FACTORIZATION_STYLES`). ``slopes`` (columns
    ``kind``, ``batch``, ``slope``, from
    :func:`sparselab.chapters.factorization.loglog_slope`) adds the fitted exponent to each
    legend label. With ``guides``, two grey reference lines through the first point of the
    ``"dense"`` line (or of the first kind): :math:`\propto N^2` (dashed) and
    :math:`\propto N \log N` (dotted).
    """
    frame = require_frame(frame, ["N", "kind", "batch", "seconds"])
    fitted = {}
    if slopes is not None:
        slopes = require_frame(slopes, ["kind", "batch", "slope"])
        fitted = {(k, b): float(s) for k, b, s in zip(slopes["kind"], slopes["batch"], slopes["slope"])}
    batches = sorted(frame["batch"].unique())
    kinds = _levels(frame["kind"])
    if factorization is not None:
        factorization = require_frame(factorization, ["N", "order", "seconds"])
    panels = len(batches) + (factorization is not None)
    fig, axes = plt.subplots(1, panels, figsize=(max(6.0, 5.0 * panels), 4.5), layout="constrained", squeeze=False)
    axes = list(axes[0])
    if factorization is not None:
        _factorization_panel(axes[-1], factorization, factorization_slopes)
    for ax, batch in zip(axes, batches):
        rows = frame[frame["batch"] == batch]
        anchor = None
        for i, kind in enumerate(kinds):
            sub = rows[rows["kind"] == kind]
            if sub.empty:
                continue
            xs, ys = _mean_curve(sub, "N", "seconds")
            style = _fstyle(kind, i)
            label = str(kind)
            if (kind, batch) in fitted:
                label += f" (slope {fitted[kind, batch]:.2f})"
            ax.plot(
                xs,
                _positive_or_nan(ys),
                color=style["color"],
                marker=style["marker"],
                linestyle=style["linestyle"],
                markersize=6,
                linewidth=1.6,
                label=label,
            )
            if np.isfinite(_positive_or_nan(ys[:1])[0]) and (anchor is None or kind == "dense"):
                anchor = (xs[0], ys[0])
        if guides and anchor is not None:
            grid = np.sort(rows["N"].unique().astype(float))
            x0, y0 = anchor
            ax.plot(grid, y0 * (grid / x0) ** 2, color="#777777", linestyle="--", linewidth=1.0, label=r"$\propto N^2$")
            ax.plot(
                grid,
                y0 * (grid * np.log2(grid)) / (x0 * np.log2(x0)),
                color="#777777",
                linestyle=":",
                linewidth=1.2,
                label=r"$\propto N \log N$",
            )
        log_ticks(ax, rows["N"])
        ax.set_yscale("log")
        ax.set_xlabel(_flabel("N"))
        ax.set_ylabel("time per product (s)")
        ax.set_title(f"batch of {batch} vector{'s' if batch != 1 else ''}", fontsize="medium")
        ax.legend(fontsize="small", loc="upper left")
    return paint(fig)


def _factorization_panel(ax, frame, slopes) -> None:
    fitted = {}
    if slopes is not None:
        slopes = require_frame(slopes, ["order", "slope"])
        fitted = {str(o): float(v) for o, v in zip(slopes["order"], slopes["slope"])}
    anchor = None
    for i, order in enumerate(_levels(frame["order"])):
        xs, ys = _mean_curve(frame[frame["order"] == order], "N", "seconds")
        style = _fstyle(order, i)
        label = str(order) + (f" (slope {fitted[str(order)]:.2f})" if str(order) in fitted else "")
        ax.plot(
            xs,
            _positive_or_nan(ys),
            color=style["color"],
            marker=style["marker"],
            linestyle=style["linestyle"],
            markersize=6,
            linewidth=1.6,
            label=label,
        )
        if anchor is None and len(xs) and np.isfinite(_positive_or_nan(ys[-1:])[0]):
            anchor = (xs[-1], ys[-1])
    if anchor is not None:
        grid = np.sort(frame["N"].unique().astype(float))
        ax.plot(
            grid,
            anchor[1] * (grid / anchor[0]) ** 2,
            color="#777777",
            linestyle="--",
            linewidth=1.0,
            label=r"$\propto N^2$",
        )
    log_ticks(ax, frame["N"])
    ax.set_yscale("log")
    ax.set_xlabel(_flabel("N"))
    ax.set_ylabel("factorisation time (s)")
    ax.set_title("butterfly factorisation of the DFT", fontsize="medium")
    ax.legend(fontsize="small", loc="upper left")


@styled
def layer_comparison(
    frame,
    *,
    value="test_relative_error",
    model="model",
    params="params",
    logx=False,
    ax=None,
    title=None,
    zoom=False,
    level=0.95,
) -> Figure:
    """One horizontal bar per model: the mean of ``value`` over seeds, single runs as points.

    ``frame`` has one row per run with columns ``model``, ``params`` and ``value``; each tick label
    gives the model and its parameter count (the first row's), and each bar is labelled with
    its mean. Models run top to bottom in the order of their first appearance in the frame.
    ``logx`` puts ``value`` on a log axis. The bars are the axes' first patches, in the order of
    the models.

    ``zoom=True`` (linear axis only) is for values that differ little between models, such as
    accuracies near 1: instead of bars from 0 each model's mean is a diamond with its two-sided
    ``level`` Student-t interval over the runs as a horizontal error bar (no bar is drawn), and the
    value axis spans only the range of the runs and intervals, so that the spread between models
    is visible. The axis then does not start at 0, which the title says.
    """
    if zoom and logx:
        raise ValueError("zoom=True needs a linear axis (logx=False)")
    frame = require_frame(frame, [model, params, value])
    frame = numeric_column(frame, value)
    models = list(dict.fromkeys(frame[model]))
    groups = [frame.loc[frame[model] == m, value].to_numpy(dtype=float) for m in models]
    counts = [int(frame.loc[frame[model] == m, params].iloc[0]) for m in models]
    means = np.array([g.mean() for g in groups])
    positions = np.arange(len(models), dtype=float)
    fig, ax = new_axes(ax, (7.2, 0.55 * len(models) + 1.7))
    colours = [_fstyle(m, i)["color"] for i, m in enumerate(models)]
    if zoom:
        return _layer_comparison_zoomed(fig, ax, models, groups, counts, positions, colours, value, title, level)
    ax.barh(positions, means, height=0.6, color=colours, alpha=0.35, edgecolor=colours, linewidth=1.2, zorder=2)
    for p, g, c in zip(positions, groups, colours):
        spread = np.linspace(-0.15, 0.15, len(g)) if len(g) > 1 else np.zeros(1)
        ax.scatter(g, p + spread, s=16, color=c, edgecolors="none", zorder=3)
    if logx:
        ax.set_xscale("log")
    for p, m, g in zip(positions, means, groups):
        right = max(m, float(np.nanmax(g)))
        ax.text(
            right * (1.6 if logx else 1.0) + (0 if logx else 0.02 * (np.nanmax(means) or 1.0)),
            p,
            f"{m:.3g}",
            va="center",
            ha="left",
            fontsize="small",
            color=INK,
            zorder=4,
        )
    if logx:
        ax.set_xlim(right=float(np.nanmax(np.concatenate(groups))) * 30)  # room for the labels
    else:
        ax.set_xlim(0.0, max(float(np.nanmax(np.concatenate(groups))), 1e-12) * 1.2)
    ax.set_yticks(positions)
    ax.set_yticklabels([f"{m}\n({c:,} params)" for m, c in zip(models, counts)], fontsize="small")
    ax.set_ylim(len(models) - 0.5, -0.5)
    ax.grid(False, axis="y")
    ax.set_xlabel(_flabel(value))
    head = f"mean over {runs_range([len(g) for g in groups])} seed(s) (bars), single runs (points)"
    ax.set_title(head if title is None else f"{title}\n{head}", fontsize="medium")
    return paint(fig, ax)


def _layer_comparison_zoomed(fig, ax, models, groups, counts, positions, colours, value, title, level) -> Figure:
    """The ``zoom=True`` drawing of :func:`layer_comparison`: mean and Student-t interval per model."""
    summary = [mean_interval(g, level) for g in groups]
    for p, g, c, (mean, half) in zip(positions, groups, colours, summary):
        spread = np.linspace(-0.18, 0.18, len(g)) if len(g) > 1 else np.zeros(1)
        ax.scatter(g, p + 0.12 + spread * 0.5, s=16, color=c, alpha=0.7, edgecolors="none", zorder=3)
        ax.errorbar(
            [mean],
            [p - 0.12],
            xerr=[[half]] if np.isfinite(half) else None,
            fmt="D",
            color=c,
            markeredgecolor=INK,
            markersize=7,
            elinewidth=2.0,
            capsize=4,
            zorder=4,
        )
    lows = [m - h if np.isfinite(h) else m for m, h in summary] + [float(np.nanmin(g)) for g in groups]
    highs = [m + h if np.isfinite(h) else m for m, h in summary] + [float(np.nanmax(g)) for g in groups]
    lo, hi = float(np.nanmin(lows)), float(np.nanmax(highs))
    width = max(hi - lo, 1e-12)
    for p, (mean, half), g in zip(positions, summary, groups):
        edge = max(float(np.nanmax(g)), mean + (half if np.isfinite(half) else 0.0))
        ax.text(
            edge + 0.03 * width, p - 0.12, f"{mean:.3f}", va="center", ha="left", fontsize="small", color=INK, zorder=5
        )
    ax.set_xlim(lo - 0.08 * width, hi + 0.22 * width)
    ax.set_yticks(positions)
    ax.set_yticklabels([f"{m}\n({c:,} params)" for m, c in zip(models, counts)], fontsize="small")
    ax.set_ylim(len(models) - 0.5, -0.5)
    ax.grid(False, axis="y")
    ax.set_xlabel(_flabel(value) + " (axis zoomed to the data, not from 0)")
    head = (
        f"mean over {runs_range([len(g) for g in groups])} seed(s), {percent(level)} % Student-t interval "
        "(diamonds),\nsingle runs (points)"
    )
    ax.set_title(head if title is None else f"{title}\n{head}", fontsize="medium")
    return paint(fig, ax)
