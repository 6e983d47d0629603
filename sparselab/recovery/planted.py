r"""The planted teacher: a sparse two-layer ReLU network and the inputs it labels.

The first layer :math:`U^\star \in \mathbb R^{m \times d}` has exactly :math:`s` non-zeros; the second layer
:math:`V^\star` is all ones (the paper's scalar teacher) or random signs. Inputs are Gaussian (the recovery
guarantee's assumption) or one of the kinds that break it (uniform, non-negative, correlated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sparselab._validation import check_choice, check_float, check_int
from sparselab.masks import random_support

__all__ = [
    "INPUT_KINDS",
    "SIGN_KINDS",
    "SUCCESS_SUPPORT_F1",
    "SUCCESS_REL_ERROR",
    "PlantedNetwork",
    "planted_network",
    "exact_recovery",
    "recovery_outcome",
]

INPUT_KINDS = ("gaussian", "uniform", "nonnegative", "correlated")
SIGN_KINDS = ("positive", "random")

#: The success criterion of exact recovery (:func:`exact_recovery`): the planted support found up to a permutation of
#: neurons (support :math:`F_1` at least this, i.e. exactly 1) ...
SUCCESS_SUPPORT_F1 = 1.0
#: ... **and** a held-out relative error :math:`\lVert \hat y - y\rVert / \lVert y\rVert` of at most this
#: (:math:`10^{-3}`, an error 60 dB below the signal), reachable in float32 as well as float64.
SUCCESS_REL_ERROR = 1e-3


# ----------------------------------------------------------------------------- teacher


@dataclass
class PlantedNetwork:
    r"""A planted sparse two-layer ReLU teacher and data drawn from it.

    ``first_layer`` is :math:`U^\star \in \mathbb R^{m\times d}` with exactly ``nnz``
    non-zeros, ``second_layer`` :math:`V^\star \in \mathbb R^{K\times m}`,
    ``fused`` :math:`w^\star_{jk} = u_j v_{kj}` as an ``(m, d, K)`` tensor;
    :math:`y = V^\star \operatorname{relu}(U^\star x) + \sigma\varepsilon`
    (a vector when :math:`K = 1`).
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    first_layer: torch.Tensor
    second_layer: torch.Tensor
    fused: torch.Tensor
    inputs: str = "gaussian"
    noise: float = 0.0

    @property
    def width(self) -> int:
        return self.first_layer.shape[0]

    @property
    def in_features(self) -> int:
        return self.first_layer.shape[1]

    @property
    def out_features(self) -> int:
        return self.second_layer.shape[0]

    @property
    def nnz(self) -> int:
        return int((self.first_layer != 0).sum())

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        out = torch.relu(X @ self.first_layer.T) @ self.second_layer.T
        return out[:, 0] if self.out_features == 1 else out

    def as_regression_data(self):
        """The same data as a :class:`sparselab.data.RegressionData` (for training code)."""
        from sparselab.data import RegressionData

        return RegressionData(
            self.X_train,
            self.y_train,
            self.X_test,
            self.y_test,
            kind="planted_relu",
            planted_weight=self.first_layer,
            planted_support=self.first_layer != 0,
            teacher={"first_layer": self.first_layer, "second_layer": self.second_layer},
        )


def _draw_inputs(kind: str, n: int, d: int, correlation: float, g: torch.Generator, dtype) -> torch.Tensor:
    if kind == "gaussian":
        return torch.randn(n, d, generator=g, dtype=dtype)
    if kind == "uniform":  # same variance as N(0, 1): U(-sqrt 3, sqrt 3)
        return (torch.rand(n, d, generator=g, dtype=dtype) * 2 - 1) * math.sqrt(3.0)
    if kind == "nonnegative":  # |N(0, 1)|: every pattern of a non-negative generator is all-active
        return torch.randn(n, d, generator=g, dtype=dtype).abs()
    # correlated: equicorrelated Gaussian, Cov = (1 - c) I + c 11^T
    z = torch.randn(n, d, generator=g, dtype=dtype)
    common = torch.randn(n, 1, generator=g, dtype=dtype)
    return math.sqrt(1 - correlation) * z + math.sqrt(correlation) * common


def planted_network(
    *,
    in_features: int = 20,
    width: int = 4,
    nnz: int = 16,
    n_train: int = 1000,
    n_test: int = 1000,
    out_features: int = 1,
    signs: str = "positive",
    inputs: str = "gaussian",
    correlation: float = 0.0,
    noise: float = 0.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> PlantedNetwork:
    r"""Draw a planted sparse ReLU network and Gaussian (or other) inputs labelled by it.

    The first layer :math:`U^\star \in \mathbb R^{m \times d}` has exactly ``nnz``
    non-zeros on a uniformly random support, every neuron getting at least one when
    ``nnz >= width``; the values are :math:`\mathcal N(0, 1)` (as in the paper). The
    second layer is :math:`v_{kj} = 1` for ``signs="positive"`` (the paper's scalar
    teacher, :math:`f(x) = \sum_j \operatorname{relu}(x^\top u_j)`) or :math:`\pm 1`
    at random for ``signs="random"``. ``out_features > 1`` gives a vector-output
    teacher with :math:`V^\star` of :math:`\pm 1` entries.

    ``inputs``: ``"gaussian"`` (the guarantee's assumption), ``"uniform"`` (same
    variance, not Gaussian), ``"nonnegative"`` (:math:`|\mathcal N(0,1)|`) or
    ``"correlated"`` (equicorrelated Gaussian with coefficient ``correlation``).
    ``noise`` adds :math:`\sigma\varepsilon` to the training targets only; test
    targets are clean.
    """
    d = check_int(in_features, "in_features", low=1)
    m = check_int(width, "width", low=1)
    s = check_int(nnz, "nnz", low=1, high=m * d)
    n_train = check_int(n_train, "n_train", low=1)
    n_test = check_int(n_test, "n_test", low=1)
    K = check_int(out_features, "out_features", low=1)
    check_choice(signs, "signs", SIGN_KINDS)
    check_choice(inputs, "inputs", INPUT_KINDS)
    correlation = check_float(correlation, "correlation", low=0.0, high=1.0, high_inclusive=False)
    noise = check_float(noise, "noise", low=0.0)
    seed = check_int(seed, "seed", low=0)
    g = torch.Generator().manual_seed(seed)

    # support: one entry per neuron first (when there are enough), the rest uniformly at random
    flat = random_support(m, d, s, g).flatten()
    U = torch.zeros(m * d, dtype=dtype)
    U[flat] = torch.randn(s, generator=g, dtype=dtype)
    U = U.view(m, d)
    if K == 1 and signs == "positive":
        V = torch.ones(1, m, dtype=dtype)
    else:
        V = torch.randint(0, 2, (K, m), generator=g).to(dtype) * 2 - 1
    X_train = _draw_inputs(inputs, n_train, d, correlation, g, dtype)
    X_test = _draw_inputs(inputs, n_test, d, correlation, g, dtype)
    fused = U[:, :, None] * V.T[:, None, :]

    def label(X):
        out = torch.relu(X @ U.T) @ V.T
        return out[:, 0] if K == 1 else out

    y_train = label(X_train)
    if noise > 0:
        y_train = y_train + noise * torch.randn(y_train.shape, generator=g, dtype=dtype)
    return PlantedNetwork(X_train, y_train, X_test, label(X_test), U, V, fused, inputs=inputs, noise=noise)


# ----------------------------------------------------------------------------- success criterion


def exact_recovery(
    support_f1: float,
    rel_error: float,
    *,
    min_f1: float = SUCCESS_SUPPORT_F1,
    max_rel_error: float = SUCCESS_REL_ERROR,
) -> bool:
    r"""The one success criterion of the recovery chapter, for every method alike.

    A run *recovers* the planted network when both hold:

    * **exact support**: the support :math:`F_1` of its fused weights against the planted ones, rows (neurons)
      matched up to a permutation (:func:`sparselab.metrics.support_match`, ``match="weights"``), is at least
      ``min_f1`` (default :data:`SUCCESS_SUPPORT_F1` :math:`= 1`: every planted non-zero found, nothing else);
    * **small held-out error**: :math:`\lVert \hat y - y\rVert_2 / \lVert y\rVert_2 \le` ``max_rel_error``
      on held-out inputs (default :data:`SUCCESS_REL_ERROR` :math:`= 10^{-3}`, 60 dB).

    The error threshold is far above float32 round-off (about :math:`10^{-7}`), so a method trained in float32 is
    not failed by its arithmetic; the support condition rules out a good fit by a different network. A NaN
    value never succeeds.
    """
    min_f1 = check_float(min_f1, "min_f1", low=0.0, high=1.0, low_inclusive=False)
    max_rel_error = check_float(max_rel_error, "max_rel_error", low=0.0, low_inclusive=False)
    f1, err = float(support_f1), float(rel_error)
    if math.isnan(f1) or math.isnan(err):
        return False
    return bool(f1 >= min_f1 and err <= max_rel_error)


def recovery_outcome(
    planted: PlantedNetwork,
    fused,
    y_pred_test,
    *,
    min_f1: float = SUCCESS_SUPPORT_F1,
    max_rel_error: float = SUCCESS_REL_ERROR,
) -> dict:
    r"""Support agreement, held-out error and :func:`exact_recovery` of one fit of ``planted``.

    ``fused`` are the fitted fused weights :math:`\hat w_{jik} = u_{ji} v_{kj}`, a ``(p, d, K)`` (or ``(p, d)``)
    tensor; ``y_pred_test`` the prediction on ``planted.X_test``. Returns ``precision``, ``recall``,
    ``support_f1`` (:func:`sparselab.metrics.support_match` with ``match="weights"`` against
    ``planted.fused``), ``weight_error``, ``rel_error_test`` (:func:`sparselab.metrics.relative_error`),
    ``psnr_test`` (:func:`sparselab.metrics.psnr`, dB) and ``success``.
    """
    from sparselab.metrics import psnr, relative_error, support_match

    found = torch.as_tensor(fused).detach().to(torch.float64).cpu()
    if found.ndim == 2:
        found = found[:, :, None]
    pred = torch.as_tensor(y_pred_test).detach().to(torch.float64).cpu()
    support = support_match(found, planted.fused, match="weights")
    err = relative_error(planted.y_test, pred)
    return {
        "precision": support["precision"],
        "recall": support["recall"],
        "support_f1": support["f1"],
        "weight_error": support["weight_error"],
        "rel_error_test": err,
        "psnr_test": psnr(planted.y_test, pred),
        "success": exact_recovery(support["f1"], err, min_f1=min_f1, max_rel_error=max_rel_error),
    }
