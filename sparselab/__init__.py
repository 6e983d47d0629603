"""sparselab: sparse neural networks, the package behind the book.

Public names: :class:`SparseLinear`, :class:`SparseMLP`, the modules
:mod:`sparselab.masks`, :mod:`sparselab.data`, :mod:`sparselab.training`,
:mod:`sparselab.metrics`, :mod:`sparselab.pruning` (magnitude masks, structured
and N:M, attached to modules), :mod:`sparselab.schedules` (one-shot, gradual,
iterative magnitude pruning), :mod:`sparselab.dynamic` (SET, RigL),
:mod:`sparselab.models`, :mod:`sparselab.flops`, :mod:`sparselab.plots`,
:mod:`sparselab.recovery` (IHT on the lifted model of a two-layer ReLU network),
:mod:`sparselab.inr` (images on Fourier features), :mod:`sparselab.thresholding`
(hard, soft and group thresholds), :mod:`sparselab.sensing` (IHT, ISTA, FISTA,
group lasso), :mod:`sparselab.ensembles` (measurement matrices),
:mod:`sparselab.diagnostics` (coherence, irrepresentability, RIP, A-optimal design),
:mod:`sparselab.factorization` (fixed-support matrix factorisation), :mod:`sparselab.butterfly`
(Kronecker-sparse, butterfly and Monarch matrices; :class:`ButterflyLinear` and :class:`MonarchLinear`
live in :mod:`sparselab.layers`),
:mod:`sparselab.experiments`, :mod:`sparselab.comparison` and
:mod:`sparselab.recovery_experiments` (the chapters' experiments). Modules other than the first four are imported on first use, so
``import sparselab`` stays light.
"""

import importlib

from . import data, masks, metrics, training
from .data import RegressionData, make_regression
from .layers import ButterflyLinear, MonarchLinear, SparseLinear, SparseMLP, sparse_layers
from .training import History, TrainConfig, resolve_device, train

__version__ = "0.1.0"

__all__ = [
    "SparseLinear", "SparseMLP", "sparse_layers", "ButterflyLinear", "MonarchLinear", "RegressionData", "make_regression", "History", "TrainConfig",
    "train", "resolve_device", "masks", "data", "metrics", "training", "__version__",
]


_LAZY = ("pruning", "schedules", "dynamic", "models", "flops", "plots", "experiments", "comparison", "params", "cli",
         "recovery", "recovery_experiments", "inr", "thresholding", "sensing", "ensembles", "diagnostics",
         "sensing_experiments", "butterfly", "factorization")


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'sparselab' has no attribute {name!r}")
