"""Layers and models: :class:`SparseLinear` (a linear layer with a learned or fixed mask), the butterfly and
Monarch layers, and the networks of the chapters (:class:`SparseMLP`, :class:`MLP`, :class:`DigitsCNN`).

Every public name of these modules is also a name of the package.
"""

from sparselab.nn import layers, models
from sparselab.nn.layers import SparseLinear, sparse_layers
from sparselab.nn.models import MLP, DigitsCNN, SparseMLP
from sparselab.nn.structured import ButterflyLinear, MonarchLinear

__all__ = [
    "layers",
    "models",
    "SparseLinear",
    "SparseMLP",
    "sparse_layers",
    "ButterflyLinear",
    "MonarchLinear",
    "MLP",
    "DigitsCNN",
]
