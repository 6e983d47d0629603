r"""Ill-posedness of sparse factorisation: the LU counter-example and a sparse scalar-output ReLU network.

:func:`lu_counterexample` is a matrix whose best approximation by a product of a lower- and an upper-triangular
factor is not attained: along :func:`lu_path` the error goes to 0 while the factors' norms grow without bound.
:func:`fit_sparse_relu` trains a two-layer ReLU network with a fixed first-layer support on which the same
phenomenon (an infimum that is not a minimum) appears.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from sparselab._validation import check_float, check_int, check_matrix
from sparselab.factorization.supports import check_mask
from sparselab.loop import fit

__all__ = [
    "ReLUFit",
    "lu_counterexample",
    "lu_path",
    "fit_sparse_relu",
]


@dataclass
class ReLUFit:
    r"""A trained one-hidden-layer ReLU network :math:`f(x) = \sum_j v_j\,\operatorname{relu}(w_j^\top x)`.

    Attributes
    ----------
    W : torch.Tensor
        First layer ``(hidden, d)``, zero off the mask.
    v : torch.Tensor
        Output weights ``(hidden,)``.
    loss : float
        Final :math:`\frac1{2N}\sum_i (f(x_i) - y_i)^2`.
    history : dict of lists
        ``"step"``, ``"loss"``, ``"norm"`` (:math:`\sqrt{\|W\|_F^2+\|v\|_2^2}`), ``"seconds"``.
    """

    W: torch.Tensor
    v: torch.Tensor
    loss: float
    history: dict = field(default_factory=dict)

    def predict(self, inputs) -> torch.Tensor:
        """Network output for ``inputs`` of shape ``(N, d)``: a tensor ``(N,)``."""
        x = check_matrix(inputs, "inputs").to(torch.float64)
        if x.shape[1] != self.W.shape[1]:
            raise ValueError(
                f"inputs must have {self.W.shape[1]} columns (the input dimension d), got shape {tuple(x.shape)}"
            )
        return torch.relu(x @ self.W.T) @ self.v


# ----------------------------------------------------------------------------- the LU example


def lu_counterexample() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""A :math:`2\times 2` FSMF instance whose infimum (0) is not attained.

    :math:`A = \begin{pmatrix}0 & 1\\ 1 & 0\end{pmatrix}` and :math:`I = J` the lower-triangular
    mask, so :math:`X = L` is lower and :math:`Y^\top = U` upper triangular:
    :math:`XY^\top = LU = \begin{pmatrix} l_{11}u_{11} & l_{11}u_{12}\\
    l_{21}u_{11} & l_{21}u_{12} + l_{22}u_{22}\end{pmatrix}`. An exact fit needs
    :math:`l_{11}u_{11} = 0` but :math:`l_{11}u_{12} = 1` and :math:`l_{21}u_{11} = 1`, which is
    impossible; yet :func:`lu_path` reaches any error :math:`\varepsilon > 0`. The rank-one
    supports :math:`\{1,2\}\times\{1,2\}` and :math:`\{2\}\times\{2\}` overlap without being
    identical, so the pair is not tractable.

    Returns
    -------
    (A, I, J)
        ``A`` float64 ``(2, 2)``, ``I`` and ``J`` boolean ``(2, 2)``.
    """
    A = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    L = torch.tensor([[True, False], [True, True]])
    return A, L.clone(), L.clone()


def lu_path(eps) -> tuple[torch.Tensor, torch.Tensor]:
    r"""A feasible pair for :func:`lu_counterexample` with error exactly ``eps``, all of it in the (1,1) entry.

    Among the pairs that place the error there it has the smallest norm; spreading the error over
    several entries does slightly better (gradient descent finds such pairs), with the same
    :math:`1/\varepsilon` growth.

    Start from :math:`L = \begin{pmatrix}1&0\\1/\varepsilon&1\end{pmatrix}`,
    :math:`U = \begin{pmatrix}\varepsilon&1\\0&-1/\varepsilon\end{pmatrix}`, whose product
    :math:`\begin{pmatrix}\varepsilon&1\\1&0\end{pmatrix}` misses :math:`A` by :math:`\varepsilon`
    in the (1,1) entry. Any diagonal rescaling :math:`L D`, :math:`D^{-1} U` keeps the product;
    minimising :math:`\|LD\|_F^2 + \|D^{-1}U\|_F^2` over :math:`D = \operatorname{diag}(d_1, d_2)`
    gives :math:`d_1^2 = \varepsilon`, :math:`d_2^2 = 1/\varepsilon`, i.e.

    .. math::

        X = LD = \begin{pmatrix}\sqrt\varepsilon & 0\\ 1/\sqrt\varepsilon & 1/\sqrt\varepsilon\end{pmatrix},
        \quad
        Y^\top = D^{-1}U = \begin{pmatrix}\sqrt\varepsilon & 1/\sqrt\varepsilon\\ 0 & -1/\sqrt\varepsilon\end{pmatrix},
        \quad
        \|X\|_F^2 + \|Y\|_F^2 = \frac{4 + 2\varepsilon^2}{\varepsilon}.

    The norm must blow up: with this error placement, :math:`l_{11}u_{11} = \varepsilon`,
    :math:`l_{11}u_{12} = l_{21}u_{11} = 1` and :math:`l_{22}u_{22} = -l_{21}u_{12}` force
    :math:`l_{11}^2 + u_{11}^2 + l_{21}^2 + u_{12}^2 \ge 2\varepsilon + 2/\varepsilon` and
    :math:`l_{22}^2 + u_{22}^2 \ge 2/\varepsilon`, so :math:`4/\varepsilon` growth is the best
    possible for it.

    Parameters
    ----------
    eps : float
        Target error, ``> 0``.

    Returns
    -------
    (X, Y)
        float64 ``(2, 2)`` lower-triangular factors with :math:`\|A - XY^\top\|_F = \varepsilon`.
    """
    eps = check_float(eps, "eps", 0.0, low_inclusive=False)
    s = math.sqrt(eps)
    X = torch.tensor([[s, 0.0], [1.0 / s, 1.0 / s]], dtype=torch.float64)
    Ut = torch.tensor([[s, 1.0 / s], [0.0, -1.0 / s]], dtype=torch.float64)
    return X, Ut.T.contiguous()


# ----------------------------------------------------------------------------- sparse ReLU network


def fit_sparse_relu(
    inputs, targets, mask, *, steps: int = 2000, lr: float = 1e-2, seed: int = 0, record_every: int = 10
) -> ReLUFit:
    r"""Train :math:`f(x) = \sum_j v_j\,\operatorname{relu}(w_j^\top x)` with a fixed first-layer support.

    Full-batch gradient descent in float64 on

    .. math::

        \mathcal L(W, v) = \frac1{2N}\sum_{i=1}^N \bigl(f(x_i) - y_i\bigr)^2,
        \qquad \operatorname{supp}(W) \subseteq \text{mask},

    with the gradients (:math:`H = XW^\top`, :math:`Z = \operatorname{relu}(H)`,
    :math:`e = Zv - y`): :math:`\nabla_v = Z^\top e/N` and
    :math:`\nabla_W = \bigl((e v^\top) \odot \mathbb 1[H > 0]\bigr)^\top X / N \odot \text{mask}`.
    Le, Riccietti & Gribonval (2023, arXiv:2306.02666) prove that for one hidden layer and a
    scalar output this problem always has a global minimiser, whatever the support — unlike
    the LU example (:func:`lu_counterexample`), a two-layer *linear* network whose loss tends
    to 0 only along parameters that blow up. The history records the loss and the parameter
    norm :math:`\sqrt{\|W\|_F^2 + \|v\|_2^2}`. The loop is :func:`sparselab.loop.fit`, one
    full-batch step per epoch.

    Parameters
    ----------
    inputs : tensor or array
        ``(N, d)``.
    targets : tensor or array
        ``(N,)`` or ``(N, 1)``.
    mask : tensor or array
        Boolean or 0/1 first-layer support ``(hidden, d)``.
    steps : int
        Gradient steps, ``>= 1``.
    lr : float
        Step size, ``> 0``.
    seed : int
        Seed of the initialisation: :math:`W_{jk} \sim \mathcal N(0, 1/\max(d_j, 1))` on the mask
        (:math:`d_j` = non-zeros of row :math:`j`), :math:`v_j \sim \mathcal N(0, 1/\text{hidden})`.
    record_every : int
        Record the history every ``record_every`` steps (step 0 and the last step always).

    Returns
    -------
    ReLUFit
    """
    X = check_matrix(inputs, "inputs").to(torch.float64).detach().cpu()
    N, d = X.shape
    y = targets
    if isinstance(y, np.ndarray):
        y = torch.from_numpy(np.ascontiguousarray(y))
    if not torch.is_tensor(y):
        raise TypeError(f"targets must be a torch.Tensor or numpy.ndarray, got {type(y).__name__}")
    if tuple(y.shape) not in ((N,), (N, 1)):
        raise ValueError(f"targets must have shape ({N},) or ({N}, 1) (one scalar per input row), got {tuple(y.shape)}")
    if y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"targets must hold real numbers, got dtype {y.dtype}")
    y = y.reshape(N).to(torch.float64).detach().cpu()
    if not bool(torch.isfinite(y).all()):
        raise ValueError("targets contains NaN or infinite values")
    M = check_mask(mask, "mask")
    if M.shape[1] != d or M.shape[0] < 1:
        raise ValueError(
            f"mask must have shape (hidden, d) with d = inputs.shape[1] = {d} and hidden >= 1, got {tuple(M.shape)}"
        )
    steps = check_int(steps, "steps", 1)
    lr = check_float(lr, "lr", 0.0, low_inclusive=False)
    seed = check_int(seed, "seed", 0)
    record_every = check_int(record_every, "record_every", 1)
    h = M.shape[0]
    Mt = torch.from_numpy(M.astype(np.float64))
    g = torch.Generator().manual_seed(seed)
    fan = Mt.sum(1, keepdim=True).clamp(min=1.0)
    W = torch.randn(h, d, generator=g, dtype=torch.float64) / fan.sqrt() * Mt
    v = torch.randn(h, generator=g, dtype=torch.float64) / math.sqrt(h)
    descent = _ReLUDescent(X, y, Mt, W, v, lr=lr, steps=steps, record_every=record_every)
    fit(descent.step, epochs=steps, callbacks=(descent,))  # full batch: one step per epoch
    return ReLUFit(W=descent.W, v=descent.v, loss=descent.loss, history=descent.history)


class _ReLUDescent:
    """The state of :func:`fit_sparse_relu`'s gradient descent: its step function and its :func:`~sparselab.loop.fit`
    hooks (``begin`` records step 0, ``after_step`` every ``record_every`` steps and the last)."""

    def __init__(self, X, y, Mt, W, v, *, lr: float, steps: int, record_every: int):
        self.X, self.y, self.Mt, self.W, self.v = X, y, Mt, W, v
        self.lr, self.steps, self.record_every = lr, steps, record_every
        self.history = {"step": [], "loss": [], "norm": [], "seconds": []}
        self.t0 = time.perf_counter()
        self._forward()

    def _forward(self) -> None:
        r""":math:`H = XW^\top`, :math:`Z = \operatorname{relu}(H)`, :math:`e = Zv - y` and the loss."""
        self.H = self.X @ self.W.T
        self.Z = torch.relu(self.H)
        self.e = self.Z @ self.v - self.y
        self.loss = 0.5 * float(self.e @ self.e) / self.X.shape[0]

    def step(self, batch=None) -> float:
        """One full-batch gradient step on ``(W, v)``: the step function of the loop; returns the new loss."""
        N = self.X.shape[0]
        gv = self.Z.T @ self.e / N
        gH = (self.e[:, None] * self.v[None, :]) * (self.H > 0)
        gW = (gH.T @ self.X) / N * self.Mt
        self.W = self.W - self.lr * gW
        self.v = self.v - self.lr * gv
        self._forward()
        return self.loss

    def begin(self, state) -> None:
        self._record(0)

    def after_step(self, state) -> None:
        """Stop with :class:`FloatingPointError` on a non-finite loss; record the step when it is due."""
        if not math.isfinite(self.loss):
            raise FloatingPointError(
                f"fit_sparse_relu diverged at step {state.step} with lr={self.lr}; use a smaller lr"
            )
        if state.step % self.record_every == 0 or state.step == self.steps:
            self._record(state.step)

    def _record(self, step: int) -> None:
        W, v = self.W, self.v
        self.history["step"].append(int(step))
        self.history["loss"].append(float(self.loss))
        self.history["norm"].append(float(torch.sqrt((W * W).sum() + (v * v).sum())))
        self.history["seconds"].append(time.perf_counter() - self.t0)
