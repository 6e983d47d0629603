r"""Monarch matrices: products of two block-diagonal factors, :math:`M = P^\top L P R` with :math:`N = m n`.

The left factor has the support :math:`\mathbf 1_{m \times m} \otimes I_n` and the right one :math:`I_m \otimes \mathbf 1_{n \times n}`
(Kronecker-sparse factors, :mod:`sparselab.factorization.butterfly`). :func:`monarch_project` finds the nearest Monarch
matrix in Frobenius norm exactly, with one rank-one fit per block (Dao et al. 2022).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from sparselab._validation import check_int
from sparselab.factorization.butterfly import (
    approximation_errors,
    check_square,
    kronecker_apply,
    kronecker_dense,
    rank_one_blocks,
    sync_device,
)

__all__ = [
    "MonarchFactorization",
    "monarch_project",
    "monarch_apply",
    "monarch_dense",
    "monarch_shapes",
    "monarch_blocks",
]


# ----------------------------------------------------------------------------------------------------------------
# Monarch


def _monarch_blocks(N: int, blocks) -> tuple[int, int]:
    if blocks is None:
        m = math.isqrt(N)
        if m * m != N:
            raise ValueError(
                f"the size N = {N} is not a perfect square; pass blocks=m with m dividing N "
                f"(e.g. blocks={monarch_blocks(N)}), so that N = m * (N/m)"
            )
        return m, m
    m = check_int(blocks, "blocks", low=1, high=N)
    if N % m:
        raise ValueError(f"blocks must divide N = {N}, got blocks={m}")
    return m, N // m


def monarch_blocks(N: int) -> int:
    r"""The largest divisor :math:`m \le \sqrt N` of :math:`N`: the most balanced Monarch split :math:`N = m \cdot (N/m)`.

    :math:`\sqrt N` for perfect squares (:math:`2N^{3/2}` parameters), 1 for primes (a dense matrix).
    """
    N = check_int(N, "N", low=1)
    return max(m for m in range(1, math.isqrt(N) + 1) if N % m == 0)


def monarch_shapes(N: int, blocks: int | None = None) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    r"""Kronecker shapes of the Monarch factors for :math:`N = mn`: :math:`X \sim (1, m, m, n)`, :math:`Y \sim (m, n, n, 1)`."""
    N = check_int(N, "N", low=1)
    m, n = _monarch_blocks(N, blocks)
    return (1, m, m, n), (m, n, n, 1)


def monarch_apply(left: torch.Tensor, right: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r"""Apply the Monarch matrix :math:`XY` to the last dimension of ``x``: ``left`` is :math:`X` compact
    :math:`(1, n, m, m)`, ``right`` is :math:`Y` compact :math:`(m, 1, n, n)`; :math:`N(m+n)` multiply-adds per vector."""
    return kronecker_apply(left, kronecker_apply(right, x))


def monarch_dense(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """The dense Monarch matrix :math:`XY`."""
    return kronecker_dense(left) @ kronecker_dense(right)


@dataclass
class MonarchFactorization:
    r"""Result of :func:`monarch_project`: :math:`A \approx XY`, ``left`` :math:`= X` (compact :math:`(1, n, m, m)`),
    ``right`` :math:`= Y` (compact :math:`(m, 1, n, n)`)."""

    left: torch.Tensor
    right: torch.Tensor
    error: float
    relative_error: float
    seconds: float

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return monarch_apply(self.left, self.right, x)

    def to_dense(self) -> torch.Tensor:
        return monarch_dense(self.left, self.right)

    @property
    def nnz(self) -> int:
        return self.left.numel() + self.right.numel()


def monarch_project(A, blocks: int | None = None) -> MonarchFactorization:
    r"""The best Monarch approximation :math:`XY` of a square :math:`A` in Frobenius norm.

    With :math:`N = mn` (``blocks`` :math:`= m`, default :math:`\sqrt N`),
    :math:`\operatorname{supp}(X) = 1_{m\times m} \otimes I_n` and
    :math:`\operatorname{supp}(Y) = I_m \otimes 1_{n \times n}`. Writing rows as
    :math:`(r, k)` and columns as :math:`(s, s')`, the product is
    :math:`(XY)[(r,k),(s,s')] = X[(r,k),(s,k)]\,Y[(s,k),(s,s')]`: every :math:`m \times n` block
    :math:`A[(\cdot,k),(s,\cdot)]` is a rank-one matrix :math:`X[\cdot,(s,k)]\,Y[(s,k),\cdot]`, and the
    blocks do not share parameters. The optimum is therefore the best rank-one approximation of each
    of the :math:`mn` blocks (the projection of Dao et al. 2022), computed in one batch.
    """
    A = check_square(A)
    N = A.shape[0]
    m, n = _monarch_blocks(N, blocks)
    sync_device(A.device)
    t0 = time.perf_counter()
    X, Y = _split_monarch(A, m, n)
    sync_device(A.device)
    seconds = time.perf_counter() - t0
    error, rel = approximation_errors(A, monarch_dense(X, Y))
    return MonarchFactorization(X, Y, error, rel, seconds)


def _split_monarch(A: torch.Tensor, m: int, n: int):
    blocks = A.reshape(m, n, m, n).permute(1, 2, 0, 3)  # (k, s, r, s')
    u, v = rank_one_blocks(blocks)  # u (k, s, r), v (k, s, s')
    X = u.permute(0, 2, 1).reshape(1, n, m, m)  # (k, r, s)
    Y = v.conj().permute(1, 0, 2).reshape(m, 1, n, n)  # (s, k, s')
    return X.contiguous(), Y.contiguous()
