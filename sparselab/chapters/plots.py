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

Recovery of planted sparse networks (:mod:`sparselab.recovery`, the IHT chapter):
:func:`phase_diagram` (heatmaps of a metric over two sweep parameters, one panel per
method), :func:`recovered_weights` (planted against recovered fused weights),
:func:`convergence` (IHT residual and support changes per step), :func:`cost_scaling`
(peak memory and time against nnz, log-log), :func:`metric_vs_nnz` (mean ± standard
deviation against nnz, one panel per task), :func:`image_grid`, :func:`width_mismatch`
and :func:`assumption_failures`. They take the long-format frames of the chapter (one
row per run) and raise :class:`ValueError` on an empty frame or a missing column.

Sparse matrix factorisation (:mod:`sparselab.factorization`, :mod:`sparselab.factorization.butterfly`, the
factorisation chapter): :func:`ill_posedness` (error against parameter norm on the LU support),
:func:`relu_training`, :func:`fsmf_gaps` (end points of local solvers from random starts),
:func:`butterfly_errors`, :func:`product_timing` (log–log, with :math:`N^2` and
:math:`N \log N` guides) and :func:`layer_comparison`, styled by :data:`FACTORIZATION_STYLES`.
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

from sparselab import metrics as _metrics
from sparselab._io import atomic_write
from sparselab.training import History

__all__ = [
    "PALETTE",
    "AGREEMENT_CODES",
    "use_style",
    "context",
    "loss_curve",
    "flip_rate",
    "weight_heatmaps",
    "predictions",
    "metric_vs_sparsity",
    "METHOD_STYLES",
    "method_comparison",
    "cost_vs_error",
    "imp_schedule",
    "density_schedules",
    "gradient_norms",
    "structured_tradeoff",
    "phase_diagram",
    "recovered_weights",
    "convergence",
    "cost_scaling",
    "metric_vs_nnz",
    "image_grid",
    "width_mismatch",
    "assumption_failures",
    "save",
    "phase_transition",
    "coefficients",
    "FACTORIZATION_STYLES",
    "ill_posedness",
    "relu_training",
    "fsmf_gaps",
    "butterfly_errors",
    "product_timing",
    "layer_comparison",
]

#: Okabe–Ito colour-blind-safe palette (blue, orange, bluish green, vermillion,
#: reddish purple, sky blue, black, yellow — yellow last: it is faint on white).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"]

#: Codes of the agreement map drawn by :func:`weight_heatmaps` (the image's array values).
AGREEMENT_CODES = {"neither": 0, "true positive": 1, "false positive": 2, "missed": 3}

_PAPER = "#FFFFFF"  # figure and axes background (opaque)
_INK = "#222222"  # text, ticks, spines
_OFF = "#F2F2F2"  # "absent" cells in boolean heatmaps
_PRUNED = "#D0D0D0"  # pruned entries in the weight heatmap (neutral grey, distinct from small weights)
_AGREEMENT_COLOURS = [_OFF, PALETTE[0], PALETTE[1], PALETTE[4]]  # neither, TP, FP, missed
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
_LINESTYLES = ["-", "--", ":", "-."]
_NICE = {"train_loss": "train loss", "test_mse": "test MSE", "train_mse": "train MSE", "flip_rate": "flip rate"}

_RC = {
    "figure.facecolor": _PAPER,
    "figure.edgecolor": _PAPER,
    "axes.facecolor": _PAPER,
    "axes.edgecolor": "#444444",
    "axes.labelcolor": _INK,
    "axes.titlecolor": _INK,
    "savefig.facecolor": _PAPER,
    "savefig.edgecolor": _PAPER,
    "savefig.transparent": False,
    "savefig.dpi": 150,
    "text.color": _INK,
    "xtick.color": _INK,
    "ytick.color": _INK,
    "legend.facecolor": _PAPER,
    "legend.edgecolor": "#BBBBBB",
    "legend.framealpha": 1.0,
    "grid.color": "#E3E3E3",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica", "sans-serif"],
    "mathtext.fontset": "dejavusans",
    "figure.dpi": 100,
    "image.interpolation": "nearest",
    "axes.titleweight": "normal",
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
            ax.plot(
                h.epoch[: len(values)],
                values,
                color=colour,
                linestyle=_LINESTYLES[j % len(_LINESTYLES)],
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
    return _paint(fig, ax)


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

    ``layer`` is a :class:`~sparselab.nn.SparseLinear` (its exported mask, in
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
    aspect = _aspect(shown_mask.shape)

    bool_cmap = ListedColormap([_OFF, PALETTE[0]])
    ax = axes[0]
    ax.imshow(shown_mask.astype(int), cmap=bool_cmap, vmin=0, vmax=1, aspect=aspect, interpolation="nearest")
    _heatmap_axes(ax, "learned mask" + clipped, ylabel, boundary)
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
    _heatmap_axes(ax, "surviving weights $W_\\mathrm{eff}$ (grey = pruned)", ylabel, boundary)
    fig.colorbar(image, ax=ax, location="right", shrink=0.8, aspect=25, pad=0.02, label="surviving weight")

    if planted is not None:
        shown_planted = take(planted, 0, False)[: len(pairs)]
        ax = axes[2]
        ax.imshow(shown_planted.astype(int), cmap=bool_cmap, vmin=0, vmax=1, aspect=aspect, interpolation="nearest")
        _heatmap_axes(ax, "planted support", ylabel, boundary)

        codes = np.zeros(shown_mask.shape, dtype=int)
        codes[shown_mask & shown_planted] = AGREEMENT_CODES["true positive"]
        codes[shown_mask & ~shown_planted] = AGREEMENT_CODES["false positive"]
        codes[~shown_mask & shown_planted] = AGREEMENT_CODES["missed"]
        ax = axes[3]
        ax.imshow(
            codes, cmap=ListedColormap(_AGREEMENT_COLOURS), vmin=-0.5, vmax=3.5, aspect=aspect, interpolation="nearest"
        )
        _heatmap_axes(ax, "agreement", ylabel, boundary)
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
def metric_vs_sparsity(
    frame, *, x="sparsity", y="test_mse", hue="target", style=None, ax=None, logy=True, ci=95, dodge=True
) -> Figure:
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
        ax.plot(
            xs,
            means,
            color=colour,
            marker=_MARKERS[s % len(_MARKERS)],
            markersize=6,
            linestyle=_LINESTYLES[s % len(_LINESTYLES)],
            linewidth=1.6,
            label=label,
        )
        if ci is not None:
            half = np.array([_t_interval(v, ci) for v in runs])
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
    ax.set_xlabel("sparsity (1 - density)" if x == "sparsity" else _nice(x))
    ax.set_ylabel(_nice(y))
    n_runs = frame.groupby(keys + [x]).size() if keys else frame.groupby(x).size()
    runs_text = f"{n_runs.min()}" if n_runs.min() == n_runs.max() else f"{n_runs.min()}–{n_runs.max()}"
    interval = f"mean ± {ci}% t-interval" if ci is not None else "mean"
    ax.set_title(
        f"{_nice(y)} vs sparsity ({interval}, {runs_text} run(s) per point)"
        if x == "sparsity"
        else f"{_nice(y)} vs {_nice(x)} ({interval}, {runs_text} run(s) per point)",
        fontsize="medium",
    )
    if keys:
        ax.legend(title=", ".join(keys), fontsize="small")
    return _paint(fig, ax)


# ---------------------------------------------------------------------------- pruning recipes
#: Colour, marker and line style of each recipe of :data:`sparselab.chapters.pruning.METHODS` and of each
#: structure of :data:`sparselab.chapters.pruning.STRUCTURES`, shared by every figure so that a recipe looks the
#: same everywhere. Line styles group families: magnitude pruning solid, its controls dotted, learned masks
#: dashed, dynamic sparse training dash-dotted. ``IHT`` (iterative hard thresholding, :mod:`sparselab.recovery`)
#: is an indigo solid line with circles, apart from ``IMP`` (bluish green, triangles) that it is compared with.
METHOD_STYLES = {
    "dense": dict(color="#555555", marker="o", linestyle="-"),
    "one-shot": dict(color=PALETTE[0], marker="o", linestyle="-"),
    "gradual": dict(color=PALETTE[1], marker="s", linestyle="-"),
    "IHT": dict(color="#332288", marker="o", linestyle="-"),
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
    return dict(
        color=PALETTE[index % len(PALETTE)],
        marker=_MARKERS[index % len(_MARKERS)],
        linestyle=_LINESTYLES[index % len(_LINESTYLES)],
    )


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
        ax.errorbar(
            np.asarray(xs, dtype=float)[ok],
            means[ok],
            yerr=[lower[ok], half[ok]],
            fmt="none",
            ecolor=colour,
            elinewidth=1.2,
            capsize=3,
        )


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
def method_comparison(
    frame,
    *,
    task=None,
    y="test_error",
    methods=None,
    reference="dense",
    ax=None,
    ci=95,
    logy=True,
    dodge=True,
    ylabel=None,
    legend=True,
) -> Figure:
    r"""Final error against sparsity, one line per recipe: mean over seeds with a Student-t interval.

    ``frame`` has one row per run with columns ``method``, ``sparsity`` (the nominal final
    sparsity) and ``y`` — the frame of :func:`sparselab.chapters.pruning.compare`; with several
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
        _reference_band(
            ax,
            frame.loc[frame["method"] == reference, y],
            ci,
            f"{reference} (mean and {ci}% interval)" if ci is not None else reference,
            METHOD_STYLES.get(reference, {}).get("color", "#555555"),
        )
    factors = _log_dodge(len(methods), 1.0 - sparse["sparsity"].to_numpy(dtype=float), dodge)
    counts = []
    for i, method in enumerate(methods):
        style = _style(method, i)
        stats = sparse[sparse["method"] == method].groupby("sparsity", sort=True)[y].agg(list)
        xs = (1.0 - stats.index.to_numpy(dtype=float)) * factors[i]
        summary = [_mean_interval(v, ci) for v in stats]
        counts += [len(v) for v in stats]
        means = np.array([m for m, _ in summary])
        ax.plot(
            xs,
            means,
            color=style["color"],
            marker=style["marker"],
            linestyle=style["linestyle"],
            markersize=6,
            linewidth=1.5,
            label=method,
        )
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
def cost_vs_error(
    frame,
    *,
    sparsity,
    task=None,
    x="steps",
    y="test_error",
    methods=None,
    reference="dense",
    ax=None,
    ci=95,
    logy=True,
    ylabel=None,
    legend=True,
    width=0.75,
) -> Figure:
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
    at = frame[
        np.isclose(frame["sparsity"].to_numpy(dtype=float), float(sparsity), rtol=0.0, atol=1e-9)
        & (frame["method"] != reference)
    ]
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
        ax.plot(
            [positions[i]],
            [mean],
            color=style["color"],
            marker=style["marker"],
            linestyle="none",
            markersize=8,
            label=label,
        )
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
    (the second value returned by :func:`sparselab.chapters.pruning.compare`); with several tasks
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
        ax.plot(
            rounds,
            (1.0 - alpha) ** rounds,
            color=colour,
            linestyle="-",
            linewidth=1.4,
            label=f"sparsity {s:g}, $\\alpha$ = {alpha:.3f}",
        )
        ax.plot(
            rounds,
            measured,
            color=colour,
            linestyle="none",
            marker=_MARKERS[i % len(_MARKERS)],
            markersize=8,
            markerfacecolor="none",
            markeredgewidth=1.6,
        )
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
            raise ValueError(
                f"curve {label!r}: steps and densities must be 1-D of one length, "
                f"got {steps.shape} and {densities.shape}"
            )
        style = {**_style(str(label), i), **((styles or {}).get(label, {}))}
        ax.plot(
            steps,
            densities,
            color=style["color"],
            linestyle=style["linestyle"],
            linewidth=1.8,
            drawstyle="steps-post",
            label=str(label),
        )
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
        raise TypeError(
            "a gradient-norm log must be a GradientNormLog or have 'epoch', 'active' and 'pruned' "
            f"columns, got {type(log).__name__}"
        ) from None


@_styled
def gradient_norms(logs, *, ax=None, logy=True) -> Figure:
    r"""The projected-gradient picture: :math:`\|G \odot M\|_2` and :math:`\|G \odot (1 - M)\|_2` per epoch.

    ``logs`` is a :class:`sparselab.chapters.pruning.GradientNormLog` (or its ``to_frame()``,
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
        ax.plot(
            epoch,
            active,
            color=colour,
            linestyle="-",
            marker="o",
            markersize=3,
            linewidth=1.8,
            label=prefix + r"active $\|G \odot M\|_2$",
        )
        ax.plot(
            epoch,
            pruned,
            color=colour,
            linestyle="--",
            marker="s",
            markersize=3,
            linewidth=1.8,
            label=prefix + r"pruned $\|G \odot (1 - M)\|_2$",
        )
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

    ``frame`` is the frame of :func:`sparselab.chapters.pruning.structured_sweep` (one row per
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
    _reference_band(
        error_ax, dense["test_error"], ci, f"dense (mean and {ci}% interval)" if ci is not None else "dense"
    )
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
        line = dict(
            color=style["color"],
            marker=style["marker"],
            linestyle=style["linestyle"],
            markersize=6,
            linewidth=1.5,
            label=name,
        )
        error_ax.plot(xs, means, **line)
        _draw_interval(error_ax, xs, means, [h for _, h in summary], style["color"], logy)
        params_ax.plot(xs, [groups.get_group(d)["params"].mean() / dense_params for d in densities], **line)
        flops_ax.plot(xs, [groups.get_group(d)["flops"].mean() / dense_flops for d in densities], **line)
    reference = pruned[pruned["structure"] == "unstructured"]
    if not reference.empty:
        nonzero = reference.groupby("density", sort=True)["nonzero_params"].mean() / float(
            dense["nonzero_params"].mean()
        )
        params_ax.plot(
            nonzero.index.to_numpy(dtype=float),
            nonzero.to_numpy(),
            color="#777777",
            linestyle=":",
            linewidth=2.0,
            label="non-zeros (unstructured, masked)",
        )
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


# ---------------------------------------------------------------------------- recovery of planted networks
#: Axis labels of the recovery chapter's columns (others: the column name with spaces).
_RECOVERY_NICE = {
    "psnr_test": "test PSNR (dB)",
    "psnr_train": "train PSNR (dB)",
    "nnz": "non-zeros $s$",
    "width": "width $m$ (hidden neurons)",
    "n_train": "training samples $n$",
    "success": "success probability",
    "rel_error_test": "relative test error",
    "time_s": "time (s)",
    "peak_bytes": "peak memory (bytes)",
    "width_factor": "width factor $p/m$",
    "accuracy_test": "test accuracy",
    "accuracy_train": "train accuracy",
    "precision": "support precision",
    "recall": "support recall",
}


def _label(name) -> str:
    return _RECOVERY_NICE.get(name, _nice(str(name)))


def _require(frame, columns):
    """``frame`` checked: a non-empty DataFrame holding every column of ``columns`` (ValueError otherwise)."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    if frame.empty:
        raise ValueError(f"the frame is empty (no rows); columns: {list(frame.columns)}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not in the frame; its columns are {list(frame.columns)}")
    return frame


def _numeric(frame, column):
    """``frame`` with ``column`` as floats (booleans such as ``success`` become 0/1) and its NaN rows dropped."""
    frame = frame.assign(**{column: frame[column].astype(float)}).dropna(subset=[column])
    if frame.empty:
        raise ValueError(f"column {column!r} holds no value (all NaN)")
    return frame


def _runs_text(counts) -> str:
    counts = [int(c) for c in counts]
    lo, hi = min(counts), max(counts)
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def _log_ticks(ax, values) -> None:
    """A log x axis ticked (plain numbers) at ``values`` only."""
    ticks = sorted(set(float(v) for v in values))
    ax.set_xscale("log")
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_locator(mpl.ticker.NullLocator())


def _ink_on(rgba) -> str:
    """Text colour readable on a cell of colour ``rgba``: dark ink on light cells, white on dark ones."""
    r, g, b = rgba[:3]
    return _INK if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "#FFFFFF"


@_styled
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
    frame = _require(frame, [value, x, y] + ([method] if method is not None else []))
    frame = _numeric(frame, value)
    xs = np.sort(frame[x].unique())
    ys = np.sort(frame[y].unique())
    methods = _ordered(list(dict.fromkeys(frame[method]))) if method is not None else [None]
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
    cmap = cmap.with_extremes(bad=_PAPER)
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
            aspect=_aspect(grid.shape),
            interpolation="nearest",
        )
        if annotate:
            size = "x-small" if len(xs) > 6 or len(ys) > 8 else "small"
            for (i, j), v in np.ndenumerate(grid):
                if np.isnan(v):
                    continue
                text = "∞" if v == np.inf else "-∞" if v == -np.inf else fmt.format(v)
                ax.text(j, i, text, ha="center", va="center", fontsize=size, color=_ink_on(cmap(norm(shown[i, j]))))
        ax.grid(False)
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels([f"{v:g}" for v in xs])
        ax.set_yticks(range(len(ys)))
        ax.set_yticklabels([f"{v:g}" for v in ys])
        ax.set_xlabel(_label(x))
        if m is not None:
            ax.set_title(str(m), fontsize="medium")
        for spine in ax.spines.values():
            spine.set_visible(True)
            spine.set_color("#888888")
    axes[0].set_ylabel(_label(y))
    over, under = bool(np.any(values > hi)), bool(np.any(values < lo))
    extend = "both" if over and under else "max" if over else "min" if under else "neither"
    name = _label(value) if agg == "mean" or not isinstance(agg, str) else f"{agg} of {_label(value)}"
    fig.colorbar(image, ax=axes, location="right", shrink=0.9, aspect=25, pad=0.02, extend=extend, label=name)
    head = f"{name}: {agg if isinstance(agg, str) else 'aggregate'} over {_runs_text(counts)} run(s) per cell"
    fig.suptitle(head if title is None else f"{title}\n{head}", fontsize="medium")
    return _paint(fig)


def _matrix(weights, name) -> np.ndarray:
    array = _numpy(weights).astype(float)
    if array.ndim == 3 and array.shape[-1] == 1:  # a fused (m, d, 1) tensor of a scalar-output network
        array = array[..., 0]
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix (neurons x inputs), got shape {array.shape}")
    return array


@_styled
def recovered_weights(planted, recovered, *, title=None) -> Figure:
    r"""Planted against recovered fused weights: two images on one colour scale and an entry-wise scatter.

    ``planted`` and ``recovered`` are 2-D arrays or tensors of one shape (neurons x inputs,
    rows already aligned by the caller; a trailing output axis of size 1 is dropped). The
    first two panels draw :math:`W^\star` and :math:`\hat W` on a diverging colour map
    symmetric about 0 (``RdBu_r``, limits :math:`\pm \max |w|` over both, one colour bar);
    the third scatters every entry :math:`(w^\star_{ij}, \hat w_{ij})` — the planted
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
    fig, axes = plt.subplots(
        1,
        3,
        figsize=(14, max(3.2 * ratio + 1.8, 4.2)),
        layout="constrained",
        gridspec_kw=dict(width_ratios=[1.0, 1.0, 0.75]),
    )
    aspect = _aspect(w_star.shape)
    image = None
    for ax, array, name in ((axes[0], w_star, "planted $W^\\star$"), (axes[1], w_hat, "recovered $\\hat W$")):
        image = ax.imshow(array, cmap="RdBu_r", vmin=-scale, vmax=scale, aspect=aspect, interpolation="nearest")
        _heatmap_axes(ax, f"{name} (nnz = {int(np.count_nonzero(array))})", "neuron")
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
        color=_INK,
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
    return _paint(fig)


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


@_styled
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
            marker=_MARKERS[i % len(_MARKERS)],
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
    return _paint(fig)


@_styled
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
    frame = _require(frame, [x, methods_col, "peak_bytes", "time_s"])
    methods = _ordered(list(dict.fromkeys(frame[methods_col])))
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.4), layout="constrained")
    panels = ((axes[0], "peak_bytes", 2.0**-20, "peak memory (MiB)"), (axes[1], "time_s", 1.0, "time (s)"))
    xs_all = np.sort(frame[x].astype(float).unique())
    for ax, column, factor, ylabel in panels:
        first = None
        for i, m in enumerate(methods):
            style = _style(m, i)
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
        _plain_log(ax.xaxis)
        _plain_log(ax.yaxis)
        ax.set_xlabel(_label(x))
        ax.set_ylabel(ylabel)
        ax.legend(fontsize="small")
    axes[0].set_title("peak memory", fontsize="medium")
    axes[1].set_title("wall-clock time", fontsize="medium")
    return _paint(fig)


@_styled
def metric_vs_nnz(frame, *, metric, group="method", panel=None, x="nnz", ylabel=None, logx=True) -> Figure:
    """A metric against nnz: mean ± standard deviation over seeds per group, one panel per ``panel`` value.

    ``frame`` has one row per run. Rows are split into panels by the ``panel`` column
    (e.g. ``task``; in order of first appearance; ``None``: one panel) and into lines by
    ``group`` (in the order of :data:`METHOD_STYLES`, one style per group throughout;
    ``None``: one line). Each line is the mean of ``metric`` at each ``x``, over a
    translucent band of ± one sample standard deviation (zero width for a single run).
    ``logx`` puts ``x`` on a log axis ticked at its values.
    """
    frame = _require(frame, [x, metric] + [c for c in (group, panel) if c is not None])
    frame = _numeric(frame, metric)
    panels = list(dict.fromkeys(frame[panel])) if panel is not None else [None]
    groups = _ordered(list(dict.fromkeys(frame[group]))) if group is not None else [None]
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(max(6.0, 4.8 * n), 4.3), layout="constrained", squeeze=False)
    axes = list(axes[0])
    counts = []
    for ax, p in zip(axes, panels):
        rows = frame if p is None else frame[frame[panel] == p]
        for i, g in enumerate(groups):
            sub = rows if g is None else rows[rows[group] == g]
            if sub.empty:
                continue
            stats = sub.groupby(x, sort=True)[metric].agg(["mean", "std", "count"])
            counts += list(stats["count"])
            xs = stats.index.to_numpy(dtype=float)
            mean = stats["mean"].to_numpy(dtype=float)
            std = stats["std"].fillna(0.0).to_numpy(dtype=float)
            style = _style(g, i)
            ax.fill_between(xs, mean - std, mean + std, color=style["color"], alpha=0.18, linewidth=0)
            ax.plot(
                xs,
                mean,
                color=style["color"],
                marker=style["marker"],
                linestyle=style["linestyle"],
                markersize=6,
                linewidth=1.6,
                label=str(g) if g is not None else _label(metric),
            )
        if logx:
            _log_ticks(ax, rows[x])
        ax.set_xlabel(_label(x))
        ax.set_ylabel(ylabel or _label(metric))
        if p is not None:
            ax.set_title(str(p), fontsize="medium")
    head = f"{ylabel or _label(metric)}: mean ± standard deviation over {_runs_text(counts)} run(s)"
    if panel is None:
        axes[0].set_title(head, fontsize="medium")
    else:
        fig.suptitle(head, fontsize="medium")
    if group is not None:
        axes[0].legend(fontsize="small", title=group)
    return _paint(fig)


@_styled
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
        array = _numpy(image).astype(float)
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
    return _paint(fig)


@_styled
def width_mismatch(frame, *, x="width_factor", value="psnr_test", variant="variant") -> Figure:
    """A metric against the width factor (fitted width / planted width), one line per variant.

    ``frame`` has one row per run. Each variant (e.g. ``naive``, ``redraw``) is drawn as
    the mean of ``value`` over seeds at each ``x`` (line with markers) over its single
    runs (faint points). ``x`` is on a log axis ticked at its values; with
    ``x="width_factor"`` a dotted line marks the planted width (factor 1).
    """
    frame = _require(frame, [x, value, variant])
    frame = _numeric(frame, value)
    variants = _ordered(list(dict.fromkeys(frame[variant])))
    fig, ax = plt.subplots(figsize=(6.6, 4.4), layout="constrained")
    counts = []
    for i, v in enumerate(variants):
        rows = frame[frame[variant] == v]
        style = _style(v, i)
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
    _log_ticks(ax, frame[x])
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(value))
    ax.set_title(f"mean over {_runs_text(counts)} run(s) (lines), single runs (points)", fontsize="medium")
    ax.legend(fontsize="small", title=variant, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    return _paint(fig, ax)


@_styled
def assumption_failures(frame, *, value="psnr_test", condition="condition") -> Figure:
    """A metric per condition as horizontal bars: the mean over seeds, with the single runs as points.

    ``frame`` has one row per run. Conditions run top to bottom in the order of their
    first appearance in the frame; each bar is the mean of ``value`` (booleans such as
    ``success`` count as 0/1), labelled with it, and the single runs are dots spread
    slightly across the bar.
    """
    frame = _require(frame, [condition, value])
    frame = _numeric(frame, value)
    conditions = list(dict.fromkeys(frame[condition]))
    groups = [frame.loc[frame[condition] == c, value].to_numpy(dtype=float) for c in conditions]
    means = np.array([g.mean() for g in groups])
    positions = np.arange(len(conditions), dtype=float)
    fig, ax = plt.subplots(figsize=(7.4, 0.55 * len(conditions) + 1.7), layout="constrained")
    ax.barh(positions, means, height=0.6, color=PALETTE[5], edgecolor=PALETTE[0], linewidth=1.0, zorder=2, label="mean")
    spread = np.concatenate(
        [p + (np.linspace(-0.15, 0.15, len(g)) if len(g) > 1 else np.zeros(1)) for p, g in zip(positions, groups)]
    )
    ax.scatter(np.concatenate(groups), spread, s=16, color=_INK, edgecolors="none", zorder=3, label="single runs")
    values = np.concatenate(groups + [np.zeros(1)])
    values = values[np.isfinite(values)]
    span = float(np.ptp(values)) or 1.0
    for p, m, g in zip(positions, means, groups):  # the mean, right of its bar and of its runs
        if np.isfinite(m):
            right = max(m, float(np.nanmax(np.where(np.isfinite(g), g, m))))
            ax.text(right + 0.02 * span, p, f"{m:.3g}", va="center", ha="left", fontsize="small", color=_INK, zorder=4)
    ax.set_xlim(right=max(ax.get_xlim()[1], float(values.max()) + 0.12 * span))
    ax.set_yticks(positions)
    ax.set_yticklabels([str(c) for c in conditions])
    ax.set_ylim(len(conditions) - 0.5, -0.5)  # first condition on top
    ax.grid(False, axis="y")
    ax.set_xlabel(_label(value))
    ax.set_title(
        f"mean over {_runs_text([len(g) for g in groups])} run(s) (bars), single runs (points)", fontsize="medium"
    )
    ax.legend(fontsize="small", loc="best")
    return _paint(fig, ax)


# ---------------------------------------------------------------------------- output
def save(fig: Figure, path, *, dpi: int = 150) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically (temporary file in the same folder, then rename).

    Parent folders are created; the opaque facecolour is kept. Returns the path.
    """
    path = Path(path)
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=dpi, facecolor=fig.get_facecolor(), edgecolor="none", transparent=False)
    return path


# ---------------------------------------------------------------------------- thresholding and compressed sensing
def _edges(values) -> np.ndarray:
    """Cell edges around sorted grid ``values``: midpoints inside, half a step beyond the ends."""
    v = np.asarray(values, dtype=float)
    if v.size == 1:
        return np.array([v[0] - 0.05, v[0] + 0.05])
    mid = (v[1:] + v[:-1]) / 2
    return np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])


@_styled
def phase_transition(frame, *, value="success", x="delta", y="rho", panel="method", curves=None, title=None) -> Figure:
    r"""Donoho–Tanner diagram: the mean of ``value`` over a grid of :math:`(\delta, \rho)`, one panel per ``panel``.

    Unlike :func:`phase_diagram` the axes are numeric: each grid point is a cell of a
    ``pcolormesh`` whose edges are the midpoints between neighbouring grid values, so
    that theoretical curves can be drawn over the cells. ``curves`` maps a label to a
    pair ``(xs, ys)`` drawn on every panel (e.g. the :math:`\ell_1` weak threshold
    :math:`\rho(\delta)`). Booleans such as ``success`` count as 0/1 (the mean is the
    success probability, colour scale ``[0, 1]``, ``cividis``); a cell without runs is
    blank. Panels are the values of ``panel`` in the order of first appearance
    (``None``: one panel). The mesh arrays (``ax.collections[0].get_array()``) hold the
    means, rows = ``y`` ascending, columns = ``x`` ascending.
    """
    frame = _require(frame, [value, x, y] + ([panel] if panel is not None else []))
    frame = _numeric(frame, value)
    xs = np.sort(frame[x].unique().astype(float))
    ys = np.sort(frame[y].unique().astype(float))
    panels = list(dict.fromkeys(frame[panel])) if panel is not None else [None]
    curves = dict(curves or {})
    for label, pair in curves.items():
        if len(pair) != 2 or len(pair[0]) != len(pair[1]):
            raise ValueError(f"curve {label!r} must be a pair (xs, ys) of equal lengths")
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n + 1.2, 3.6), layout="constrained", sharey=True, squeeze=False)
    axes = list(axes[0])
    norm = mpl.colors.Normalize(vmin=0.0, vmax=1.0)
    cmap = mpl.colormaps["cividis"].with_extremes(bad=_PAPER)
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
                linestyle=_LINESTYLES[i % len(_LINESTYLES)],
                linewidth=2.0,
                label=label,
            )
        ax.set_xlim(_edges(xs)[0], _edges(xs)[-1])
        ax.set_ylim(_edges(ys)[0], _edges(ys)[-1])
        ax.grid(False)
        ax.set_xlabel(r"$\delta = m/N$" if x == "delta" else _label(x))
        if p is not None:
            ax.set_title(str(p), fontsize="medium")
    axes[0].set_ylabel(r"$\rho = k/m$" if y == "rho" else _label(y))
    if curves:
        axes[0].legend(fontsize="small", loc="upper left")
    fig.colorbar(mesh, ax=axes, location="right", shrink=0.9, aspect=25, pad=0.02, label=f"mean of {_label(value)}")
    head = f"{_label(value)}: mean over {_runs_text(counts)} run(s) per cell"
    fig.suptitle(head if title is None else f"{title}\n{head}", fontsize="medium")
    return _paint(fig)


_ESTIMATE_STYLES = {
    "lasso": dict(color=PALETTE[5], marker="P"),
    "debiased lasso": dict(color=PALETTE[1], marker="s"),
    "IHT": dict(color="#332288", marker="o"),
}


@_styled
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
    frame = _require(frame, [true] + estimates)
    fig, ax = _new_axes(ax, (5.6, 4.8))
    t = frame[true].to_numpy(dtype=float)
    span = [float(np.nanmin(t)), float(np.nanmax(t))]
    for i, name in enumerate(estimates):
        e = frame[name].to_numpy(dtype=float)
        keep = (t != 0) | (e != 0)
        style = _ESTIMATE_STYLES.get(name, dict(color=PALETTE[i % len(PALETTE)], marker=_MARKERS[i % len(_MARKERS)]))
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
    return _paint(fig, ax)


# ---------------------------------------------------------------------------- sparse matrix factorisation
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
    return _FACTOR_NICE.get(name, _label(name))


def _fstyle(name, index: int) -> dict:
    """The :data:`FACTORIZATION_STYLES` entry of ``name``, else :func:`_style`'s."""
    if name in FACTORIZATION_STYLES:
        return dict(FACTORIZATION_STYLES[name])
    return _style(name, index)


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


@_styled
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
    path = _require(path_frame, ["eps", "error", "norm"]).sort_values("eps")
    descent = _require(descent_frame, ["support", "seed", "step", "error", "norm"])
    supports = _levels(descent["support"])
    fig, axes = plt.subplots(1, 3, figsize=(14.5, 4.4), layout="constrained")
    ax = axes[0]
    ax.plot(
        path["norm"].to_numpy(dtype=float),
        _positive_or_nan(path["error"]),
        color=_INK,
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
    _plain_log(axes[0].xaxis)
    return _paint(fig)


@_styled
def relu_training(frame) -> Figure:
    r"""Training a sparse one-hidden-layer ReLU network: loss and parameter norm against the step.

    ``frame`` has columns ``seed``, ``step``, ``loss`` and ``norm`` (one row per record). Two
    panels, one line per seed: the training loss (log axis) and the parameter norm
    :math:`\sqrt{\|W\|_F^2 + \|v\|^2}` (linear axis from 0, so that a bounded norm reads as a flat
    line). A dotted line in the loss panel marks the smallest loss reached by any seed.
    """
    frame = _require(frame, ["seed", "step", "loss", "norm"])
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
    return _paint(fig)


@_styled
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
    frame = _require(frame, ["support", "method", "start", value])
    frame = _numeric(frame, value)
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
            ax.plot([i - 0.28, i + 0.28], [median, median], color=_INK, linewidth=2.0, zorder=4)
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
    return _paint(fig)


@_styled
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
    exact = _require(exactness, ["matrix", "N", "order", "relative_error"])
    noisy = _require(noise, ["noise", "order", "seed", "relative_error"])
    dense = _require(dense, ["N", "order", "seed", "relative_error", "monarch_relative_error"])
    floor = float(floor)
    fig, axes = plt.subplots(1, 3, figsize=(15.0, 4.5), layout="constrained")
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
    _log_ticks(ax, exact["N"])
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
    _log_ticks(ax, levels)
    ax.set_yscale("log")
    ax.set_xlabel(_flabel("noise"))
    ax.set_ylabel(r"relative error $\|A - \hat A\| / \|A\|$")
    ax.set_title(
        f"noisy butterfly $A = B + E$ (mean over {_runs_text(positive.groupby(['noise', 'order']).size())} seed(s))",
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
    ax.plot(xs, ys, color=_INK, marker="s", linestyle="--", markersize=6, linewidth=1.5, label="Monarch")
    _log_ticks(ax, dense["N"])
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel(_flabel("N"))
    ax.set_ylabel(_flabel("relative_error"))
    ax.set_title("Gaussian random matrices", fontsize="medium")
    ax.legend(fontsize="small", loc="lower left")
    return _paint(fig)


@_styled
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
    frame = _require(frame, ["N", "kind", "batch", "seconds"])
    fitted = {}
    if slopes is not None:
        slopes = _require(slopes, ["kind", "batch", "slope"])
        fitted = {(k, b): float(s) for k, b, s in zip(slopes["kind"], slopes["batch"], slopes["slope"])}
    batches = sorted(frame["batch"].unique())
    kinds = _levels(frame["kind"])
    if factorization is not None:
        factorization = _require(factorization, ["N", "order", "seconds"])
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
        _log_ticks(ax, rows["N"])
        ax.set_yscale("log")
        ax.set_xlabel(_flabel("N"))
        ax.set_ylabel("time per product (s)")
        ax.set_title(f"batch of {batch} vector{'s' if batch != 1 else ''}", fontsize="medium")
        ax.legend(fontsize="small", loc="upper left")
    return _paint(fig)


def _factorization_panel(ax, frame, slopes) -> None:
    fitted = {}
    if slopes is not None:
        slopes = _require(slopes, ["order", "slope"])
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
    _log_ticks(ax, frame["N"])
    ax.set_yscale("log")
    ax.set_xlabel(_flabel("N"))
    ax.set_ylabel("factorisation time (s)")
    ax.set_title("butterfly factorisation of the DFT", fontsize="medium")
    ax.legend(fontsize="small", loc="upper left")


@_styled
def layer_comparison(
    frame, *, value="test_relative_error", model="model", params="params", logx=False, ax=None, title=None
) -> Figure:
    """One horizontal bar per model: the mean of ``value`` over seeds, single runs as points.

    ``frame`` has one row per run with columns ``model``, ``params`` and ``value``; each tick label
    gives the model and its parameter count (the first row's), and each bar is labelled with
    its mean. Models run top to bottom in the order of their first appearance in the frame.
    ``logx`` puts ``value`` on a log axis. The bars are the axes' first patches, in the order of
    the models.
    """
    frame = _require(frame, [model, params, value])
    frame = _numeric(frame, value)
    models = list(dict.fromkeys(frame[model]))
    groups = [frame.loc[frame[model] == m, value].to_numpy(dtype=float) for m in models]
    counts = [int(frame.loc[frame[model] == m, params].iloc[0]) for m in models]
    means = np.array([g.mean() for g in groups])
    positions = np.arange(len(models), dtype=float)
    fig, ax = _new_axes(ax, (7.2, 0.55 * len(models) + 1.7))
    colours = [_fstyle(m, i)["color"] for i, m in enumerate(models)]
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
            color=_INK,
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
    head = f"mean over {_runs_text([len(g) for g in groups])} seed(s) (bars), single runs (points)"
    ax.set_title(head if title is None else f"{title}\n{head}", fontsize="medium")
    return _paint(fig, ax)
