r"""Sparse recovery from linear measurements: IHT, ISTA/FISTA for the lasso, the group lasso.

The measurements are :math:`y = A x^\star + e` with :math:`A \in \mathbb R^{m \times N}`,
:math:`m < N`, and an :math:`x^\star` with :math:`k` non-zeros. Two ways to find it:

**Iterative hard thresholding** (IHT) — projected gradient on
:math:`\tfrac12\|y - Ax\|_2^2` subject to :math:`\|x\|_0 \le k` (pruning as an optimiser):

.. math::

    x^{t+1} = H_k\bigl(x^t + \mu_t\, A^\top (y - A x^t)\bigr),

with :math:`H_k` of :func:`sparselab.thresholding.hard_threshold_k`. The default step is
the *normalised* one of Blumensath & Davies (2010, "Normalized iterative hard
thresholding: guaranteed stability and performance"), :func:`sparselab.sensing.normalized_iht_step`:
with :math:`g = A^\top(y - Ax^t)` and :math:`S` the current support,
:math:`\mu_t = \|g_S\|^2/\|A g_S\|^2` (the exact line search along :math:`g_S`); when the
new support differs from :math:`S` the step must also satisfy
:math:`\mu_t \le \omega = (1-c)\,\|x^{t+1} - x^t\|^2/\|A(x^{t+1} - x^t)\|^2`, otherwise it is
shrunk, :math:`\mu_t \leftarrow \mu_t/(\kappa(1-c))` (:math:`c = 0.01`, :math:`\kappa = 2`, at
most 60 times), which makes the objective decrease monotonically whatever the scaling of
:math:`A`. A problem with no descent along its support (:math:`g_S = 0`) takes the exact step
along the whole gradient, :math:`\|g\|^2/\|Ag\|^2`.
A fixed ``step_size`` gives plain IHT (Blumensath & Davies 2009; :math:`\mu < 1/\|A\|_2^2`
is safe).

**The lasso** — the convex relaxation :math:`\|x\|_0 \to \|x\|_1`,

.. math::

    F(x) = \tfrac12\|Ax - y\|_2^2 + \lambda\|x\|_1,

solved by proximal gradient (**ISTA**) with step :math:`1/L`,
:math:`L = \|A\|_2^2` (:func:`lipschitz`) the Lipschitz constant of the gradient,

.. math::

    x^{t+1} = S_{\lambda/L}\bigl(x^t - \tfrac1L A^\top(Ax^t - y)\bigr),

:math:`F(x^t) - F^\star = O(1/t)`, and by its accelerated version **FISTA** (Beck &
Teboulle 2009), which takes the same step from an extrapolated point,

.. math::

    z^t = x^t + \tfrac{s_t - 1}{s_{t+1}}(x^t - x^{t-1}), \quad
    s_{t+1} = \tfrac{1 + \sqrt{1 + 4 s_t^2}}{2}, \quad
    x^{t+1} = S_{\lambda/L}\bigl(z^t - \tfrac1L A^\top(Az^t - y)\bigr),

:math:`F(x^t) - F^\star = O(1/t^2)` (``restart=True`` resets the momentum when
:math:`(z^t - x^{t+1})^\top(x^{t+1} - x^t) > 0`, O'Donoghue & Candès 2015).
:math:`x` minimises :math:`F` iff the subgradient condition holds
(:func:`lasso_optimality_gap` measures its largest violation), with :math:`r = y - Ax`:

.. math::

    (A^\top r)_i = \lambda \operatorname{sign}(x_i) \ \text{ if } x_i \ne 0, \qquad
    |(A^\top r)_i| \le \lambda \ \text{ if } x_i = 0 .

Hence :math:`x = 0` exactly when :math:`\lambda \ge \lambda_{\max} = \|A^\top y\|_\infty`
(:func:`lambda_max`). The lasso shrinks every survivor by (about) :math:`\lambda`;
:func:`debias` refits least squares on the support found.

**The group lasso** — for a partition of the coordinates into groups :math:`g`
(:func:`sparselab.thresholding.group_index`) and weights :math:`w_g > 0`,
:math:`F(x) = \tfrac12\|Ax - y\|^2 + \lambda\sum_g w_g\|x_g\|_2`, by the same proximal
gradient with the block soft threshold (accelerated by default). Optimality:
:math:`A_g^\top r = \lambda w_g\, x_g/\|x_g\|` on non-zero groups and
:math:`\|A_g^\top r\| \le \lambda w_g` on zero groups (:func:`group_lasso_optimality_gap`).

**Conventions.** ``A`` is ``(m, N)`` or a batch ``(..., m, N)``; ``y`` is ``(m,)`` or
``(..., m)``; the batch shapes broadcast (one matrix and many signals, or many of both),
and ``lam``, ``k`` may be a tensor with one value per problem. Solutions have shape
``(..., N)``, dtype and device of ``A`` (integers become float64). ``x0`` is the warm
start (default 0). Every solver stops a problem when the relative change
:math:`\|x^{t+1} - x^t\|_2/\max(\|x^t\|_2, \text{tiny}) \le` ``tol`` (a converged problem is
frozen while the others go on), or after ``steps`` iterations. With momentum (FISTA,
accelerated group lasso) the proximal-gradient step :math:`\|x^{t+1} - z^t\|_2` must also be
below ``tol`` times :math:`\|x^t\|_2` — a short step between iterates does not by itself mean
that :math:`x^{t+1}` is a fixed point, and this makes a warm start from a returned solution
stop at once. The solvers run without
autograd.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from sparselab._validation import check_choice, check_float, check_int
from sparselab.sensing._common import check_A, check_loop, check_weights, common_arguments, l1, mv, rmv
from sparselab.sensing.step_rule import normalized_iht_step
from sparselab.thresholding import (
    check_budget,
    group_index,
    group_norms_by_id,
    group_shrink,
    soft_threshold,
    topk_keep,
)

__all__ = [
    "SolverResult",
    "lipschitz",
    "iht",
    "ista",
    "fista",
    "group_lasso",
]

LIPSCHITZ_METHODS = ("svd", "power")


@dataclass
class SolverResult:
    r"""What a solver returns.

    Attributes
    ----------
    x : torch.Tensor
        The solution, ``(..., N)``.
    history : dict of lists
        One entry per iteration, the one that made :math:`x^{t+1}` from :math:`x^t`: ``"step"``
        (the iteration index :math:`t = 0, 1, \dots`, an int, as in :func:`sparselab.recovery.iht`),
        ``"objective"`` (the solver's :math:`F(x^{t+1})`; :math:`\tfrac12\|Ax^{t+1} - y\|^2` for
        IHT), ``"residual"`` (:math:`\|y - Ax^{t+1}\|_2`), ``"support_size"``
        (:math:`\|x^{t+1}\|_0`), ``"step_size"`` (the step :math:`\mu_t` it took), ``"change"``
        (the relative change of the stopping rule) and, for IHT, ``"backtracks"`` (shrinkings of
        :math:`\mu_t`). For a batch of problems each entry but ``"step"`` is a (nested) list over
        the batch instead of a number.
    converged : bool
        Whether every problem met the stopping rule within ``steps`` iterations.
    iterations : int
        Iterations run (the largest over the batch).
    converged_each, iterations_each : torch.Tensor
        The same per problem (batch shape; 0-dim for a single problem).
    """

    x: torch.Tensor
    history: dict = field(default_factory=dict)
    converged: bool = False
    iterations: int = 0
    converged_each: torch.Tensor | None = None
    iterations_each: torch.Tensor | None = None

    @property
    def support(self) -> torch.Tensor:
        """Boolean mask of the non-zeros of :attr:`x`."""
        return self.x != 0


def lipschitz(A, *, method: str = "svd", iters: int = 100, seed: int = 0) -> torch.Tensor:
    r""":math:`L = \|A\|_2^2 = \sigma_{\max}(A)^2`, the Lipschitz constant of :math:`\nabla\tfrac12\|Ax - y\|^2`.

    Parameters
    ----------
    A : torch.Tensor
        ``(m, N)`` or a batch ``(..., m, N)``.
    method : {"svd", "power"}
        ``"svd"``: exact, ``torch.linalg.matrix_norm(A, ord=2) ** 2``. ``"power"``: ``iters``
        steps of power iteration on :math:`A^\top A` from a seeded random start (a lower
        estimate that increases to :math:`L`; cheaper for large matrices).
    iters : int
        Power iterations, at least 1.
    seed : int
        Seed of the power iteration's start vector.

    Returns
    -------
    torch.Tensor
        Batch shape (0-dim for one matrix), dtype and device of ``A``.
    """
    A = check_A(A)
    method = check_choice(method, "method", LIPSCHITZ_METHODS)
    iters = check_int(iters, "iters", 1)
    seed = check_int(seed, "seed", 0)
    if method == "svd":
        return torch.linalg.matrix_norm(A, ord=2) ** 2
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(*A.shape[:-2], A.shape[-1], generator=g, dtype=A.dtype).to(A.device)
    est = torch.zeros(A.shape[:-2], dtype=A.dtype, device=A.device)
    for _ in range(iters):
        v = v / v.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(A.dtype).tiny)
        w = rmv(A, mv(A, v))
        est = (v * w).sum(-1)
        v = w
    return est


def _default_step(A: torch.Tensor, step_size, batch: tuple) -> torch.Tensor:
    if step_size is None:
        L = lipschitz(A).clamp_min(torch.finfo(A.dtype).tiny)
        return (1.0 / L).expand(batch).contiguous()
    step = check_float(step_size, "step_size", low=0.0, low_inclusive=False)
    return torch.full(batch, step, dtype=A.dtype, device=A.device)


# ----------------------------------------------------------------------------- bookkeeping


class _Tracker:
    """Per-problem stopping rule and the history, one host transfer per iteration."""

    KEYS = ("objective", "residual", "support_size", "step_size", "change")

    def __init__(self, batch, device, tol, extra=()):
        self.tol = tol
        self.active = torch.ones(batch, dtype=torch.bool, device=device)
        self.converged = torch.zeros(batch, dtype=torch.bool, device=device)
        self.iterations = torch.zeros(batch, dtype=torch.long, device=device)
        self.keys = self.KEYS + tuple(extra)
        self.history = {"step": [], **{k: [] for k in self.keys}}

    def step(self, it: int, change: torch.Tensor, **values) -> bool:
        """Record iteration ``it`` (1, 2, ...; history step ``it - 1``); return True when every problem has stopped."""
        active = self.active
        change = torch.where(active, change, torch.zeros_like(change))
        self.iterations = torch.where(active, torch.full_like(self.iterations, it), self.iterations)
        done = active & (change <= self.tol)
        self.converged = self.converged | done
        self.active = active & ~done
        values["change"] = change
        dtype = change.dtype
        stacked = torch.stack([values[k].to(dtype).expand(change.shape) for k in self.keys])
        flat = torch.cat([stacked.flatten(), self.active.any().to(dtype)[None]]).cpu()  # one transfer
        rows = flat[:-1].view(stacked.shape).tolist()
        self.history["step"].append(it - 1)
        for key, row in zip(self.keys, rows):
            self.history[key].append(_as_int(row) if key in ("support_size", "backtracks") else row)
        return not bool(flat[-1])

    def result(self, x: torch.Tensor) -> SolverResult:
        return SolverResult(
            x=x,
            history=self.history,
            converged=bool(self.converged.all()),
            iterations=int(self.iterations.max()) if self.iterations.numel() else 0,
            converged_each=self.converged,
            iterations_each=self.iterations,
        )


def _as_int(row):
    return [_as_int(r) for r in row] if isinstance(row, list) else int(row)


def _rel_change(new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    tiny = torch.finfo(old.dtype).tiny
    return (new - old).norm(dim=-1) / old.norm(dim=-1).clamp_min(tiny)


# ----------------------------------------------------------------------------- IHT


def iht(A, y, *, k, steps: int = 500, step_size=None, tol: float = 1e-10, x0=None) -> SolverResult:
    r"""Iterative hard thresholding :math:`x \leftarrow H_k(x + \mu A^\top(y - Ax))`.

    Parameters
    ----------
    A : torch.Tensor or numpy.ndarray
        Measurement matrix ``(m, N)`` or a batch ``(..., m, N)``.
    y : torch.Tensor or numpy.ndarray
        Measurements ``(m,)`` or ``(..., m)``.
    k : int or torch.Tensor
        Sparsity budget in :math:`[1, N]`; an integer tensor gives one budget per problem.
    steps : int
        Maximum number of iterations, at least 1.
    step_size : None, "normalized" or float
        ``None``/``"normalized"``: the normalised step of Blumensath & Davies (2010) with the
        support-change safeguard (:func:`sparselab.sensing.normalized_iht_step` with
        :math:`c = 0.01`, :math:`\kappa = 2`, at most 60 shrinkings; see the module docstring).
        A positive number: plain IHT with that fixed step :math:`\mu`.
    tol : float
        Stop when :math:`\|x^{t+1} - x^t\|/\|x^t\| \le` ``tol``.
    x0 : torch.Tensor, optional
        Warm start ``(N,)`` or ``(..., N)`` (default 0). The first support is
        :math:`T_k(x^0 + A^\top(y - Ax^0))` — :math:`T_k(A^\top y)` from 0.

    Returns
    -------
    SolverResult
        ``x`` has at most :math:`k` non-zeros per problem; the history's ``"step_size"`` is
        :math:`\mu_t` and it also holds ``"backtracks"``.
    """
    A, y, x, _, batch = common_arguments(A, y, x0)
    N = A.shape[-1]
    k = check_budget(k, N, batch)
    steps, tol = check_loop(steps, tol)
    if isinstance(step_size, str) or step_size is None:
        normalized = (
            check_choice("normalized" if step_size is None else step_size, "step_size", ("normalized",)) == "normalized"
        )
        mu_fixed = None
    else:
        normalized = False
        mu_fixed = check_float(step_size, "step_size", low=0.0, low_inclusive=False)
    rule = dict(c=0.01, kappa=2.0, max_backtracks=60)  # of normalized_iht_step, Blumensath & Davies' constants

    def threshold(v):
        keep = topk_keep(v.abs(), k)
        return v * keep, keep

    def norms(v):
        Av = mv(A, v)
        return (v * v).sum(-1), (Av * Av).sum(-1)

    track = _Tracker(batch, A.device, tol, extra=("backtracks",))
    with torch.no_grad():
        Ax = mv(A, x)
        g = rmv(A, y - Ax)
        supp = topk_keep((x + g).abs(), k)
        for it in range(1, steps + 1):
            if normalized:
                mu, (x_new, keep), backtracks = normalized_iht_step(
                    *norms(g * supp),
                    lambda mu: threshold(x + mu[..., None] * g),
                    lambda candidate: (candidate[1] != supp).any(-1),
                    lambda candidate: norms(candidate[0] - x),
                    full_gradient=lambda: norms(g),  # no descent along the support: the full gradient
                    active=track.active,
                    check=it == 1,
                    **rule,
                )
            else:
                mu = torch.full(batch, mu_fixed, dtype=A.dtype, device=A.device)
                x_new, keep = threshold(x + mu[..., None] * g)
                backtracks = torch.zeros(batch, dtype=torch.long, device=A.device)
            change = _rel_change(x_new, x)
            upd = track.active[..., None]
            x = torch.where(upd, x_new, x)
            supp = torch.where(upd, keep, supp)
            Ax = mv(A, x)
            r = y - Ax
            res = r.norm(dim=-1)
            stop = track.step(
                it,
                change,
                objective=0.5 * res * res,
                residual=res,
                support_size=(x != 0).sum(-1),
                step_size=mu,
                backtracks=backtracks,
            )
            if stop:
                break
            g = rmv(A, r)
    return track.result(x)


# ----------------------------------------------------------------------------- proximal gradient


def _proximal_gradient(A, y, x, lam, step, prox, penalty, *, steps, tol, accelerated, restart) -> SolverResult:
    """ISTA/FISTA on 0.5||Ax - y||^2 + lam * penalty(x); ``prox(v, thr)`` with ``thr`` of batch shape."""
    batch = x.shape[:-1]
    thr = step * lam
    track = _Tracker(batch, A.device, tol)
    with torch.no_grad():
        Ax = mv(A, x)
        x_prev, Ax_prev = x, Ax
        s = torch.ones(batch, dtype=A.dtype, device=A.device)
        for it in range(1, steps + 1):
            if accelerated:
                s_next = 0.5 * (1.0 + torch.sqrt(1.0 + 4.0 * s * s))
                beta = ((s - 1.0) / s_next)[..., None]
                z, Az = x + beta * (x - x_prev), Ax + beta * (Ax - Ax_prev)
            else:
                z, Az = x, Ax
            x_new = prox(z - step[..., None] * rmv(A, Az - y), thr)
            Ax_new = mv(A, x_new)
            d = x_new - x
            # relative change of x, and (FISTA) of the proximal-gradient step from z: small steps under
            # momentum do not by themselves mean a fixed point, so both must be small
            change = _rel_change(x_new, x)
            if accelerated:
                tiny = torch.finfo(x.dtype).tiny
                change = torch.maximum(change, (x_new - z).norm(dim=-1) / x.norm(dim=-1).clamp_min(tiny))
            if accelerated and restart:
                s_next = torch.where(((z - x_new) * d).sum(-1) > 0, torch.ones_like(s_next), s_next)
            active = track.active
            upd = active[..., None]
            x_prev, Ax_prev = torch.where(upd, x, x_prev), torch.where(upd, Ax, Ax_prev)
            x, Ax = torch.where(upd, x_new, x), torch.where(upd, Ax_new, Ax)
            if accelerated:
                s = torch.where(active, s_next, s)
            res = (Ax - y).norm(dim=-1)
            stop = track.step(
                it,
                change,
                objective=0.5 * res * res + lam * penalty(x),
                residual=res,
                support_size=(x != 0).sum(-1),
                step_size=step,
            )
            if stop:
                break
    return track.result(x)


def _soft(v: torch.Tensor, thr: torch.Tensor) -> torch.Tensor:
    """The prox of the batched lasso: :func:`sparselab.thresholding.soft_threshold` with one threshold per problem."""
    return soft_threshold(v, thr[..., None], check=False)


_SOLVER_PARAMS = r"""
    Parameters
    ----------
    A : torch.Tensor or numpy.ndarray
        Measurement matrix ``(m, N)`` or a batch ``(..., m, N)``.
    y : torch.Tensor or numpy.ndarray
        Measurements ``(m,)`` or ``(..., m)``.
    lam : float or torch.Tensor
        :math:`\lambda \ge 0`, finite; a tensor gives one :math:`\lambda` per problem (a
        regularisation path in one call).
    steps : int
        Maximum number of iterations, at least 1.
    tol : float
        Stop when :math:`\|x^{t+1} - x^t\|/\|x^t\| \le` ``tol`` (with momentum also
        :math:`\|x^{t+1} - z^t\|/\|x^t\|`, see the module docstring).
    x0 : torch.Tensor, optional
        Warm start ``(N,)`` or ``(..., N)`` (default 0).
    step_size : float, optional
        Fixed step; default :math:`1/L` with :math:`L = \|A\|_2^2` (:func:`lipschitz`).
        Convergence needs a step :math:`\le 1/L`.
"""


def ista(A, y, *, lam, steps: int = 1000, tol: float = 1e-10, x0=None, step_size=None) -> SolverResult:
    r"""ISTA, :math:`x \leftarrow S_{\mu\lambda}(x - \mu A^\top(Ax - y))`, for :math:`\tfrac12\|Ax-y\|^2 + \lambda\|x\|_1`.
    {params}
    Returns
    -------
    SolverResult
        The history's ``"objective"`` is :math:`F(x^t)` (non-increasing for :math:`\mu \le 1/L`).
    """
    A, y, x, lam, batch = common_arguments(A, y, x0, lam)
    steps, tol = check_loop(steps, tol)
    step = _default_step(A, step_size, batch)
    return _proximal_gradient(A, y, x, lam, step, _soft, l1, steps=steps, tol=tol, accelerated=False, restart=False)


def fista(
    A, y, *, lam, steps: int = 1000, tol: float = 1e-10, x0=None, step_size=None, restart: bool = False
) -> SolverResult:
    r"""FISTA (Beck & Teboulle 2009): ISTA's step from the extrapolated point :math:`z^t`.
    {params}    restart : bool
        Gradient-based adaptive restart of the momentum (O'Donoghue & Candès 2015).

    Returns
    -------
    SolverResult
        The history's ``"objective"`` is :math:`F(x^t)` (not monotone in general).
    """
    A, y, x, lam, batch = common_arguments(A, y, x0, lam)
    steps, tol = check_loop(steps, tol)
    step = _default_step(A, step_size, batch)
    if not isinstance(restart, bool):
        raise TypeError(f"restart must be a bool, got {type(restart).__name__}")
    return _proximal_gradient(A, y, x, lam, step, _soft, l1, steps=steps, tol=tol, accelerated=True, restart=restart)


ista.__doc__ = ista.__doc__.replace("{params}", _SOLVER_PARAMS)
fista.__doc__ = fista.__doc__.replace("{params}", _SOLVER_PARAMS)


def group_lasso(
    A,
    y,
    *,
    lam,
    groups,
    steps: int = 1000,
    tol: float = 1e-10,
    x0=None,
    accelerated: bool = True,
    weights=None,
    step_size=None,
    restart: bool = False,
) -> SolverResult:
    r"""Proximal gradient for :math:`\tfrac12\|Ax - y\|^2 + \lambda\sum_g w_g\|x_g\|_2`.

    :math:`x \leftarrow S^{\mathcal G}_{\mu\lambda w}(z - \mu A^\top(Az - y))` with the block
    soft threshold (:func:`sparselab.thresholding.group_soft_threshold`), from :math:`z = x`
    (``accelerated=False``) or FISTA's extrapolated point (default).

    Parameters
    ----------
    A, y, lam, steps, tol, x0, step_size
        As for :func:`ista`.
    groups : torch.Tensor or sequence
        Partition of the :math:`N` coordinates: a LongTensor of :math:`N` group ids or a
        sequence of index collections (:func:`sparselab.thresholding.group_index`).
    accelerated : bool
        FISTA momentum (default) or plain proximal gradient.
    weights : sequence or torch.Tensor, optional
        :math:`w_g > 0`, one per group in the order of :func:`~sparselab.thresholding.group_index`
        (default 1; :math:`\sqrt{|g|}` is the usual size correction).
    restart : bool
        Adaptive momentum restart, as in :func:`fista`.

    Returns
    -------
    SolverResult
        Whole groups of ``x`` are zero; ``"support_size"`` counts non-zero coordinates.
    """
    A, y, x, lam, batch = common_arguments(A, y, x0, lam)
    ids, G = group_index(groups, A.shape[-1], device=A.device)
    w = check_weights(weights, G, A)
    steps, tol = check_loop(steps, tol)
    step = _default_step(A, step_size, batch)
    for name, flag in (("accelerated", accelerated), ("restart", restart)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")

    def prox(v, thr):
        return group_shrink(v, thr[..., None] * w, ids, G)

    def penalty(v):
        return (group_norms_by_id(v, ids, G) * w).sum(-1)

    return _proximal_gradient(
        A, y, x, lam, step, prox, penalty, steps=steps, tol=tol, accelerated=accelerated, restart=restart
    )
