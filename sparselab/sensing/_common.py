r"""Argument checks and batched products shared by the solvers and the objectives of :mod:`sparselab.sensing`.

Every solver takes :math:`A` ``(..., m, N)``, :math:`y` ``(..., m)`` and optional :math:`x^0` / :math:`\lambda`, broadcast
over the leading (batch) dimensions; these helpers validate them once and compute :math:`Ax` and :math:`A^\top r`.
"""

from __future__ import annotations

import numpy as np
import torch

from sparselab._validation import as_real_tensor, check_finite, check_float, check_int
from sparselab.thresholding import (
    check_threshold,
)

# ----------------------------------------------------------------------------- validation


def check_A(A) -> torch.Tensor:
    A = as_real_tensor(A, "A")
    if A.dim() < 2:
        raise ValueError(f"A must be a matrix (m, N) or a batch of matrices (..., m, N), got shape {tuple(A.shape)}")
    if A.shape[-1] < 1 or A.shape[-2] < 1:
        raise ValueError(f"A must have at least one row and one column, got shape {tuple(A.shape)}")
    if not A.is_floating_point():
        A = A.to(torch.float64)
    check_finite(A, "A")
    return A


def broadcast(shapes: dict, what: str) -> tuple:
    try:
        return tuple(torch.broadcast_shapes(*shapes.values()))
    except RuntimeError:
        listing = ", ".join(f"{k} {tuple(v)}" for k, v in shapes.items())
        raise ValueError(f"the batch shapes of {what} do not broadcast: {listing}") from None


def check_Ay(A, y):
    """``A`` (..., m, N) and ``y`` (..., m) on A's device in a common floating dtype, and the batch shape."""
    A = check_A(A)
    y = as_real_tensor(y, "y")
    m, N = A.shape[-2:]
    if y.dim() < 1 or y.shape[-1] != m:
        raise ValueError(f"y must have length m = {m} (A has shape {tuple(A.shape)}), got shape {tuple(y.shape)}")
    dtype = torch.promote_types(A.dtype, y.dtype) if y.is_floating_point() else A.dtype
    A = A.to(dtype)
    y = y.to(device=A.device, dtype=dtype)
    check_finite(y, "y")
    batch = broadcast({"A": A.shape[:-2], "y": y.shape[:-1]}, "A and y")
    return A, y, batch


def check_x(x, name: str, A: torch.Tensor, batch: tuple) -> tuple[torch.Tensor, tuple]:
    x = as_real_tensor(x, name)
    N = A.shape[-1]
    if x.dim() < 1 or x.shape[-1] != N:
        raise ValueError(f"{name} must have length N = {N} (A has shape {tuple(A.shape)}), got shape {tuple(x.shape)}")
    x = x.to(device=A.device, dtype=A.dtype)
    check_finite(x, name)
    batch = broadcast({"A and y": batch, name: x.shape[:-1]}, f"A, y and {name}")
    return x, batch


def lam_tensor(lam, A: torch.Tensor, batch: tuple, name: str = "lam") -> tuple[torch.Tensor, tuple]:
    lam = check_threshold(lam, name, like=A)
    lam = torch.as_tensor(lam, dtype=A.dtype, device=A.device)
    batch = broadcast({"A and y": batch, name: lam.shape}, f"A, y and {name}")
    return lam, batch


def common_arguments(A, y, x0, lam=None, lam_name="lam"):
    A, y, batch = check_Ay(A, y)
    if x0 is not None:
        x0, batch = check_x(x0, "x0", A, batch)
    if lam is not None:
        lam, batch = lam_tensor(lam, A, batch, lam_name)
        lam = lam.expand(batch).contiguous()
    N = A.shape[-1]
    x = torch.zeros(*batch, N, dtype=A.dtype, device=A.device) if x0 is None else x0.expand(*batch, N).clone()
    return A, y.expand(*batch, A.shape[-2]), x, lam, batch


def check_weights(weights, G: int, A: torch.Tensor) -> torch.Tensor:
    if weights is None:
        return torch.ones(G, dtype=A.dtype, device=A.device)
    w = torch.as_tensor(np.asarray(weights) if not torch.is_tensor(weights) else weights)
    if w.dim() != 1 or w.numel() != G:
        raise ValueError(f"weights must have one entry per group (G = {G}), got shape {tuple(w.shape)}")
    w = w.to(device=A.device, dtype=A.dtype)
    if not bool(torch.isfinite(w).all()) or bool((w <= 0).any()):
        raise ValueError(f"weights must be finite and > 0, got minimum {float(w.min())}")
    return w


def check_loop(steps, tol) -> tuple[int, float]:
    return check_int(steps, "steps", 1), check_float(tol, "tol", low=0.0)


# ----------------------------------------------------------------------------- linear algebra


def mv(A: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """:math:`A x` over the batch: ``(..., m, N)`` times ``(..., N)``."""
    if A.dim() == 2:
        return x @ A.mT
    return (A @ x.unsqueeze(-1)).squeeze(-1)


def rmv(A: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """:math:`A^\\top r` over the batch."""
    if A.dim() == 2:
        return r @ A
    return (A.mT @ r.unsqueeze(-1)).squeeze(-1)


def half_sq(r: torch.Tensor) -> torch.Tensor:
    return 0.5 * (r * r).sum(-1)


def l1(x: torch.Tensor) -> torch.Tensor:
    return x.abs().sum(-1)
