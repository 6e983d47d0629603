r"""The book's figure style and the drawing helpers every chapter's figures share.

Style (:func:`use_style`, :func:`context`): opaque white figure and axes
backgrounds with dark text, so that a figure reads the same on a light or a dark
page theme; the colour-blind-safe Okabe–Ito palette (:data:`PALETTE`); one sans-serif
font. Every plotting function is wrapped in :func:`styled`: it applies the style for its own
duration (it does not change global settings), and paints the figure and axes backgrounds
explicitly (:func:`paint`). :func:`save` writes a figure as a PNG atomically.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sparselab._io import atomic_write

__all__ = [
    "PALETTE",
    "PAPER",
    "INK",
    "MARKERS",
    "LINESTYLES",
    "use_style",
    "context",
    "styled",
    "paint",
    "new_axes",
    "three_panels",
    "as_numpy",
    "nice",
    "PlainLogFormatter",
    "plain_log",
    "log_ticks",
    "ink_on",
    "image_aspect",
    "heatmap_axes",
    "save",
]


#: Okabe–Ito colour-blind-safe palette (blue, orange, bluish green, vermillion,
#: reddish purple, sky blue, black, yellow — yellow last: it is faint on white).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"]

#: The figure and axes background (opaque white).
PAPER = "#FFFFFF"
#: Text, ticks and spines.
INK = "#222222"
#: Markers and line styles by position, for groups without a style of their own.
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
LINESTYLES = ["-", "--", ":", "-."]
_NICE = {
    "train_loss": "train loss",
    "test_mse": "test MSE",
    "train_mse": "train MSE",
    "flip_rate": "flip rate",
    "f1": "F1",
    "support_f1": "support F1",
    "psnr_test": "held-out PSNR (dB)",
    "psnr_train": "training PSNR (dB)",
    "rel_error": "relative error",
    "total_flips": "flips (whole run)",
    "late_flip_share": "share of flips in 2nd half",
    "init_overlap": "overlap with initial mask",
    "training_density": "training density",
    "nnz": "non-zeros",
    "wilcoxon_pvalue": "Wilcoxon p",
    "median_psnr": "median held-out PSNR (dB)",
    "median_train": "median training PSNR (dB)",
    "50%": "median",
}

_RC = {
    "figure.facecolor": PAPER,
    "figure.edgecolor": PAPER,
    "axes.facecolor": PAPER,
    "axes.edgecolor": "#444444",
    "axes.labelcolor": INK,
    "axes.titlecolor": INK,
    "savefig.facecolor": PAPER,
    "savefig.edgecolor": PAPER,
    "savefig.transparent": False,
    "savefig.dpi": 150,
    "text.color": INK,
    "xtick.color": INK,
    "ytick.color": INK,
    "legend.facecolor": PAPER,
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
    :func:`context` instead. In a notebook it also switches the inline backend to ``retina`` PNGs
    (twice the pixels of ``figure.dpi``: 200 dpi, displayed at the size of 100), so that figures stay
    sharp on high-density screens and in print.
    """
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font="sans-serif", rc=_RC)
    mpl.rcParams.update(_RC)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the book's environment
        return
    if get_ipython() is not None:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina")


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


def styled(func):
    """Run a plotting function inside :func:`context`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with context():
            return func(*args, **kwargs)

    return wrapper


def paint(fig: Figure, *axes) -> Figure:
    """Set opaque facecolours on the figure and on ``axes`` (all of the figure's axes by default)."""
    fig.set_facecolor(PAPER)
    fig.patch.set_alpha(1.0)
    for ax in axes or fig.axes:
        ax.set_facecolor(PAPER)
        ax.patch.set_alpha(1.0)
    return fig


def new_axes(ax, figsize):
    """``(figure, ax)``: a new constrained-layout figure of ``figsize`` when ``ax`` is ``None``, else ``ax``'s."""
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    else:
        fig = ax.figure
    return fig, ax


def as_numpy(x) -> np.ndarray:
    """``x`` as a numpy array (a tensor detached and on the CPU; half precision as float32)."""
    if torch.is_tensor(x):
        x = x.detach().cpu()
        if x.dtype in (torch.bfloat16, torch.float16):
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def three_panels(width: float = 11.0, height: float = 8.4):
    """A figure of three panels at most two across: two side by side, the third below the first.

    Returns ``(fig, [ax0, ax1, ax2])`` in reading order (constrained layout; the fourth cell of the 2 × 2 grid is
    removed). The book's figures keep two panels across so that each panel stays readable on a laptop screen.
    """
    fig, grid = plt.subplots(2, 2, figsize=(width, height), layout="constrained")
    grid[1, 1].remove()
    return fig, [grid[0, 0], grid[0, 1], grid[1, 0]]


def nice(name: str) -> str:
    """An axis label for the column ``name`` (``test_mse`` -> ``test MSE``; others: underscores as spaces)."""
    return _NICE.get(name, name.replace("_", " "))


class PlainLogFormatter(mpl.ticker.LogFormatterSciNotation):
    """Log-axis tick labels as plain numbers (0.05, not 5×10⁻²), on the ticks matplotlib would label."""

    def __call__(self, x, pos=None):
        return f"{x:g}" if super().__call__(x, pos) else ""


def plain_log(axis) -> None:
    """Plain-number labels on a log ``axis`` (an ``ax.xaxis`` or ``ax.yaxis``), major and minor ticks."""
    axis.set_major_formatter(PlainLogFormatter())
    axis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False))


def log_ticks(ax, values) -> None:
    """A log x axis ticked (plain numbers) at ``values`` only."""
    ticks = sorted(set(float(v) for v in values))
    ax.set_xscale("log")
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_locator(mpl.ticker.NullLocator())


def ink_on(rgba) -> str:
    """Text colour readable on a cell of colour ``rgba``: dark ink on light cells, white on dark ones."""
    r, g, b = rgba[:3]
    return INK if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "#FFFFFF"


def image_aspect(shape) -> str:
    """``"equal"`` (square cells) for an image of ``shape`` within 1:4 and 4:1, else ``"auto"``."""
    rows, cols = shape
    return "equal" if 0.25 <= rows / max(cols, 1) <= 4 else "auto"


def heatmap_axes(ax, title, ylabel, boundary=None):
    """Style a heatmap's axes: integer ticks, no grid, grey spines; a dotted line above row ``boundary``."""
    ax.grid(False)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if boundary is not None:
        ax.axhline(boundary - 0.5, color=INK, linestyle=":", linewidth=1.2)
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel("input feature")
    ax.set_ylabel(ylabel)
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("#888888")


# ---------------------------------------------------------------------------- output
def save(fig: Figure, path, *, dpi: int = 150) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically (temporary file in the same folder, then rename).

    Parent folders are created; the opaque facecolour is kept. Returns the path.
    """
    path = Path(path)
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=dpi, facecolor=fig.get_facecolor(), edgecolor="none", transparent=False)
    return path
