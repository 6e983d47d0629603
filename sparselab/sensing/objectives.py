r"""Objectives, optimality certificates and post-processing of the sparse-recovery solvers.

The lasso objective :math:`\tfrac12\|Ax - y\|_2^2 + \lambda\|x\|_1` and its optimality gap (the violation of
:math:`A^\top(y - Ax) \in \lambda\,\partial\|x\|_1`), :math:`\lambda_{\max} = \|A^\top y\|_\infty` (the smallest
:math:`\lambda` with the solution 0), the same for the group lasso, and debiasing: least squares on a found support.
"""

from __future__ import annotations

import torch

from sparselab._validation import as_real_tensor
from sparselab.sensing._common import (
    broadcast,
    check_Ay,
    check_weights,
    check_x,
    half_sq,
    l1,
    lam_tensor,
    mv,
    rmv,
)
from sparselab.thresholding import (
    group_index,
    group_norms_by_id,
)

__all__ = [
    "debias",
    "least_squares",
    "lasso_objective",
    "lasso_optimality_gap",
    "lambda_max",
    "group_lasso_objective",
    "group_lasso_optimality_gap",
    "group_lambda_max",
]


# ----------------------------------------------------------------------------- debiasing and diagnostics


def debias(A, y, support) -> torch.Tensor:
    r"""Least squares on a support: :math:`x_S = \operatorname*{arg\,min}_z \|A_S z - y\|_2`, :math:`x_{S^c} = 0`.

    Removes the lasso's shrinkage bias once the support is found (:func:`least_squares`).

    Parameters
    ----------
    A, y
        As for :func:`ista` (batches broadcast).
    support : torch.Tensor
        A boolean mask ``(N,)`` or ``(..., N)`` (e.g. ``result.x != 0``), or a 1-D LongTensor
        of indices. At most :math:`m` entries per problem (otherwise the least-squares
        problem is underdetermined).

    Returns
    -------
    torch.Tensor
        ``(..., N)``, zero off the support; zero everywhere for an empty support.
    """
    A, y, batch = check_Ay(A, y)
    m, N = A.shape[-2:]
    support = (
        as_real_tensor(support, "support") if not torch.is_tensor(support) or support.dtype != torch.bool else support
    )
    if support.dtype == torch.bool:
        if support.dim() < 1 or support.shape[-1] != N:
            raise ValueError(f"support must be a boolean mask of length N = {N}, got shape {tuple(support.shape)}")
        mask = support.to(A.device)
    else:
        if support.is_floating_point():
            raise TypeError(f"support must be a boolean mask or an integer index tensor, got dtype {support.dtype}")
        if support.dim() != 1:
            raise ValueError(f"support as indices must be 1-D, got shape {tuple(support.shape)}")
        if support.numel() and (bool((support < 0).any()) or bool((support >= N).any())):
            raise ValueError(
                f"support indices must be in [0, {N - 1}], got range [{int(support.min())}, {int(support.max())}]"
            )
        mask = torch.zeros(N, dtype=torch.bool, device=A.device)
        mask[support.to(A.device).long()] = True
    batch = broadcast({"A and y": batch, "support": mask.shape[:-1]}, "A, y and support")
    mask = mask.expand(*batch, N)
    sizes = mask.sum(-1)
    if sizes.numel() and int(sizes.max()) > m:
        raise ValueError(
            f"support must have at most m = {m} entries (else least squares on it is "
            f"underdetermined), got {int(sizes.max())}"
        )
    Ab = A.expand(*batch, m, N).reshape(-1, m, N)
    yb = y.expand(*batch, m).reshape(-1, m)
    mb = mask.reshape(-1, N)
    x = torch.zeros(mb.shape, dtype=A.dtype, device=A.device)
    for i in range(mb.shape[0]):
        idx = torch.nonzero(mb[i]).flatten()
        if idx.numel():
            x[i, idx] = least_squares(Ab[i][:, idx], yb[i])
    return x.reshape(*batch, N)


def least_squares(M: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r"""Minimum-norm least squares :math:`M^+ b` through the SVD, :math:`M = U\Sigma V^\top`.

    :math:`x = V \Sigma^+ U^\top b`, singular values below
    :math:`\max(m, s)\,\varepsilon\,\sigma_{\max}` treated as zero (NumPy's default cut-off),
    so a rank-deficient support still gets a finite answer. Used instead of
    ``torch.linalg.lstsq``, whose CPU driver can change the last bits from call to call
    (it depends on memory alignment): the chapters must give the same numbers on every run.
    ``b`` may be ``(m,)`` or ``(m, B)``.
    """
    U, S, Vh = torch.linalg.svd(M, full_matrices=False)
    cutoff = max(M.shape) * torch.finfo(M.dtype).eps * (S[0] if S.numel() else 0.0)
    inv = torch.where(S > cutoff, 1.0 / torch.where(S > cutoff, S, torch.ones_like(S)), torch.zeros_like(S))
    coef = U.T @ b
    coef = coef * (inv if b.dim() == 1 else inv[:, None])
    return Vh.T @ coef


def lasso_objective(A, y, x, lam) -> torch.Tensor:
    r""":math:`F(x) = \tfrac12\|Ax - y\|_2^2 + \lambda\|x\|_1`, per problem (0-dim for one)."""
    A, y, batch = check_Ay(A, y)
    x, batch = check_x(x, "x", A, batch)
    lam, _ = lam_tensor(lam, A, batch)
    with torch.no_grad():
        return half_sq(mv(A, x) - y) + lam * l1(x)


def lasso_optimality_gap(A, y, x, lam) -> torch.Tensor:
    r"""Largest violation of the lasso's subgradient condition at ``x``.

    With :math:`c = A^\top(y - Ax)`:
    :math:`\max\bigl(\max_{x_i \ne 0} |c_i - \lambda\operatorname{sign}(x_i)|,\
    \max_{x_i = 0} (|c_i| - \lambda)_+\bigr)`; 0 exactly at a minimiser. Per problem.
    """
    A, y, batch = check_Ay(A, y)
    x, batch = check_x(x, "x", A, batch)
    lam, _ = lam_tensor(lam, A, batch)
    with torch.no_grad():
        c = rmv(A, y - mv(A, x))
        lam_ = lam[..., None]
        viol = torch.where(x != 0, (c - lam_ * torch.sign(x)).abs(), torch.relu(c.abs() - lam_))
        return viol.amax(-1)


def lambda_max(A, y) -> torch.Tensor:
    r""":math:`\lambda_{\max} = \|A^\top y\|_\infty`: the lasso solution is 0 iff :math:`\lambda \ge \lambda_{\max}`."""
    A, y, _ = check_Ay(A, y)
    return rmv(A, y).abs().amax(-1)


def group_lasso_objective(A, y, x, lam, groups, weights=None) -> torch.Tensor:
    r""":math:`\tfrac12\|Ax - y\|_2^2 + \lambda\sum_g w_g\|x_g\|_2`, per problem."""
    A, y, batch = check_Ay(A, y)
    x, batch = check_x(x, "x", A, batch)
    lam, _ = lam_tensor(lam, A, batch)
    ids, G = group_index(groups, A.shape[-1], device=A.device)
    w = check_weights(weights, G, A)
    with torch.no_grad():
        return half_sq(mv(A, x) - y) + lam * (group_norms_by_id(x, ids, G) * w).sum(-1)


def group_lasso_optimality_gap(A, y, x, lam, groups, weights=None) -> torch.Tensor:
    r"""Largest violation of the group lasso's optimality condition at ``x``.

    With :math:`c = A^\top(y - Ax)`: :math:`\|c_g - \lambda w_g x_g/\|x_g\|\|_2` on non-zero
    groups and :math:`(\|c_g\|_2 - \lambda w_g)_+` on zero groups, maximised over groups.
    """
    A, y, batch = check_Ay(A, y)
    x, batch = check_x(x, "x", A, batch)
    lam, _ = lam_tensor(lam, A, batch)
    ids, G = group_index(groups, A.shape[-1], device=A.device)
    w = check_weights(weights, G, A)
    with torch.no_grad():
        c = rmv(A, y - mv(A, x))
        thr = lam[..., None] * w  # (..., G)
        xn = group_norms_by_id(x, ids, G)
        safe = torch.where(xn > 0, xn, torch.ones_like(xn))
        target = (thr / safe).index_select(-1, ids) * x  # lam w_g x_g / ||x_g|| (0 on zero groups)
        on = group_norms_by_id(c - target, ids, G)
        off = torch.relu(group_norms_by_id(c, ids, G) - thr)
        return torch.where(xn > 0, on, off).amax(-1)


def group_lambda_max(A, y, groups, weights=None) -> torch.Tensor:
    r""":math:`\max_g \|A_g^\top y\|_2 / w_g`: the group-lasso solution is 0 iff :math:`\lambda` is at least this."""
    A, y, _ = check_Ay(A, y)
    ids, G = group_index(groups, A.shape[-1], device=A.device)
    w = check_weights(weights, G, A)
    return (group_norms_by_id(rmv(A, y), ids, G) / w).amax(-1)
