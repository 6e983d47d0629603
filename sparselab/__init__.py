"""sparselab: sparse neural networks, the package behind the book.

Public names: :class:`SparseLinear`, :class:`SparseMLP`, the modules
:mod:`sparselab.masks`, :mod:`sparselab.data`, :mod:`sparselab.training`,
:mod:`sparselab.metrics` and :mod:`sparselab.plots`.
"""

from . import data, masks, metrics, training
from .data import RegressionData, make_regression
from .layers import SparseLinear, SparseMLP, sparse_layers
from .training import History, TrainConfig, resolve_device, train

__version__ = "0.1.0"

__all__ = [
    "SparseLinear", "SparseMLP", "sparse_layers", "RegressionData", "make_regression", "History", "TrainConfig",
    "train", "resolve_device", "masks", "data", "metrics", "training", "__version__",
]
