r"""Diagnostics of a measurement (design) matrix for sparse recovery, and the ℓ1 phase transition.

All functions take :math:`A \in \mathbb R^{m \times N}` (torch tensor or numpy array;
columns :math:`a_j` are the features/atoms, rows the measurements) and work on its
device.

**Mutual coherence** (:func:`mutual_coherence`)

.. math::

    \mu(A) = \max_{i \ne j} \frac{|\langle a_i, a_j\rangle|}{\lVert a_i\rVert\,\lVert a_j\rVert}
    \in [0, 1].

If :math:`k < \tfrac12(1 + 1/\mu)`, every :math:`k`-sparse :math:`x` is the unique
sparsest solution of :math:`Ax = y` and basis pursuit and OMP find it (Donoho & Elad
2003; Tropp 2004).

**Irrepresentable condition** (:func:`irrepresentable`). For a support :math:`S` with
:math:`A_S` of full column rank and signs :math:`\sigma = \operatorname{sign}(x_S)`,

.. math::

    \operatorname{IC}(S, \sigma) = \bigl\lVert A_{S^c}^\top A_S (A_S^\top A_S)^{-1}
    \sigma \bigr\rVert_\infty .

The lasso can recover the signed support (for a suitable :math:`\lambda`) only if
:math:`\operatorname{IC} \le 1`, and does so with high probability when
:math:`\operatorname{IC} \le 1 - \eta` (Zhao & Yu 2006, who call the latter the strong
irrepresentable condition). Without signs the worst case over all sign patterns is

.. math::

    \max_{\sigma \in \{\pm 1\}^{|S|}} \operatorname{IC}(S, \sigma)
    = \bigl\lVert A_{S^c}^\top A_S (A_S^\top A_S)^{-1} \bigr\rVert_{\infty \to \infty}
    = \max_{j \notin S} \bigl\lVert (A_S^\top A_S)^{-1} A_S^\top a_j \bigr\rVert_1 ,

Wainwright's (2009) incoherence condition, which must be :math:`< 1` for every sign
pattern on :math:`S` to be recoverable.

**Restricted isometry** (:func:`rip_lower_estimate`). :math:`\delta_s` is the smallest
:math:`\delta` with :math:`(1-\delta)\lVert x\rVert^2 \le \lVert Ax\rVert^2 \le
(1+\delta)\lVert x\rVert^2` for all :math:`s`-sparse :math:`x`, i.e.

.. math::

    \delta_s = \max_{|S| = s} \max\bigl(\lambda_{\max}(A_S^\top A_S) - 1,\
    1 - \lambda_{\min}(A_S^\top A_S)\bigr).

Computing it is NP-hard; the maximum over any collection of supports is a *lower
bound*. We evaluate ``trials`` uniformly random supports (all of them, exactly,
when there are at most ``trials``).

**A-optimal design** (:func:`a_optimal_rows`). Choosing :math:`k` of the rows
(measurements, or neurons whose outputs are kept) to estimate :math:`x` by least
squares from :math:`y_S = A_S x + e`, the estimator's mean squared error is
:math:`\sigma^2 \operatorname{tr}\bigl((A_S^\top A_S)^{-1}\bigr)`. The greedy
A-optimal rule adds, one at a time, the row that decreases

.. math::

    f(S) = \operatorname{tr}\bigl((A_S^\top A_S + \varepsilon I)^{-1}\bigr)

the most. The ridge :math:`\varepsilon > 0` makes :math:`f` finite while fewer than
:math:`N` independent rows are chosen (it is the prior precision of a Bayesian
estimator); while :math:`A_S` is rank-deficient the :math:`(N - \operatorname{rank})/
\varepsilon` part of the trace dominates, so the rule first completes the rank and
only then, with :math:`\varepsilon \to 0`, minimises the least-squares trace. With
:math:`M = (A_S^\top A_S + \varepsilon I)^{-1}`, adding row :math:`a` gives by
Sherman–Morrison

.. math::

    M' = M - \frac{M a a^\top M}{1 + a^\top M a}, \qquad
    f(S \cup \{a\}) = f(S) - \frac{\lVert M a\rVert^2}{1 + a^\top M a},

so keeping :math:`G = A M` (one rank-one update per pick) scores every candidate in
:math:`O(nN)`. Magnitude pruning instead keeps the :math:`k` rows of largest norm
(:func:`largest_norm_rows`); :func:`selection_overlap` measures how much the two
choices agree.

**ℓ1 phase transition** (:func:`donoho_tanner_l1`). For Gaussian :math:`A`,
:math:`N \to \infty` with :math:`\delta = m/N` and :math:`\rho = k/m` fixed, basis
pursuit recovers a :math:`k`-sparse signed signal with probability :math:`\to 1` below
the curve :math:`\rho_\text{W}(\delta)` and :math:`\to 0` above it (Donoho & Tanner
2009, weak threshold of the cross-polytope). The curve coincides with the minimax MSE of
soft thresholding, :math:`\delta = M^\pm(\rho\delta)` (Donoho, Maleki & Montanari
2009), and with the statistical dimension of the ℓ1 descent cone (Amelunxen, Lotz,
McCoy & Tropp 2014). With :math:`\phi, \Phi` the standard normal density and
distribution function and the minimax threshold :math:`\tau > 0` as parameter:

.. math::

    \delta(\tau) = \frac{2\phi(\tau)}{\tau + 2\bigl(\phi(\tau) - \tau\Phi(-\tau)\bigr)},
    \qquad
    \rho(\tau) = 1 - \frac{\tau\,\Phi(-\tau)}{\phi(\tau)} .

(Setting :math:`\varepsilon = \rho\delta`, these are the stationarity conditions of
:math:`\rho(\delta) = \max_{\tau} \frac{1 - (2/\delta)\psi(\tau)}{1 + \tau^2 -
2\psi(\tau)}` with :math:`\psi(\tau) = (1 + \tau^2)\Phi(-\tau) - \tau\phi(\tau)`.)
:math:`\delta(\tau)` falls from 1 at :math:`\tau = 0` to 0 as :math:`\tau \to \infty`, so
each :math:`\delta` is matched by bisection. Reference values:
:math:`\rho(0.1) = 0.1894`, :math:`\rho(0.25) = 0.2674`, :math:`\rho(0.5) = 0.3857`,
:math:`\rho(0.75) = 0.5337`.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import NamedTuple

import numpy as np
import torch
from scipy import special

from sparselab._validation import check_float, check_int
from sparselab._validation import check_matrix as _as_matrix

__all__ = [
    "mutual_coherence",
    "irrepresentable",
    "RIPEstimate",
    "rip_lower_estimate",
    "restricted_eigenvalues",
    "AOptimalSelection",
    "a_optimal_rows",
    "largest_norm_rows",
    "selection_overlap",
    "donoho_tanner_l1",
]


# ----------------------------------------------------------------------------- inputs


def _as_support(support, N: int, name: str = "support") -> torch.Tensor:
    """Sorted, unique LongTensor of indices in [0, N) from indices or a boolean mask of length N."""
    if isinstance(support, np.ndarray):
        support = torch.from_numpy(np.ascontiguousarray(support))
    elif isinstance(support, (list, tuple, range)):
        support = torch.as_tensor(list(support), dtype=torch.long)
    if not torch.is_tensor(support):
        raise TypeError(
            f"{name} must be a tensor, array or list of column indices (or a boolean mask), "
            f"got {type(support).__name__}"
        )
    support = support.detach().cpu()
    if support.dtype == torch.bool:
        if support.shape != (N,):
            raise ValueError(f"{name} as a boolean mask must have shape ({N},), got {tuple(support.shape)}")
        return support.nonzero().flatten()
    if support.is_floating_point() or support.is_complex():
        raise TypeError(f"{name} must hold integer indices or booleans, got dtype {support.dtype}")
    support = support.flatten().long()
    if support.numel() and (int(support.min()) < 0 or int(support.max()) >= N):
        raise ValueError(
            f"{name} indices must be in [0, {N - 1}], got values in [{int(support.min())}, {int(support.max())}]"
        )
    if support.unique().numel() != support.numel():
        raise ValueError(f"{name} must not repeat an index")
    return support.sort().values


# ----------------------------------------------------------------------------- coherence and IC


def mutual_coherence(A) -> float:
    r"""Largest absolute cosine between two distinct columns of ``A`` (in [0, 1]; needs ``N >= 2`` non-zero columns)."""
    A = _as_matrix(A, "A")
    if A.shape[1] < 2:
        raise ValueError(f"A needs at least 2 columns for a mutual coherence, got shape {tuple(A.shape)}")
    norms = torch.linalg.vector_norm(A, dim=0)
    if bool((norms == 0).any()):
        raise ValueError(f"A has {int((norms == 0).sum())} zero column(s); their coherence is undefined")
    U = A / norms
    G = (U.T @ U).abs()
    G.fill_diagonal_(0)
    return min(float(G.max()), 1.0)


def irrepresentable(A, support, signs=None) -> float:
    r"""Irrepresentable value :math:`\lVert A_{S^c}^\top A_S (A_S^\top A_S)^{-1}\sigma\rVert_\infty`.

    Parameters
    ----------
    A : torch.Tensor or numpy.ndarray
        ``(m, N)`` design.
    support : indices or boolean mask
        The support :math:`S` (non-empty; :math:`A_S` must have full column rank).
    signs : sequence of ±1, optional
        :math:`\sigma = \operatorname{sign}(x_S)` in the order of the sorted support
        (length :math:`|S|`). ``None`` gives the worst case over all sign patterns,
        :math:`\lVert A_{S^c}^\top A_S (A_S^\top A_S)^{-1}\rVert_{\infty\to\infty}`.

    Returns
    -------
    float
        ``< 1`` is needed for the lasso to recover the signed support (every sign pattern
        when ``signs`` is None). 0 when :math:`S` is every column.
    """
    A = _as_matrix(A, "A")
    m, N = A.shape
    S = _as_support(support, N)
    if S.numel() == 0:
        raise ValueError("support must hold at least one index")
    if S.numel() > m:
        raise ValueError(f"support size must be at most m = {m} (A_S must have full column rank), got {S.numel()}")
    if signs is not None:
        if isinstance(signs, np.ndarray):
            signs = torch.from_numpy(np.ascontiguousarray(signs))
        signs = torch.as_tensor(signs).flatten()
        if signs.numel() != S.numel():
            raise ValueError(f"signs must have one entry per support index ({S.numel()}), got {signs.numel()}")
        if not bool(((signs == 1) | (signs == -1)).all()):
            raise ValueError("signs must hold only +1 and -1")
    mask = torch.ones(N, dtype=torch.bool)
    mask[S] = False
    rest = mask.nonzero().flatten()
    if rest.numel() == 0:
        return 0.0
    dev = A.device
    AS, AR = A[:, S.to(dev)], A[:, rest.to(dev)]
    gram = AS.T @ AS
    eig = torch.linalg.eigvalsh(gram)
    if float(eig[0]) <= 1e-12 * max(float(eig[-1]), 1e-300):
        raise ValueError(
            "the columns of A on the support are linearly dependent (A_S^T A_S is singular); "
            "the irrepresentable condition is undefined"
        )
    C = torch.linalg.solve(gram, AS.T @ AR)  # (|S|, |S^c|): column j = (A_S^T A_S)^{-1} A_S^T a_j
    if signs is None:
        return float(C.abs().sum(dim=0).max())
    return float((signs.to(device=dev, dtype=A.dtype) @ C).abs().max())


# ----------------------------------------------------------------------------- RIP


class RIPEstimate(NamedTuple):
    """Result of :func:`rip_lower_estimate`: the bound, the support attaining it and its extreme eigenvalues."""

    delta: float
    support: torch.Tensor
    eigenvalue_min: float
    eigenvalue_max: float


def restricted_eigenvalues(A, supports) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Extreme eigenvalues of :math:`A_S^\top A_S` for a batch of supports ``(B, s)``: ``(lambda_min, lambda_max)``."""
    A = _as_matrix(A, "A")
    supports = torch.as_tensor(supports, dtype=torch.long, device=A.device)
    if supports.ndim != 2:
        raise ValueError(f"supports must have shape (B, s), got {tuple(supports.shape)}")
    cols = A[:, supports]  # (m, B, s)
    gram = torch.einsum("mbi,mbj->bij", cols, cols)
    eig = torch.linalg.eigvalsh(gram)
    return eig[:, 0], eig[:, -1]


def rip_lower_estimate(A, s: int, *, trials: int = 1000, seed: int = 0, chunk: int = 256) -> RIPEstimate:
    r"""Sampled lower bound on the restricted isometry constant :math:`\delta_s` of ``A``.

    Parameters
    ----------
    A : torch.Tensor or numpy.ndarray
        ``(m, N)`` matrix, *not* normalised here (the RIP compares :math:`\lVert Ax\rVert^2`
        with :math:`\lVert x\rVert^2`).
    s : int
        Sparsity level, :math:`1 \le s \le N`.
    trials : int
        Number of random supports of size :math:`s` (uniform, independent). When
        :math:`\binom{N}{s} \le` ``trials`` every support is evaluated and the result is
        :math:`\delta_s` exactly.
    seed : int
        Seed of the support sampler.
    chunk : int
        Supports per batched eigenvalue computation (memory :math:`O(\text{chunk}\cdot m s)`).

    Returns
    -------
    RIPEstimate
        ``delta`` = :math:`\max_S \max(\lambda_{\max} - 1, 1 - \lambda_{\min})` over the
        supports tried, the worst ``support`` (sorted indices) and its eigenvalues.
    """
    A = _as_matrix(A, "A")
    N = A.shape[1]
    s = check_int(s, "s", 1, N)
    trials = check_int(trials, "trials", 1)
    seed = check_int(seed, "seed", 0)
    chunk = check_int(chunk, "chunk", 1)
    if math.comb(N, s) <= trials:
        supports = torch.tensor(list(combinations(range(N), s)), dtype=torch.long).reshape(-1, s)
    else:
        g = torch.Generator().manual_seed(seed)
        supports = torch.rand(trials, N, generator=g).argsort(dim=1)[:, :s].sort(dim=1).values
    best = (-math.inf, None, None, None)
    for start in range(0, len(supports), chunk):
        batch = supports[start : start + chunk]
        lo, hi = restricted_eigenvalues(A, batch)
        dev = torch.maximum(hi - 1, 1 - lo)
        i = int(dev.argmax())
        if float(dev[i]) > best[0]:
            best = (float(dev[i]), batch[i].clone(), float(lo[i]), float(hi[i]))
    return RIPEstimate(
        delta=max(best[0], 0.0), support=best[1].to(A.device), eigenvalue_min=best[2], eigenvalue_max=best[3]
    )


# ----------------------------------------------------------------------------- row selection


class AOptimalSelection(NamedTuple):
    """Result of :func:`a_optimal_rows`: row indices in pick order and the objective after each pick."""

    indices: torch.Tensor
    traces: torch.Tensor


def a_optimal_rows(A, k: int, *, eps: float = 1e-6) -> AOptimalSelection:
    r"""Greedy A-optimal choice of ``k`` rows of ``A``, minimising :math:`\operatorname{tr}((A_S^\top A_S + \varepsilon I)^{-1})`.

    Parameters
    ----------
    A : torch.Tensor or numpy.ndarray
        ``(n, N)`` candidate rows (measurements, or neurons with their outgoing features).
    k : int
        Rows to pick, :math:`1 \le k \le n` (without repetition).
    eps : float
        Ridge :math:`\varepsilon > 0` (see the module docstring). It should be small
        compared with the squared row norms; then once :math:`A_S` has full column rank
        the objective is the least-squares trace up to :math:`O(\varepsilon)`.

    Returns
    -------
    AOptimalSelection
        ``indices`` (LongTensor, pick order; ties go to the lowest index) and ``traces``
        (float64, :math:`f(S_t)` after pick :math:`t`), computed by rank-one
        Sherman–Morrison updates in :math:`O(nN)` per pick after an :math:`O(nN)` start.
    """
    A = _as_matrix(A, "A")
    n, N = A.shape
    k = check_int(k, "k", 1, n)
    eps = check_float(eps, "eps", 0.0, low_inclusive=False)
    A = A.to(torch.float64)
    G = A / eps  # G = A M with M = I / eps; row i is (M a_i)^T
    quad = (A * A).sum(dim=1) / eps  # a_i^T M a_i, kept up to date by the same rank-one update
    trace = N / eps
    available = torch.ones(n, dtype=torch.bool, device=A.device)
    picks, traces = [], []
    for _ in range(k):
        gain = torch.linalg.vector_norm(G, dim=1) ** 2 / (1 + quad)  # ||M a_i||^2 / (1 + a_i^T M a_i)
        gain = torch.where(available, gain, torch.full_like(gain, -math.inf))
        p = int(gain.argmax())
        c = 1 + float(quad[p])
        v = G[p].clone()  # M a_p
        u = A @ v  # a_i^T M a_p for every row i
        G.addr_(u, v, alpha=-1 / c)  # G <- A (M - v v^T / c)
        quad -= u * u / c
        trace -= float(gain[p])
        available[p] = False
        picks.append(p)
        traces.append(trace)
    return AOptimalSelection(
        torch.tensor(picks, dtype=torch.long, device=A.device), torch.tensor(traces, dtype=torch.float64)
    )


def largest_norm_rows(A, k: int) -> torch.Tensor:
    r"""The ``k`` rows of largest Euclidean norm (magnitude pruning's choice), by decreasing norm, ties to the lower index."""
    A = _as_matrix(A, "A")
    k = check_int(k, "k", 1, A.shape[0])
    norms = torch.linalg.vector_norm(A, dim=1)
    return torch.argsort(-norms, stable=True)[:k]


def selection_overlap(a, b) -> float:
    r"""Fraction :math:`|a \cap b| / k` of shared indices between two selections of the same size :math:`k`."""
    sets = []
    for name, sel in (("a", a), ("b", b)):
        if torch.is_tensor(sel):
            sel = sel.detach().cpu().flatten().tolist()
        elif isinstance(sel, np.ndarray):
            sel = sel.flatten().tolist()
        sel = list(sel)
        if len(set(sel)) != len(sel):
            raise ValueError(f"{name} must not repeat an index")
        sets.append(set(sel))
    if len(sets[0]) != len(sets[1]):
        raise ValueError(f"a and b must select the same number of indices, got {len(sets[0])} and {len(sets[1])}")
    if not sets[0]:
        raise ValueError("a and b must select at least one index")
    return len(sets[0] & sets[1]) / len(sets[0])


# ----------------------------------------------------------------------------- phase transition


def _dmm_curve(tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(delta, rho) of the parametric l1 phase transition at minimax threshold ``tau`` >= 0 (stable for large tau)."""
    mills = np.sqrt(np.pi / 2) * special.erfcx(tau / np.sqrt(2))  # Phi(-tau) / phi(tau)
    with np.errstate(over="ignore", divide="ignore"):
        inv_phi = np.sqrt(2 * np.pi) * np.exp(tau**2 / 2)  # 1 / phi(tau), inf for huge tau
        delta = 2.0 / (tau * inv_phi + 2.0 * (1.0 - tau * mills))
    rho = 1.0 - tau * mills
    return delta, rho


def donoho_tanner_l1(delta):
    r"""Theoretical ℓ1 (basis pursuit / lasso) weak phase transition :math:`\rho(\delta)` for signed signals.

    Parameters
    ----------
    delta : float or array_like
        Undersampling ratio(s) :math:`\delta = m/N \in [0, 1]`.

    Returns
    -------
    float or numpy.ndarray
        :math:`\rho = k/m` at the transition, same shape as ``delta``;
        :math:`\rho(0) = 0`, :math:`\rho(1) = 1`, increasing in between. Computed from the
        parametric form of the module docstring by bisection in the threshold
        :math:`\tau` (to about 1e-12).
    """
    scalar = np.ndim(delta) == 0
    try:
        d = np.asarray(delta, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"delta must be a real number or an array of real numbers in [0, 1], got {delta!r}") from None
    if d.size and (not np.all(np.isfinite(d)) or d.min() < 0 or d.max() > 1):
        raise ValueError(f"delta must lie in [0, 1] (delta = m / N), got values in [{d.min()!r}, {d.max()!r}]")
    # delta(tau) decreases from 1 (tau = 0) to 0 (tau -> inf): bisect on [0, 40] for 0 < delta < 1
    lo = np.zeros_like(d)
    hi = np.full_like(d, 40.0)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        above = _dmm_curve(mid)[0] > d
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    rho = _dmm_curve(0.5 * (lo + hi))[1]
    rho = np.where(d <= 0, 0.0, np.where(d >= 1, 1.0, rho))
    return float(rho) if scalar else rho
