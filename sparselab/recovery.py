r"""Exact recovery of planted sparse ReLU networks by iterative hard thresholding.

After Fridovich-Keil & Pilanci, *A Recovery Guarantee for Sparse Neural Networks*
(arXiv 2509.20323, 2025). A two-layer, bias-free ReLU network with :math:`K` outputs,

.. math::

    f(x)_k = \sum_{j=1}^{p} \operatorname{relu}(x^\top u_j)\, v_{kj},

becomes *linear* in its weights once each neuron's activation pattern is frozen by
a fixed **generator** :math:`h_j \in \mathbb R^d`: with
:math:`D_j = \operatorname{diag}(\mathbb 1[X h_j \ge 0])` and the **fused** weights
:math:`w_{jk} = u_j v_{kj} \in \mathbb R^d`,

.. math::

    Y = A W, \qquad A = [\,D_1 X,\ \dots,\ D_p X\,] \in \mathbb R^{n \times dp},
    \qquad W = \begin{bmatrix} w_{1\cdot} \\ \vdots \\ w_{p\cdot}\end{bmatrix}
    \in \mathbb R^{dp \times K}.

When :math:`h_j \propto \sigma_j u_j` (with :math:`\sigma_j` the sign of
:math:`v_j`) the two models agree: :math:`D_j X w_j = \operatorname{relu}(X u_j)\, v_j`.
A network whose weights have :math:`s` non-zeros gives a fused :math:`W` with at
most :math:`s` non-zeros, so training it is sparse recovery from the linear
measurements :math:`Y`, solved by **iterative hard thresholding** (IHT):

.. math::

    W \leftarrow H_s\bigl(W + \mu\, A^\top (Y - A W)\bigr),

where :math:`H_s` keeps the :math:`s` entries of largest magnitude. The step is the
normalised one of Blumensath & Davies (2010),
:math:`\mu = \lVert g_S\rVert^2 / \lVert A_S g_S\rVert^2` with :math:`g = A^\top(Y - AW)`
restricted to the current support :math:`S`, shrunk when the support changes and
:math:`\mu > (1-c)\lVert W^+ - W\rVert^2 / \lVert A(W^+ - W)\rVert^2`. A few
conjugate-gradient steps of least squares on the new support follow
(``refine_steps``; hard-thresholding pursuit when run to convergence).

**Memory.** :math:`A` is never formed. :math:`A^\top r` is streamed over chunks of
``chunk`` neurons, :math:`(A^\top r)_{j} = X^\top (\mathbb 1[X h_j \ge 0] \odot r)`,
which needs :math:`X H_c` (:math:`n \times c`) and gives a :math:`d \times c` block;
the running top-:math:`s` of :math:`W + \mu g` is merged chunk by chunk. Random
generators are re-drawn from the seed when a chunk is visited rather than stored.
What persists between iterations is the :math:`s` (index, value) pairs, the
generators of the active neurons (sparse, :math:`O(s)`) and the :math:`n \times s`
matrix :math:`A_S` of the support's columns, so memory grows linearly in :math:`s`
and does not depend on the width :math:`p` (beyond one chunk).

**Modes.** ``"convex"``: Gaussian generators, fixed (the paper's theory, with random
patterns instead of all of them). ``"sequential"``: after each pass, every active
neuron's generator is re-set to its fused weight, :math:`h_j \leftarrow \sigma_j w_j`
with :math:`\sigma_j = \operatorname{sign}\bigl(\mathbf 1^\top D_j X w_j\bigr)` (the
sign of the neuron's net contribution), which turns the gated model into a true
ReLU network (the authors' sequential convex formulation). Neurons that are empty
(:math:`w_j = 0`) after a pass have no weight to copy: ``empty_neurons="naive"``
copies it anyway (:math:`h_j = 0`, so :math:`D_j = I` and the neuron becomes linear),
``"keep"`` leaves its random generator and ``"redraw"`` draws a fresh one at every
pass, so unused width keeps exploring new patterns. ``"dead"`` is the other literal
reading, a gate :math:`\mathbb 1[X h_j > 0]` that never fires for :math:`h_j = 0`: empty
neurons are switched off for good and the usable width shrinks to the neurons active
after the first pass.

Also here: the planted teacher (:func:`planted_network`), an iterative magnitude
pruning baseline on the same data (:func:`imp_baseline`), PSNR and relative error,
support precision/recall up to a permutation of neurons (:func:`support_metrics`) and
peak-memory measurement (:func:`measure_peak_memory`).
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ._validation import check_choice, check_float, check_int
from .training import resolve_device

__all__ = [
    "INPUT_KINDS", "SIGN_KINDS", "MODES", "EMPTY_NEURONS",
    "PlantedNetwork", "planted_network", "LiftedReLUOperator", "RecoveredNetwork", "iht",
    "IMPBaseline", "imp_baseline", "psnr", "relative_error", "support_metrics", "measure_peak_memory",
]

INPUT_KINDS = ("gaussian", "uniform", "nonnegative", "correlated")
SIGN_KINDS = ("positive", "random")
MODES = ("convex", "sequential")
EMPTY_NEURONS = ("redraw", "keep", "naive", "dead")


# ----------------------------------------------------------------------------- inputs

def _as_tensor(value, name: str, *, dtype=None, device=None) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    elif not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(value).__name__}")
    if not (value.dtype.is_floating_point or value.dtype in (torch.int8, torch.int16, torch.int32, torch.int64,
                                                             torch.uint8, torch.bool)):
        raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
    return value.to(device=device, dtype=dtype)


def _check_xy(X, y, *, dtype, device) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """X as (n, d), y as (n, K); ``squeeze`` tells whether y came as a vector."""
    X = _as_tensor(X, "X", dtype=dtype, device=device)
    y = _as_tensor(y, "y", dtype=dtype, device=device)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (samples, features), got shape {tuple(X.shape)}")
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D (samples,) or 2-D (samples, outputs), got shape {tuple(y.shape)}")
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same number of samples, got {len(X)} and {len(y)}")
    if len(X) < 1 or X.shape[1] < 1:
        raise ValueError(f"X must have at least one sample and one feature, got shape {tuple(X.shape)}")
    if not torch.isfinite(X).all():
        raise ValueError("X contains NaN or infinite values")
    if not torch.isfinite(y).all():
        raise ValueError("y contains NaN or infinite values")
    squeeze = y.ndim == 1
    return X, (y[:, None] if squeeze else y), squeeze


def _default_dtype(device: torch.device) -> torch.dtype:
    # float64 where it is cheap (CPU): exact recovery is judged at 1e-6 relative error
    return torch.float64 if device.type == "cpu" else torch.float32


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
        from .data import RegressionData
        return RegressionData(self.X_train, self.y_train, self.X_test, self.y_test, kind="planted_relu",
                              planted_weight=self.first_layer, planted_support=self.first_layer != 0,
                              teacher={"first_layer": self.first_layer, "second_layer": self.second_layer})


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


def planted_network(*, in_features: int = 20, width: int = 4, nnz: int = 16, n_train: int = 1000,
                    n_test: int = 1000, out_features: int = 1, signs: str = "positive", inputs: str = "gaussian",
                    correlation: float = 0.0, noise: float = 0.0, seed: int = 0,
                    dtype: torch.dtype = torch.float64) -> PlantedNetwork:
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
    flat = torch.zeros(m * d, dtype=torch.bool)
    if s >= m:
        cols = torch.randint(0, d, (m,), generator=g)
        flat[torch.arange(m) * d + cols] = True
    rest = s - int(flat.sum())
    free = (~flat).nonzero().flatten()
    flat[free[torch.randperm(len(free), generator=g)[:rest]]] = True
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


# ----------------------------------------------------------------------------- operator

def _chunk_generator(seed: int, chunk_index: int, generation: int) -> torch.Generator:
    # one independent stream per (seed, chunk, generation); the constants only spread the seeds apart
    return torch.Generator().manual_seed((seed * 1_000_003 + chunk_index * 7_919 + generation * 104_729) % (2**63))


class LiftedReLUOperator:
    r"""The lifted sensing matrix :math:`A = [D_1 X, \dots, D_p X]`, applied without forming it.

    Coordinates of :math:`W \in \mathbb R^{p \times d \times K}` are addressed by flat
    index :math:`(j d + i) K + k`. Generators: neuron :math:`j` in chunk
    :math:`b = \lfloor j / c \rfloor` uses the Gaussian vector drawn from
    ``(seed, b, generation[b])`` unless an *override* has been set for it (sequential
    mode), stored sparsely.

    Parameters
    ----------
    X : (n, d) tensor (its device and dtype are used throughout)
    width : number of neurons :math:`p`
    out_features : :math:`K`
    seed : seed of the random generators
    chunk : neurons per chunk :math:`c` (memory of a streamed pass is :math:`O(n c K + d c)`)
    """

    def __init__(self, X: torch.Tensor, width: int, *, out_features: int = 1, seed: int = 0, chunk: int = 256):
        self.X = X
        self.XT = X.T.contiguous()  # rows of X^T: gathered to build support columns
        self.n, self.d = X.shape
        self.width = check_int(width, "width", low=1)
        self.K = check_int(out_features, "out_features", low=1)
        self.seed = check_int(seed, "seed", low=0)
        self.chunk = check_int(chunk, "chunk", low=1)
        self.n_chunks = -(-self.width // self.chunk)
        self.generation = [0] * self.n_chunks
        # overrides: sorted neuron ids, and their generators as sparse (row, input, value) triples
        self.override_neurons = torch.zeros(0, dtype=torch.long, device=X.device)
        self.override_rows = torch.zeros(0, dtype=torch.long, device=X.device)
        self.override_inputs = torch.zeros(0, dtype=torch.long, device=X.device)
        self.override_values = torch.zeros(0, dtype=X.dtype, device=X.device)
        self.zero_empty = False  # "naive"/"dead" sequential modes: neurons without an override get h = 0
        self.dead_empty = False  # "dead": ... and the gate 1[X h > 0], so they never fire

    @property
    def shape(self) -> tuple[int, int]:
        return self.n, self.d * self.width * self.K

    # --- generators
    def random_generators(self, b: int) -> torch.Tensor:
        """The Gaussian generators of chunk ``b`` as a ``(d, c_b)`` tensor."""
        j0, j1 = b * self.chunk, min((b + 1) * self.chunk, self.width)
        g = _chunk_generator(self.seed, b, self.generation[b])
        return torch.randn(self.d, j1 - j0, generator=g, dtype=torch.float64).to(self.X.device, self.X.dtype)

    def generators(self, neurons: torch.Tensor) -> torch.Tensor:
        """Generators :math:`h_j` of the given neurons as a ``(d, len(neurons))`` tensor."""
        neurons = neurons.to(self.X.device)
        H = torch.zeros(self.d, len(neurons), dtype=self.X.dtype, device=self.X.device)
        if len(neurons) == 0:
            return H
        if not self.zero_empty:
            for b in torch.unique(torch.div(neurons, self.chunk, rounding_mode="floor")).tolist():
                sel = torch.div(neurons, self.chunk, rounding_mode="floor") == b
                H[:, sel] = self.random_generators(b)[:, neurons[sel] - b * self.chunk]
        if len(self.override_neurons):
            pos = torch.searchsorted(self.override_neurons, neurons)
            pos = pos.clamp(max=len(self.override_neurons) - 1)
            has = self.override_neurons[pos] == neurons
            if has.any():
                cols = has.nonzero().flatten()
                H[:, cols] = 0
                dense = self._override_dense()  # (n_overrides, d)
                H[:, cols] = dense[pos[cols]].T
        return H

    def chunk_generators(self, b: int) -> torch.Tensor:
        j0, j1 = b * self.chunk, min((b + 1) * self.chunk, self.width)
        return self.generators(torch.arange(j0, j1, device=self.X.device))

    def _override_dense(self) -> torch.Tensor:
        dense = torch.zeros(len(self.override_neurons), self.d, dtype=self.X.dtype, device=self.X.device)
        dense[self.override_rows, self.override_inputs] = self.override_values
        return dense

    def set_overrides(self, neurons: torch.Tensor, H: torch.Tensor) -> None:
        """Set :math:`h_j` for ``neurons`` (sorted, unique) to the columns of ``H`` (d, a); others revert."""
        order = torch.argsort(neurons)
        neurons, H = neurons[order], H[:, order]
        rows, inputs = (H.T != 0).nonzero(as_tuple=True)
        self.override_neurons = neurons.clone()
        self.override_rows, self.override_inputs = rows, inputs
        self.override_values = H.T[rows, inputs].clone()

    def redraw(self) -> None:
        """Draw fresh random generators for every chunk (used for neurons without an override)."""
        self.generation = [g + 1 for g in self.generation]

    def gates(self, neurons: torch.Tensor) -> torch.Tensor:
        r"""The activation patterns :math:`\mathbb 1[X h_j \ge 0]` of ``neurons``: an ``(n, a)`` bool tensor."""
        pattern = (self.X @ self.generators(neurons)) >= 0
        if self.dead_empty:
            alive = torch.isin(neurons.to(self.X.device), self.override_neurons)
            pattern &= alive[None, :]
        return pattern

    # --- products
    def columns(self, flat: torch.Tensor) -> torch.Tensor:
        r"""The columns :math:`A_{:, e}` for flat indices ``flat``, stored as the rows of an ``(s, n)`` tensor.

        Row layout makes both the gather (rows of :math:`X^\top`) and the masking
        contiguous; it is the one allocation of size :math:`n s`.
        """
        neuron = torch.div(flat, self.d * self.K, rounding_mode="floor")
        inp = torch.div(flat, self.K, rounding_mode="floor") % self.d
        uniq, inverse = torch.unique(neuron, return_inverse=True)
        gates_t = self.gates(uniq).T  # (a, n) view
        rows = self.XT[inp]  # (s, n)
        return rows.mul_(gates_t[inverse])

    def output_index(self, flat: torch.Tensor) -> torch.Tensor:
        return flat % self.K

    def matvec(self, flat: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        r""":math:`A W` for the sparse :math:`W` given by (``flat``, ``values``): an ``(n, K)`` tensor."""
        return _apply_columns(self.columns(flat), self.output_index(flat), values, self.K)

    def rmatvec_chunks(self, r: torch.Tensor):
        r"""Yield ``(first_flat_index, block)`` with the block of :math:`A^\top r`, one chunk at a time.

        For neurons :math:`j_0 \le j < j_1` the block is
        :math:`X^\top(\mathbb 1[X H_c \ge 0] \odot r)`, returned flat in coordinate
        order (length :math:`(j_1 - j_0) d K`).
        """
        for b in range(self.n_chunks):
            j0, j1 = b * self.chunk, min((b + 1) * self.chunk, self.width)
            pattern = self.gates(torch.arange(j0, j1, device=self.X.device)).to(self.X.dtype)  # (n, c)
            weighted = (pattern[:, :, None] * r[:, None, :]).reshape(self.n, -1)  # (n, c K)
            block = self.X.T @ weighted  # (d, c K) -> reorder to (c, d, K)
            block = block.view(self.d, j1 - j0, self.K).permute(1, 0, 2).reshape(-1)
            yield j0 * self.d * self.K, block

    def rmatvec(self, r: torch.Tensor) -> torch.Tensor:
        r"""Dense :math:`A^\top r` of length :math:`dpK` (for tests and small problems)."""
        return torch.cat([block for _, block in self.rmatvec_chunks(r)])

    def dense(self) -> torch.Tensor:
        """The explicit matrix :math:`A` for :math:`K = 1` (tests and small problems only)."""
        if self.K != 1:
            raise ValueError("dense() builds A for scalar output only (out_features=1)")
        return self.columns(torch.arange(self.d * self.width, device=self.X.device)).T


def _apply_columns(C: torch.Tensor, outputs: torch.Tensor, values: torch.Tensor, K: int) -> torch.Tensor:
    """Y[:, k] = sum over entries e with outputs[e] == k of C[e, :] values[e] (C holds columns as rows)."""
    if K == 1:
        return (values @ C)[:, None]
    coef = torch.zeros(len(values), K, dtype=C.dtype, device=C.device)
    coef[torch.arange(len(values), device=C.device), outputs] = values
    return C.T @ coef


def _adjoint_columns(C: torch.Tensor, outputs: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """g[e] = <C[e, :], r[:, outputs[e]]>."""
    if r.shape[1] == 1:
        return C @ r[:, 0]
    return (C @ r)[torch.arange(C.shape[0], device=C.device), outputs]


# ----------------------------------------------------------------------------- IHT

@dataclass
class RecoveredNetwork:
    r"""A sparse two-layer network found by :func:`iht`.

    The fitted model is the gated network
    :math:`\hat f(x)_k = \sum_j \mathbb 1[x^\top h_j \ge 0]\, x^\top w_{jk}`; in sequential
    mode :math:`h_j = \sigma_j w_j` makes it a ReLU network. ``flat`` and ``values``
    hold the :math:`s` non-zeros of :math:`W` (flat index :math:`(jd+i)K+k`);
    ``neurons`` are the active neurons and ``generators`` their :math:`h_j` (columns).
    """

    flat: torch.Tensor
    values: torch.Tensor
    neurons: torch.Tensor
    generators: torch.Tensor
    width: int
    in_features: int
    out_features: int
    nnz: int
    mode: str
    history: dict = field(default_factory=dict)
    squeeze: bool = True
    dtype: torch.dtype = torch.float64

    @property
    def active_neurons(self) -> int:
        return len(self.neurons)

    @property
    def state_bytes(self) -> int:
        """Bytes of the tensors the model keeps: :math:`O(s)` plus the active generators."""
        return sum(t.numel() * t.element_size() for t in (self.flat, self.values, self.neurons, self.generators))

    @property
    def entry_neurons(self) -> torch.Tensor:
        return torch.div(self.flat, self.in_features * self.out_features, rounding_mode="floor")

    @property
    def entry_inputs(self) -> torch.Tensor:
        return torch.div(self.flat, self.out_features, rounding_mode="floor") % self.in_features

    @property
    def entry_outputs(self) -> torch.Tensor:
        return self.flat % self.out_features

    def fused_dense(self) -> torch.Tensor:
        """:math:`W` as a dense ``(p, d, K)`` tensor (small widths only)."""
        W = torch.zeros(self.width * self.in_features * self.out_features, dtype=self.values.dtype,
                        device=self.values.device)
        W[self.flat] = self.values
        return W.view(self.width, self.in_features, self.out_features)

    def predict(self, X):
        """Outputs for ``X`` (n, d): numpy in, numpy out; a vector when ``y`` was a vector."""
        is_numpy = isinstance(X, np.ndarray)
        Xt = _as_tensor(X, "X", dtype=self.values.dtype, device=self.values.device)
        if Xt.ndim != 2 or Xt.shape[1] != self.in_features:
            raise ValueError(f"X must have shape (n, {self.in_features}), got {tuple(Xt.shape)}")
        pos = torch.searchsorted(self.neurons, self.entry_neurons)
        gates_t = (self.generators.T @ Xt.T) >= 0  # (a, n)
        C = Xt.T[self.entry_inputs] * gates_t[pos]  # support columns as rows, (s, n)
        out = _apply_columns(C, self.entry_outputs, self.values, self.out_features)
        out = out[:, 0] if self.squeeze else out
        return out.detach().cpu().numpy() if is_numpy else out

    def unfused(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""Un-fuse into a ReLU network: ``(first_layer (q, d), second_layer (K, q), consistent (q,))``.

        One hidden unit per (active neuron, output) pair with :math:`w_{jk} \ne 0`:
        :math:`u = \sigma w_{jk} / \sqrt{\lVert w_{jk}\rVert}`,
        :math:`v_k = \sigma\sqrt{\lVert w_{jk}\rVert}`, where :math:`\sigma = \pm 1` is
        the sign for which :math:`\mathbb 1[x^\top \sigma w_{jk} \ge 0]` is the
        neuron's gate. ``consistent`` marks units whose generator is parallel to
        :math:`\sigma w_{jk}` (then the ReLU unit equals the gated one everywhere);
        in sequential mode all units are; in convex mode the gate is a random
        direction and the un-fused network only approximates the gated one.
        """
        W = torch.zeros(len(self.neurons), self.in_features, self.out_features, dtype=self.values.dtype,
                        device=self.values.device)
        pos = torch.searchsorted(self.neurons, self.entry_neurons)
        W[pos, self.entry_inputs, self.entry_outputs] = self.values
        firsts, seconds, ok = [], [], []
        for a in range(len(self.neurons)):
            h = self.generators[:, a]
            for k in range(self.out_features):
                w = W[a, :, k]
                norm = w.norm()
                if norm == 0:
                    continue
                cos = float(h @ w) / (float(h.norm() * norm) + 1e-300)
                sigma = 1.0 if cos >= 0 else -1.0
                firsts.append(sigma * w / norm.sqrt())
                v = torch.zeros(self.out_features, dtype=w.dtype, device=w.device)
                v[k] = sigma * norm.sqrt()
                seconds.append(v)
                ok.append(abs(abs(cos) - 1.0) < 1e-9)
        if not firsts:
            return (torch.zeros(0, self.in_features, dtype=self.values.dtype),
                    torch.zeros(self.out_features, 0, dtype=self.values.dtype), torch.zeros(0, dtype=torch.bool))
        return torch.stack(firsts), torch.stack(seconds, 1), torch.tensor(ok)

    def first_layer(self) -> torch.Tensor:
        return self.unfused()[0]

    def second_layer(self) -> torch.Tensor:
        return self.unfused()[1]

    def as_relu_mlp(self) -> torch.nn.Sequential:
        """The un-fused network as ``Linear(d, q, bias=False), ReLU, Linear(q, K, bias=False)``."""
        U, V, _ = self.unfused()
        q = max(U.shape[0], 1)
        first = torch.nn.Linear(self.in_features, q, bias=False, dtype=U.dtype)
        second = torch.nn.Linear(q, self.out_features, bias=False, dtype=U.dtype)
        with torch.no_grad():
            first.weight.zero_()
            second.weight.zero_()
            first.weight[: U.shape[0]] = U.cpu()
            second.weight[:, : U.shape[0]] = V.cpu()
        return torch.nn.Sequential(first, torch.nn.ReLU(), second)


def _topk_merge(buf_idx, buf_val, idx, val, s):
    cand_idx = torch.cat([buf_idx, idx])
    cand_val = torch.cat([buf_val, val])
    if len(cand_val) <= s:
        return cand_idx, cand_val
    keep = torch.topk(cand_val.abs(), s, sorted=False).indices
    return cand_idx[keep], cand_val[keep]


def _threshold_pass(op: LiftedReLUOperator, flat, values, r, mu, s):
    """:math:`H_s(W + \\mu A^\\top r)`, streamed over chunks: sorted flat indices and values."""
    buf_idx = torch.zeros(0, dtype=torch.long, device=r.device)
    buf_val = torch.zeros(0, dtype=r.dtype, device=r.device)
    for start, block in op.rmatvec_chunks(r):
        cand = mu * block
        lo = torch.searchsorted(flat, start)
        hi = torch.searchsorted(flat, start + len(block))
        if hi > lo:
            cand[flat[lo:hi] - start] += values[lo:hi]
        idx = torch.arange(start, start + len(block), device=r.device)
        nz = cand != 0
        buf_idx, buf_val = _topk_merge(buf_idx, buf_val, idx[nz], cand[nz], s)
    order = torch.argsort(buf_idx)
    return buf_idx[order], buf_val[order]


def _cgls(C, outputs, y, x, K, steps):
    """``steps`` iterations of CGLS on min ||A_S x - y|| (A_S given by columns C), from ``x``."""
    r = y - _apply_columns(C, outputs, x, K)
    g = _adjoint_columns(C, outputs, r)
    p = g.clone()
    gg = g @ g
    for _ in range(steps):
        if gg <= torch.finfo(C.dtype).tiny:
            break
        q = _apply_columns(C, outputs, p, K)
        qq = (q * q).sum()
        if qq <= 0:
            break
        alpha = gg / qq
        x = x + alpha * p
        r = r - alpha * q
        g = _adjoint_columns(C, outputs, r)
        gg_new = g @ g
        p = g + (gg_new / gg) * p
        gg = gg_new
    return x


def _reset_generators(op: LiftedReLUOperator, flat, values, C, empty_neurons: str) -> None:
    r"""Sequential update: :math:`h_j \leftarrow \sigma_j w_j` for the active neurons."""
    K, d = op.K, op.d
    neuron = torch.div(flat, d * K, rounding_mode="floor")
    inp = torch.div(flat, K, rounding_mode="floor") % d
    out = flat % K
    uniq, inverse = torch.unique(neuron, return_inverse=True)
    # net contribution of each (neuron, output) pair: 1^T D_j X w_jk, from the columns of the current support
    contrib = torch.zeros(len(uniq), K, dtype=values.dtype, device=values.device)
    contrib.index_put_((inverse, out), C.sum(1) * values, accumulate=True)
    W = torch.zeros(len(uniq), K, d, dtype=values.dtype, device=values.device)
    W[inverse, out, inp] = values
    # for several outputs, copy the output with the largest weight norm
    k_star = W.norm(dim=2).argmax(dim=1)
    rows = torch.arange(len(uniq), device=values.device)
    sigma = torch.where(contrib[rows, k_star] >= 0, 1.0, -1.0).to(values.dtype)
    H = (sigma[:, None] * W[rows, k_star]).T  # (d, a)
    op.set_overrides(uniq, H)
    if empty_neurons == "redraw":
        op.redraw()
    op.zero_empty = empty_neurons in ("naive", "dead")
    op.dead_empty = empty_neurons == "dead"


def iht(X, y, *, nnz: int, width: int | None = None, steps: int = 30, mode: str = "sequential",
        refine_steps: int = 10, empty_neurons: str = "redraw", restarts: int = 1, seed: int | None = None,
        device="auto", dtype: torch.dtype | None = None, chunk: int = 256, tol: float | None = None,
        progress: bool = False) -> RecoveredNetwork:
    r"""Fit a sparse two-layer ReLU network to ``(X, y)`` by normalised IHT on the lifted model.

    Parameters
    ----------
    X : (n, d) array or tensor
    y : (n,) or (n, K) array or tensor (several outputs share the generators)
    nnz : number :math:`s` of non-zero fused weights, in :math:`[1, dpK]`
    width : number :math:`p` of neurons (generators); default ``nnz`` (each non-zero its own neuron)
    steps : IHT passes (each streams :math:`A^\top r` once)
    mode : ``"sequential"`` (generators re-set to the fused weights after each pass from
        the second on) or ``"convex"`` (random generators, fixed)
    refine_steps : CGLS steps of least squares on the support after each pass (0: plain IHT)
    empty_neurons : generators of neurons left empty in sequential mode: ``"redraw"``,
        ``"keep"``, ``"naive"`` or ``"dead"`` (see the module docstring)
    restarts : independent runs from different generator seeds (``seed``, ``seed + 1``, ...);
        the one with the smallest final *training* residual is returned (its
        ``history["restart_residuals"]`` lists all). Sequential IHT is non-convex: a run
        can merge two planted neurons into one and stall; a restart rarely does again.
    seed : seed of the random generators (``None``: 0)
    device : ``"auto"``, ``"cpu"``, ``"cuda"``...; dtype defaults to float64 on CPU, float32 elsewhere
    chunk : neurons per streamed chunk
    tol : stop when :math:`\lVert AW - y\rVert / \lVert y\rVert \le` ``tol``; default
        :math:`500\,\varepsilon` of the dtype (1.1e-13 in float64, 6e-5 in float32), the
        level at which round-off, not the support, limits the fit
    progress : show a tqdm bar over passes

    Returns
    -------
    RecoveredNetwork, whose ``history`` has one entry per pass: ``residual``
    (:math:`\lVert y - AW\rVert/\lVert y\rVert`), ``support_changes`` (entries that
    entered the support), ``step_size``, ``time_s`` (cumulative), ``backtracks``.
    """
    nnz = check_int(nnz, "nnz", low=1)
    steps = check_int(steps, "steps", low=1)
    check_choice(mode, "mode", MODES)
    refine_steps = check_int(refine_steps, "refine_steps", low=0)
    check_choice(empty_neurons, "empty_neurons", EMPTY_NEURONS)
    restarts = check_int(restarts, "restarts", low=1)
    seed = 0 if seed is None else check_int(seed, "seed", low=0)
    chunk = check_int(chunk, "chunk", low=1)
    if tol is not None:
        tol = check_float(tol, "tol", low=0.0)
    dev = resolve_device(device)
    if dtype is None:
        dtype = _default_dtype(dev)
    X, Y, squeeze = _check_xy(X, y, dtype=dtype, device=dev)
    if tol is None:
        tol = 500 * torch.finfo(dtype).eps
    n, d = X.shape
    K = Y.shape[1]
    width = nnz if width is None else check_int(width, "width", low=1)
    if nnz > d * width * K:
        raise ValueError(f"nnz must be in [1, {d * width * K}] (in_features * width * outputs = {d} * {width} * {K}), "
                         f"got {nnz}")
    best, residuals = None, []
    for restart in range(restarts):
        fit = _iht_run(X, Y, squeeze, nnz=nnz, width=width, steps=steps, mode=mode, refine_steps=refine_steps,
                       empty_neurons=empty_neurons, seed=seed + restart, chunk=chunk, tol=tol, progress=progress)
        residuals.append(fit.history["residual"][-1])
        if best is None or residuals[-1] < best.history["residual"][-1]:
            best = fit
        if residuals[-1] <= tol:
            break
    best.history["restart_residuals"] = residuals
    return best


def _iht_run(X, Y, squeeze, *, nnz, width, steps, mode, refine_steps, empty_neurons, seed, chunk, tol, progress):
    n, d = X.shape
    K = Y.shape[1]
    dev, dtype = X.device, X.dtype
    op = LiftedReLUOperator(X, width, out_features=K, seed=seed, chunk=chunk)
    y_norm = float(Y.norm()) or 1.0
    flat = torch.zeros(0, dtype=torch.long, device=dev)
    values = torch.zeros(0, dtype=dtype, device=dev)
    C = torch.zeros(0, n, dtype=dtype, device=dev)
    history = {"step": [], "residual": [], "support_changes": [], "step_size": [], "time_s": [], "backtracks": []}
    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, desc="IHT", leave=False)
    c_shrink, kappa = 0.01, 2.0
    for step in range(steps):
        outputs = op.output_index(flat)
        AW = _apply_columns(C, outputs, values, K)  # A W, kept: the safeguard needs it after C is freed
        r = Y - AW
        if len(flat) == 0:
            # first pass: the support of H_s(A^T y) and the step that is exact along it
            C_flat, g_S = _threshold_pass(op, flat, values, r, 1.0, nnz)
            C = op.columns(C_flat)
        else:
            C_flat = flat
            g_S = _adjoint_columns(C, outputs, r)
        Ag = _apply_columns(C, op.output_index(C_flat), g_S, K)
        mu = float((g_S @ g_S) / (Ag * Ag).sum().clamp_min(torch.finfo(dtype).tiny))
        del Ag, g_S
        backtracks = 0
        while True:
            new_flat, new_values = _threshold_pass(op, flat, values, r, mu, nnz)
            if not torch.equal(new_flat, C_flat):
                C = None  # free the old columns before building the new ones: one n x s block at a time
                C, C_flat = op.columns(new_flat), new_flat
            same = torch.equal(new_flat, flat)
            if same or len(flat) == 0 or backtracks >= 20:
                break
            # Blumensath-Davies safeguard when the support moves: mu <= (1-c) |dW|^2 / |A dW|^2
            AdW = _apply_columns(C, op.output_index(new_flat), new_values, K) - AW
            dW = _merge_sparse(new_flat, new_values, flat, values)
            omega = (1 - c_shrink) * float(dW @ dW) / max(float((AdW * AdW).sum()), 1e-300)
            del AdW, dW
            if mu <= omega:
                break
            mu = mu / (kappa * (1 - c_shrink))
            backtracks += 1
        del AW, r
        entered = int((~torch.isin(new_flat, flat)).sum()) if len(flat) else len(new_flat)
        flat, values = new_flat, new_values
        outputs = op.output_index(flat)
        if refine_steps:
            values = _cgls(C, outputs, Y, values, K, refine_steps)
        if mode == "sequential" and step >= 1 and step < steps - 1:
            _reset_generators(op, flat, values, C, empty_neurons)
            C = None
            C = op.columns(flat)
            if refine_steps:
                values = _cgls(C, outputs, Y, values, K, refine_steps)
        res = float((Y - _apply_columns(C, outputs, values, K)).norm()) / y_norm
        history["step"].append(step)
        history["residual"].append(res)
        history["support_changes"].append(entered)
        history["step_size"].append(mu)
        history["time_s"].append(time.perf_counter() - start)
        history["backtracks"].append(backtracks)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(residual=f"{res:.2e}")
        if res <= tol:
            break
    if bar is not None:
        bar.close()
    if mode == "sequential" and len(flat):
        # finish on generators parallel to the final weights, so the gated model is the ReLU network
        # (the last least-squares update moved w a little away from the h it was fitted with)
        outputs = op.output_index(flat)
        for _ in range(2):
            _reset_generators(op, flat, values, C, empty_neurons)
            C = None
            C = op.columns(flat)
            if refine_steps:
                values = _cgls(C, outputs, Y, values, K, refine_steps)
        history["residual"][-1] = float((Y - _apply_columns(C, outputs, values, K)).norm()) / y_norm
    neuron_of = torch.div(flat, d * K, rounding_mode="floor")
    neurons = torch.unique(neuron_of)
    return RecoveredNetwork(flat=flat, values=values, neurons=neurons, generators=op.generators(neurons),
                            width=width, in_features=d, out_features=K, nnz=nnz, mode=mode, history=history,
                            squeeze=squeeze, dtype=dtype)


def _merge_sparse(flat_a, val_a, flat_b, val_b) -> torch.Tensor:
    """Values of (a - b) on the union of two sorted supports."""
    union = torch.unique(torch.cat([flat_a, flat_b]))
    out = torch.zeros(len(union), dtype=val_a.dtype, device=val_a.device)
    out[torch.searchsorted(union, flat_a)] += val_a
    out[torch.searchsorted(union, flat_b)] -= val_b
    return out


# ----------------------------------------------------------------------------- IMP baseline

@dataclass
class IMPBaseline:
    """A bias-free two-layer MLP pruned by :func:`imp_baseline`; ``nnz`` counts first-layer non-zeros."""

    model: torch.nn.Module
    nnz: int
    width: int
    task: str
    result: object
    squeeze: bool = True

    def predict(self, X):
        is_numpy = isinstance(X, np.ndarray)
        p = next(self.model.parameters())
        Xt = _as_tensor(X, "X", dtype=p.dtype, device=p.device)
        with torch.no_grad():
            out = self.model(Xt)
        if self.task == "regression" and self.squeeze:
            out = out[:, 0]
        return out.detach().cpu().numpy() if is_numpy else out


def imp_baseline(X, y, *, nnz: int, width: int, rounds: int | None = None, alpha: float = 0.5, epochs: int = 300,
                 lr: float = 3e-2, batch_size: int | None = None, task: str = "regression", seed: int = 0,
                 device="auto", dtype: torch.dtype = torch.float32, progress: bool = False) -> IMPBaseline:
    r"""Iterative magnitude pruning baseline: a dense bias-free MLP :math:`d \to p \to K`.

    Trained with Adam (``epochs`` passes, full batch unless ``batch_size``), then the
    first layer is pruned globally by magnitude, :math:`\alpha` of the surviving weights
    per round, rewound to initialisation and retrained, until exactly ``nnz`` remain
    (:func:`sparselab.schedules.iterative_magnitude_pruning`; the number of rounds is
    :math:`\lceil \log(s/dp) / \log(1-\alpha)\rceil` unless ``rounds`` is given). The
    second layer (one weight per neuron and output) is not pruned. ``task``:
    ``"regression"`` (squared error; ``y`` real) or ``"classification"``
    (cross-entropy; ``y`` integer labels).
    """
    from .data import ClassificationData, RegressionData
    from .models import MLP
    from .schedules import iterative_magnitude_pruning
    from .training import TrainConfig, train

    check_choice(task, "task", ("regression", "classification"))
    width = check_int(width, "width", low=1)
    nnz = check_int(nnz, "nnz", low=1)
    alpha = check_float(alpha, "alpha", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    epochs = check_int(epochs, "epochs", low=1)
    lr = check_float(lr, "lr", low=0.0, low_inclusive=False)
    seed = check_int(seed, "seed", low=0)
    if task == "regression":
        Xt, Yt, squeeze = _check_xy(X, y, dtype=dtype, device="cpu")
        K = Yt.shape[1]
        data = RegressionData(Xt, Yt, Xt, Yt, kind="custom")
    else:
        Xt = _as_tensor(X, "X", dtype=dtype)
        yt = _as_tensor(y, "y", dtype=torch.int64)
        if Xt.ndim != 2 or yt.ndim != 1 or len(Xt) != len(yt):
            raise ValueError(f"X must be (n, d) and y (n,) integer labels, got {tuple(Xt.shape)} and {tuple(yt.shape)}")
        K = int(yt.max()) + 1
        squeeze = False
        data = ClassificationData(Xt, yt, Xt, yt, n_classes=max(K, 2))
        K = max(K, 2)
    d = Xt.shape[1]
    if nnz > d * width:
        raise ValueError(f"nnz must be in [1, {d * width}] (in_features * width = {d} * {width}), got {nnz}")
    if rounds is not None:
        rounds = check_int(rounds, "rounds", low=1)
    torch.manual_seed(seed)
    model = MLP(d, [width], K, bias=False, dtype=dtype)
    config = TrainConfig(epochs=epochs, batch_size=batch_size or len(Xt), lr=lr, seed=seed, device=str(device),
                         progress=False, track_flips=False)
    density = nnz / (d * width)
    if nnz == d * width:
        result = train(model, data, config)
    else:
        if rounds is None:
            rounds = max(1, math.ceil(math.log(density) / math.log(1 - alpha) - 1e-9))
        result = iterative_magnitude_pruning(model, data, config, final_density=density, rounds=rounds,
                                             layers=["fc1"], progress=progress)
    model = model.cpu()
    return IMPBaseline(model=model, nnz=_first_layer_nnz(model), width=width, task=task, result=result,
                       squeeze=squeeze)


def _first_layer_nnz(model) -> int:
    from .pruning import effective_weight
    return int((effective_weight(model.fc1) != 0).sum())


# ----------------------------------------------------------------------------- metrics

def _to_numpy(a, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a, dtype=np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def psnr(y_true, y_pred) -> float:
    r"""Peak signal-to-noise ratio :math:`20\log_{10}\max|y| - 10\log_{10}\operatorname{MSE}` in dB (``inf`` if exact)."""
    t, p = _to_numpy(y_true, "y_true"), _to_numpy(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {t.shape} and {p.shape}")
    peak = np.abs(t).max()
    if peak == 0:
        raise ValueError("y_true is all zeros: PSNR is undefined")
    mse = float(np.mean((t - p) ** 2))
    return math.inf if mse == 0 else 20 * math.log10(peak) - 10 * math.log10(mse)


def relative_error(y_true, y_pred) -> float:
    r""":math:`\lVert \hat y - y\rVert_2 / \lVert y\rVert_2`."""
    t, p = _to_numpy(y_true, "y_true"), _to_numpy(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {t.shape} and {p.shape}")
    norm = np.linalg.norm(t)
    if norm == 0:
        raise ValueError("y_true is all zeros: the relative error is undefined")
    return float(np.linalg.norm(p - t) / norm)


def support_metrics(planted, recovered) -> dict:
    r"""Support precision and recall of recovered fused weights, up to a permutation of neurons.

    ``planted`` is :math:`(m, d[, K])`, ``recovered`` :math:`(p, d[, K])`. Rows are
    padded with zero neurons to a common count and matched by the assignment that
    minimises :math:`\sum_j \lVert \hat w_{\pi(j)} - w^\star_j\rVert^2`
    (:func:`scipy.optimize.linear_sum_assignment`). Returns ``precision``
    (:math:`|\hat S \cap S^\star| / |\hat S|`), ``recall``
    (:math:`|\hat S \cap S^\star| / |S^\star|`), ``f1``, ``weight_error``
    (:math:`\lVert \hat W_\pi - W^\star\rVert_F / \lVert W^\star\rVert_F`) and
    ``permutation`` (recovered row matched to each planted row, -1 for padding).
    """
    from scipy.optimize import linear_sum_assignment

    P, R = _to_numpy(planted, "planted"), _to_numpy(recovered, "recovered")
    if P.ndim == 2:
        P = P[:, :, None]
    if R.ndim == 2:
        R = R[:, :, None]
    if P.ndim != 3 or R.ndim != 3 or P.shape[1:] != R.shape[1:]:
        raise ValueError(f"planted and recovered must be (neurons, d[, K]) with the same d and K, "
                         f"got {P.shape} and {R.shape}")
    m, p = P.shape[0], R.shape[0]
    size = max(m, p)
    Pf = np.zeros((size, P.shape[1] * P.shape[2]))
    Rf = np.zeros_like(Pf)
    Pf[:m] = P.reshape(m, -1)
    Rf[:p] = R.reshape(p, -1)
    cost = (Pf ** 2).sum(1)[:, None] + (Rf ** 2).sum(1)[None, :] - 2 * Pf @ Rf.T
    rows, cols = linear_sum_assignment(cost)
    R_perm = Rf[cols[np.argsort(rows)]]
    sp, sr = Pf != 0, R_perm != 0
    hit = int((sp & sr).sum())
    precision = hit / sr.sum() if sr.sum() else 0.0
    recall = hit / sp.sum() if sp.sum() else 1.0
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    norm = np.linalg.norm(Pf)
    perm = cols[np.argsort(rows)][:m]
    perm = np.where(perm < p, perm, -1)
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1),
            "weight_error": float(np.linalg.norm(R_perm - Pf) / norm) if norm else float(np.linalg.norm(R_perm)),
            "permutation": perm}


# ----------------------------------------------------------------------------- memory

def _proc_status() -> dict:
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) * 1024
    return out


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _mallopt(mmap_threshold: int, trim_threshold: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
        libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold)


@contextlib.contextmanager
def _rss_follows_allocations():
    """While measuring, glibc serves blocks of 64 KiB and more by mmap and returns freed memory at once,
    so that re-used heap memory cannot hide an allocation. Afterwards the thresholds are set to glibc's
    dynamic maxima (32 MiB / 64 MiB), where its own adaptation would have taken them: allocation-heavy
    code stays as fast as before."""
    _mallopt(64 * 1024, 128 * 1024)
    try:
        yield
    finally:
        _mallopt(32 * 1024 * 1024, 64 * 1024 * 1024)


def _malloc_trim() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def measure_peak_memory(fn, *args, memory_device=None, **kwargs):
    r"""Run ``fn(*args, **kwargs)`` and return ``(result, peak_bytes, method)``.

    The memory of ``memory_device`` is measured; by default the ``device`` keyword
    given to ``fn`` (so ``measure_peak_memory(iht, X, y, nnz=s, device="cuda")``
    measures the GPU), or the CPU when there is none.

    ``peak_bytes`` is the growth of memory in use during the call over what was in
    use before it, so data allocated before the call is not counted:

    * CUDA: :func:`torch.cuda.max_memory_allocated` after
      :func:`torch.cuda.reset_peak_memory_stats`, minus the allocation before
      (``method="cuda_max_memory_allocated"``);
    * CPU on Linux: the peak resident set size (``VmHWM``, reset through
      ``/proc/self/clear_refs``) minus the resident set size before, with glibc
      told to return freed memory (``method="rss_hwm"``). Page granularity (4 KiB)
      and allocator slack make small values (below ~1 MiB) noisy;
    * elsewhere: :mod:`tracemalloc` (Python and NumPy allocations only, not torch
      tensors; ``method="tracemalloc"``).
    """
    dev = resolve_device(kwargs.get("device", "cpu") if memory_device is None else memory_device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev)
        result = fn(*args, **kwargs)
        torch.cuda.synchronize(dev)
        return result, int(torch.cuda.max_memory_allocated(dev) - before), "cuda_max_memory_allocated"
    try:
        with _rss_follows_allocations():
            _malloc_trim()
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            before = _proc_status()["VmRSS"]
            result = fn(*args, **kwargs)
            peak = _proc_status()["VmHWM"]
        return result, int(max(peak - before, 0)), "rss_hwm"
    except OSError:
        import tracemalloc
        tracemalloc.start()
        tracemalloc.reset_peak()
        try:
            result = fn(*args, **kwargs)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return result, int(peak), "tracemalloc"
