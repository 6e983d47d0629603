r"""Figures of the learned-masks chapter (``book/learned_masks.ipynb``): training runs and sweeps.

:func:`loss_curve`, :func:`flip_rate`, :func:`soft_threshold_curves` and :func:`sigmoid_binariness`
(per-epoch curves of a :class:`~sparselab.training.History`), :func:`weight_heatmaps` (a sparse layer against a planted support),
:func:`predictions` (predictions against targets) and :func:`metric_vs_sparsity` (a metric against sparsity,
mean over seeds with a Student-t interval, :mod:`sparselab.chapters.stats`). The command line draws its
evaluation figures with the first three.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, SymmetricalLogLocator

from sparselab import metrics as _metrics
from sparselab.chapters.plots.style import (
    INK,
    LINESTYLES,
    MARKERS,
    PALETTE,
    as_numpy,
    heatmap_axes,
    image_aspect,
    new_axes,
    nice,
    paint,
    styled,
)
from sparselab.chapters.stats import check_level, half_width, percent
from sparselab.training import History

__all__ = [
    "AGREEMENT_CODES",
    "loss_curve",
    "flip_rate",
    "soft_threshold_curves",
    "sigmoid_binariness",
    "weight_heatmaps",
    "predictions",
    "metric_vs_sparsity",
]


#: Codes of the agreement map drawn by :func:`weight_heatmaps` (the image's array values).
AGREEMENT_CODES = {"neither": 0, "true positive": 1, "false positive": 2, "missed": 3}


_OFF = "#F2F2F2"  # "absent" cells in boolean heatmaps
_PRUNED = "#D0D0D0"  # pruned entries in the weight heatmap (neutral grey, distinct from small weights)
_AGREEMENT_COLOURS = [_OFF, PALETTE[0], PALETTE[1], PALETTE[4]]  # neither, TP, FP, missed


def _history(h) -> History:
    if isinstance(h, History):
        return h
    if isinstance(h, Mapping):
        names = History.__dataclass_fields__
        return History(**{k: list(v) for k, v in h.items() if k in names})
    raise TypeError(f"expected a sparselab History (or its to_dict()), got {type(h).__name__}")


def _histories(histories) -> dict:
    """``{label or None: History}`` from a History, a history dict, or a mapping label -> History."""
    if isinstance(histories, History):
        return {None: histories}
    if isinstance(histories, Mapping):
        if "epoch" in histories and not isinstance(histories["epoch"], (History, Mapping)):
            return {None: _history(histories)}
        if not histories:
            raise ValueError("histories is empty")
        return {str(k): _history(v) for k, v in histories.items()}
    raise TypeError(f"histories must be a History or a dict label -> History, got {type(histories).__name__}")


# ---------------------------------------------------------------------------- curves
@styled
def loss_curve(histories, *, ax=None, metrics=("train_loss", "test_mse"), logy=True) -> Figure:
    """Learning curves: each metric of each run against the epoch.

    ``histories`` is a :class:`~sparselab.training.History` (or its ``to_dict()``)
    or a dict ``label -> History``. One colour per label; one line style per metric
    (first metric solid — by default the mean training loss of the epoch — the
    second dashed — the test MSE after the epoch — then dotted, dash-dotted).
    ``logy`` uses a log y axis (symlog if some value is not positive).
    """
    runs = _histories(histories)
    fig, ax = new_axes(ax, (6.4, 4.2))
    positive = True
    for i, (label, h) in enumerate(runs.items()):
        colour = PALETTE[i % len(PALETTE)]
        for j, metric in enumerate(metrics):
            values = np.asarray(getattr(h, metric), dtype=float)
            if len(values) == 0:
                continue
            positive &= bool(np.all(values[np.isfinite(values)] > 0))
            name = nice(metric) if label is None else f"{label}: {nice(metric)}"
            ax.plot(
                h.epoch[: len(values)],
                values,
                color=colour,
                linestyle=LINESTYLES[j % len(LINESTYLES)],
                marker="o" if len(values) <= 3 else None,
                markersize=4,
                linewidth=1.8,
                label=name,
            )
    if logy:
        if positive:
            ax.set_yscale("log")
        else:
            ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE" if set(metrics) <= {"train_loss", "test_mse", "train_mse"} else "value")
    ax.set_title("learning curves")
    ax.legend(fontsize="small")
    return paint(fig, ax)


@styled
def flip_rate(histories, *, ax=None) -> Figure:
    """Mask churn: fraction of connections whose mask bit flipped during each epoch, per run.

    Draws ``History.flip_rate`` (flips summed over the epoch's optimiser steps,
    divided by the number of connections) against the epoch. The y axis is symlog
    with a linear band below the smallest non-zero rate, so epochs with no flip
    at all (a frozen mask) sit visibly at 0 rather than disappearing from a log axis.
    """
    runs = _histories(histories)
    fig, ax = new_axes(ax, (6.4, 4.2))
    smallest = math.inf
    for i, (label, h) in enumerate(runs.items()):
        rate = np.asarray(h.flip_rate, dtype=float)
        if rate.size and np.any(rate > 0):
            smallest = min(smallest, float(rate[rate > 0].min()))
        ax.plot(
            h.epoch[: len(rate)],
            rate,
            color=PALETTE[i % len(PALETTE)],
            marker="o",
            markersize=3,
            linewidth=1.6,
            label=label if label is not None else "flip rate",
        )
    linthresh = 10 ** math.floor(math.log10(smallest)) if math.isfinite(smallest) else 1e-4
    ax.set_yscale("symlog", linthresh=linthresh, linscale=0.5)
    ax.yaxis.set_major_locator(SymmetricalLogLocator(linthresh=linthresh, base=10, subs=[1.0, 2.0, 5.0]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_ylim(bottom=-0.2 * linthresh)  # a margin below 0, so that zero-flip epochs are not on the spine
    ax.axhline(0, color="#888888", linewidth=0.8)
    ax.set_xlabel("epoch")
    ax.set_ylabel("fraction of connections flipped")
    ax.set_title("mask flips per epoch")
    if len(runs) > 1 or next(iter(runs)) is not None:
        ax.legend(fontsize="small")
    return paint(fig, ax)


def _per_layer(h: History, field: str) -> np.ndarray:
    """``History.<field>`` (one list of per-layer values per epoch) as an ``(epochs, layers)`` array."""
    values = getattr(h, field)
    if not values or not values[0]:
        raise ValueError(f"the history has no {field!r} values: it is not from a run with such layers")
    return np.asarray(values, dtype=float)


@styled
def soft_threshold_curves(histories, *, targets=None, axes=None) -> Figure:
    r"""The soft mask's learned threshold and its training-mode density over training, per run and layer.

    ``histories``: a :class:`~sparselab.training.History` or a dict ``label -> History`` (e.g. one per seed)
    from runs with ``soft`` layers. Left: :math:`\tau = \sigma(s)` at the end of each epoch
    (``History.soft_threshold``). Right: the density :math:`\#\{|W| > \tau\}/n` the threshold gives in
    training (``History.soft_density``, log axis), with each layer's exported density :math:`k/n`
    (``targets``: one value per layer) as a dashed line. One colour per run, one line style per layer.
    """
    runs = _histories(histories)
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    else:
        fig = axes[0].figure
    ax_tau, ax_rho = axes
    for i, (label, h) in enumerate(runs.items()):
        tau, rho = _per_layer(h, "soft_threshold"), _per_layer(h, "soft_density")
        colour = PALETTE[i % len(PALETTE)]
        for layer in range(tau.shape[1]):
            name = label if tau.shape[1] == 1 else f"{label or 'run'}, layer {layer + 1}"
            style = dict(
                color=colour,
                linestyle=LINESTYLES[layer % len(LINESTYLES)],
                linewidth=1.6,
                marker="o" if len(tau) <= 3 else None,
                markersize=4,
            )
            ax_tau.plot(h.epoch[: len(tau)], tau[:, layer], label=name, **style)
            ax_rho.plot(h.epoch[: len(rho)], rho[:, layer], label=name, **style)
    if targets is not None:
        for layer, d in enumerate(np.atleast_1d(np.asarray(targets, dtype=float))):
            ax_rho.axhline(
                d,
                color=INK,
                linestyle="--",
                linewidth=1.0,
                label=f"exported density k/n = {d:.3g}" if layer == 0 else None,
            )
    ax_tau.set(xlabel="epoch", ylabel=r"learned threshold $\tau = \sigma(s)$", title="threshold over training")
    ax_rho.set_yscale("log")
    ax_rho.set(xlabel="epoch", ylabel=r"training density $\#\{|W| > \tau\}/n$", title="density over training")
    for ax in axes:
        if len(runs) > 1 or next(iter(runs)) is not None or targets is not None:
            ax.legend(fontsize="small")
    return paint(fig, *axes)


@styled
def sigmoid_binariness(histories, *, ax=None, low=0.01, high=0.99) -> Figure:
    """How far the sigmoid mask is from binary: the fraction of its relaxed values in (low, high), per epoch.

    Draws ``History.sigmoid_nonbinary`` (one curve per run and layer) on a symlog axis, so that epochs at
    exactly 0 (a binary mask) stay visible; the epoch's temperature is on a second, logarithmic axis (dotted).
    """
    runs = _histories(histories)
    fig, ax = new_axes(ax, (6.4, 4.2))
    smallest = math.inf
    temperature = None
    for i, (label, h) in enumerate(runs.items()):
        frac = _per_layer(h, "sigmoid_nonbinary")
        positive = frac[frac > 0]
        if positive.size:
            smallest = min(smallest, float(positive.min()))
        for layer in range(frac.shape[1]):
            name = label if frac.shape[1] == 1 else f"{label or 'run'}, layer {layer + 1}"
            ax.plot(
                h.epoch[: len(frac)],
                frac[:, layer],
                color=PALETTE[i % len(PALETTE)],
                linestyle=LINESTYLES[layer % len(LINESTYLES)],
                marker="o",
                markersize=3,
                linewidth=1.6,
                label=name,
            )
        if temperature is None and any(t is not None and t > 0 for t in h.temperature):
            temperature = (h.epoch[: len(h.temperature)], [np.nan if t is None else t for t in h.temperature])
    linthresh = 10 ** math.floor(math.log10(smallest)) if math.isfinite(smallest) else 1e-4
    ax.set_yscale("symlog", linthresh=linthresh, linscale=0.5)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_ylim(bottom=-0.2 * linthresh)
    ax.axhline(0, color="#888888", linewidth=0.8)
    ax.set(
        xlabel="epoch",
        ylabel=f"fraction of mask values in ({low:g}, {high:g})",
        title="sigmoid mask: distance from binary",
    )
    if temperature is not None:
        twin = ax.twinx()
        twin.plot(*temperature, color=INK, linestyle=":", linewidth=1.2, label="temperature T")
        twin.set_yscale("log")
        twin.set_ylabel("temperature T")
        twin.grid(False)
        twin.legend(loc="upper center", fontsize="small")
    if len(runs) > 1 or next(iter(runs)) is not None:
        ax.legend(fontsize="small")
    return paint(fig, ax)


# ---------------------------------------------------------------------------- heatmaps
def _layer_arrays(layer):
    """``(W_eff, mask)`` as numpy arrays from a SparseLinear or a (weight, mask) pair."""
    from sparselab.nn import SparseLinear

    if isinstance(layer, SparseLinear):
        was_training = layer.training
        layer.eval()  # the exported (hard) mask; the sigmoid relaxation is a training-time object
        try:
            with torch.no_grad():
                mask = layer.mask()
                weight = layer.effective_weight() * mask
        finally:
            layer.train(was_training)
        return as_numpy(weight).astype(float), as_numpy(mask).astype(bool)
    if isinstance(layer, (tuple, list)) and len(layer) == 2:
        weight, mask = (as_numpy(t) for t in layer)
        if weight.shape != mask.shape or weight.ndim != 2:
            raise ValueError(f"(weight, mask) must be two 2-D arrays of one shape, got {weight.shape} and {mask.shape}")
        mask = mask.astype(bool)
        return weight.astype(float) * mask, mask
    raise TypeError(f"layer must be a SparseLinear or a (weight, mask) pair, got {type(layer).__name__}")


@styled
def weight_heatmaps(layer, planted_support=None, *, match_rows=True, max_rows=None, title=None) -> Figure:
    """Heatmaps of a sparse layer, optionally against a planted support.

    Panels (rows = output units / hidden neurons, columns = input features):

    1. the learned mask (kept connections coloured, pruned ones pale);
    2. the surviving weights :math:`W_\\text{eff}` on a diverging colour map centred
       at 0, pruned entries in neutral grey (one colour bar, so the figure has one
       axes more than panels);
    3. with ``planted_support``: the planted support;
    4. with ``planted_support``: an agreement map — true positive (kept and
       planted), false positive (kept, not planted), missed (planted, not kept) —
       whose image array holds the codes of :data:`AGREEMENT_CODES`.

    With ``match_rows`` (hidden neurons are interchangeable), the learned rows are
    put in the order of the planted rows they are matched to by
    :func:`sparselab.metrics.support_match` (``row_assignment``: planted row ->
    learned row); unmatched rows follow, and a row missing on one side is drawn
    empty. Without it, shapes must agree and rows are drawn as they are.
    ``max_rows`` shows only the first rows (metrics still use all of them).
    The title gives nnz, density and, with a planted support, precision/recall.

    ``layer`` is a :class:`~sparselab.nn.SparseLinear` (its exported mask, in
    evaluation mode) or a pair ``(weight, mask)`` of tensors or arrays.
    """
    weight, mask = _layer_arrays(layer)
    rows, cols = mask.shape
    nnz = int(mask.sum())
    head = f"nnz = {nnz} of {mask.size}, density = {nnz / mask.size:.3g}"
    panels = 2
    if planted_support is not None:
        planted = as_numpy(planted_support).astype(bool)
        if planted.ndim != 2 or planted.shape[1] != cols:
            raise ValueError(f"planted_support must be 2-D with {cols} columns, got shape {planted.shape}")
        match = _metrics.support_match(
            torch.from_numpy(mask), torch.from_numpy(planted), match="overlap" if match_rows else None
        )
        if match_rows:
            assignment = match["row_assignment"]
            pairs = [(p, assignment.get(p)) for p in range(len(planted))]
            used = set(assignment.values())
            pairs += [(None, r) for r in range(rows) if r not in used]
        else:
            pairs = [(r, r) for r in range(rows)]
        head += f", precision = {match['precision']:.2f}, recall = {match['recall']:.2f}"
        panels = 4
    else:
        planted, pairs = None, [(None, r) for r in range(rows)]

    def take(array, index, fill):
        out = np.full((len(pairs), cols), fill, dtype=array.dtype)
        for i, pair in enumerate(pairs):
            if pair[index] is not None:
                out[i] = array[pair[index]]
        return out

    shown_mask = take(mask, 1, False)
    shown_weight = take(weight, 1, 0.0)
    total = len(pairs)
    if max_rows is not None and max_rows < total:
        pairs = pairs[:max_rows]
        shown_mask, shown_weight = shown_mask[:max_rows], shown_weight[:max_rows]
    clipped = f" (first {len(pairs)} of {total} rows)" if len(pairs) < total else ""
    ylabel = "unit (matched order)" if planted is not None and match_rows else "unit (row)"
    # with matched rows, a dotted line separates the rows matched to planted rows from the rest
    boundary = len(planted) if planted is not None and match_rows and len(planted) < len(pairs) else None

    grid = (1, 2) if panels == 2 else (2, 2)
    ratio = min(max(len(pairs) / cols, 0.3), 1.5)  # panel height / width, bounded for very thin matrices
    row_height = 3.2 * ratio + 1.6  # a panel is about 3.2 in wide; title, labels and legend take 1.6 in
    figsize = (10, row_height + 0.5) if panels == 2 else (10, 2 * row_height + 0.5)
    fig, axes = plt.subplots(*grid, figsize=figsize, layout="constrained", squeeze=False)
    axes = axes.ravel()
    aspect = image_aspect(shown_mask.shape)

    bool_cmap = ListedColormap([_OFF, PALETTE[0]])
    ax = axes[0]
    ax.imshow(shown_mask.astype(int), cmap=bool_cmap, vmin=0, vmax=1, aspect=aspect, interpolation="nearest")
    heatmap_axes(ax, "learned mask" + clipped, ylabel, boundary)
    ax.legend(
        handles=[Patch(facecolor=PALETTE[0], label="kept"), Patch(facecolor=_OFF, edgecolor="#999999", label="pruned")],
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        borderaxespad=3.3,
        ncol=2,
        fontsize="small",
        frameon=False,
    )

    ax = axes[1]
    kept_values = np.abs(shown_weight[shown_mask])
    vmax = float(kept_values.max()) if kept_values.size and kept_values.max() > 0 else 1.0
    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad=_PRUNED)
    image = ax.imshow(
        np.ma.masked_array(shown_weight, mask=~shown_mask),
        cmap=cmap,
        vmin=-vmax,
        vmax=vmax,
        aspect=aspect,
        interpolation="nearest",
    )
    heatmap_axes(ax, "surviving weights $W_\\mathrm{eff}$ (grey = pruned)", ylabel, boundary)
    fig.colorbar(image, ax=ax, location="right", shrink=0.8, aspect=25, pad=0.02, label="surviving weight")

    if planted is not None:
        shown_planted = take(planted, 0, False)[: len(pairs)]
        ax = axes[2]
        ax.imshow(shown_planted.astype(int), cmap=bool_cmap, vmin=0, vmax=1, aspect=aspect, interpolation="nearest")
        heatmap_axes(ax, "planted support", ylabel, boundary)

        codes = np.zeros(shown_mask.shape, dtype=int)
        codes[shown_mask & shown_planted] = AGREEMENT_CODES["true positive"]
        codes[shown_mask & ~shown_planted] = AGREEMENT_CODES["false positive"]
        codes[~shown_mask & shown_planted] = AGREEMENT_CODES["missed"]
        ax = axes[3]
        ax.imshow(
            codes, cmap=ListedColormap(_AGREEMENT_COLOURS), vmin=-0.5, vmax=3.5, aspect=aspect, interpolation="nearest"
        )
        heatmap_axes(ax, "agreement", ylabel, boundary)
        counts = {name: int((codes == code).sum()) for name, code in AGREEMENT_CODES.items()}
        ax.legend(
            handles=[
                Patch(
                    facecolor=_AGREEMENT_COLOURS[c],
                    edgecolor="#999999" if c == 0 else None,
                    label=f"{name} ({counts[name]})",
                )
                for name, c in AGREEMENT_CODES.items()
                if c != 0
            ],
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            borderaxespad=3.3,
            ncol=3,
            fontsize="small",
            frameon=False,
        )
    fig.suptitle(head if title is None else f"{title}\n{head}")
    return paint(fig)


# ---------------------------------------------------------------------------- predictions
@styled
def predictions(y_true, y_pred, *, ax=None, label=None) -> Figure:
    r"""Scatter of predictions against targets, with the identity line :math:`\hat y = y`.

    Accepts tensors or arrays; ``(n, 1)`` columns are flattened (several outputs are
    pooled). The legend gives :math:`R^2 = 1 - \sum (y - \hat y)^2 / \sum (y - \bar y)^2`
    (:math:`\bar y` per output) and the MSE. Markers get more transparent the more
    points there are.
    """
    y = as_numpy(y_true).astype(float)
    p = as_numpy(y_pred).astype(float)
    if y.ndim == 1:
        y = y[:, None]
    if p.ndim == 1:
        p = p[:, None]
    if y.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have one shape, got {y.shape} and {p.shape}")
    residual = float(((y - p) ** 2).sum())
    spread = float(((y - y.mean(0)) ** 2).sum())
    r2 = 1.0 - residual / spread if spread > 0 else float("nan")
    mse = residual / y.size
    y, p = y.ravel(), p.ravel()
    fig, ax = new_axes(ax, (5.0, 5.0))
    alpha = float(np.clip(200 / max(len(y), 1), 0.08, 0.8))
    name = f"R² = {r2:.3f}, MSE = {mse:.3g}"
    ax.scatter(
        y,
        p,
        s=10 if len(y) > 500 else 18,
        alpha=alpha,
        color=PALETTE[0],
        edgecolors="none",
        label=name if label is None else f"{label}: {name}",
    )
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=INK, linestyle="--", linewidth=1, label="identity")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("target $y$")
    ax.set_ylabel("prediction $\\hat y$")
    ax.set_title(f"predictions (n = {len(y)})")
    legend = ax.legend(loc="upper left", fontsize="small")
    for handle in legend.legend_handles:
        handle.set_alpha(1.0)
    return paint(fig, ax)


@styled
def metric_vs_sparsity(
    frame, *, x="sparsity", y="test_mse", hue="target", style=None, ax=None, logy=True, level=0.95, dodge=True
) -> Figure:
    """A metric against sparsity: mean over runs (seeds) with a ``level`` confidence interval (a fraction: 0.95).

    ``frame`` is a :class:`pandas.DataFrame` with one row per run. Rows are grouped by
    ``hue`` (colour), ``style`` (marker and line style) and ``x``; each group is drawn
    as its mean, with error bars giving the two-sided Student-t interval
    :math:`\\bar y \\pm t_{n-1}\\, s/\\sqrt n` (computed here with scipy, not seaborn's
    bootstrap, which is too narrow for a handful of seeds). A group with a single
    run has no interval and is drawn as its point. With ``logy`` a lower bound at or
    below zero is cut at the bottom of the axis. ``level=None`` draws no interval.
    If ``x="sparsity"`` is missing but a ``density`` column exists, sparsity is
    ``1 - density``. With ``dodge`` and several hue/style groups, each group is
    shifted sideways by a small fraction of the x range (at most 1.5 %) so that
    overlapping error bars stay apart.
    """
    level = None if level is None else check_level(level)
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    frame = frame.copy()
    if x == "sparsity" and "sparsity" not in frame and "density" in frame:
        frame["sparsity"] = 1.0 - frame["density"]
    for column in (x, y, hue, style):
        if column is not None and column not in frame:
            raise KeyError(f"column {column!r} is not in the frame; columns: {list(frame.columns)}")
    frame = frame.dropna(subset=[y])
    keys = [c for c in (hue, style) if c is not None]
    groups = frame.groupby(keys, sort=True) if keys else [((), frame)]
    hue_levels = list(pd.unique(frame[hue].sort_values())) if hue is not None else [None]
    style_levels = list(pd.unique(frame[style].sort_values())) if style is not None else [None]

    fig, ax = new_axes(ax, (6.4, 4.4))
    groups = list(groups)
    x_range = float(frame[x].max() - frame[x].min()) if len(frame) else 0.0
    step = 0.015 * x_range / max(len(groups) - 1, 1) if dodge and len(groups) > 1 else 0.0
    for g, (key, group) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        values = dict(zip(keys, key))
        h = hue_levels.index(values[hue]) if hue is not None else 0
        s = style_levels.index(values[style]) if style is not None else 0
        stats = group.groupby(x, sort=True)[y].agg(list)
        xs = stats.index.to_numpy(dtype=float) + step * (g - (len(groups) - 1) / 2)
        runs = [np.asarray(v, dtype=float) for v in stats.to_numpy()]
        means = np.array([v.mean() for v in runs])
        label = ", ".join(str(values[k]) for k in keys) if keys else nice(y)
        colour = PALETTE[h % len(PALETTE)]
        ax.plot(
            xs,
            means,
            color=colour,
            marker=MARKERS[s % len(MARKERS)],
            markersize=6,
            linestyle=LINESTYLES[s % len(LINESTYLES)],
            linewidth=1.6,
            label=label,
        )
        if level is not None:
            half = np.array([half_width(v, level) for v in runs])
            lower = half.copy()
            if logy:
                floor = 0.5 * float(np.nanmin(np.where(means > 0, means, np.nan))) if np.any(means > 0) else 1e-12
                lower = np.where(means - half > 0, half, np.maximum(means - floor, 0))
            ok = np.isfinite(half)
            if ok.any():
                ax.errorbar(
                    xs[ok], means[ok], yerr=[lower[ok], half[ok]], fmt="none", ecolor=colour, elinewidth=1.2, capsize=3
                )
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("sparsity (1 - density)" if x == "sparsity" else nice(x))
    ax.set_ylabel(nice(y))
    n_runs = frame.groupby(keys + [x]).size() if keys else frame.groupby(x).size()
    runs_text = f"{n_runs.min()}" if n_runs.min() == n_runs.max() else f"{n_runs.min()}–{n_runs.max()}"
    interval = f"mean ± {percent(level)}% t-interval" if level is not None else "mean"
    ax.set_title(
        f"{nice(y)} vs sparsity ({interval}, {runs_text} run(s) per point)"
        if x == "sparsity"
        else f"{nice(y)} vs {nice(x)} ({interval}, {runs_text} run(s) per point)",
        fontsize="medium",
    )
    if keys:
        ax.legend(title=", ".join(keys), fontsize="small")
    return paint(fig, ax)
