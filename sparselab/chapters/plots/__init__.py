r"""Figures for the book and the CLI, in one consistent style.

Every function here only *draws*: the numbers come from the rest of the package
(:mod:`sparselab.metrics`, :class:`sparselab.training.History`, the chapters' drivers) and the intervals from
:mod:`sparselab.chapters.stats`. Each returns the :class:`matplotlib.figure.Figure` it drew on; single-panel
functions accept an ``ax=`` to draw into an existing axes. An interval's confidence ``level`` is a fraction
(``level=0.95``), as everywhere in the book's layer; ``level=None`` draws no interval.

The package has one module per chapter, and this namespace re-exports the public names of all of them, so that
notebooks write ``from sparselab.chapters import plots; plots.loss_curve(...)``:

- :mod:`~sparselab.chapters.plots.style`: the style (:data:`PALETTE`, :func:`use_style`, :func:`context`), the
  machinery every figure function shares, and :func:`save`;
- :mod:`~sparselab.chapters.plots.common`: :data:`METHOD_STYLES` and the checks and labels of long-format frames;
- :mod:`~sparselab.chapters.plots.learned_masks`, :mod:`~sparselab.chapters.plots.pruning`,
  :mod:`~sparselab.chapters.plots.thresholding`, :mod:`~sparselab.chapters.plots.recovery` and
  :mod:`~sparselab.chapters.plots.factorization`: the figures of each chapter.
"""

from __future__ import annotations

# The names the single-file module had as module attributes (its imports), so that `plots.<name>` still resolves.
import contextlib  # noqa: F401
import functools  # noqa: F401
import math  # noqa: F401
from collections.abc import Mapping  # noqa: F401
from pathlib import Path  # noqa: F401

import matplotlib as mpl  # noqa: F401
import matplotlib.pyplot as plt  # noqa: F401
import numpy as np  # noqa: F401
import seaborn as sns  # noqa: F401
import torch  # noqa: F401
from matplotlib.colors import ListedColormap  # noqa: F401
from matplotlib.figure import Figure  # noqa: F401
from matplotlib.patches import Patch  # noqa: F401
from matplotlib.ticker import FuncFormatter, MaxNLocator, SymmetricalLogLocator  # noqa: F401

from sparselab._io import atomic_write  # noqa: F401
from sparselab.chapters.plots.common import METHOD_STYLES
from sparselab.chapters.plots.factorization import (
    FACTORIZATION_STYLES,
    butterfly_errors,
    fsmf_gaps,
    ill_posedness,
    layer_comparison,
    product_timing,
    relu_training,
)
from sparselab.chapters.plots.learned_masks import (
    AGREEMENT_CODES,
    flip_rate,
    loss_curve,
    metric_vs_sparsity,
    predictions,
    sigmoid_binariness,
    soft_threshold_curves,
    weight_heatmaps,
)
from sparselab.chapters.plots.pruning import (
    cost_vs_error,
    density_schedules,
    gradient_norms,
    imp_schedule,
    method_comparison,
    structured_tradeoff,
)
from sparselab.chapters.plots.recovery import (
    assumption_failures,
    convergence,
    cost_scaling,
    image_grid,
    metric_vs_nnz,
    phase_diagram,
    recovered_weights,
    width_mismatch,
)
from sparselab.chapters.plots.style import PALETTE, context, save, use_style
from sparselab.chapters.plots.thresholding import coefficients, phase_transition
from sparselab.training import History  # noqa: F401

__all__ = [
    "PALETTE",
    "AGREEMENT_CODES",
    "use_style",
    "context",
    "loss_curve",
    "flip_rate",
    "soft_threshold_curves",
    "sigmoid_binariness",
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
