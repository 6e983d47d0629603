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
from typing import Sequence

import numpy as np
import torch

from ._validation import check_bool, check_float, check_int, check_matrix

__all__ = [
    "Factorization", "SupportClass", "ReLUFit",
    "rank_one_supports", "equivalence_classes", "is_tractable",
    "fsmf_exact", "fsmf_als", "fsmf_gd",
    "lu_counterexample", "lu_path", "fit_sparse_relu",
    "random_supports", "tractable_supports",
]

_HISTORY_KEYS = ("step", "error", "norm", "seconds")
_RCOND_CHOLESKY = 1e-10   # rows whose restricted Gram looks worse conditioned than this use the SVD pinv


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


@dataclass(frozen=True)
class SupportClass:
    """Columns ``columns`` of ``X``/``Y`` that share the rank-one support ``rows × cols``."""

    columns: tuple
    rows: tuple
    cols: tuple


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
            raise ValueError(f"inputs must have {self.W.shape[1]} columns (the input dimension d), "
                             f"got shape {tuple(x.shape)}")
        return torch.relu(x @ self.W.T) @ self.v


# ----------------------------------------------------------------------------- validation

def _check_mask(M, name: str, shape: tuple | None = None, what: str = "") -> np.ndarray:
    """A boolean or 0/1 2-D tensor/array as a numpy bool array; ``shape`` the expected shape."""
    if torch.is_tensor(M):
        arr = M.detach().cpu().numpy()
    elif isinstance(M, np.ndarray):
        arr = M
    else:
        raise TypeError(f"{name} must be a boolean (or 0/1) torch.Tensor or numpy.ndarray, "
                        f"got {type(M).__name__}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D mask{what}, got shape {tuple(arr.shape)}")
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}{what}, got {tuple(arr.shape)}")
    if arr.dtype == np.bool_:
        return arr.copy()
    if np.iscomplexobj(arr) or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be a boolean or 0/1 mask, got dtype {arr.dtype}")
    ok = (arr == 0) | (arr == 1)
    if not bool(ok.all()):
        bad = arr[~ok].ravel()[0]
        raise ValueError(f"{name} must be a boolean or 0/1 mask, got the value {bad!r}")
    return arr == 1


def _check_masks(I, J, m: int | None = None, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate the pair ``(I, J)``: ``I`` is ``(m, r)``, ``J`` is ``(n, r)`` with the same ``r``."""
    I = _check_mask(I, "I")
    if m is not None and I.shape[0] != m:
        raise ValueError(f"I must have shape (m, r) = ({m}, r) with m = A.shape[0] = {m}, "
                         f"got {tuple(I.shape)}")
    r = I.shape[1]
    if r < 1:
        raise ValueError(f"I must have at least one column (r >= 1), got shape {tuple(I.shape)}")
    if n is None:
        J = _check_mask(J, "J")
        if J.shape[1] != r:
            raise ValueError(f"J must have shape (n, r) with r = I.shape[1] = {r}, got {tuple(J.shape)}")
    else:
        J = _check_mask(J, "J", (n, r), " = (n, r) with n = A.shape[1], r = I.shape[1]")
    return I, J


def _check_problem(A, I, J) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    A = check_matrix(A, "A").to(torch.float64)
    m, n = A.shape
    I, J = _check_masks(I, J, m, n)
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


# ----------------------------------------------------------------------------- supports

def rank_one_supports(I, J) -> list[tuple[tuple, tuple]]:
    r"""The rank-one supports :math:`S_t = R_t \times C_t` of the columns :math:`t = 0, \dots, r-1`.

    Parameters
    ----------
    I, J : torch.Tensor or numpy.ndarray
        Boolean (or 0/1) masks of shapes ``(m, r)`` and ``(n, r)``.

    Returns
    -------
    list of (rows, cols)
        One pair of sorted index tuples per column: :math:`R_t = \{i : I_{it}\}`,
        :math:`C_t = \{j : J_{jt}\}` (either may be empty).
    """
    I, J = _check_masks(I, J)
    return [(tuple(int(i) for i in np.flatnonzero(I[:, t])), tuple(int(j) for j in np.flatnonzero(J[:, t])))
            for t in range(I.shape[1])]


def _classes(I: np.ndarray, J: np.ndarray) -> list[SupportClass]:
    groups: dict = {}
    for t in range(I.shape[1]):
        rows = tuple(int(i) for i in np.flatnonzero(I[:, t]))
        cols = tuple(int(j) for j in np.flatnonzero(J[:, t]))
        if rows and cols:
            groups.setdefault((rows, cols), []).append(t)
    return [SupportClass(columns=tuple(ts), rows=key[0], cols=key[1]) for key, ts in groups.items()]


def equivalence_classes(I, J) -> list[SupportClass]:
    r"""Group the columns whose rank-one supports :math:`R_t \times C_t` are identical.

    Columns with an empty rank-one support (no row or no column) contribute nothing to
    :math:`XY^\top` and are skipped. Classes come in the order of their first column.

    Returns
    -------
    list of SupportClass
        ``SupportClass(columns, rows, cols)``: the column indices :math:`P` of the class and
        its support :math:`R_P \times C_P`.
    """
    I, J = _check_masks(I, J)
    return _classes(I, J)


def _offending_pair(I: np.ndarray, J: np.ndarray):
    """First pair ``(t, t')`` whose rank-one supports overlap without being identical, or None."""
    Ii, Jj = I.astype(np.int64), J.astype(np.int64)
    overlap = ((Ii.T @ Ii) > 0) & ((Jj.T @ Jj) > 0)
    same = (Ii.T @ Ii == Ii.sum(0)[:, None]) & (Ii.T @ Ii == Ii.sum(0)[None, :]) \
        & (Jj.T @ Jj == Jj.sum(0)[:, None]) & (Jj.T @ Jj == Jj.sum(0)[None, :])
    bad = np.triu(overlap & ~same, k=1)
    if not bad.any():
        return None
    t, u = (int(v) for v in np.argwhere(bad)[0])
    return t, u


def _pair_reason(I: np.ndarray, J: np.ndarray, t: int, u: int) -> str:
    rows = [int(i) for i in np.flatnonzero(I[:, t] & I[:, u])]
    cols = [int(j) for j in np.flatnonzero(J[:, t] & J[:, u])]
    return (f"the rank-one supports of columns {t} and {u} overlap (on rows {rows} x cols {cols}) "
            f"without being identical")


def is_tractable(I, J, *, explain: bool = False):
    r"""Whether every two rank-one supports are disjoint or identical (Le et al. 2021).

    :math:`S_t \cap S_{t'} = (R_t \cap R_{t'}) \times (C_t \cap C_{t'})`, so the pair is
    disjoint when the rows or the columns do not meet, and identical when
    :math:`R_t = R_{t'}` and :math:`C_t = C_{t'}`. For such supports :func:`fsmf_exact` solves
    FSMF by one SVD per class and the landscape has no spurious local minima.

    Parameters
    ----------
    I, J : torch.Tensor or numpy.ndarray
        Masks ``(m, r)`` and ``(n, r)``.
    explain : bool
        Also return a sentence saying why.

    Returns
    -------
    bool, or (bool, str) when ``explain``
    """
    I, J = _check_masks(I, J)
    explain = check_bool(explain, "explain")
    pair = _offending_pair(I, J)
    if not explain:
        return pair is None
    if pair is not None:
        return False, _pair_reason(I, J, *pair)
    c = len(_classes(I, J))
    return True, (f"the {int(((I.sum(0) > 0) & (J.sum(0) > 0)).sum())} non-empty rank-one supports are "
                  f"pairwise disjoint or identical ({c} equivalence class{'es' if c != 1 else ''})")


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
    return Factorization(X=torch.from_numpy(np.ascontiguousarray(X)), Y=torch.from_numpy(np.ascontiguousarray(Y)),
                         error=err, relative_error=err / nrm if nrm > 0 else err, history=history, method=method)


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
    pair = _offending_pair(I, J)
    if pair is not None:
        raise ValueError(f"I and J are not in the tractable (disjoint/identical) family: "
                         f"{_pair_reason(I, J, *pair)}; use fsmf_als or fsmf_gd (offending pair (t, t') = {pair})")
    t0 = time.perf_counter()
    m, n = A.shape
    r = I.shape[1]
    X = np.zeros((m, r))
    Y = np.zeros((n, r))
    for cls in _classes(I, J):
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
        inv = rank[inv.reshape(-1)]                                        # patterns by first occurrence
        patterns = mask[np.sort(first)]
        self.inv = None if len(patterns) == rows else torch.from_numpy(inv)  # all distinct: row i <-> pattern i
        counts = patterns.sum(1)
        k = max(int(counts.max()), 1)
        order = np.argsort(~patterns, axis=1, kind="stable")[:, :k]       # support indices first
        pad = np.arange(k)[None, :] < counts[:, None]
        gidx = np.where(pad, order, 0)                                     # gather (padding -> 0, masked)
        padf = pad.astype(np.float64)
        self.flat = gidx[:, :, None] * r + gidx[:, None, :]
        self.outer = padf[:, :, None] * padf[:, None, :]
        self.eye_pad = np.zeros((len(patterns), k, k))
        self.eye_pad[:, np.arange(k), np.arange(k)] = 1.0 - padf
        self.diag_lo = np.where(pad, 0.0, np.inf)                          # ignore padding in the min
        self.padf, self.nonempty, self.gidx = padf, counts > 0, gidx
        self.rowsel = np.arange(rows)[:, None]
        self.gidx_rows = gidx[inv]
        self.sidx_rows = np.where(pad, order, r)[inv]                      # scatter (padding -> dummy column r)
        self.padf_rows = padf[inv]
        self.inv_np = inv
        self.rows, self.r, self.k = rows, r, k

    def solve(self, Amat: np.ndarray, Z: np.ndarray) -> np.ndarray:
        """Rows ``x_i`` (shape ``(rows, r)``) minimising ``‖Amat[i] − Z x_i‖`` on their supports."""
        G = Z.T @ Z                                                        # (r, r)
        B = Amat @ Z                                                       # (rows, r)
        Gb = G.take(self.flat)
        Gb *= self.outer
        Gb += self.eye_pad                                                 # (patterns, k, k), symmetric
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
            Zs = np.transpose(Z[:, self.gidx[pb]], (1, 0, 2)) * self.padf[pb][:, None, :]   # (nb, p, k)
            pinv = torch.linalg.pinv(torch.from_numpy(np.ascontiguousarray(Zs))).numpy()     # (nb, k, p)
            where = np.full(len(Gb), -1)
            where[pb] = np.arange(len(pb))
            rb = np.flatnonzero(bad[self.inv_np])
            sol[rb] = (pinv[where[self.inv_np[rb]]] @ Amat[rb][:, :, None])[:, :, 0]
        sol *= self.padf_rows
        out = np.zeros((self.rows, self.r + 1))
        out[self.rowsel, self.sidx_rows] = sol
        return out[:, :self.r]


def fsmf_als(A, I, J, *, steps: int = 200, seed: int = 0, X0=None, Y0=None, tol: float = 1e-12,
             init_scale: float = 1.0) -> Factorization:
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

def fsmf_gd(A, I, J, *, steps: int = 2000, lr=None, seed: int = 0, X0=None, Y0=None, init_scale: float = 1.0,
            record_every: int = 1, tol: float = 1e-12) -> Factorization:
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
            raise FloatingPointError(f"fsmf_gd diverged at step {step} (gradient overflow) with lr={lr}; "
                                     "use a smaller lr or lr=None (line search)")
        if math.sqrt(g2) <= gtol:
            step -= 1
            break
        if lr is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                X, Y = X - lr * gX, Y - lr * gY
                R = A - X @ Y.T
                f = 0.5 * float(np.sum(R * R))
            if not math.isfinite(f):
                raise FloatingPointError(f"fsmf_gd diverged at step {step} with lr={lr}; use a smaller lr "
                                         "or lr=None (line search)")
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

def fit_sparse_relu(inputs, targets, mask, *, steps: int = 2000, lr: float = 1e-2, seed: int = 0,
                    record_every: int = 10) -> ReLUFit:
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
    norm :math:`\sqrt{\|W\|_F^2 + \|v\|_2^2}`.

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
        raise ValueError(f"targets must have shape ({N},) or ({N}, 1) (one scalar per input row), "
                         f"got {tuple(y.shape)}")
    if y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"targets must hold real numbers, got dtype {y.dtype}")
    y = y.reshape(N).to(torch.float64).detach().cpu()
    if not bool(torch.isfinite(y).all()):
        raise ValueError("targets contains NaN or infinite values")
    M = _check_mask(mask, "mask")
    if M.shape[1] != d or M.shape[0] < 1:
        raise ValueError(f"mask must have shape (hidden, d) with d = inputs.shape[1] = {d} and hidden >= 1, "
                         f"got {tuple(M.shape)}")
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
    history = {"step": [], "loss": [], "norm": [], "seconds": []}
    t0 = time.perf_counter()

    def record(step, loss):
        history["step"].append(int(step))
        history["loss"].append(float(loss))
        history["norm"].append(float(torch.sqrt((W * W).sum() + (v * v).sum())))
        history["seconds"].append(time.perf_counter() - t0)

    H = X @ W.T
    Z = torch.relu(H)
    e = Z @ v - y
    loss = 0.5 * float(e @ e) / N
    record(0, loss)
    for step in range(1, steps + 1):
        gv = Z.T @ e / N
        gH = (e[:, None] * v[None, :]) * (H > 0)
        gW = (gH.T @ X) / N * Mt
        W = W - lr * gW
        v = v - lr * gv
        H = X @ W.T
        Z = torch.relu(H)
        e = Z @ v - y
        loss = 0.5 * float(e @ e) / N
        if not math.isfinite(loss):
            raise FloatingPointError(f"fit_sparse_relu diverged at step {step} with lr={lr}; use a smaller lr")
        if step % record_every == 0 or step == steps:
            record(step, loss)
    return ReLUFit(W=W, v=v, loss=loss, history=history)


# ----------------------------------------------------------------------------- random supports

def random_supports(m: int, n: int, r: int, density, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Random masks ``I`` ``(m, r)`` and ``J`` ``(n, r)``: each entry on with probability ``density``.

    A column of ``I`` (or ``J``) that comes out empty gets one entry switched on at a
    uniformly random row, so every rank-one support is non-empty. Such supports are usually
    *not* tractable (:func:`is_tractable`) once :math:`r \ge 2` and the density is moderate.

    Returns
    -------
    (I, J)
        Boolean tensors.
    """
    m = check_int(m, "m", 1)
    n = check_int(n, "n", 1)
    r = check_int(r, "r", 1)
    density = check_float(density, "density", 0.0, 1.0, low_inclusive=False)
    seed = check_int(seed, "seed", 0)
    g = torch.Generator().manual_seed(seed)
    out = []
    for rows in (m, n):
        M = torch.rand(rows, r, generator=g, dtype=torch.float64) < density
        fill = torch.randint(rows, (r,), generator=g)
        empty = ~M.any(0)
        M[fill[empty], torch.nonzero(empty).flatten()] = True
        out.append(M)
    return out[0], out[1]


def tractable_supports(m: int, n: int, classes, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    r"""A random support pair in the disjoint/identical family, tiling the whole :math:`m \times n` grid.

    The grid is cut by a random guillotine partition into ``len(classes)`` rectangles (repeatedly
    split the largest rectangle across its longer side at a random position in its middle
    half), rows and columns are then randomly permuted, and class :math:`P` gets
    rectangle :math:`R_P \times C_P` with ``classes[P]`` columns of ``X``/``Y`` sharing it. The
    :math:`r = \sum_P` ``classes[P]`` columns are randomly shuffled. The rectangles are disjoint,
    so :func:`is_tractable` holds and :func:`fsmf_exact` is optimal.

    Parameters
    ----------
    m, n : int
        Shape of :math:`A`.
    classes : int or sequence of int
        Number of classes (each with one column) or the number of columns in each class
        (each ``>= 1``); at most :math:`m n` classes.
    seed : int
        Seed of the local generator.

    Returns
    -------
    (I, J)
        Boolean tensors ``(m, r)`` and ``(n, r)``.
    """
    m = check_int(m, "m", 1)
    n = check_int(n, "n", 1)
    if isinstance(classes, (bool, str, bytes)):
        raise TypeError(f"classes must be an int or a sequence of ints, got {classes!r}")
    if isinstance(classes, Sequence) or isinstance(classes, (np.ndarray, torch.Tensor)):
        sizes = [check_int(int(c) if isinstance(c, (np.integer, torch.Tensor)) else c, f"classes[{i}]", 1)
                 for i, c in enumerate(list(classes))]
        if not sizes:
            raise ValueError("classes must hold at least one class size, got []")
        if len(sizes) > m * n:
            raise ValueError(f"classes must have at most m*n = {m * n} entries, got {len(sizes)}")
    else:
        c = check_int(classes, "classes", 1, m * n)
        sizes = [1] * c
    seed = check_int(seed, "seed", 0)
    g = torch.Generator().manual_seed(seed)
    rects = [(0, m, 0, n)]                       # [r0, r1) x [c0, c1)
    while len(rects) < len(sizes):
        area = [(r1 - r0) * (c1 - c0) if (r1 - r0 > 1 or c1 - c0 > 1) else -1 for r0, r1, c0, c1 in rects]
        k = int(np.argmax(area))
        r0, r1, c0, c1 = rects.pop(k)
        hr, hc = r1 - r0, c1 - c0
        if hr == hc:
            axis = int(torch.randint(2, (1,), generator=g))
        else:
            axis = 0 if hr > hc else 1
        lo, hi = (r0, r1) if axis == 0 else (c0, c1)
        q = (hi - lo) // 4                          # cut in the middle half: balanced blocks
        a, b = lo + max(q, 1), hi - max(q, 1)
        cut = a + int(torch.randint(b - a + 1, (1,), generator=g))
        if axis == 0:
            rects += [(r0, cut, c0, c1), (cut, r1, c0, c1)]
        else:
            rects += [(r0, r1, c0, cut), (r0, r1, cut, c1)]
    prow = torch.randperm(m, generator=g)
    pcol = torch.randperm(n, generator=g)
    r = sum(sizes)
    colperm = torch.randperm(r, generator=g)
    I = torch.zeros(m, r, dtype=torch.bool)
    J = torch.zeros(n, r, dtype=torch.bool)
    start = 0
    for (r0, r1, c0, c1), k in zip(rects, sizes):
        cols = colperm[start:start + k]
        start += k
        for t in cols.tolist():
            I[prow[r0:r1], t] = True
            J[pcol[c0:c1], t] = True
    return I, J
