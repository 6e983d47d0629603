r"""Figures for the book and the CLI, in one consistent style.

Every function here only *draws*: the numbers come from the rest of the package
(:mod:`sparselab.metrics`, :class:`sparselab.training.History`, ...). Each returns
the :class:`matplotlib.figure.Figure` it drew on; single-panel functions accept an
``ax=`` to draw into an existing axes.

Style (:func:`use_style`, :func:`context`): opaque white figure and axes
backgrounds with dark text, so that a figure reads the same on a light or a dark
page theme; the colour-blind-safe Okabe–Ito palette (:data:`PALETTE`); one sans-serif
font. Every plotting function applies the style for its own duration (it does not
change global settings), and paints the figure and axes backgrounds explicitly.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Mapping
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, SymmetricalLogLocator

from . import metrics as _metrics
from ._io import atomic_write
from .training import History

__all__ = [
    "PALETTE", "AGREEMENT_CODES", "use_style", "context", "loss_curve", "flip_rate", "weight_heatmaps",
    "predictions", "metric_vs_sparsity", "METHOD_STYLES", "method_comparison", "cost_vs_error", "imp_schedule",
    "density_schedules", "gradient_norms", "structured_tradeoff", "save",
]

#: Okabe–Ito colour-blind-safe palette (blue, orange, bluish green, vermillion,
#: reddish purple, sky blue, black, yellow — yellow last: it is faint on white).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"]

#: Codes of the agreement map drawn by :func:`weight_heatmaps` (the image's array values).
AGREEMENT_CODES = {"neither": 0, "true positive": 1, "false positive": 2, "missed": 3}

_PAPER = "#FFFFFF"      # figure and axes background (opaque)
_INK = "#222222"        # text, ticks, spines
_OFF = "#F2F2F2"        # "absent" cells in boolean heatmaps
_PRUNED = "#D0D0D0"     # pruned entries in the weight heatmap (neutral grey, distinct from small weights)
_AGREEMENT_COLOURS = [_OFF, PALETTE[0], PALETTE[1], PALETTE[4]]  # neither, TP, FP, missed
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
_LINESTYLES = ["-", "--", ":", "-."]
_NICE = {"train_loss": "train loss", "test_mse": "test MSE", "train_mse": "train MSE", "flip_rate": "flip rate"}

_RC = {
    "figure.facecolor": _PAPER, "figure.edgecolor": _PAPER,
    "axes.facecolor": _PAPER, "axes.edgecolor": "#444444", "axes.labelcolor": _INK, "axes.titlecolor": _INK,
    "savefig.facecolor": _PAPER, "savefig.edgecolor": _PAPER, "savefig.transparent": False, "savefig.dpi": 150,
    "text.color": _INK, "xtick.color": _INK, "ytick.color": _INK,
    "legend.facecolor": _PAPER, "legend.edgecolor": "#BBBBBB", "legend.framealpha": 1.0,
    "grid.color": "#E3E3E3",
    "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica", "sans-serif"],
    "mathtext.fontset": "dejavusans",
    "figure.dpi": 100, "image.interpolation": "nearest", "axes.titleweight": "normal",
}


def use_style() -> None:
    """Apply the book's style globally: seaborn ``whitegrid`` theme, the palette and explicit facecolours.

    Idempotent (it sets the same values every time). To apply it temporarily use
    :func:`context` instead.
    """
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font="sans-serif", rc=_RC)
    mpl.rcParams.update(_RC)


@contextlib.contextmanager
def context():
    """Context manager: the book's style inside the block, the previous rcParams restored after it.

    The interactive flag is carried out of the block: a notebook backend that turned
    it on while the first figure was drawn inside the block must keep it on, or
    later figures would silently stop showing.
    """
    with mpl.rc_context():
        use_style()
        try:
            yield
        finally:
            interactive = mpl.is_interactive()
    mpl.interactive(interactive)


def _styled(func):
    """Run a plotting function inside :func:`context`."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with context():
            return func(*args, **kwargs)
    return wrapper


def _paint(fig: Figure, *axes) -> Figure:
    """Set opaque facecolours on the figure and on ``axes`` (all of the figure's axes by default)."""
    fig.set_facecolor(_PAPER)
    fig.patch.set_alpha(1.0)
    for ax in axes or fig.axes:
        ax.set_facecolor(_PAPER)
        ax.patch.set_alpha(1.0)
    return fig


def _new_axes(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    else:
        fig = ax.figure
    return fig, ax


def _numpy(x) -> np.ndarray:
    if torch.is_tensor(x):
        x = x.detach().cpu()
        if x.dtype in (torch.bfloat16, torch.float16):
            x = x.float()
        return x.numpy()
    return np.asarray(x)


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


def _nice(name: str) -> str:
    return _NICE.get(name, name.replace("_", " "))


# ---------------------------------------------------------------------------- curves
@_styled
def loss_curve(histories, *, ax=None, metrics=("train_loss", "test_mse"), logy=True) -> Figure:
    """Learning curves: each metric of each run against the epoch.

    ``histories`` is a :class:`~sparselab.training.History` (or its ``to_dict()``)
    or a dict ``label -> History``. One colour per label; one line style per metric
    (first metric solid — by default the mean training loss of the epoch — the
    second dashed — the test MSE after the epoch — then dotted, dash-dotted).
    ``logy`` uses a log y axis (symlog if some value is not positive).
    """
    runs = _histories(histories)
    fig, ax = _new_axes(ax, (6.4, 4.2))
    positive = True
    for i, (label, h) in enumerate(runs.items()):
        colour = PALETTE[i % len(PALETTE)]
        for j, metric in enumerate(metrics):
            values = np.asarray(getattr(h, metric), dtype=float)
            if len(values) == 0:
                continue
            positive &= bool(np.all(values[np.isfinite(values)] > 0))
            name = _nice(metric) if label is None else f"{label}: {_nice(metric)}"
            ax.plot(h.epoch[:len(values)], values, color=colour, linestyle=_LINESTYLES[j % len(_LINESTYLES)],
                    marker="o" if len(values) <= 3 else None, markersize=4, linewidth=1.8, label=name)
    if logy:
        if positive:
            ax.set_yscale("log")
        else:
            ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE" if set(metrics) <= {"train_loss", "test_mse", "train_mse"} else "value")
    ax.set_title("learning curves")
    ax.legend(fontsize="small")
    return _paint(fig, ax)


@_styled
def flip_rate(histories, *, ax=None) -> Figure:
    """Mask churn: fraction of connections whose mask bit flipped during each epoch, per run.

    Draws ``History.flip_rate`` (flips summed over the epoch's optimiser steps,
    divided by the number of connections) against the epoch. The y axis is symlog
    with a linear band below the smallest non-zero rate, so epochs with no flip
    at all (a frozen mask) sit visibly at 0 rather than disappearing from a log axis.
    """
    runs = _histories(histories)
    fig, ax = _new_axes(ax, (6.4, 4.2))
    smallest = math.inf
    for i, (label, h) in enumerate(runs.items()):
        rate = np.asarray(h.flip_rate, dtype=float)
        if rate.size and np.any(rate > 0):
            smallest = min(smallest, float(rate[rate > 0].min()))
        ax.plot(h.epoch[:len(rate)], rate, color=PALETTE[i % len(PALETTE)], marker="o", markersize=3,
                linewidth=1.6, label=label if label is not None else "flip rate")
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
    return _paint(fig, ax)


# ---------------------------------------------------------------------------- heatmaps
def _layer_arrays(layer):
    """``(W_eff, mask)`` as numpy arrays from a SparseLinear or a (weight, mask) pair."""
    from .layers import SparseLinear

    if isinstance(layer, SparseLinear):
        was_training = layer.training
        layer.eval()  # the exported (hard) mask; the sigmoid relaxation is a training-time object
        try:
            with torch.no_grad():
                mask = layer.mask()
                weight = layer.effective_weight() * mask
        finally:
            layer.train(was_training)
        return _numpy(weight).astype(float), _numpy(mask).astype(bool)
    if isinstance(layer, (tuple, list)) and len(layer) == 2:
        weight, mask = (_numpy(t) for t in layer)
        if weight.shape != mask.shape or weight.ndim != 2:
            raise ValueError(f"(weight, mask) must be two 2-D arrays of one shape, got {weight.shape} and {mask.shape}")
        mask = mask.astype(bool)
        return weight.astype(float) * mask, mask
    raise TypeError(f"layer must be a SparseLinear or a (weight, mask) pair, got {type(layer).__name__}")


def _aspect(shape) -> str:
    rows, cols = shape
    return "equal" if 0.25 <= rows / max(cols, 1) <= 4 else "auto"


def _heatmap_axes(ax, title, ylabel, boundary=None):
    ax.grid(False)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if boundary is not None:
        ax.axhline(boundary - 0.5, color=_INK, linestyle=":", linewidth=1.2)
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel("input feature")
    ax.set_ylabel(ylabel)
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("#888888")


@_styled
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

    ``layer`` is a :class:`~sparselab.layers.SparseLinear` (its exported mask, in
    evaluation mode) or a pair ``(weight, mask)`` of tensors or arrays.
    """
    weight, mask = _layer_arrays(layer)
    rows, cols = mask.shape
    nnz = int(mask.sum())
    head = f"nnz = {nnz} of {mask.size}, density = {nnz / mask.size:.3g}"
    panels = 2
    if planted_support is not None:
        planted = _numpy(planted_support).astype(bool)
        if planted.ndim != 2 or planted.shape[1] != cols:
            raise ValueError(f"planted_support must be 2-D with {cols} columns, got shape {planted.shape}")
        match = _metrics.support_match(torch.from_numpy(mask), torch.from_numpy(planted), match_rows=match_rows)
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
    aspect = _aspect(shown_mask.shape)

    bool_cmap = ListedColormap([_OFF, PALETTE[0]])
    ax = axes[0]
    ax.imshow(shown_mask.astype(int), cmap=bool_cmap, vmin=0, vmax=1, aspect=aspect, interpolation="nearest")
    _heatmap_axes(ax, "learned mask" + clipped, ylabel, boundary)
    ax.legend(handles=[Patch(facecolor=PALETTE[0], label="kept"),
                       Patch(facecolor=_OFF, edgecolor="#999999", label="pruned")],
              loc="upper center", bbox_to_anchor=(0.5, 0.0), borderaxespad=3.3, ncol=2, fontsize="small",
              frameon=False)

    ax = axes[1]
    kept_values = np.abs(shown_weight[shown_mask])
    vmax = float(kept_values.max()) if kept_values.size and kept_values.max() > 0 else 1.0
    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad=_PRUNED)
    image = ax.imshow(np.ma.masked_array(shown_weight, mask=~shown_mask), cmap=cmap, vmin=-vmax, vmax=vmax,
                      aspect=aspect, interpolation="nearest")
    _heatmap_axes(ax, "surviving weights $W_\\mathrm{eff}$ (grey = pruned)", ylabel, boundary)
    fig.colorbar(image, ax=ax, location="right", shrink=0.8, aspect=25, pad=0.02, label="surviving weight")

    if planted is not None:
        shown_planted = take(planted, 0, False)[:len(pairs)]
        ax = axes[2]
        ax.imshow(shown_planted.astype(int), cmap=bool_cmap, vmin=0, vmax=1, aspect=aspect, interpolation="nearest")
        _heatmap_axes(ax, "planted support", ylabel, boundary)

        codes = np.zeros(shown_mask.shape, dtype=int)
        codes[shown_mask & shown_planted] = AGREEMENT_CODES["true positive"]
        codes[shown_mask & ~shown_planted] = AGREEMENT_CODES["false positive"]
        codes[~shown_mask & shown_planted] = AGREEMENT_CODES["missed"]
        ax = axes[3]
        ax.imshow(codes, cmap=ListedColormap(_AGREEMENT_COLOURS), vmin=-0.5, vmax=3.5, aspect=aspect,
                  interpolation="nearest")
        _heatmap_axes(ax, "agreement", ylabel, boundary)
        counts = {name: int((codes == code).sum()) for name, code in AGREEMENT_CODES.items()}
        ax.legend(handles=[Patch(facecolor=_AGREEMENT_COLOURS[c], edgecolor="#999999" if c == 0 else None,
                                 label=f"{name} ({counts[name]})")
                           for name, c in AGREEMENT_CODES.items() if c != 0],
                  loc="upper center", bbox_to_anchor=(0.5, 0.0), borderaxespad=3.3, ncol=3, fontsize="small",
              frameon=False)
    fig.suptitle(head if title is None else f"{title}\n{head}")
    return _paint(fig)


# ---------------------------------------------------------------------------- predictions
@_styled
def predictions(y_true, y_pred, *, ax=None, label=None) -> Figure:
    r"""Scatter of predictions against targets, with the identity line :math:`\hat y = y`.

    Accepts tensors or arrays; ``(n, 1)`` columns are flattened (several outputs are
    pooled). The legend gives :math:`R^2 = 1 - \sum (y - \hat y)^2 / \sum (y - \bar y)^2`
    (:math:`\bar y` per output) and the MSE. Markers get more transparent the more
    points there are.
    """
    y = _numpy(y_true).astype(float)
    p = _numpy(y_pred).astype(float)
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
    fig, ax = _new_axes(ax, (5.0, 5.0))
    alpha = float(np.clip(200 / max(len(y), 1), 0.08, 0.8))
    name = f"R² = {r2:.3f}, MSE = {mse:.3g}"
    ax.scatter(y, p, s=10 if len(y) > 500 else 18, alpha=alpha, color=PALETTE[0], edgecolors="none",
               label=name if label is None else f"{label}: {name}")
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=_INK, linestyle="--", linewidth=1, label="identity")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("target $y$")
    ax.set_ylabel("prediction $\\hat y$")
    ax.set_title(f"predictions (n = {len(y)})")
    legend = ax.legend(loc="upper left", fontsize="small")
    for handle in legend.legend_handles:
        handle.set_alpha(1.0)
    return _paint(fig, ax)


# ---------------------------------------------------------------------------- sweeps
def _t_interval(values: np.ndarray, level: float) -> float:
    """Half-width of the two-sided Student-t interval for the mean (NaN with fewer than two values)."""
    from scipy import stats

    n = len(values)
    if n < 2:
        return float("nan")
    return float(stats.t.ppf(0.5 + level / 200, n - 1) * values.std(ddof=1) / math.sqrt(n))


@_styled
def metric_vs_sparsity(frame, *, x="sparsity", y="test_mse", hue="target", style=None, ax=None, logy=True,
                       ci=95, dodge=True) -> Figure:
    """A metric against sparsity: mean over runs (seeds) with a ``ci`` % confidence interval.

    ``frame`` is a :class:`pandas.DataFrame` with one row per run. Rows are grouped by
    ``hue`` (colour), ``style`` (marker and line style) and ``x``; each group is drawn
    as its mean, with error bars giving the two-sided Student-t interval
    :math:`\\bar y \\pm t_{n-1}\\, s/\\sqrt n` (computed here with scipy, not seaborn's
    bootstrap, which is too narrow for a handful of seeds). A group with a single
    run has no interval and is drawn as its point. With ``logy`` a lower bound at or
    below zero is cut at the bottom of the axis. ``ci=None`` draws no interval.
    If ``x="sparsity"`` is missing but a ``density`` column exists, sparsity is
    ``1 - density``. With ``dodge`` and several hue/style groups, each group is
    shifted sideways by a small fraction of the x range (at most 1.5 %) so that
    overlapping error bars stay apart.
    """
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

    fig, ax = _new_axes(ax, (6.4, 4.4))
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
        label = ", ".join(str(values[k]) for k in keys) if keys else _nice(y)
        colour = PALETTE[h % len(PALETTE)]
        ax.plot(xs, means, color=colour, marker=_MARKERS[s % len(_MARKERS)], markersize=6,
                linestyle=_LINESTYLES[s % len(_LINESTYLES)], linewidth=1.6, label=label)
        if ci is not None:
            half = np.array([_t_interval(v, ci) for v in runs])
            lower = half.copy()
            if logy:
                floor = 0.5 * float(np.nanmin(np.where(means > 0, means, np.nan))) if np.any(means > 0) else 1e-12
                lower = np.where(means - half > 0, half, np.maximum(means - floor, 0))
            ok = np.isfinite(half)
            if ok.any():
                ax.errorbar(xs[ok], means[ok], yerr=[lower[ok], half[ok]], fmt="none", ecolor=colour, elinewidth=1.2,
                            capsize=3)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("sparsity (1 - density)" if x == "sparsity" else _nice(x))
    ax.set_ylabel(_nice(y))
    n_runs = frame.groupby(keys + [x]).size() if keys else frame.groupby(x).size()
    runs_text = f"{n_runs.min()}" if n_runs.min() == n_runs.max() else f"{n_runs.min()}–{n_runs.max()}"
    interval = f"mean ± {ci}% t-interval" if ci is not None else "mean"
    ax.set_title(f"{_nice(y)} vs sparsity ({interval}, {runs_text} run(s) per point)" if x == "sparsity"
                 else f"{_nice(y)} vs {_nice(x)} ({interval}, {runs_text} run(s) per point)", fontsize="medium")
    if keys:
        ax.legend(title=", ".join(keys), fontsize="small")
    return _paint(fig, ax)


# ---------------------------------------------------------------------------- pruning recipes
#: Colour, marker and line style of each recipe of :data:`sparselab.comparison.METHODS` and of each
#: structure of :data:`sparselab.comparison.STRUCTURES`, shared by every figure so that a recipe looks the
#: same everywhere. Line styles group families: magnitude pruning solid, its controls dotted, learned masks
#: dashed, dynamic sparse training dash-dotted.
METHOD_STYLES = {
    "dense": dict(color="#555555", marker="o", linestyle="-"),
    "one-shot": dict(color=PALETTE[0], marker="o", linestyle="-"),
    "gradual": dict(color=PALETTE[1], marker="s", linestyle="-"),
    "IMP": dict(color=PALETTE[2], marker="^", linestyle="-"),
    "IMP-reinit": dict(color=PALETTE[3], marker="v", linestyle=":"),
    "random": dict(color=PALETTE[6], marker="X", linestyle=":"),
    "hard": dict(color=PALETTE[4], marker="D", linestyle="--"),
    "soft": dict(color=PALETTE[5], marker="P", linestyle="--"),
    "sigmoid": dict(color="#8C6D1F", marker="*", linestyle="--"),
    "SET": dict(color="#44AA99", marker="h", linestyle="-."),
    "RigL": dict(color="#882255", marker="p", linestyle="-."),
    "unstructured": dict(color=PALETTE[0], marker="o", linestyle="-"),
    "channels": dict(color=PALETTE[3], marker="s", linestyle="-"),
    "input channels": dict(color=PALETTE[1], marker="^", linestyle="--"),
    "blocks 4x4": dict(color=PALETTE[2], marker="D", linestyle="-."),
    "2:4": dict(color=PALETTE[4], marker="v", linestyle=":"),
    "1:4": dict(color=PALETTE[5], marker="P", linestyle=":"),
}
_REFERENCE_FILL = "#E6E6E6"  # the reference (dense) band: an opaque light grey, drawn under everything


class _PlainLogFormatter(mpl.ticker.LogFormatterSciNotation):
    """Log-axis tick labels as plain numbers (0.05, not 5×10⁻²), on the ticks matplotlib would label."""

    def __call__(self, x, pos=None):
        return f"{x:g}" if super().__call__(x, pos) else ""


def _plain_log(axis) -> None:
    """Plain-number labels on a log ``axis`` (an ``ax.xaxis`` or ``ax.yaxis``), major and minor ticks."""
    axis.set_major_formatter(_PlainLogFormatter())
    axis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False))


def _style(name, index: int) -> dict:
    """The :data:`METHOD_STYLES` entry of ``name``, or a palette colour, marker and line style by ``index``."""
    if name in METHOD_STYLES:
        return dict(METHOD_STYLES[name])
    return dict(color=PALETTE[index % len(PALETTE)], marker=_MARKERS[index % len(_MARKERS)],
                linestyle=_LINESTYLES[index % len(_LINESTYLES)])


def _check_frame(frame, columns) -> None:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame]
    if missing:
        raise KeyError(f"column(s) {missing} not in the frame; columns: {list(frame.columns)}")


def _one_task(frame, task):
    """The rows of ``task``; with ``task=None`` the frame must hold a single task (or no task column)."""
    if "task" not in frame:
        if task is not None:
            raise KeyError("task is given but the frame has no 'task' column")
        return frame
    tasks = list(dict.fromkeys(frame["task"]))
    if task is None:
        if len(tasks) > 1:
            raise ValueError(f"the frame holds several tasks {tasks}: pass task=")
        return frame
    if task not in tasks:
        raise ValueError(f"task {task!r} is not in the frame; it has {tasks}")
    return frame[frame["task"] == task]


def _ordered(levels, order=tuple(METHOD_STYLES)) -> list:
    """``levels`` in the order of :data:`METHOD_STYLES` (unknown names last, in order of appearance)."""
    known = [m for m in order if m in levels]
    return known + [m for m in levels if m not in known]


def _mean_interval(values, ci) -> tuple[float, float]:
    """Mean and half-width of the ``ci`` % Student-t interval (NaN half-width for one value or ``ci=None``)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    mean = float(values.mean()) if values.size else float("nan")
    return mean, (_t_interval(values, ci) if ci is not None else float("nan"))


def _draw_interval(ax, xs, means, half, colour, logy) -> None:
    """Vertical t-interval bars; on a log axis a lower end at or below zero is cut at half the smallest mean."""
    half = np.asarray(half, dtype=float)
    means = np.asarray(means, dtype=float)
    lower = half.copy()
    if logy and np.any(means > 0):
        floor = 0.5 * float(np.nanmin(np.where(means > 0, means, np.nan)))
        lower = np.where(means - half > 0, half, np.maximum(means - floor, 0))
    ok = np.isfinite(half)
    if ok.any():
        ax.errorbar(np.asarray(xs, dtype=float)[ok], means[ok], yerr=[lower[ok], half[ok]], fmt="none",
                    ecolor=colour, elinewidth=1.2, capsize=3)


def _reference_band(ax, values, ci, label, colour="#555555") -> None:
    """A horizontal line at the mean of ``values`` and an opaque band over its t-interval."""
    mean, half = _mean_interval(values, ci)
    if np.isfinite(half) and half > 0:
        ax.axhspan(mean - half, mean + half, facecolor=_REFERENCE_FILL, edgecolor="none", zorder=0)
    ax.axhline(mean, color=colour, linestyle="-", linewidth=1.4, zorder=1, label=label)


def _log_dodge(n: int, values, dodge: bool, spread: float = 0.1) -> np.ndarray:
    """Factors that spread ``n`` groups evenly and centred over ``spread`` times the decades ``values`` span.

    For a log axis: multiplying a group's x by its factor shifts it sideways by the same
    distance on the page wherever it is (0.3 decades stand in for a range of none).
    """
    values = np.asarray(values, dtype=float)
    values = values[values > 0]
    if not dodge or n < 2 or values.size == 0:
        return np.ones(n)
    decades = float(np.log10(values.max() / values.min()))
    total = spread * (decades if decades > 0 else 0.3)
    return 10 ** (total * (np.arange(n) / (n - 1) - 0.5))


def _sparsity_axis(ax, sparsities) -> None:
    """An x axis of density on a log scale, inverted, with ticks labelled by the sparsities."""
    sparsities = sorted(set(float(s) for s in sparsities))
    ax.set_xscale("log")
    ax.set_xticks([1.0 - s for s in sparsities])
    ax.set_xticklabels([f"{s:g}" for s in sparsities])
    ax.xaxis.set_minor_locator(mpl.ticker.NullLocator())
    if not ax.xaxis_inverted():
        ax.invert_xaxis()
    ax.set_xlabel("sparsity (spaced by log density, 1 - sparsity)")


@_styled
def method_comparison(frame, *, task=None, y="test_error", methods=None, reference="dense", ax=None, ci=95,
                      logy=True, dodge=True, ylabel=None, legend=True) -> Figure:
    r"""Final error against sparsity, one line per recipe: mean over seeds with a Student-t interval.

    ``frame`` has one row per run with columns ``method``, ``sparsity`` (the nominal final
    sparsity) and ``y`` — the frame of :func:`sparselab.comparison.compare`; with several
    tasks in it, pick one with ``task``. Each recipe of ``methods`` (default: all but
    ``reference``, in the order of :data:`METHOD_STYLES`) is drawn at :math:`x = 1 - s`
    on a log axis that runs right-wards to higher sparsity (ticks labelled by :math:`s`),
    as the mean of its runs with the two-sided ``ci`` % interval
    :math:`\bar y \pm t_{n-1}\, s_y/\sqrt n`; the ``reference`` rows (the dense network,
    sparsity 0) become a horizontal line at their mean over an opaque band covering
    their interval. With ``dodge`` the recipes are spread sideways by a small factor so
    that their bars stay apart (the line's x data are the dodged positions).
    """
    _check_frame(frame, ["method", "sparsity", y])
    frame = _one_task(frame, task).dropna(subset=[y])
    sparse = frame[frame["method"] != reference] if reference is not None else frame
    levels = list(dict.fromkeys(sparse["method"]))
    methods = _ordered(levels) if methods is None else list(methods)
    unknown = [m for m in methods if m not in levels]
    if unknown:
        raise ValueError(f"method(s) {unknown} have no sparse runs in the frame; it has {levels}")
    sparse = sparse[sparse["method"].isin(methods)]
    fig, ax = _new_axes(ax, (7.0, 4.6))
    if reference is not None and (frame["method"] == reference).any():
        _reference_band(ax, frame.loc[frame["method"] == reference, y], ci,
                        f"{reference} (mean and {ci}% interval)" if ci is not None else reference,
                        METHOD_STYLES.get(reference, {}).get("color", "#555555"))
    factors = _log_dodge(len(methods), 1.0 - sparse["sparsity"].to_numpy(dtype=float), dodge)
    counts = []
    for i, method in enumerate(methods):
        style = _style(method, i)
        stats = sparse[sparse["method"] == method].groupby("sparsity", sort=True)[y].agg(list)
        xs = (1.0 - stats.index.to_numpy(dtype=float)) * factors[i]
        summary = [_mean_interval(v, ci) for v in stats]
        counts += [len(v) for v in stats]
        means = np.array([m for m, _ in summary])
        ax.plot(xs, means, color=style["color"], marker=style["marker"], linestyle=style["linestyle"],
                markersize=6, linewidth=1.5, label=method)
        _draw_interval(ax, xs, means, [h for _, h in summary], style["color"], logy)
    if logy:
        ax.set_yscale("log")
        _plain_log(ax.yaxis)
    _sparsity_axis(ax, sparse["sparsity"])
    ax.set_ylabel(ylabel or _nice(y))
    runs = f"{min(counts)}" if counts and min(counts) == max(counts) else f"{min(counts)}–{max(counts)}"
    interval = f"mean ± {ci}% t-interval" if ci is not None else "mean"
    ax.set_title(f"{interval}, {runs} runs per point", fontsize="medium")
    if legend:
        ax.legend(fontsize="small", ncol=2)
    return _paint(fig, ax)


@_styled
def cost_vs_error(frame, *, sparsity, task=None, x="steps", y="test_error", methods=None, reference="dense",
                  ax=None, ci=95, logy=True, ylabel=None, legend=True, width=0.75) -> Figure:
    r"""Training cost against final error at one sparsity: one point per recipe (means over seeds).

    ``frame`` as for :func:`method_comparison`. The recipes at final sparsity
    ``sparsity`` are grouped by their cost, the mean of ``x`` (by default the optimizer
    steps in all, which the recipes fix exactly); each cost is one category on the x axis,
    ticked with its value and its multiple of the cheapest, and the recipes of one cost are
    spread evenly over ``width`` of the category. Each point is the mean of ``y`` with a
    vertical ``ci`` % Student-t interval. The ``reference`` rows (sparsity 0, the dense
    network) are one more point, so its cost and error sit on the same axes.
    """
    _check_frame(frame, ["method", "sparsity", x, y])
    frame = _one_task(frame, task).dropna(subset=[y])
    at = frame[np.isclose(frame["sparsity"].to_numpy(dtype=float), float(sparsity), rtol=0.0, atol=1e-9)
               & (frame["method"] != reference)]
    if at.empty:
        raise ValueError(f"no run at sparsity {sparsity!r}; the frame has {sorted(frame['sparsity'].unique())}")
    levels = list(dict.fromkeys(at["method"]))
    methods = _ordered(levels) if methods is None else list(methods)
    unknown = [m for m in methods if m not in levels]
    if unknown:
        raise ValueError(f"method(s) {unknown} have no run at sparsity {sparsity!r}; there are {levels}")
    points = [(m, at[at["method"] == m]) for m in methods]
    if reference is not None and (frame["method"] == reference).any():
        points.insert(0, (reference, frame[frame["method"] == reference]))
    costs = np.array([float(rows[x].mean()) for _, rows in points])
    categories = np.unique(np.round(costs, 6))
    category = np.array([int(np.argmin(np.abs(categories - c))) for c in costs])
    positions = np.zeros(len(points))
    for j in range(len(categories)):
        members = np.flatnonzero(category == j)
        n = len(members)
        positions[members] = j + (width * (np.arange(n) / (n - 1) - 0.5) if n > 1 else 0.0)
    fig, ax = _new_axes(ax, (6.4, 4.6))
    for i, (method, rows) in enumerate(points):
        style = _style(method, i)
        mean, half = _mean_interval(rows[y], ci)
        label = f"{method} (sparsity 0)" if method == reference else method
        ax.plot([positions[i]], [mean], color=style["color"], marker=style["marker"], linestyle="none",
                markersize=8, label=label)
        _draw_interval(ax, [positions[i]], [mean], [half], style["color"], logy)
    for j in range(1, len(categories)):
        ax.axvline(j - 0.5, color="#BBBBBB", linewidth=0.8)
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels([f"{c:g}\n({c / categories[0]:.3g}×)" for c in categories])
    ax.set_xlim(-0.6, len(categories) - 0.4)
    ax.grid(False, axis="x")
    if logy:
        ax.set_yscale("log")
        _plain_log(ax.yaxis)
    ax.set_xlabel("optimizer steps in all (training cost)" if x == "steps" else _nice(x))
    ax.set_ylabel(ylabel or _nice(y))
    ax.set_title(f"cost and error at sparsity {float(sparsity):g}", fontsize="medium")
    if legend:
        ax.legend(fontsize="small", ncol=2)
    return _paint(fig, ax)


@_styled
def imp_schedule(schedules, *, task=None, ax=None) -> Figure:
    r"""Iterative magnitude pruning: the measured density after each round against :math:`(1 - \alpha)^r`.

    ``schedules`` maps ``(task, sparsity, seed)`` to ``(densities, target_densities, alpha)``
    (the second value returned by :func:`sparselab.comparison.compare`); with several tasks
    pick one with ``task``. For each final sparsity: the measured densities
    :math:`d_r` (round :math:`r = 0` is the dense training; mean over seeds) as markers,
    and :math:`(1 - \alpha)^r` for :math:`r = 0, \dots, S` as a line, on a log axis where
    the geometric schedule is straight.
    """
    if not isinstance(schedules, Mapping) or not schedules:
        raise ValueError("schedules must be a non-empty dict (task, sparsity, seed) -> (densities, targets, alpha)")
    tasks = list(dict.fromkeys(key[0] for key in schedules))
    if task is None:
        if len(tasks) > 1:
            raise ValueError(f"schedules hold several tasks {tasks}: pass task=")
        task = tasks[0]
    elif task not in tasks:
        raise ValueError(f"task {task!r} is not in schedules; they have {tasks}")
    by_sparsity: dict = {}
    for (t, s, _seed), (densities, _targets, alpha) in schedules.items():
        if t == task:
            by_sparsity.setdefault(float(s), []).append((np.asarray(densities, dtype=float), float(alpha)))
    fig, ax = _new_axes(ax, (6.0, 4.4))
    for i, s in enumerate(sorted(by_sparsity)):
        runs = by_sparsity[s]
        measured = np.mean([d for d, _ in runs], axis=0)
        alpha = runs[0][1]
        rounds = np.arange(len(measured))
        colour = PALETTE[i % len(PALETTE)]
        ax.plot(rounds, (1.0 - alpha) ** rounds, color=colour, linestyle="-", linewidth=1.4,
                label=f"sparsity {s:g}, $\\alpha$ = {alpha:.3f}")
        ax.plot(rounds, measured, color=colour, linestyle="none", marker=_MARKERS[i % len(_MARKERS)],
                markersize=8, markerfacecolor="none", markeredgewidth=1.6)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _plain_log(ax.yaxis)
    ax.set_xlabel("pruning round $r$ (0 = dense training)")
    ax.set_ylabel("density of the pruned layers")
    ax.set_title(f"IMP ({task}): measured (markers) vs $(1-\\alpha)^r$ (lines)", fontsize="medium")
    ax.legend(fontsize="small", loc="upper right")
    return _paint(fig, ax)


@_styled
def density_schedules(curves, *, ax=None, logy=True, styles=None) -> Figure:
    """Density of the pruned layers against the optimizer step, one step curve per recipe.

    ``curves`` maps a label to ``(steps, densities)``; each is drawn as a step function
    (``drawstyle="steps-post"``: the density holds from a step to the next), in the
    style ``styles[label]`` (a dict with ``color`` and ``linestyle``) when given, else in
    the recipe's :data:`METHOD_STYLES` when the label is a recipe's name.
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty dict label -> (steps, densities)")
    fig, ax = _new_axes(ax, (6.4, 4.2))
    for i, (label, (steps, densities)) in enumerate(curves.items()):
        steps, densities = np.asarray(steps, dtype=float), np.asarray(densities, dtype=float)
        if steps.shape != densities.shape or steps.ndim != 1:
            raise ValueError(f"curve {label!r}: steps and densities must be 1-D of one length, "
                             f"got {steps.shape} and {densities.shape}")
        style = {**_style(str(label), i), **((styles or {}).get(label, {}))}
        ax.plot(steps, densities, color=style["color"], linestyle=style["linestyle"], linewidth=1.8,
                drawstyle="steps-post", label=str(label))
    if logy:
        ax.set_yscale("log")
        _plain_log(ax.yaxis)
    ax.set_xlabel("optimizer step (counted over every training of the recipe)")
    ax.set_ylabel("density of the pruned layers")
    ax.set_title("density schedules", fontsize="medium")
    ax.legend(fontsize="small")
    return _paint(fig, ax)


def _norm_frame(log):
    """``(epoch, active, pruned)`` arrays from a GradientNormLog or a frame/dict with those columns."""
    if hasattr(log, "to_frame") and hasattr(log, "active"):
        log = log.to_frame()
    try:
        return tuple(np.asarray(log[c], dtype=float) for c in ("epoch", "active", "pruned"))
    except (KeyError, TypeError, IndexError):
        raise TypeError("a gradient-norm log must be a GradientNormLog or have 'epoch', 'active' and 'pruned' "
                        f"columns, got {type(log).__name__}") from None


@_styled
def gradient_norms(logs, *, ax=None, logy=True) -> Figure:
    r"""The projected-gradient picture: :math:`\|G \odot M\|_2` and :math:`\|G \odot (1 - M)\|_2` per epoch.

    ``logs`` is a :class:`sparselab.comparison.GradientNormLog` (or its ``to_frame()``,
    or any mapping with ``epoch``, ``active`` and ``pruned``), or a dict label -> such a
    log. One colour per run; the active part (the gradient the masked model follows) solid,
    the pruned part (what the pruned weights would receive) dashed.
    """
    import pandas as pd

    if isinstance(logs, Mapping) and not isinstance(logs, pd.DataFrame) and "epoch" not in logs:
        runs = {str(k): _norm_frame(v) for k, v in logs.items()}
        if not runs:
            raise ValueError("logs is empty")
    else:
        runs = {None: _norm_frame(logs)}
    fig, ax = _new_axes(ax, (6.4, 4.2))
    for i, (label, (epoch, active, pruned)) in enumerate(runs.items()):
        colour = PALETTE[i % len(PALETTE)]
        prefix = "" if label is None else f"{label}: "
        ax.plot(epoch, active, color=colour, linestyle="-", marker="o", markersize=3, linewidth=1.8,
                label=prefix + r"active $\|G \odot M\|_2$")
        ax.plot(epoch, pruned, color=colour, linestyle="--", marker="s", markersize=3, linewidth=1.8,
                label=prefix + r"pruned $\|G \odot (1 - M)\|_2$")
    if logy:
        ax.set_yscale("log")
        _plain_log(ax.yaxis)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("gradient norm (full training set)")
    ax.set_title("dense gradient split by the mask", fontsize="medium")
    ax.legend(fontsize="small")
    return _paint(fig, ax)


@_styled
def structured_tradeoff(frame, *, axes=None, ci=95, logy=True, ylabel="test error") -> Figure:
    r"""Structured vs unstructured pruning at equal density: the error each costs, and what each saves.

    ``frame`` is the frame of :func:`sparselab.comparison.structured_sweep` (one row per
    seed, structure and density, plus ``dense`` rows). Three panels against the density
    of the pruned layer (log axis, sparser to the right), one line per structure (a
    structure of fixed density, such as 2:4, is one point):

    1. test error, mean over seeds with ``ci`` % t-interval bars; the dense network as a
       line over an opaque band covering its interval;
    2. the parameters (weights and biases) of the physically smaller network that
       removes dead and unread channels (``params``), as a fraction of the dense
       network's, and, dotted grey, the non-zero parameters of the masked
       ``unstructured`` network (``nonzero_params``) — at equal density every structure
       has about as many non-zeros;
    3. the forward FLOPs of that smaller network (``flops``), as a fraction of the dense
       network's. Masks alone execute every FLOP (dense kernels), so only structures
       that empty whole channels move down.

    Fractions are means over seeds. ``axes`` is a sequence of three axes to draw into
    (default: a new figure, with the legend below the panels).
    """
    _check_frame(frame, ["structure", "density", "test_error", "nonzero_params", "flops", "params"])
    dense = frame[frame["structure"] == "dense"]
    if dense.empty:
        raise ValueError("the frame has no 'dense' rows, the reference of the savings")
    pruned = frame[frame["structure"] != "dense"]
    if pruned.empty:
        raise ValueError("the frame has no pruned rows")
    structures = _ordered(list(dict.fromkeys(pruned["structure"])))
    own = axes is None
    if own:
        fig, axes = plt.subplots(1, 3, figsize=(14, 4.6), layout="constrained")
    else:
        if len(axes) != 3:
            raise ValueError(f"axes must be three axes, got {len(axes)}")
        fig = axes[0].figure
    error_ax, params_ax, flops_ax = axes
    _reference_band(error_ax, dense["test_error"], ci,
                    f"dense (mean and {ci}% interval)" if ci is not None else "dense")
    factors = _log_dodge(len(structures), pruned["density"].to_numpy(dtype=float), True, spread=0.06)
    dense_params = float(dense["params"].mean())
    dense_flops = float(dense["flops"].mean())
    for i, name in enumerate(structures):
        style = _style(name, i)
        rows = pruned[pruned["structure"] == name]
        groups = rows.groupby("density", sort=True)
        densities = np.array(list(groups.groups), dtype=float)
        summary = [_mean_interval(groups.get_group(d)["test_error"], ci) for d in densities]
        means = np.array([m for m, _ in summary])
        xs = densities * factors[i]
        line = dict(color=style["color"], marker=style["marker"], linestyle=style["linestyle"], markersize=6,
                    linewidth=1.5, label=name)
        error_ax.plot(xs, means, **line)
        _draw_interval(error_ax, xs, means, [h for _, h in summary], style["color"], logy)
        params_ax.plot(xs, [groups.get_group(d)["params"].mean() / dense_params for d in densities], **line)
        flops_ax.plot(xs, [groups.get_group(d)["flops"].mean() / dense_flops for d in densities], **line)
    reference = pruned[pruned["structure"] == "unstructured"]
    if not reference.empty:
        nonzero = (reference.groupby("density", sort=True)["nonzero_params"].mean()
                   / float(dense["nonzero_params"].mean()))
        params_ax.plot(nonzero.index.to_numpy(dtype=float), nonzero.to_numpy(), color="#777777", linestyle=":",
                       linewidth=2.0, label="non-zeros (unstructured, masked)")
    ticks = sorted(pruned["density"].unique())
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xticks(ticks)
        ax.set_xticklabels([f"{d:g}" for d in ticks])
        ax.xaxis.set_minor_locator(mpl.ticker.NullLocator())
        if not ax.xaxis_inverted():
            ax.invert_xaxis()
        ax.set_xlabel("density of the pruned layer (log scale)")
    if logy:
        error_ax.set_yscale("log")
        _plain_log(error_ax.yaxis)
    error_ax.set_ylabel(ylabel)
    error_ax.set_title(f"accuracy (mean ± {ci}% t-interval)" if ci is not None else "accuracy", fontsize="medium")
    for ax, what in ((params_ax, "parameters"), (flops_ax, "forward FLOPs")):
        ax.set_ylim(0, 1.08)
        ax.axhline(1.0, color=METHOD_STYLES["dense"]["color"], linewidth=1.4)
        ax.set_ylabel(f"{what} (fraction of dense)")
    params_ax.set_title("parameters after removing dead channels", fontsize="medium")
    flops_ax.set_title("FLOPs after removing dead channels", fontsize="medium")
    handles, labels = error_ax.get_legend_handles_labels()
    extra = [(h, l) for h, l in zip(*params_ax.get_legend_handles_labels()) if l not in labels]
    handles += [h for h, _ in extra]
    labels += [l for _, l in extra]
    if own:
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 5), fontsize="small")
    else:
        error_ax.legend(handles, labels, fontsize="small")
    return _paint(fig, *axes)


# ---------------------------------------------------------------------------- output
def save(fig: Figure, path, *, dpi: int = 150) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically (temporary file in the same folder, then rename).

    Parent folders are created; the opaque facecolour is kept. Returns the path.
    """
    path = Path(path)
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=dpi, facecolor=fig.get_facecolor(), edgecolor="none", transparent=False)
    return path
