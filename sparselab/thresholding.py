r"""Hard and soft thresholding: the proximal operators behind pruning and the lasso.

Pruning is hard thresholding and the lasso is soft thresholding. For a vector
:math:`x \in \mathbb R^n` (every operator here acts along the last dimension and is
batched over the leading ones; torch in, torch out, on the device of the input):

**Hard threshold to a budget** :math:`H_k` keeps the :math:`k` entries of largest
magnitude and zeroes the rest,

.. math::

    H_k(x)_i = x_i\,\mathbb 1[i \in T_k(x)], \qquad
    H_k(x) \in \operatorname*{arg\,min}_{\|z\|_0 \le k} \|z - x\|_2,

the Euclidean projection onto the :math:`k`-sparse vectors (magnitude pruning with a
budget). :math:`T_k(x)` is the index set of the :math:`k` largest :math:`|x_i|`, ties
broken in favour of the lower index, so exactly :math:`k` entries are kept.

**Hard threshold at a level** :math:`H_\lambda` keeps the entries above
:math:`\lambda`,

.. math::

    H_\lambda(x)_i = x_i\,\mathbb 1[|x_i| > \lambda]
    \in \operatorname{prox}_{\frac{\lambda^2}{2}\|\cdot\|_0}(x),

the proximal map of the (non-convex) :math:`\ell_0` penalty: keeping :math:`x_i` costs
:math:`\lambda^2/2`, zeroing it costs :math:`x_i^2/2`.

**Soft threshold** :math:`S_\lambda` shrinks every entry towards 0 by :math:`\lambda`,

.. math::

    S_\lambda(x)_i = \operatorname{sign}(x_i)\,\max(|x_i| - \lambda, 0)
    = \operatorname{prox}_{\lambda\|\cdot\|_1}(x)
    = \operatorname*{arg\,min}_z \tfrac12\|z - x\|_2^2 + \lambda\|z\|_1 .

Both thresholds select the same entries (:math:`|x_i| > \lambda`); the soft one also
moves every survivor by :math:`\lambda` — the *shrinkage bias* of the lasso.

**Group (block) soft threshold** for a partition of the coordinates into groups
:math:`g \in \mathcal G`,

.. math::

    S^{\mathcal G}_\lambda(x)_g = x_g \max\Bigl(0,\ 1 - \frac{\lambda_g}{\|x_g\|_2}\Bigr)
    = \operatorname{prox}_{\sum_g \lambda_g \|\cdot_g\|_2}(x)_g,

which shrinks each group's norm by :math:`\lambda_g` and zeroes whole groups with
:math:`\|x_g\|_2 \le \lambda_g` (the group lasso; filter pruning when the groups are the
filters). :func:`sparselab.pruning.group_soft_threshold` is the special case of the
rows, columns or tiles of a matrix.

The soft thresholds are differentiable almost everywhere (in :math:`x` and in
:math:`\lambda`); the hard ones pass the gradient to the kept entries only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from sparselab._validation import check_float, check_int

__all__ = [
    "hard_threshold_k",
    "hard_threshold",
    "soft_threshold",
    "group_soft_threshold",
    "group_index",
    "group_shrink_factor",
    "group_shrink",
    "group_norms_by_id",
    "topk_keep",
    "check_budget",
    "check_threshold",
]


# ----------------------------------------------------------------------------- validation


def _check_x(x, name: str = "x") -> torch.Tensor:
    if not torch.is_tensor(x):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.dim() < 1:
        raise ValueError(f"{name} must have at least 1 dimension, got a 0-dim tensor")
    return x


def check_threshold(lam, name: str = "lam", *, like: torch.Tensor | None = None):
    """``lam`` as a float (a real number) or a tensor (non-negative and finite everywhere)."""
    if torch.is_tensor(lam):
        if not (
            lam.is_floating_point() or lam.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)
        ):
            raise TypeError(f"{name} must be a real tensor, got dtype {lam.dtype}")
        if lam.numel() and not bool(torch.isfinite(lam).all()):
            raise ValueError(f"{name} must be finite, got a tensor with NaN or infinite entries")
        if lam.numel() and bool((lam < 0).any()):
            raise ValueError(
                f"{name} must be a finite number in [0.0, inf], got a tensor with minimum {float(lam.min())}"
            )
        if like is not None:
            lam = lam.to(device=like.device, dtype=like.dtype)
        return lam
    return check_float(lam, name, low=0.0)


def topk_keep(absx: torch.Tensor, k) -> torch.Tensor:
    """Boolean mask of the ``k`` largest entries along the last dim, ties to the lower index.

    ``k`` is an int, or an integer tensor broadcastable to ``absx.shape[:-1]`` (a budget per row).
    """
    order = torch.argsort(-absx, dim=-1, stable=True)
    if not torch.is_tensor(k):
        keep = torch.zeros_like(absx, dtype=torch.bool)
        return keep.scatter_(-1, order[..., :k], True)
    n = absx.shape[-1]
    ranks = torch.empty_like(order).scatter_(-1, order, torch.arange(n, device=absx.device).expand_as(order))
    return ranks < k.to(absx.device)[..., None]


def check_budget(k, n: int, batch_shape) -> int | torch.Tensor:
    if torch.is_tensor(k):
        if k.dtype.is_floating_point or k.dtype == torch.bool or k.is_complex():
            raise TypeError(f"k must be an integer or an integer tensor, got dtype {k.dtype}")
        if k.numel() and (bool((k < 1).any()) or bool((k > n).any())):
            raise ValueError(
                f"k must be an integer in [1, {n}], got a tensor with range [{int(k.min())}, {int(k.max())}]"
            )
        try:
            torch.broadcast_shapes(k.shape, tuple(batch_shape))
        except RuntimeError:
            raise ValueError(
                f"k must be an int or a tensor broadcastable to the batch shape "
                f"{tuple(batch_shape)}, got shape {tuple(k.shape)}"
            ) from None
        return k.long()
    return check_int(k, "k", 1, n)


# ----------------------------------------------------------------------------- operators


def hard_threshold_k(x: torch.Tensor, k, *, dim: int = -1) -> torch.Tensor:
    r""":math:`H_k(x)`: keep the :math:`k` largest :math:`|x_i|` along ``dim``, zero the rest.

    Exactly :math:`k` entries are kept in every slice along ``dim`` (a tie at the
    threshold is broken in favour of the lower index, as :func:`sparselab.masks.topk_mask`
    does), so the result has at most :math:`k` non-zeros (fewer only when :math:`x` itself
    has fewer). Batched over the other dimensions.

    Parameters
    ----------
    x : torch.Tensor
        Floating-point tensor, at least 1-D.
    k : int or torch.Tensor
        Budget in :math:`[1, n]` with :math:`n` = ``x.shape[dim]``; or an integer tensor
        broadcastable to the shape of the other dimensions (moved to the front in their
        order), one budget per slice.
    dim : int
        The dimension along which to keep :math:`k` entries.

    Returns
    -------
    torch.Tensor
        :math:`x \odot \mathbb 1[i \in T_k(x)]`, same shape, dtype and device; the gradient
        with respect to :math:`x` is the keep mask.
    """
    x = _check_x(x)
    dim = check_int(dim, "dim", -x.dim(), x.dim() - 1)
    xm = x.movedim(dim, -1)
    k = check_budget(k, xm.shape[-1], xm.shape[:-1])
    keep = topk_keep(xm.detach().abs(), k)
    return (xm * keep).movedim(-1, dim)


def hard_threshold(x: torch.Tensor, lam) -> torch.Tensor:
    r""":math:`H_\lambda(x) = x \odot \mathbb 1[|x| > \lambda]`, elementwise.

    A proximal map of :math:`\frac{\lambda^2}{2}\|x\|_0`: entries with :math:`|x_i| > \lambda`
    are kept unchanged, the others (ties included) become 0.

    Parameters
    ----------
    x : torch.Tensor
        Floating-point tensor.
    lam : float or torch.Tensor
        Threshold :math:`\lambda \ge 0`, finite; a tensor broadcastable to ``x`` gives a
        threshold per entry (e.g. per row with shape ``(B, 1)``).

    Returns
    -------
    torch.Tensor
        Same shape as the broadcast of ``x`` and ``lam``; the gradient with respect to
        :math:`x` is the keep mask (none flows to :math:`\lambda`).
    """
    x = _check_x(x)
    lam = check_threshold(lam, like=x)
    return x * (x.abs() > lam)


def soft_threshold(x: torch.Tensor, lam, *, check: bool = True) -> torch.Tensor:
    r""":math:`S_\lambda(x) = \operatorname{sign}(x)\,\operatorname{relu}(|x| - \lambda)`, elementwise.

    The proximal operator of :math:`\lambda\|x\|_1`. Differentiable in :math:`x` (slope 1 on
    the survivors :math:`|x_i| > \lambda`, 0 elsewhere) and in :math:`\lambda` (slope
    :math:`-\operatorname{sign}(x_i)` on the survivors).

    Parameters
    ----------
    x : torch.Tensor
        Floating-point tensor.
    lam : float or torch.Tensor
        Threshold :math:`\lambda \ge 0`, finite; a tensor broadcastable to ``x`` gives a
        threshold per entry (it may require grad).
    check : bool
        Validate ``x`` and ``lam`` (the default). Loops that validated their arguments once, up
        front (the solvers of :mod:`sparselab.sensing`, the soft mask of :mod:`sparselab.masks`),
        pass ``False`` to skip the per-call checks and their device synchronisations.

    Returns
    -------
    torch.Tensor
        Same shape as the broadcast of ``x`` and ``lam``. This is the one soft threshold of the
        package: the lasso solvers, the soft mask and the chapters all call it.
    """
    if check:
        x = _check_x(x)
        lam = check_threshold(lam, like=x)
    return torch.sign(x) * torch.relu(x.abs() - lam)


def group_index(groups, n: int, *, device=None) -> tuple[torch.Tensor, int]:
    r"""Validate a partition of :math:`\{0, \dots, n-1\}` and return ``(ids, G)``.

    ``groups`` is either

    * a 1-D integer tensor (or array) of length :math:`n` holding the group id of every
      coordinate (any non-negative integers; they are relabelled :math:`0, \dots, G-1` in
      increasing order of id), or
    * a sequence of 1-D index collections that together cover every index of
      :math:`\{0, \dots, n-1\}` exactly once (group :math:`g` is the :math:`g`-th collection).

    Returns the relabelled ids (a ``LongTensor`` of length :math:`n`) and the number of
    groups :math:`G`.
    """
    n = check_int(n, "n", 1)
    if isinstance(groups, np.ndarray):
        groups = torch.from_numpy(np.ascontiguousarray(groups))
    if torch.is_tensor(groups):
        if groups.dtype.is_floating_point or groups.dtype == torch.bool or groups.is_complex():
            raise TypeError(f"groups must be an integer tensor of group ids, got dtype {groups.dtype}")
        if groups.dim() != 1 or groups.numel() != n:
            raise ValueError(
                f"groups must be a 1-D tensor of {n} group ids (one per coordinate), got shape {tuple(groups.shape)}"
            )
        if bool((groups < 0).any()):
            raise ValueError(f"groups must hold non-negative group ids, got minimum {int(groups.min())}")
        uniq, ids = torch.unique(groups, return_inverse=True)
        return ids.to(device=device, dtype=torch.long), int(uniq.numel())
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence):
        raise TypeError(
            "groups must be a 1-D integer tensor of group ids or a sequence of index collections, "
            f"got {type(groups).__name__}"
        )
    if len(groups) == 0:
        raise ValueError("groups must contain at least one group, got an empty sequence")
    ids = torch.full((n,), -1, dtype=torch.long)
    for g, members in enumerate(groups):
        idx = members if torch.is_tensor(members) else torch.as_tensor(np.asarray(members))
        if idx.dim() != 1 or idx.numel() == 0:
            raise ValueError(f"groups[{g}] must be a non-empty 1-D collection of indices, got shape {tuple(idx.shape)}")
        if idx.dtype.is_floating_point or idx.dtype == torch.bool:
            raise TypeError(f"groups[{g}] must hold integer indices, got dtype {idx.dtype}")
        idx = idx.long().cpu()
        if bool((idx < 0).any()) or bool((idx >= n).any()):
            raise ValueError(
                f"groups[{g}] has indices outside [0, {n - 1}]: range [{int(idx.min())}, {int(idx.max())}]"
            )
        if idx.unique().numel() != idx.numel() or bool((ids[idx] >= 0).any()):
            dup = idx[ids[idx] >= 0] if bool((ids[idx] >= 0).any()) else idx
            raise ValueError(f"groups must be disjoint: index {int(dup[0])} appears more than once (in groups[{g}])")
        ids[idx] = g
    if bool((ids < 0).any()):
        missing = torch.nonzero(ids < 0).flatten()
        raise ValueError(
            f"groups must cover every index in [0, {n - 1}]; {missing.numel()} missing, e.g. {missing[:5].tolist()}"
        )
    return ids.to(device=device), len(groups)


def group_norms_by_id(x: torch.Tensor, ids: torch.Tensor, G: int) -> torch.Tensor:
    r""":math:`\|x_g\|_2` for every group, shape ``(..., G)``, with a gradient that is finite at 0."""
    sq = x.new_zeros(*x.shape[:-1], G).index_add(-1, ids, x * x)
    pos = sq > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, sq, torch.ones_like(sq))), torch.zeros_like(sq))


def group_shrink_factor(norms: torch.Tensor, lam) -> torch.Tensor:
    r"""The factor :math:`\max(0,\ 1 - \lambda_g / \|x_g\|_2)` that scales each group, from the group norms.

    The one formula of group shrinkage: :func:`group_soft_threshold` (any partition),
    :func:`sparselab.pruning.group_soft_threshold` (rows, columns or tiles of a weight) and the group
    lasso solver all multiply by it. It is 0 (not NaN) for a zero group. No validation.
    """
    safe = torch.where(norms > 0, norms, torch.ones_like(norms))
    return torch.where(norms > lam, 1.0 - lam / safe, torch.zeros_like(norms))


def group_shrink(x: torch.Tensor, thr, ids: torch.Tensor, G: int) -> torch.Tensor:
    """Block soft threshold of ``x`` for group ids ``ids`` (``thr`` broadcastable to ``(..., G)``); no validation."""
    return x * group_shrink_factor(group_norms_by_id(x, ids, G), thr).index_select(-1, ids)


def group_soft_threshold(x: torch.Tensor, lam, groups) -> torch.Tensor:
    r"""Block soft threshold :math:`x_g \max(0, 1 - \lambda_g/\|x_g\|_2)` for a partition of the last dim.

    The proximal map of :math:`\sum_g \lambda_g \|x_g\|_2`: every group's Euclidean norm
    shrinks by :math:`\lambda_g` and groups with :math:`\|x_g\|_2 \le \lambda_g` become exactly
    zero (a zero group stays zero); the direction :math:`x_g/\|x_g\|` of a surviving group is
    unchanged. With singleton groups it is :func:`soft_threshold`.

    Parameters
    ----------
    x : torch.Tensor
        Floating-point tensor ``(..., n)``; batched over the leading dimensions.
    lam : float or torch.Tensor
        :math:`\lambda \ge 0`, finite: a number, or a tensor broadcastable to ``(..., G)``
        (one threshold per group and/or per batch row; e.g. :math:`\lambda\sqrt{|g|}` for the
        usual size-weighted group lasso).
    groups : torch.Tensor or sequence
        The partition, see :func:`group_index`: a LongTensor of :math:`n` group ids, or a
        sequence of index collections covering :math:`\{0,\dots,n-1\}` exactly once.

    Returns
    -------
    torch.Tensor
        Same shape as ``x``; differentiable in :math:`x` and :math:`\lambda` wherever
        :math:`\|x_g\|_2 \ne \lambda_g` (the gradient is 0, not NaN, on zeroed groups).
    """
    x = _check_x(x)
    lam = check_threshold(lam, like=x)
    ids, G = group_index(groups, x.shape[-1], device=x.device)
    if torch.is_tensor(lam):
        try:
            torch.broadcast_shapes(lam.shape, (*x.shape[:-1], G))
        except RuntimeError:
            raise ValueError(
                f"lam must be a number or a tensor broadcastable to (..., G) = "
                f"{(*x.shape[:-1], G)}, got shape {tuple(lam.shape)}"
            ) from None
    return group_shrink(x, lam, ids, G)
