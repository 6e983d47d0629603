r"""Sparse matrix factorisation with fixed support (FSMF) and the existence of optima.

Given :math:`A \in \mathbb R^{m \times n}` and two boolean masks :math:`I \in \{0,1\}^{m \times r}`,
:math:`J \in \{0,1\}^{n \times r}`, the *fixed-support matrix factorisation* problem is

.. math::

    \inf_{X, Y}\ \|A - X Y^\top\|_F
    \quad\text{s.t.}\quad \operatorname{supp}(X) \subseteq I,\ \operatorname{supp}(Y) \subseteq J,

with :math:`X \in \mathbb R^{m \times r}` and :math:`Y \in \mathbb R^{n \times r}`
(Le, Riccietti & Gribonval 2021, "Spurious valleys, NP-hardness, and tractability of sparse
matrix factorization with fixed support", arXiv:2112.00386). Writing
:math:`X Y^\top = \sum_{t} x_t y_t^\top` (columns :math:`x_t, y_t`), the :math:`t`-th term is a
rank-one matrix supported on the **rank-one support**

.. math::

    S_t = R_t \times C_t, \qquad R_t = \{i : I_{it} = 1\},\ C_t = \{j : J_{jt} = 1\}

(:func:`rank_one_supports`). The rank-one supports decide everything:

* **NP-hardness.** FSMF is NP-hard in general (Le et al. 2021). The idea of the reduction:
  a column :math:`t` with :math:`R_t = \{i\}`, :math:`C_t = \{j\}` fits entry :math:`(i, j)` exactly,
  so such "singleton" columns switch entries off, and one full column then leaves a rank-one
  approximation with missing entries (weighted low-rank approximation with binary weights),
  which is NP-hard (Gillis & Glineur 2011).
* **A tractable family** (:func:`is_tractable`). If every two rank-one supports are either
  disjoint or identical, group the columns into classes :math:`P` of identical supports
  :math:`R_P \times C_P` (:func:`equivalence_classes`). The classes cover disjoint blocks of
  :math:`A`, the product restricted to block :math:`P` is any matrix of rank
  :math:`\le |P|`, and the problem splits into independent Eckart–Young problems
  (:func:`fsmf_exact`):

  .. math::

      \min \|A - XY^\top\|_F^2
      = \Bigl\|A_{\overline{\cup_P S_P}}\Bigr\|_F^2
      + \sum_P \sum_{i > |P|} \sigma_i\bigl(A[R_P, C_P]\bigr)^2 .

  For this family the landscape of :math:`(X, Y) \mapsto \|A - XY^\top\|_F^2` has no spurious
  local minimum and no spurious local valley (Le et al. 2021), so local methods
  (:func:`fsmf_als`, :func:`fsmf_gd`) reach the optimum from generic starts. (The paper also
  treats a larger family built on "complete equivalence classes", not implemented here.)
* **Outside the family** local methods can stall at different values from different starts,
  and the infimum need not even be attained: :func:`lu_counterexample` is a :math:`2 \times 2`
  LU-type support with infimum 0 that no feasible pair reaches; along a minimising sequence
  (:func:`lu_path`) the factors blow up, :math:`\|X\|_F^2 + \|Y\|_F^2 \sim 4/\varepsilon` at error
  :math:`\varepsilon`.

**Sparse ReLU networks** (Le, Riccietti & Gribonval 2023, "Does a sparse ReLU network
training problem always admit an optimum?", arXiv:2306.02666). The LU example is a two-layer
*linear* network with a sparse first and second layer whose training problem has no minimiser.
Sparse ReLU networks inherit the problem for some deep sparsity patterns, but a network with
*one hidden layer and scalar output*, :math:`f(x) = \sum_j v_j \operatorname{relu}(w_j^\top x)`
with any support on the first layer, always has a global minimiser of the empirical
squared loss; :func:`fit_sparse_relu` trains one by full-batch gradient descent and records the
parameter norm so that the two behaviours can be compared.

**Conventions.** ``A`` is a torch tensor or numpy array (converted to float64); masks are
boolean or 0/1 tensors/arrays with ``I.shape == (m, r)`` and ``J.shape == (n, r)``. Results are
float64 torch tensors, exactly zero off the supports. Everything random takes ``seed`` and
uses a local generator. The solvers record a ``history`` (dict of lists) with keys ``"step"``,
``"error"`` (:math:`\|A - XY^\top\|_F`), ``"norm"`` (:math:`\sqrt{\|X\|_F^2 + \|Y\|_F^2}`) and
``"seconds"`` (wall clock since the start).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from sparselab._validation import check_float, check_int, check_matrix
from sparselab.factorization.supports import check_masks, offending_pair, pair_reason, support_classes

__all__ = [
    "Factorization",
    "fsmf_exact",
    "fsmf_als",
    "fsmf_gd",
]

_HISTORY_KEYS = ("step", "error", "norm", "seconds")
_RCOND_CHOLESKY = 1e-10  # rows whose restricted Gram looks worse conditioned than this use the SVD pinv

# ----------------------------------------------------------------------------- results


@dataclass
class Factorization:
    r"""A feasible pair :math:`(X, Y)` and how well :math:`XY^\top` approximates :math:`A`.

    Attributes
    ----------
    X : torch.Tensor
        ``(m, r)`` float64, zero off the support ``I``.
    Y : torch.Tensor
        ``(n, r)`` float64, zero off the support ``J``.
    error : float
        :math:`\|A - XY^\top\|_F`.
    relative_error : float
        :math:`\|A - XY^\top\|_F / \|A\|_F` (the absolute error when :math:`A = 0`).
    history : dict of lists
        ``"step"``, ``"error"``, ``"norm"`` (:math:`\sqrt{\|X\|_F^2+\|Y\|_F^2}`), ``"seconds"``.
    method : str
        ``"exact"``, ``"als"`` or ``"gd"``.
    """

    X: torch.Tensor
    Y: torch.Tensor
    error: float
    relative_error: float
    history: dict = field(default_factory=dict)
    method: str = ""

    def product(self) -> torch.Tensor:
        r""":math:`XY^\top`, ``(m, n)``."""
        return self.X @ self.Y.T


# ----------------------------------------------------------------------------- validation


def _check_problem(A, I, J) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    A = check_matrix(A, "A").to(torch.float64)
    m, n = A.shape
    I, J = check_masks(I, J, m, n)
    return A.detach().cpu().numpy().copy(), I, J


def _check_start(Z, name: str, mask: np.ndarray, mask_name: str) -> np.ndarray | None:
    if Z is None:
        return None
    Z = check_matrix(Z, name).to(torch.float64)
    if tuple(Z.shape) != mask.shape:
        raise ValueError(f"{name} must have the shape of {mask_name}, {mask.shape}, got {tuple(Z.shape)}")
    return Z.detach().cpu().numpy() * mask


def _init(A: np.ndarray, I: np.ndarray, J: np.ndarray, X0, Y0, seed: int, init_scale: float):
    r"""Starting point: ``X0``/``Y0`` (projected on the supports) or Gaussian entries on the supports.

    The random entries have standard deviation
    :math:`s = \text{init\_scale}\cdot(\|A\|_F / \sqrt{m n r})^{1/2}` (``init_scale`` when
    :math:`A = 0`), so that the entries of :math:`XY^\top` have about the size of those of :math:`A`.
    """
    m, n = A.shape
    r = I.shape[1]
    X = _check_start(X0, "X0", I, "I")
    Y = _check_start(Y0, "Y0", J, "J")
    nrm = float(np.linalg.norm(A))
    s = init_scale * (math.sqrt(nrm / math.sqrt(m * n * r)) if nrm > 0 else 1.0)
    g = torch.Generator().manual_seed(seed)
    GX = torch.randn(m, r, generator=g, dtype=torch.float64).numpy()
    GY = torch.randn(n, r, generator=g, dtype=torch.float64).numpy()
    if X is None:
        X = s * GX * I
    if Y is None:
        Y = s * GY * J
    return X, Y


# ----------------------------------------------------------------------------- helpers


def _history() -> dict:
    return {k: [] for k in _HISTORY_KEYS}


def _record(history: dict, step: int, err: float, X: np.ndarray, Y: np.ndarray, t0: float) -> None:
    history["step"].append(int(step))
    history["error"].append(float(err))
    history["norm"].append(float(math.sqrt(float(np.sum(X * X)) + float(np.sum(Y * Y)))))
    history["seconds"].append(time.perf_counter() - t0)


def _result(A: np.ndarray, X: np.ndarray, Y: np.ndarray, history: dict, method: str) -> Factorization:
    err = float(np.linalg.norm(A - X @ Y.T))
    nrm = float(np.linalg.norm(A))
    return Factorization(
        X=torch.from_numpy(np.ascontiguousarray(X)),
        Y=torch.from_numpy(np.ascontiguousarray(Y)),
        error=err,
        relative_error=err / nrm if nrm > 0 else err,
        history=history,
        method=method,
    )


# ----------------------------------------------------------------------------- exact solver


def fsmf_exact(A, I, J) -> Factorization:
    r"""Optimal FSMF for a tractable support pair (every two rank-one supports disjoint or identical).

    For each equivalence class :math:`P` (:func:`equivalence_classes`) with rows :math:`R`,
    columns :math:`C` and :math:`k = |P|` columns, the block :math:`A[R, C]` is replaced by its
    best approximation of rank :math:`q = \min(k, |R|, |C|)` (Eckart–Young),
    :math:`A[R,C] \approx U_q \Sigma_q V_q^\top`, split as :math:`X[R, P_{1..q}] = U_q\Sigma_q^{1/2}`,
    :math:`Y[C, P_{1..q}] = V_q\Sigma_q^{1/2}` (the other :math:`k - q` columns of the class are
    zero). The classes cover disjoint blocks, so this is optimal:

    .. math::

        \|A - XY^\top\|_F^2 = \sum_{(i,j) \notin \cup_P S_P} A_{ij}^2
        + \sum_P \sum_{i > k_P} \sigma_i(A[R_P, C_P])^2 .

    The singular vectors are sign-normalised (largest-magnitude entry of each :math:`u_i`
    positive), so the result is deterministic.

    Raises
    ------
    ValueError
        If ``(I, J)`` is not in the tractable family; the message names an offending pair
        of columns :math:`(t, t')`.
    """
    A, I, J = _check_problem(A, I, J)
    pair = offending_pair(I, J)
    if pair is not None:
        raise ValueError(
            f"I and J are not in the tractable (disjoint/identical) family: "
            f"{pair_reason(I, J, *pair)}; use fsmf_als or fsmf_gd (offending pair (t, t') = {pair})"
        )
    t0 = time.perf_counter()
    m, n = A.shape
    r = I.shape[1]
    X = np.zeros((m, r))
    Y = np.zeros((n, r))
    for cls in support_classes(I, J):
        R, C, P = list(cls.rows), list(cls.cols), list(cls.columns)
        q = min(len(P), len(R), len(C))
        U, s, Vt = np.linalg.svd(A[np.ix_(R, C)], full_matrices=False)
        U, s, V = U[:, :q], s[:q], Vt[:q].T
        flip = np.sign(U[np.argmax(np.abs(U), axis=0), np.arange(q)])
        flip[flip == 0] = 1.0
        U, V = U * flip, V * flip
        root = np.sqrt(s)
        X[np.ix_(R, P[:q])] = U * root
        Y[np.ix_(C, P[:q])] = V * root
    history = _history()
    _record(history, 0, float(np.linalg.norm(A - X @ Y.T)), X, Y, t0)
    return _result(A, X, Y, history, "exact")


# ----------------------------------------------------------------------------- ALS


class _RowSolver:
    r"""Solve :math:`\min_{x_i} \|a_i - Z x_i\|_2` with :math:`\operatorname{supp}(x_i) \subseteq S_i` for all rows.

    The supports are fixed, so the distinct support patterns and their padded index lists are
    built once. Each call forms the normal equations restricted to every distinct support,
    :math:`(Z_{S}^\top Z_{S}) x = Z_{S}^\top a_i`, in one batch (padded to the largest support with
    an identity block), factors them by a batched Cholesky factorisation (one per distinct
    pattern, shared by all rows with that pattern) and solves. A system whose factorisation
    fails or whose Cholesky diagonal signals a condition number above :math:`10^{10}` — a
    rank-deficient or nearly rank-deficient :math:`Z_{S}` — is solved instead with the
    SVD-based pseudo-inverse, :math:`x_{S} = Z_{S}^+ a_i`, the minimum-norm least-squares
    solution. When :math:`Z_{S}` has full column rank both give the unique solution. (Per-matrix
    LAPACK calls dominate at these sizes; numpy's batched Cholesky is the fastest available.)
    """

    def __init__(self, mask: np.ndarray):
        rows, r = mask.shape
        _, first, inv = np.unique(mask, axis=0, return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))
        inv = rank[inv.reshape(-1)]  # patterns by first occurrence
        patterns = mask[np.sort(first)]
        self.inv = None if len(patterns) == rows else torch.from_numpy(inv)  # all distinct: row i <-> pattern i
        counts = patterns.sum(1)
        k = max(int(counts.max()), 1)
        order = np.argsort(~patterns, axis=1, kind="stable")[:, :k]  # support indices first
        pad = np.arange(k)[None, :] < counts[:, None]
        gidx = np.where(pad, order, 0)  # gather (padding -> 0, masked)
        padf = pad.astype(np.float64)
        self.flat = gidx[:, :, None] * r + gidx[:, None, :]
        self.outer = padf[:, :, None] * padf[:, None, :]
        self.eye_pad = np.zeros((len(patterns), k, k))
        self.eye_pad[:, np.arange(k), np.arange(k)] = 1.0 - padf
        self.diag_lo = np.where(pad, 0.0, np.inf)  # ignore padding in the min
        self.padf, self.nonempty, self.gidx = padf, counts > 0, gidx
        self.rowsel = np.arange(rows)[:, None]
        self.gidx_rows = gidx[inv]
        self.sidx_rows = np.where(pad, order, r)[inv]  # scatter (padding -> dummy column r)
        self.padf_rows = padf[inv]
        self.inv_np = inv
        self.rows, self.r, self.k = rows, r, k

    def solve(self, Amat: np.ndarray, Z: np.ndarray) -> np.ndarray:
        """Rows ``x_i`` (shape ``(rows, r)``) minimising ``‖Amat[i] − Z x_i‖`` on their supports."""
        G = Z.T @ Z  # (r, r)
        B = Amat @ Z  # (rows, r)
        Gb = G.take(self.flat)
        Gb *= self.outer
        Gb += self.eye_pad  # (patterns, k, k), symmetric
        b = B[self.rowsel, self.gidx_rows]
        b *= self.padf_rows
        # symmetric + C-contiguous = column-major: the upper factor needs no copy
        U, info = torch.linalg.cholesky_ex(torch.from_numpy(Gb), upper=True)
        d = torch.diagonal(U, dim1=-2, dim2=-1).numpy()
        bad = info.numpy() != 0
        with np.errstate(invalid="ignore"):
            bad |= ~((d + self.diag_lo).min(1) ** 2 >= _RCOND_CHOLESKY * (d * self.padf).max(1) ** 2)
        bad &= self.nonempty
        if bad.any():
            U = U.clone()
            U[torch.from_numpy(bad)] = torch.eye(self.k, dtype=U.dtype)
        if self.inv is not None:
            U = U[self.inv]
        sol = torch.cholesky_solve(torch.from_numpy(b[:, :, None]), U, upper=True).numpy()[:, :, 0]
        if bad.any():
            pb = np.flatnonzero(bad)
            Zs = np.transpose(Z[:, self.gidx[pb]], (1, 0, 2)) * self.padf[pb][:, None, :]  # (nb, p, k)
            pinv = torch.linalg.pinv(torch.from_numpy(np.ascontiguousarray(Zs))).numpy()  # (nb, k, p)
            where = np.full(len(Gb), -1)
            where[pb] = np.arange(len(pb))
            rb = np.flatnonzero(bad[self.inv_np])
            sol[rb] = (pinv[where[self.inv_np[rb]]] @ Amat[rb][:, :, None])[:, :, 0]
        sol *= self.padf_rows
        out = np.zeros((self.rows, self.r + 1))
        out[self.rowsel, self.sidx_rows] = sol
        return out[:, : self.r]


def fsmf_als(
    A, I, J, *, steps: int = 200, seed: int = 0, X0=None, Y0=None, tol: float = 1e-12, init_scale: float = 1.0
) -> Factorization:
    r"""FSMF by alternating least squares.

    Each step minimises exactly over :math:`X` with :math:`Y` fixed, then over :math:`Y` with
    :math:`X` fixed. With :math:`Y` fixed the problem splits over the rows of :math:`X`: row
    :math:`i` restricted to its support :math:`S_i = \{t : I_{it}\}` solves

    .. math::

        \min_{x \in \mathbb R^{|S_i|}} \|A_{i,:} - Y_{:,S_i}\, x\|_2,
        \qquad x = Y_{:,S_i}^{+} A_{i,:}^\top

    (minimum-norm solution; see :class:`_RowSolver` for the batched normal equations, with an
    SVD pseudo-inverse for rank-deficient rows — ``torch.linalg.lstsq`` is avoided because its
    last bits are not reproducible on CPU). The rows of :math:`Y` are solved the same way with
    :math:`A^\top` and :math:`X`. The error :math:`\|A - XY^\top\|_F` never increases; the
    iteration stops when its relative decrease over a step is below ``tol`` (or it reaches 0),
    or after ``steps`` steps. On tractable supports (:func:`is_tractable`) it reaches the
    optimum of :func:`fsmf_exact` from generic starts; on others different starts may stall at
    different errors.

    Parameters
    ----------
    A : torch.Tensor or numpy.ndarray
        ``(m, n)``.
    I, J : torch.Tensor or numpy.ndarray
        Boolean or 0/1 masks ``(m, r)`` and ``(n, r)``.
    steps : int
        Maximum number of (X, Y) sweeps, ``>= 1``.
    seed : int
        Seed of the random start (ignored for a factor given by ``X0``/``Y0``).
    X0, Y0 : tensor or array, optional
        Starting factors (projected onto the supports). ALS updates :math:`X` first, so ``X0``
        only enters the step-0 record of the history.
    tol : float
        Relative decrease of the error below which to stop, in ``[0, 1)``.
    init_scale : float
        Scale of the random start, ``> 0`` (entries :math:`\mathcal N(0, s^2)` with
        :math:`s = \text{init\_scale}\,(\|A\|_F/\sqrt{mnr})^{1/2}`).

    Returns
    -------
    Factorization
        ``method="als"``; the history has one record per step (step 0 = the start).
    """
    A, I, J = _check_problem(A, I, J)
    steps = check_int(steps, "steps", 1)
    seed = check_int(seed, "seed", 0)
    tol = check_float(tol, "tol", 0.0, 1.0, high_inclusive=False)
    init_scale = check_float(init_scale, "init_scale", 0.0, low_inclusive=False)
    X, Y = _init(A, I, J, X0, Y0, seed, init_scale)
    t0 = time.perf_counter()
    history = _history()
    AT = np.ascontiguousarray(A.T)
    err = float(np.linalg.norm(A - X @ Y.T))
    _record(history, 0, err, X, Y, t0)
    rows_X, rows_Y = _RowSolver(I), _RowSolver(J)
    for step in range(1, steps + 1):
        X = rows_X.solve(A, Y)
        Y = rows_Y.solve(AT, X)
        new = float(np.linalg.norm(A - X @ Y.T))
        _record(history, step, new, X, Y, t0)
        done = new == 0.0 or (err - new) <= tol * err
        err = new
        if done:
            break
    return _result(A, X, Y, history, "als")


# ----------------------------------------------------------------------------- gradient descent


def fsmf_gd(
    A,
    I,
    J,
    *,
    steps: int = 2000,
    lr=None,
    seed: int = 0,
    X0=None,
    Y0=None,
    init_scale: float = 1.0,
    record_every: int = 1,
    tol: float = 1e-12,
) -> Factorization:
    r"""FSMF by (projected) gradient descent on :math:`f(X, Y) = \tfrac12\|A - XY^\top\|_F^2`.

    With :math:`R = A - XY^\top` the gradients restricted to the supports are

    .. math::

        \nabla_X f = -(R\,Y) \odot I, \qquad \nabla_Y f = -(R^\top X) \odot J,

    and :math:`(X, Y) \leftarrow (X, Y) - \eta\,(\nabla_X f, \nabla_Y f)` keeps the factors on
    their supports. With ``lr=None`` the step :math:`\eta` comes from a backtracking (Armijo)
    line search: start from twice the previous accepted step and halve it until
    :math:`f(\text{new}) \le f - 10^{-4}\,\eta\,\|\nabla f\|^2` (so :math:`f` decreases
    monotonically). A fixed ``lr`` gives plain gradient descent. The iteration stops after
    ``steps`` steps, or when :math:`\|\nabla f\|_F \le` ``tol`` :math:`\cdot \max(\|A\|_F, 1)`,
    or when the line search cannot decrease :math:`f` any more.

    Parameters
    ----------
    A, I, J, seed, X0, Y0, init_scale
        As in :func:`fsmf_als` (here ``X0`` and ``Y0`` both matter).
    steps : int
        Number of gradient steps, ``>= 1``.
    lr : float or None
        Fixed step size ``> 0``, or ``None`` for the Armijo line search.
    record_every : int
        Record the history every ``record_every`` steps (step 0 and the last step always).
    tol : float
        Gradient-norm stopping threshold, ``>= 0`` (relative to :math:`\max(\|A\|_F, 1)`).

    Returns
    -------
    Factorization
        ``method="gd"``.
    """
    A, I, J = _check_problem(A, I, J)
    steps = check_int(steps, "steps", 1)
    if lr is not None:
        lr = check_float(lr, "lr", 0.0, low_inclusive=False)
    seed = check_int(seed, "seed", 0)
    init_scale = check_float(init_scale, "init_scale", 0.0, low_inclusive=False)
    record_every = check_int(record_every, "record_every", 1)
    tol = check_float(tol, "tol", 0.0)
    X, Y = _init(A, I, J, X0, Y0, seed, init_scale)
    If, Jf = I.astype(np.float64), J.astype(np.float64)
    t0 = time.perf_counter()
    history = _history()
    R = A - X @ Y.T
    f = 0.5 * float(np.sum(R * R))
    _record(history, 0, math.sqrt(2 * f), X, Y, t0)
    gtol = tol * max(float(np.linalg.norm(A)), 1.0)
    eta = None
    step = 0
    for step in range(1, steps + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            gX = -(R @ Y) * If
            gY = -(R.T @ X) * Jf
            g2 = float(np.sum(gX * gX) + np.sum(gY * gY))
        if not math.isfinite(g2):
            raise FloatingPointError(
                f"fsmf_gd diverged at step {step} (gradient overflow) with lr={lr}; "
                "use a smaller lr or lr=None (line search)"
            )
        if math.sqrt(g2) <= gtol:
            step -= 1
            break
        if lr is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                X, Y = X - lr * gX, Y - lr * gY
                R = A - X @ Y.T
                f = 0.5 * float(np.sum(R * R))
            if not math.isfinite(f):
                raise FloatingPointError(
                    f"fsmf_gd diverged at step {step} with lr={lr}; use a smaller lr or lr=None (line search)"
                )
        else:
            if eta is None:
                eta = 1.0 / max(float(np.sum(X * X) + np.sum(Y * Y)), 1e-12)
            else:
                eta *= 2.0
            accepted = False
            for _ in range(80):
                Xn, Yn = X - eta * gX, Y - eta * gY
                Rn = A - Xn @ Yn.T
                fn = 0.5 * float(np.sum(Rn * Rn))
                if fn <= f - 1e-4 * eta * g2:
                    accepted = True
                    break
                eta *= 0.5
            if not accepted:
                step -= 1
                break
            X, Y, R, f = Xn, Yn, Rn, fn
        if step % record_every == 0 or step == steps:
            _record(history, step, math.sqrt(2 * f), X, Y, t0)
    if history["step"][-1] != step:
        _record(history, step, math.sqrt(2 * f), X, Y, t0)
    return _result(A, X, Y, history, "gd")
