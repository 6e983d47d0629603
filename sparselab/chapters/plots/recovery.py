r"""Figures of the recovery chapter (``book/recovery.ipynb``): planted sparse networks recovered by IHT.

:func:`phase_diagram` (heatmaps of a metric over two sweep parameters, one panel per
method), :func:`recovered_weights` (planted against recovered fused weights),
:func:`convergence` (IHT residual and support changes per step), :func:`cost_scaling`
(peak memory and time against nnz, log-log), :func:`metric_vs_nnz` (mean with a 95 %
Student-t interval over seeds against nnz, one panel per task), :func:`image_grid`,
:func:`width_mismatch` and :func:`assumption_failures`. They take the long-format frames of the chapter (one
row per run) and raise :class:`ValueError` on an empty frame or a missing column.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sparselab.chapters.plots.common import (
    axis_label,
    in_style_order,
    method_style,
    numeric_column,
    require_frame,
    runs_range,
)
from sparselab.chapters.plots.style import (
    INK,
    MARKERS,
    PALETTE,
    PAPER,
    as_numpy,
    heatmap_axes,
    image_aspect,
    ink_on,
    log_ticks,
    paint,
    plain_log,
    styled,
)
from sparselab.chapters.stats import check_level, percent, summarise

__all__ = [
    "phase_diagram",
    "recovered_weights",
    "convergence",
    "cost_scaling",
    "metric_vs_nnz",
    "image_grid",
    "width_mismatch",
    "assumption_failures",
]


@styled
def phase_diagram(
    frame,
    *,
    value="psnr_test",
    x="width",
    y="nnz",
    method="method",
    agg="mean",
    vmin=None,
    vmax=None,
    cmap=None,
    annotate=True,
    title=None,
) -> Figure:
    """Phase diagram: a metric over two sweep parameters, one heatmap panel per method, one shared colour bar.

    ``frame`` has one row per run (the recovery sweep). For each method (in the order of
    :data:`METHOD_STYLES`; ``method=None``: one panel of all rows), the cell at column
    ``x`` and row ``y`` is ``agg`` (a pandas aggregation, ``"mean"`` by default) of
    ``value`` over the runs there (seeds); booleans such as ``success`` count as 0/1, so
    their mean is the success probability. Columns and rows are the sorted unique values
    of ``x`` and ``y`` over the whole frame, drawn as evenly spaced categories (the grids
    are log-like: 1, 2, 5, 10, ...), ``y`` growing upwards; every panel has the same
    cells, and a cell without runs is blank. The colour scale (``cmap``, viridis by
    default) runs from ``vmin`` to ``vmax``: by default ``[0, 1]`` when every value lies
    there (a fraction), else the smallest and largest finite cell. An infinite cell (the
    PSNR of an exact fit) is drawn at the end of the scale and annotated ``∞``. With
    ``annotate`` each cell shows its value: two decimals for fractions, whole numbers
    for PSNR (dB) and values of 10 or more, two significant digits otherwise.
    The image arrays (``ax.images[0].get_array()``) hold the aggregated values.
    """
    frame = require_frame(frame, [value, x, y] + ([method] if method is not None else []))
    frame = numeric_column(frame, value)
    xs = np.sort(frame[x].unique())
    ys = np.sort(frame[y].unique())
    methods = in_style_order(list(dict.fromkeys(frame[method]))) if method is not None else [None]
    grids, counts = [], []
    for m in methods:
        rows = frame if m is None else frame[frame[method] == m]
        grid = rows.pivot_table(index=y, columns=x, values=value, aggfunc=agg).reindex(index=ys, columns=xs)
        grids.append(grid.to_numpy(dtype=float))
        counts += list(rows.groupby([y, x]).size())
    values = np.concatenate([g.ravel() for g in grids])
    finite = values[np.isfinite(values)]
    fraction = finite.size > 0 and bool(np.all((finite >= 0) & (finite <= 1)))
    lo = float(vmin) if vmin is not None else (0.0 if fraction else float(finite.min()) if finite.size else 0.0)
    hi = float(vmax) if vmax is not None else (1.0 if fraction else float(finite.max()) if finite.size else 1.0)
    if hi <= lo:
        lo, hi = lo - 0.5, lo + 0.5
    if fraction:
        fmt = "{:.2f}"
    elif "psnr" in str(value).lower() or (finite.size and np.all(np.abs(finite) >= 10)):
        fmt = "{:.0f}"
    else:
        fmt = "{:.2g}"
    cmap = mpl.colormaps[cmap or "viridis"] if not isinstance(cmap, mpl.colors.Colormap) else cmap
    cmap = cmap.with_extremes(bad=PAPER)
    norm = mpl.colors.Normalize(vmin=lo, vmax=hi)

    n = len(methods)
    cell = 0.55 if max(len(xs), len(ys)) <= 10 else 0.4  # inches per cell, square cells
    width = max(3.0, cell * len(xs) + 1.2)
    height = max(3.0, cell * len(ys) + 1.7)
    fig, axes = plt.subplots(1, n, figsize=(n * width + 1.3, height), layout="constrained", sharey=True, squeeze=False)
    axes = list(axes[0])
    image = None
    for ax, m, grid in zip(axes, methods, grids):
        shown = np.where(grid == np.inf, hi, np.where(grid == -np.inf, lo, grid))
        image = ax.imshow(
            np.ma.masked_invalid(shown),
            cmap=cmap,
            norm=norm,
            origin="lower",
            aspect=image_aspect(grid.shape),
            interpolation="nearest",
        )
        if annotate:
            size = "x-small" if len(xs) > 6 or len(ys) > 8 else "small"
            for (i, j), v in np.ndenumerate(grid):
                if np.isnan(v):
                    continue
                text = "∞" if v == np.inf else "-∞" if v == -np.inf else fmt.format(v)
                ax.text(j, i, text, ha="center", va="center", fontsize=size, color=ink_on(cmap(norm(shown[i, j]))))
        ax.grid(False)
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels([f"{v:g}" for v in xs])
        ax.set_yticks(range(len(ys)))
        ax.set_yticklabels([f"{v:g}" for v in ys])
        ax.set_xlabel(axis_label(x))
        if m is not None:
            ax.set_title(str(m), fontsize="medium")
        for spine in ax.spines.values():
            spine.set_visible(True)
            spine.set_color("#888888")
    axes[0].set_ylabel(axis_label(y))
    over, under = bool(np.any(values > hi)), bool(np.any(values < lo))
    extend = "both" if over and under else "max" if over else "min" if under else "neither"
    name = axis_label(value) if agg == "mean" or not isinstance(agg, str) else f"{agg} of {axis_label(value)}"
    fig.colorbar(image, ax=axes, location="right", shrink=0.9, aspect=25, pad=0.02, extend=extend, label=name)
    head = f"{name}: {agg if isinstance(agg, str) else 'aggregate'} over {runs_range(counts)} run(s) per cell"
    fig.suptitle(head if title is None else f"{title}\n{head}", fontsize="medium")
    return paint(fig)


def _matrix(weights, name) -> np.ndarray:
    array = as_numpy(weights).astype(float)
    if array.ndim == 3 and array.shape[-1] == 1:  # a fused (m, d, 1) tensor of a scalar-output network
        array = array[..., 0]
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix (neurons x inputs), got shape {array.shape}")
    return array


@styled
def recovered_weights(planted, recovered, *, title=None) -> Figure:
    r"""Planted against recovered fused weights: two images on one colour scale and an entry-wise scatter.

    ``planted`` and ``recovered`` are 2-D arrays or tensors of one shape (neurons x inputs,
    rows already aligned by the caller; a trailing output axis of size 1 is dropped). The
    first two panels (stacked, left) draw :math:`W^\star` and :math:`\hat W` on a diverging colour map
    symmetric about 0 (``RdBu_r``, limits :math:`\pm \max |w|` over both, one colour bar);
    the third (right) scatters every entry :math:`(w^\star_{ij}, \hat w_{ij})` — the planted
    non-zeros in blue, the planted zeros (where a recovered non-zero is a false positive)
    in vermillion — against the identity line, titled with the relative error
    :math:`\|\hat W - W^\star\|_F / \|W^\star\|_F`.
    """
    w_star, w_hat = _matrix(planted, "planted"), _matrix(recovered, "recovered")
    if w_star.shape != w_hat.shape:
        raise ValueError(f"planted and recovered must have one shape, got {w_star.shape} and {w_hat.shape}")
    scale = float(max(np.abs(w_star).max(initial=0.0), np.abs(w_hat).max(initial=0.0)))
    scale = scale if scale > 0 else 1.0
    rows, cols = w_star.shape
    ratio = min(max(rows / max(cols, 1), 0.3), 1.5)
    # two panels across at most: the two images stacked on the left, the scatter on the right
    fig = plt.figure(figsize=(11.0, max(2 * (2.6 * ratio + 1.0), 5.2)), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=[1.35, 1.0])
    axes = [fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[:, 1])]
    aspect = image_aspect(w_star.shape)
    image = None
    for ax, array, name in ((axes[0], w_star, "planted $W^\\star$"), (axes[1], w_hat, "recovered $\\hat W$")):
        image = ax.imshow(array, cmap="RdBu_r", vmin=-scale, vmax=scale, aspect=aspect, interpolation="nearest")
        heatmap_axes(ax, f"{name} (nnz = {int(np.count_nonzero(array))})", "neuron")
    fig.colorbar(image, ax=list(axes[:2]), location="right", shrink=0.85, aspect=25, pad=0.02, label="weight")

    ax = axes[2]
    norm = float(np.linalg.norm(w_star))
    error = float(np.linalg.norm(w_hat - w_star)) / norm if norm > 0 else float("nan")
    support = w_star != 0
    ax.scatter(
        w_star[support],
        w_hat[support],
        s=22,
        color=PALETTE[0],
        edgecolors="none",
        alpha=0.85,
        label=f"planted non-zero ({int(support.sum())})",
        zorder=3,
    )
    ax.scatter(
        w_star[~support],
        w_hat[~support],
        s=16,
        color=PALETTE[3],
        marker="x",
        linewidths=1.0,
        alpha=0.85,
        label=f"planted zero ({int((~support).sum())})",
        zorder=2,
    )
    pad = 0.06 * scale
    ax.plot(
        [-scale - pad, scale + pad],
        [-scale - pad, scale + pad],
        color=INK,
        linestyle="--",
        linewidth=1,
        label="identity",
        zorder=1,
    )
    ax.set_xlim(-scale - pad, scale + pad)
    ax.set_ylim(-scale - pad, scale + pad)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("planted weight $w^\\star_{ij}$")
    ax.set_ylabel("recovered weight $\\hat w_{ij}$")
    ax.set_title(f"entries (relative error {error:.2g})", fontsize="medium")
    ax.legend(fontsize="small", loc="upper left")
    if title is not None:
        fig.suptitle(title)
    return paint(fig)


_CONVERGENCE_KEYS = ("step", "residual", "support_changes")


def _recovery_history(h, label) -> dict:
    if hasattr(h, "history") and isinstance(h.history, Mapping):  # a RecoveredNetwork
        h = h.history
    if not isinstance(h, Mapping):
        raise TypeError(f"a history must be a dict of lists (or have .history), got {type(h).__name__}")
    missing = [k for k in _CONVERGENCE_KEYS if k not in h]
    if missing:
        where = "" if label is None else f" of {label!r}"
        raise ValueError(f"history{where} lacks key(s) {missing}; it has {list(h)}")
    out = {k: np.asarray(h[k], dtype=float).ravel() for k in _CONVERGENCE_KEYS}
    if len({len(v) for v in out.values()}) != 1 or len(out["step"]) == 0:
        raise ValueError(
            f"history lists {list(_CONVERGENCE_KEYS)} must be non-empty and of one length, "
            f"got lengths {[len(v) for v in out.values()]}"
        )
    return out


@styled
def convergence(history, *, title=None) -> Figure:
    r"""IHT convergence: relative residual (log axis) and support changes per step.

    ``history`` is the ``.history`` dict of :func:`sparselab.recovery.iht` (lists
    ``step``, ``residual`` — :math:`\|Aw - y\| / \|y\|` — and ``support_changes``; a
    :class:`~sparselab.recovery.RecoveredNetwork` is accepted too) or a dict label ->
    such a history, one colour per label. Left: the residual against the step on a log
    axis, and, dashed, the geometric fit :math:`r_t \approx C \rho^t` (least squares of
    :math:`\log r_t` on :math:`t` over the steps with :math:`r_t > 10^{-12}`, at least two
    of them); the legend gives the fitted rate :math:`\rho` per step. Right: support
    changes per step as bars (side by side for several histories).
    """
    if isinstance(history, Mapping) and "step" not in history:
        if not history:
            raise ValueError("history is empty")
        runs = {str(k): _recovery_history(v, k) for k, v in history.items()}
    else:
        runs = {None: _recovery_history(history, None)}
    fig, (res_ax, sup_ax) = plt.subplots(1, 2, figsize=(12, 4.4), layout="constrained")
    gaps = [np.diff(np.unique(h["step"])) for h in runs.values()]
    spacing = min((float(g.min()) for g in gaps if g.size), default=1.0)
    width = 0.8 * spacing / len(runs)
    below = False
    for i, (label, h) in enumerate(runs.items()):
        colour = PALETTE[i % len(PALETTE)]
        prefix = "" if label is None else f"{label}: "
        step, residual = h["step"], h["residual"]
        res_ax.plot(
            step,
            residual,
            color=colour,
            marker=MARKERS[i % len(MARKERS)],
            markersize=3.5,
            linewidth=1.6,
            label=prefix + "residual",
        )
        fit = np.isfinite(residual) & (residual > 1e-12)
        below |= bool(np.any(residual <= 1e-12))
        if np.count_nonzero(fit) >= 2 and np.ptp(step[fit]) > 0:
            slope, intercept = np.polyfit(step[fit], np.log(residual[fit]), 1)
            res_ax.plot(
                step[fit],
                np.exp(intercept + slope * step[fit]),
                color=colour,
                linestyle="--",
                linewidth=1.2,
                label=prefix + f"fit: rate {math.exp(slope):.3g} per step",
            )
        offset = (i - (len(runs) - 1) / 2) * width
        sup_ax.bar(
            step + offset,
            h["support_changes"],
            width=width,
            color=colour,
            edgecolor="none",
            label=label if label is not None else "support changes",
        )
    if below:
        res_ax.axhline(1e-12, color="#999999", linestyle=":", linewidth=1.0, label="fit threshold $10^{-12}$")
    res_ax.set_yscale("log")
    res_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    res_ax.set_xlabel("IHT step")
    res_ax.set_ylabel("relative residual $\\|Aw - y\\| / \\|y\\|$")
    res_ax.set_title("residual (dashed: geometric fit)", fontsize="medium")
    res_ax.legend(fontsize="small")
    sup_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    sup_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    sup_ax.set_xlabel("IHT step")
    sup_ax.set_ylabel("support changes")
    sup_ax.set_title("support changes per step", fontsize="medium")
    if len(runs) > 1:
        sup_ax.legend(fontsize="small")
    if title is not None:
        fig.suptitle(title)
    return paint(fig)


@styled
def cost_scaling(frame, *, x="nnz", methods_col="method", slopes=()) -> Figure:
    r"""Cost against problem size on log-log axes: peak memory (MiB) and time, one line per method.

    ``frame`` has one row per measurement with columns ``x``, ``methods_col``,
    ``peak_bytes`` and ``time_s`` (the cost-scaling frame); repeated rows of one method
    and ``x`` are averaged. Memory is drawn in MiB (``peak_bytes / 2**20``); means at or
    below zero (a peak-RSS growth of nothing) cannot sit on a log axis and are left out.
    Each exponent :math:`k` of ``slopes`` adds a grey dashed guide
    :math:`\propto x^k` through the first point of the first method (in the order of
    :data:`METHOD_STYLES`) in each panel.
    """
    frame = require_frame(frame, [x, methods_col, "peak_bytes", "time_s"])
    methods = in_style_order(list(dict.fromkeys(frame[methods_col])))
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.4), layout="constrained")
    panels = ((axes[0], "peak_bytes", 2.0**-20, "peak memory (MiB)"), (axes[1], "time_s", 1.0, "time (s)"))
    xs_all = np.sort(frame[x].astype(float).unique())
    for ax, column, factor, ylabel in panels:
        first = None
        for i, m in enumerate(methods):
            style = method_style(m, i)
            means = frame[frame[methods_col] == m].groupby(x, sort=True)[column].mean() * factor
            xs, ys = means.index.to_numpy(dtype=float), means.to_numpy(dtype=float)
            keep = np.isfinite(ys) & (ys > 0) & (xs > 0)
            ax.plot(
                xs[keep],
                ys[keep],
                color=style["color"],
                marker=style["marker"],
                linestyle=style["linestyle"],
                markersize=6,
                linewidth=1.6,
                label=str(m),
            )
            if first is None and keep.any():
                first = (xs[keep][0], ys[keep][0])
        for j, k in enumerate(slopes):
            if first is None:
                break
            guide = xs_all[xs_all >= first[0]]
            ax.plot(
                guide,
                first[1] * (guide / first[0]) ** float(k),
                color="#777777",
                linestyle=["--", ":", "-."][j % 3],
                linewidth=1.2,
                label=f"$\\propto$ {x}$^{{{float(k):g}}}$",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain_log(ax.xaxis)
        plain_log(ax.yaxis)
        ax.set_xlabel(axis_label(x))
        ax.set_ylabel(ylabel)
        ax.legend(fontsize="small")
    axes[0].set_title("peak memory", fontsize="medium")
    axes[1].set_title("wall-clock time", fontsize="medium")
    return paint(fig)


@styled
def metric_vs_nnz(frame, *, metric, group="method", panel=None, x="nnz", ylabel=None, logx=True, level=0.95) -> Figure:
    r"""A metric against nnz: mean over seeds with a Student-:math:`t` band per group, one panel per ``panel``.

    ``frame`` has one row per run. Rows are split into panels by the ``panel`` column
    (e.g. ``task``; in order of first appearance; ``None``: one panel) and into lines by
    ``group`` (in the order of :data:`METHOD_STYLES`, one style per group throughout;
    ``None``: one line). Each line is the mean of ``metric`` at each ``x``, over a
    translucent band of the book's one interval, the ``level`` (a fraction, 0.95 by default)
    Student-:math:`t` interval over seeds (:func:`~sparselab.chapters.stats.summarise`),
    clipped to the metric's range (:func:`~sparselab.chapters.stats.metric_bounds`: an
    accuracy, F1 or success band stays in :math:`[0, 1]`). A point of a single run has no
    interval and draws no band; ``level=None`` draws the means alone. ``logx`` puts ``x`` on
    a log axis ticked at its values.
    """
    if level is not None:
        level = check_level(level)
    frame = require_frame(frame, [x, metric] + [c for c in (group, panel) if c is not None])
    frame = numeric_column(frame, metric)
    panels = list(dict.fromkeys(frame[panel])) if panel is not None else [None]
    groups = in_style_order(list(dict.fromkeys(frame[group]))) if group is not None else [None]
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(max(6.0, 4.8 * n), 4.3), layout="constrained", squeeze=False)
    axes = list(axes[0])
    counts = []
    banded = False
    for ax, p in zip(axes, panels):
        rows = frame if p is None else frame[frame[panel] == p]
        for i, g in enumerate(groups):
            sub = rows if g is None else rows[rows[group] == g]
            if sub.empty:
                continue
            # the book's summary: mean and t-interval per x, clipped to the metric's range
            summary = summarise(sub, x, metric, level=0.95 if level is None else level)
            counts += summary["n"].tolist()
            xs = summary[x].to_numpy(dtype=float)
            mean = summary["mean"].to_numpy(dtype=float)
            style = method_style(g, i)
            ok = np.isfinite(summary["half_width"].to_numpy(dtype=float)) & (level is not None)  # one run: no band
            if ok.any():
                ax.fill_between(
                    xs,
                    summary["low"].to_numpy(dtype=float),
                    summary["high"].to_numpy(dtype=float),
                    where=ok,
                    interpolate=False,
                    color=style["color"],
                    alpha=0.18,
                    linewidth=0,
                )
                banded = True
            ax.plot(
                xs,
                mean,
                color=style["color"],
                marker=style["marker"],
                linestyle=style["linestyle"],
                markersize=6,
                linewidth=1.6,
                label=str(g) if g is not None else axis_label(metric),
            )
        if logx:
            log_ticks(ax, rows[x])
        ax.set_xlabel(axis_label(x))
        ax.set_ylabel(ylabel or axis_label(metric))
        if p is not None:
            ax.set_title(str(p), fontsize="medium")
    interval = f"mean ± {percent(level)}% t-interval" if banded else "mean"
    head = f"{ylabel or axis_label(metric)}: {interval} over {runs_range(counts)} run(s)"
    if panel is None:
        axes[0].set_title(head, fontsize="medium")
    else:
        fig.suptitle(head, fontsize="medium")
    if group is not None:
        axes[0].legend(fontsize="small", title=group)
    return paint(fig)


@styled
def image_grid(images, *, titles=None, ncols=4, cmap="gray") -> Figure:
    """Grayscale images side by side, values clipped to ``[0, 1]``, axes off.

    ``images`` is a list of 2-D arrays or tensors (titled by ``titles`` if given) or a
    dict title -> image (``titles`` then overrides the keys). At most ``ncols`` per row;
    unused grid cells are removed, so the figure has one axes per image. Every image is
    drawn with ``vmin=0, vmax=1`` (its array holds the clipped values).
    """
    if isinstance(images, Mapping):
        names, arrays = [str(k) for k in images], list(images.values())
    else:
        arrays = list(images)
        names = [None] * len(arrays)
    if not arrays:
        raise ValueError("images is empty")
    if titles is not None:
        titles = list(titles)
        if len(titles) != len(arrays):
            raise ValueError(f"titles has {len(titles)} entries for {len(arrays)} images")
        names = [str(t) for t in titles]
    if int(ncols) < 1:
        raise ValueError(f"ncols must be at least 1, got {ncols}")
    shown = []
    for i, image in enumerate(arrays):
        array = as_numpy(image).astype(float)
        if array.ndim != 2:
            raise ValueError(f"image {names[i] if names[i] is not None else i!r} must be 2-D, got shape {array.shape}")
        shown.append(np.clip(array, 0.0, 1.0))
    cols = min(int(ncols), len(shown))
    rows = math.ceil(len(shown) / cols)
    titled = any(name is not None for name in names)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(2.5 * cols, 2.5 * rows + (0.3 * rows if titled else 0)),
        layout="constrained",
        squeeze=False,
    )
    axes = axes.ravel()
    for ax, array, name in zip(axes, shown, names):
        ax.imshow(array, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_axis_off()
        if name is not None:
            ax.set_title(name, fontsize="small")
    for ax in axes[len(shown) :]:
        fig.delaxes(ax)
    return paint(fig)


@styled
def width_mismatch(frame, *, x="width_factor", value="psnr_test", variant="variant") -> Figure:
    """A metric against the width factor (fitted width / planted width), one line per variant.

    ``frame`` has one row per run. Each variant (e.g. ``naive``, ``redraw``) is drawn as
    the mean of ``value`` over seeds at each ``x`` (line with markers) over its single
    runs (faint points). ``x`` is on a log axis ticked at its values; with
    ``x="width_factor"`` a dotted line marks the planted width (factor 1).
    """
    frame = require_frame(frame, [x, value, variant])
    frame = numeric_column(frame, value)
    variants = in_style_order(list(dict.fromkeys(frame[variant])))
    fig, ax = plt.subplots(figsize=(6.6, 4.4), layout="constrained")
    counts = []
    for i, v in enumerate(variants):
        rows = frame[frame[variant] == v]
        style = method_style(v, i)
        ax.scatter(
            rows[x].to_numpy(dtype=float),
            rows[value].to_numpy(dtype=float),
            s=16,
            color=style["color"],
            alpha=0.35,
            edgecolors="none",
            zorder=2,
        )
        means = rows.groupby(x, sort=True)[value].agg(["mean", "count"])
        counts += list(means["count"])
        ax.plot(
            means.index.to_numpy(dtype=float),
            means["mean"].to_numpy(dtype=float),
            color=style["color"],
            marker=style["marker"],
            linestyle=style["linestyle"],
            markersize=7,
            linewidth=1.8,
            label=str(v),
            zorder=3,
        )
    if x == "width_factor":
        ax.axvline(1.0, color="#888888", linestyle=":", linewidth=1.2, label="planted width", zorder=1)
    log_ticks(ax, frame[x])
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(value))
    ax.set_title(f"mean over {runs_range(counts)} run(s) (lines), single runs (points)", fontsize="medium")
    ax.legend(fontsize="small", title=variant, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return paint(fig, ax)


@styled
def assumption_failures(frame, *, value="psnr_test", condition="condition") -> Figure:
    """A metric per condition as horizontal bars: the mean over seeds, with the single runs as points.

    ``frame`` has one row per run. Conditions run top to bottom in the order of their
    first appearance in the frame; each bar is the mean of ``value`` (booleans such as
    ``success`` count as 0/1), labelled with it, and the single runs are dots spread
    slightly across the bar.
    """
    frame = require_frame(frame, [condition, value])
    frame = numeric_column(frame, value)
    conditions = list(dict.fromkeys(frame[condition]))
    groups = [frame.loc[frame[condition] == c, value].to_numpy(dtype=float) for c in conditions]
    means = np.array([g.mean() for g in groups])
    positions = np.arange(len(conditions), dtype=float)
    fig, ax = plt.subplots(figsize=(7.4, 0.55 * len(conditions) + 1.7), layout="constrained")
    ax.barh(positions, means, height=0.6, color=PALETTE[5], edgecolor=PALETTE[0], linewidth=1.0, zorder=2, label="mean")
    spread = np.concatenate(
        [p + (np.linspace(-0.15, 0.15, len(g)) if len(g) > 1 else np.zeros(1)) for p, g in zip(positions, groups)]
    )
    ax.scatter(np.concatenate(groups), spread, s=16, color=INK, edgecolors="none", zorder=3, label="single runs")
    values = np.concatenate(groups + [np.zeros(1)])
    values = values[np.isfinite(values)]
    span = float(np.ptp(values)) or 1.0
    for p, m, g in zip(positions, means, groups):  # the mean, right of its bar and of its runs
        if np.isfinite(m):
            right = max(m, float(np.nanmax(np.where(np.isfinite(g), g, m))))
            ax.text(right + 0.02 * span, p, f"{m:.3g}", va="center", ha="left", fontsize="small", color=INK, zorder=4)
    ax.set_xlim(right=max(ax.get_xlim()[1], float(values.max()) + 0.12 * span))
    ax.set_yticks(positions)
    ax.set_yticklabels([str(c) for c in conditions])
    ax.set_ylim(len(conditions) - 0.5, -0.5)  # first condition on top
    ax.grid(False, axis="y")
    ax.set_xlabel(axis_label(value))
    ax.set_title(
        f"mean over {runs_range([len(g) for g in groups])} run(s) (bars), single runs (points)", fontsize="medium"
    )
    ax.legend(fontsize="small", loc="best")
    return paint(fig, ax)
