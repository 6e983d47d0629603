"""sparselab: sparse neural networks, the package behind the book.

The library, one folder or module per concept (see ``ARCHITECTURE.md``):

* :mod:`sparselab.masks` — top-k masks, budgets, straight-through, soft and sigmoid masks (the core operator);
* :mod:`sparselab.thresholding` — the proximal operators: hard, soft and group soft thresholds;
* :mod:`sparselab.nn` — :class:`SparseLinear`, the butterfly and Monarch layers, the chapters' networks;
* :mod:`sparselab.pruning` — magnitude masks, masks on modules, schedules (one-shot, gradual, IMP), SET and RigL;
* :mod:`sparselab.sensing` — IHT, ISTA, FISTA and the group lasso; measurement ensembles; design diagnostics;
* :mod:`sparselab.recovery` — planted sparse ReLU networks recovered by IHT on the lifted model; the IMP baseline;
* :mod:`sparselab.factorization` — fixed-support matrix factorisation; butterfly and Monarch matrices;
* :mod:`sparselab.data`, :mod:`sparselab.training`, :mod:`sparselab.metrics`, :mod:`sparselab.flops`.

The book's layer, :mod:`sparselab.chapters`, builds on the library; the library never imports it.
``import sparselab`` loads the core (masks, data, metrics, training and the layers); the other subpackages
are imported on first use.
"""

import importlib

from sparselab import data, masks, metrics, training
from sparselab.data import RegressionData, make_regression
from sparselab.nn.layers import SparseLinear, sparse_layers
from sparselab.nn.models import SparseMLP
from sparselab.nn.structured import ButterflyLinear, MonarchLinear
from sparselab.training import History, TrainConfig, resolve_device, train

__version__ = "0.1.0"

_LAZY = ("nn", "thresholding", "pruning", "sensing", "recovery", "factorization", "flops", "chapters", "cli")

__all__ = [
    "SparseLinear",
    "SparseMLP",
    "sparse_layers",
    "ButterflyLinear",
    "MonarchLinear",
    "RegressionData",
    "make_regression",
    "History",
    "TrainConfig",
    "train",
    "resolve_device",
    "masks",
    "data",
    "metrics",
    "training",
    "__version__",
    *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        return importlib.import_module(f"sparselab.{name}")
    raise AttributeError(f"module 'sparselab' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
