r"""Figures of the pruning chapter (``book/pruning.ipynb``): recipes against sparsity, cost and structure.

:func:`method_comparison` (final error against sparsity, one line per recipe), :func:`cost_vs_error`,
:func:`imp_schedule`, :func:`density_schedules`, :func:`gradient_norms` and :func:`structured_tradeoff`.
Recipes are styled by :data:`~sparselab.chapters.plots.common.METHOD_STYLES`; intervals are the two-sided
Student-t intervals of :mod:`sparselab.chapters.stats`, at a ``level`` given as a fraction (0.95).
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sparselab.chapters.plots.common import (
    METHOD_STYLES,
    in_style_order,
    method_style,
    require_frame,
)
from sparselab.chapters.plots.style import (
    MARKERS,
    PALETTE,
    new_axes,
    nice,
    paint,
    plain_log,
    styled,
    three_panels,
)
from sparselab.chapters.stats import check_level, mean_interval, percent

__all__ = [
    "method_comparison",
    "cost_vs_error",
    "imp_schedule",
    "density_schedules",
    "gradient_norms",
    "structured_tradeoff",
]


_REFERENCE_FILL = "#E6E6E6"  # the reference (dense) band: an opaque light grey, drawn under everything


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


def _reference_band(ax, values, level, label, colour="#555555") -> None:
    """A horizontal line at the mean of ``values`` and an opaque band over its t-interval."""
    mean, half = mean_interval(values, level)
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


@styled
def method_comparison(
    frame,
    *,
    task=None,
    y="test_error",
    methods=None,
    reference="dense",
    ax=None,
    level=0.95,
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
    as the mean of its runs with the two-sided ``level`` interval (a fraction: 0.95; ``None``: no interval)
    :math:`\bar y \pm t_{n-1}\, s_y/\sqrt n`; the ``reference`` rows (the dense network,
    sparsity 0) become a horizontal line at their mean over an opaque band covering
    their interval. With ``dodge`` the recipes are spread sideways by a small factor so
    that their bars stay apart (the line's x data are the dodged positions).
    """
    level = None if level is None else check_level(level)
    require_frame(frame, ["method", "sparsity", y])
    frame = _one_task(frame, task).dropna(subset=[y])
    sparse = frame[frame["method"] != reference] if reference is not None else frame
    levels = list(dict.fromkeys(sparse["method"]))
    methods = in_style_order(levels) if methods is None else list(methods)
    unknown = [m for m in methods if m not in levels]
    if unknown:
        raise ValueError(f"method(s) {unknown} have no sparse runs in the frame; it has {levels}")
    sparse = sparse[sparse["method"].isin(methods)]
    fig, ax = new_axes(ax, (7.0, 4.6))
    if reference is not None and (frame["method"] == reference).any():
        _reference_band(
            ax,
            frame.loc[frame["method"] == reference, y],
            level,
            f"{reference} (mean and {percent(level)}% interval)" if level is not None else reference,
            METHOD_STYLES.get(reference, {}).get("color", "#555555"),
        )
    factors = _log_dodge(len(methods), 1.0 - sparse["sparsity"].to_numpy(dtype=float), dodge)
    counts = []
    for i, method in enumerate(methods):
        style = method_style(method, i)
        stats = sparse[sparse["method"] == method].groupby("sparsity", sort=True)[y].agg(list)
        xs = (1.0 - stats.index.to_numpy(dtype=float)) * factors[i]
        summary = [mean_interval(v, level) for v in stats]
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
        plain_log(ax.yaxis)
    _sparsity_axis(ax, sparse["sparsity"])
    ax.set_ylabel(ylabel or nice(y))
    runs = f"{min(counts)}" if counts and min(counts) == max(counts) else f"{min(counts)}–{max(counts)}"
    interval = f"mean ± {percent(level)}% t-interval" if level is not None else "mean"
    ax.set_title(f"{interval}, {runs} runs per point", fontsize="medium")
    if legend:
        ax.legend(fontsize="small", ncol=2)
    return paint(fig, ax)


@styled
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
    level=0.95,
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
    vertical ``level`` Student-t interval (a fraction: 0.95). The ``reference`` rows (sparsity 0, the dense
    network) are one more point, so its cost and error sit on the same axes.
    """
    level = None if level is None else check_level(level)
    require_frame(frame, ["method", "sparsity", x, y])
    frame = _one_task(frame, task).dropna(subset=[y])
    at = frame[
        np.isclose(frame["sparsity"].to_numpy(dtype=float), float(sparsity), rtol=0.0, atol=1e-9)
        & (frame["method"] != reference)
    ]
    if at.empty:
        raise ValueError(f"no run at sparsity {sparsity!r}; the frame has {sorted(frame['sparsity'].unique())}")
    levels = list(dict.fromkeys(at["method"]))
    methods = in_style_order(levels) if methods is None else list(methods)
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
    fig, ax = new_axes(ax, (6.4, 4.6))
    for i, (method, rows) in enumerate(points):
        style = method_style(method, i)
        mean, half = mean_interval(rows[y], level)
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
        plain_log(ax.yaxis)
    ax.set_xlabel("optimizer steps in all (training cost)" if x == "steps" else nice(x))
    ax.set_ylabel(ylabel or nice(y))
    ax.set_title(f"cost and error at sparsity {float(sparsity):g}", fontsize="medium")
    if legend:
        ax.legend(fontsize="small", ncol=2)
    return paint(fig, ax)


@styled
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
    fig, ax = new_axes(ax, (6.0, 4.4))
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
            marker=MARKERS[i % len(MARKERS)],
            markersize=8,
            markerfacecolor="none",
            markeredgewidth=1.6,
        )
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    plain_log(ax.yaxis)
    ax.set_xlabel("pruning round $r$ (0 = dense training)")
    ax.set_ylabel("density of the pruned layers")
    ax.set_title(f"IMP ({task}): measured (markers) vs $(1-\\alpha)^r$ (lines)", fontsize="medium")
    ax.legend(fontsize="small", loc="upper right")
    return paint(fig, ax)


@styled
def density_schedules(curves, *, ax=None, logy=True, styles=None) -> Figure:
    """Density of the pruned layers against the optimizer step, one step curve per recipe.

    ``curves`` maps a label to ``(steps, densities)``; each is drawn as a step function
    (``drawstyle="steps-post"``: the density holds from a step to the next), in the
    style ``styles[label]`` (a dict with ``color`` and ``linestyle``) when given, else in
    the recipe's :data:`METHOD_STYLES` when the label is a recipe's name.
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty dict label -> (steps, densities)")
    fig, ax = new_axes(ax, (6.4, 4.2))
    for i, (label, (steps, densities)) in enumerate(curves.items()):
        steps, densities = np.asarray(steps, dtype=float), np.asarray(densities, dtype=float)
        if steps.shape != densities.shape or steps.ndim != 1:
            raise ValueError(
                f"curve {label!r}: steps and densities must be 1-D of one length, "
                f"got {steps.shape} and {densities.shape}"
            )
        style = {**method_style(str(label), i), **((styles or {}).get(label, {}))}
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
        plain_log(ax.yaxis)
    ax.set_xlabel("optimizer step (counted over every training of the recipe)")
    ax.set_ylabel("density of the pruned layers")
    ax.set_title("density schedules", fontsize="medium")
    ax.legend(fontsize="small")
    return paint(fig, ax)


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


@styled
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
    fig, ax = new_axes(ax, (6.4, 4.2))
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
        plain_log(ax.yaxis)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("gradient norm (full training set)")
    ax.set_title("dense gradient split by the mask", fontsize="medium")
    ax.legend(fontsize="small")
    return paint(fig, ax)


@styled
def structured_tradeoff(frame, *, axes=None, level=0.95, logy=True, ylabel="test error") -> Figure:
    r"""Structured vs unstructured pruning at equal density: the error each costs, and what each saves.

    ``frame`` is the frame of :func:`sparselab.chapters.pruning.structured_sweep` (one row per
    seed, structure and density, plus ``dense`` rows). Three panels against the density
    of the pruned layer (log axis, sparser to the right), one line per structure (a
    structure of fixed density, such as 2:4, is one point):

    1. test error, mean over seeds with ``level`` t-interval bars (a fraction: 0.95); the dense network as a
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
    level = None if level is None else check_level(level)
    require_frame(frame, ["structure", "density", "test_error", "nonzero_params", "flops", "params"])
    dense = frame[frame["structure"] == "dense"]
    if dense.empty:
        raise ValueError("the frame has no 'dense' rows, the reference of the savings")
    pruned = frame[frame["structure"] != "dense"]
    if pruned.empty:
        raise ValueError("the frame has no pruned rows")
    structures = in_style_order(list(dict.fromkeys(pruned["structure"])))
    own = axes is None
    if own:
        fig, axes = three_panels(11.0, 8.6)
    else:
        if len(axes) != 3:
            raise ValueError(f"axes must be three axes, got {len(axes)}")
        fig = axes[0].figure
    error_ax, params_ax, flops_ax = axes
    _reference_band(
        error_ax,
        dense["test_error"],
        level,
        f"dense (mean and {percent(level)}% interval)" if level is not None else "dense",
    )
    factors = _log_dodge(len(structures), pruned["density"].to_numpy(dtype=float), True, spread=0.06)
    dense_params = float(dense["params"].mean())
    dense_flops = float(dense["flops"].mean())
    for i, name in enumerate(structures):
        style = method_style(name, i)
        rows = pruned[pruned["structure"] == name]
        groups = rows.groupby("density", sort=True)
        densities = np.array(list(groups.groups), dtype=float)
        summary = [mean_interval(groups.get_group(d)["test_error"], level) for d in densities]
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
        plain_log(error_ax.yaxis)
    error_ax.set_ylabel(ylabel)
    error_ax.set_title(
        f"{ylabel} (mean ± {percent(level)}% t-interval)" if level is not None else ylabel, fontsize="medium"
    )
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
    return paint(fig, *axes)
