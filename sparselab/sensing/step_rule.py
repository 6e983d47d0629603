r"""The normalised step of iterative hard thresholding, shared by every IHT of the package.

IHT takes :math:`x^+ = H(x + \mu g)` with :math:`g = A^\top(y - Ax)` and :math:`H` a hard threshold
(:math:`H_k` keeps the :math:`k` largest magnitudes). The *normalised* step of Blumensath & Davies
(2010, "Normalized iterative hard thresholding: guaranteed stability and performance", IEEE J. Sel.
Topics Signal Process. 4(2)) is the exact line search along the gradient restricted to the current
support :math:`S`,

.. math::

    \mu = \frac{\|g_S\|^2}{\|A g_S\|^2},

kept when the support of :math:`x^+` is still :math:`S`. When the support moves, the step must also
satisfy

.. math::

    \mu \le \omega = (1-c)\,\frac{\|x^+ - x\|^2}{\|A(x^+ - x)\|^2},

otherwise it shrinks, :math:`\mu \leftarrow \mu/(\kappa(1-c))`, and :math:`x^+` is recomputed, at
most ``max_backtracks`` times. With :math:`0 < c < 1` and :math:`\kappa > 1/(1-c)` (so that the step
really shrinks) the objective :math:`\tfrac12\|y - Ax\|^2` decreases at every step, whatever the
scaling of :math:`A`.

:func:`normalized_iht_step` is that rule. It never sees :math:`A`: the caller hands it the squared
norms it needs and callables that threshold and measure a candidate, so the same rule runs on dense
batched matrices (:func:`sparselab.sensing.iht`) and on the streamed lifted operator of
:func:`sparselab.recovery.iht`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from sparselab._validation import check_float, check_int

__all__ = ["NormalizedIHTStep", "normalized_iht_step"]


class NormalizedIHTStep(NamedTuple):
    """What :func:`normalized_iht_step` returns: ``(step_size, candidate, backtracks)``."""

    step_size: Any
    candidate: Any
    backtracks: Any


NormalizedIHTStep.step_size.__doc__ = r"The accepted step :math:`\mu` (a tensor of batch shape; a float if ``scalar``)."
NormalizedIHTStep.candidate.__doc__ = "What ``threshold`` returned for it (merged per problem, for a batch)."
NormalizedIHTStep.backtracks.__doc__ = (
    r"Shrinkings of :math:`\mu` (a long tensor of batch shape; an int if ``scalar``)."
)


def normalized_iht_step(
    grad_sq,
    image_sq,
    threshold: Callable,
    support_moved: Callable,
    move_norms: Callable,
    *,
    full_gradient: Callable | None = None,
    active: torch.Tensor | None = None,
    scalar: bool = False,
    c: float = 0.01,
    kappa: float = 2.0,
    max_backtracks: int = 60,
    check: bool = True,
) -> NormalizedIHTStep:
    r"""One normalised IHT step (Blumensath & Davies 2010): :math:`\mu = \|g_S\|^2/\|Ag_S\|^2`, then backtracking.

    The rule of the module docstring: :math:`\mu = \|g_S\|^2/\|A g_S\|^2` (a denominator below the
    smallest normal number of the dtype is raised to it); when the support of the candidate
    :math:`x^+ = H(x + \mu g)` differs from :math:`S` and
    :math:`\mu > \omega = (1-c)\|x^+ - x\|^2/\|A(x^+ - x)\|^2`, then
    :math:`\mu \leftarrow \mu/(\kappa(1-c))` and :math:`x^+` is recomputed, at most ``max_backtracks``
    times (after the last shrinking the candidate is accepted unchecked).

    Parameters
    ----------
    grad_sq, image_sq : torch.Tensor
        :math:`\|g_S\|^2` and :math:`\|A g_S\|^2`, of batch shape (0-dim for one problem).
    threshold : callable
        ``threshold(mu)`` returns the candidate :math:`H(x + \mu g)`. For a batch it is a tuple of
        tensors ``(..., N)`` (e.g. ``(x_new, support_mask)``), merged per problem when only some
        problems shrink their step; with ``scalar=True`` any object.
    support_moved : callable
        ``support_moved(candidate)``: whether the candidate's support differs from :math:`S` — a
        bool tensor of batch shape, or a bool with ``scalar=True``.
    move_norms : callable
        ``move_norms(candidate)`` returns :math:`(\|x^+ - x\|^2, \|A(x^+ - x)\|^2)`: tensors of batch
        shape, or numbers with ``scalar=True``.
    full_gradient : callable, optional
        ``full_gradient()`` returns :math:`(\|g\|^2, \|A g\|^2)` of the whole gradient. When given,
        a problem with no descent along its support (:math:`\|g_S\| = 0` or :math:`\|A g_S\|` below
        the smallest normal number) takes :math:`\mu = \|g\|^2/\|A g\|^2` instead; it is only called
        when an active problem needs it. Default: no fallback.
    active : torch.Tensor, optional
        Bool of batch shape: the problems still iterating (default all). Only they backtrack and
        trigger ``full_gradient``.
    scalar : bool
        One problem in Python floats: :math:`\mu` is taken in the dtype of ``grad_sq`` / ``image_sq``
        and converted with ``float``, and :math:`\omega` and the shrinkings are computed in double
        precision. ``False`` (default): per-problem tensors of batch shape.
    c : float
        :math:`c \in (0, 1)`, default 0.01 (Blumensath & Davies' choice).
    kappa : float
        :math:`\kappa > 1/(1-c)`, default 2.
    max_backtracks : int
        Most shrinkings of :math:`\mu` per step, at least 0; default 60.
    check : bool
        Validate ``c``, ``kappa`` and ``max_backtracks`` (a solver checks them on its first
        iteration and skips the check in the others).

    Returns
    -------
    NormalizedIHTStep
        ``(step_size, candidate, backtracks)``.
    """
    if check:
        c = check_float(c, "c", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        kappa = check_float(kappa, "kappa", low=1.0 / (1.0 - c), low_inclusive=False)
        max_backtracks = check_int(max_backtracks, "max_backtracks", low=0)
    shrink_factor = kappa * (1 - c)
    tiny = torch.finfo(image_sq.dtype).tiny if torch.is_tensor(image_sq) else sys.float_info.min
    mu = grad_sq / _floor(image_sq, tiny)
    flat = None if full_gradient is None else (grad_sq <= 0) | (image_sq <= tiny)
    if scalar:
        mu = float(mu)
        if flat is not None and bool(flat):
            g_sq, Ag_sq = full_gradient()
            mu = float(g_sq / _floor(Ag_sq, tiny))
        candidate = threshold(mu)
        backtracks = 0
        for _ in range(max_backtracks):
            if not support_moved(candidate):
                break
            d_sq, Ad_sq = move_norms(candidate)
            omega = (1 - c) * float(d_sq) / max(float(Ad_sq), sys.float_info.min)
            if not mu > omega:
                break
            mu = mu / shrink_factor
            candidate = threshold(mu)
            backtracks += 1
        return NormalizedIHTStep(mu, candidate, backtracks)

    active = torch.ones(mu.shape, dtype=torch.bool, device=mu.device) if active is None else active
    if flat is not None and bool((flat & active).any()):
        g_sq, Ag_sq = full_gradient()
        mu = torch.where(flat, g_sq / _floor(Ag_sq, tiny), mu)
    candidate = threshold(mu)
    backtracks = torch.zeros(mu.shape, dtype=torch.long, device=mu.device)
    for _ in range(max_backtracks):
        moved = support_moved(candidate) & active
        if not bool(moved.any()):
            break
        d_sq, Ad_sq = move_norms(candidate)
        omega = (1 - c) * d_sq / _floor(Ad_sq, tiny)
        shrink = moved & (mu > omega)
        if not bool(shrink.any()):
            break
        mu = torch.where(shrink, mu / shrink_factor, mu)
        shrunk = threshold(mu)
        candidate = tuple(torch.where(shrink[..., None], new, old) for new, old in zip(shrunk, candidate))
        backtracks += shrink
    return NormalizedIHTStep(mu, candidate, backtracks)


def _floor(value, tiny):
    return value.clamp_min(tiny) if torch.is_tensor(value) else max(value, tiny)
