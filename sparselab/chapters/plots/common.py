"""Styles, orders and checks shared by the figures of several chapters.

:data:`METHOD_STYLES` gives every recipe and structure one colour, marker and line style throughout the book
(:func:`method_style`, :func:`in_style_order`); :func:`axis_label` names the chapters' columns; the figures that
take a long-format frame (one row per run) check it with :func:`require_frame` and :func:`numeric_column`.
"""

from __future__ import annotations

from sparselab.chapters.plots.style import LINESTYLES, MARKERS, PALETTE, nice

__all__ = [
    "METHOD_STYLES",
    "method_style",
    "in_style_order",
    "axis_label",
    "require_frame",
    "numeric_column",
    "runs_range",
]


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


def method_style(name, index: int) -> dict:
    """The :data:`METHOD_STYLES` entry of ``name``, or a palette colour, marker and line style by ``index``."""
    if name in METHOD_STYLES:
        return dict(METHOD_STYLES[name])
    return dict(
        color=PALETTE[index % len(PALETTE)],
        marker=MARKERS[index % len(MARKERS)],
        linestyle=LINESTYLES[index % len(LINESTYLES)],
    )


def in_style_order(levels, order=tuple(METHOD_STYLES)) -> list:
    """``levels`` in the order of :data:`METHOD_STYLES` (unknown names last, in order of appearance)."""
    known = [m for m in order if m in levels]
    return known + [m for m in levels if m not in known]


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


def axis_label(name) -> str:
    return _RECOVERY_NICE.get(name, nice(str(name)))


def require_frame(frame, columns):
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


def numeric_column(frame, column):
    """``frame`` with ``column`` as floats (booleans such as ``success`` become 0/1) and its NaN rows dropped."""
    frame = frame.assign(**{column: frame[column].astype(float)}).dropna(subset=[column])
    if frame.empty:
        raise ValueError(f"column {column!r} holds no value (all NaN)")
    return frame


def runs_range(counts) -> str:
    counts = [int(c) for c in counts]
    lo, hi = min(counts), max(counts)
    return f"{lo}" if lo == hi else f"{lo}–{hi}"
