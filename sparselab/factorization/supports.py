r"""Supports of a fixed-support matrix factorisation: their rank-one pieces, equivalence classes, the tractable family, random supports.

A pair of masks :math:`I \in \{0,1\}^{m \times r}`, :math:`J \in \{0,1\}^{n \times r}` fixes the support of
:math:`X` and :math:`Y` in :math:`A \approx XY^\top`; column :math:`k` gives the rank-one support
:math:`R_k \times C_k` with :math:`R_k = \operatorname{supp} I_{:,k}` and :math:`C_k = \operatorname{supp} J_{:,k}`.
Two columns are equivalent when their rank-one supports are identical; the problem is tractable (solved exactly
by one truncated SVD per class, :func:`sparselab.factorization.fsmf_exact`) when the supports of different
classes are disjoint (:func:`is_tractable`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from sparselab._validation import check_bool, check_float, check_int

__all__ = [
    "SupportClass",
    "rank_one_supports",
    "equivalence_classes",
    "is_tractable",
    "random_supports",
    "tractable_supports",
]


# ----------------------------------------------------------------------------- supports


@dataclass(frozen=True)
class SupportClass:
    """Columns ``columns`` of ``X``/``Y`` that share the rank-one support ``rows × cols``."""

    columns: tuple
    rows: tuple
    cols: tuple


def check_mask(M, name: str, shape: tuple | None = None, what: str = "") -> np.ndarray:
    """A boolean or 0/1 2-D tensor/array as a numpy bool array; ``shape`` the expected shape."""
    if torch.is_tensor(M):
        arr = M.detach().cpu().numpy()
    elif isinstance(M, np.ndarray):
        arr = M
    else:
        raise TypeError(f"{name} must be a boolean (or 0/1) torch.Tensor or numpy.ndarray, got {type(M).__name__}")
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


def check_masks(I, J, m: int | None = None, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate the pair ``(I, J)``: ``I`` is ``(m, r)``, ``J`` is ``(n, r)`` with the same ``r``."""
    I = check_mask(I, "I")
    if m is not None and I.shape[0] != m:
        raise ValueError(f"I must have shape (m, r) = ({m}, r) with m = A.shape[0] = {m}, got {tuple(I.shape)}")
    r = I.shape[1]
    if r < 1:
        raise ValueError(f"I must have at least one column (r >= 1), got shape {tuple(I.shape)}")
    if n is None:
        J = check_mask(J, "J")
        if J.shape[1] != r:
            raise ValueError(f"J must have shape (n, r) with r = I.shape[1] = {r}, got {tuple(J.shape)}")
    else:
        J = check_mask(J, "J", (n, r), " = (n, r) with n = A.shape[1], r = I.shape[1]")
    return I, J


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
    I, J = check_masks(I, J)
    return [
        (tuple(int(i) for i in np.flatnonzero(I[:, t])), tuple(int(j) for j in np.flatnonzero(J[:, t])))
        for t in range(I.shape[1])
    ]


def support_classes(I: np.ndarray, J: np.ndarray) -> list[SupportClass]:
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
    I, J = check_masks(I, J)
    return support_classes(I, J)


def offending_pair(I: np.ndarray, J: np.ndarray):
    """First pair ``(t, t')`` whose rank-one supports overlap without being identical, or None."""
    Ii, Jj = I.astype(np.int64), J.astype(np.int64)
    overlap = ((Ii.T @ Ii) > 0) & ((Jj.T @ Jj) > 0)
    same = (
        (Ii.T @ Ii == Ii.sum(0)[:, None])
        & (Ii.T @ Ii == Ii.sum(0)[None, :])
        & (Jj.T @ Jj == Jj.sum(0)[:, None])
        & (Jj.T @ Jj == Jj.sum(0)[None, :])
    )
    bad = np.triu(overlap & ~same, k=1)
    if not bad.any():
        return None
    t, u = (int(v) for v in np.argwhere(bad)[0])
    return t, u


def pair_reason(I: np.ndarray, J: np.ndarray, t: int, u: int) -> str:
    rows = [int(i) for i in np.flatnonzero(I[:, t] & I[:, u])]
    cols = [int(j) for j in np.flatnonzero(J[:, t] & J[:, u])]
    return (
        f"the rank-one supports of columns {t} and {u} overlap (on rows {rows} x cols {cols}) without being identical"
    )


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
    I, J = check_masks(I, J)
    explain = check_bool(explain, "explain")
    pair = offending_pair(I, J)
    if not explain:
        return pair is None
    if pair is not None:
        return False, pair_reason(I, J, *pair)
    c = len(support_classes(I, J))
    return True, (
        f"the {int(((I.sum(0) > 0) & (J.sum(0) > 0)).sum())} non-empty rank-one supports are "
        f"pairwise disjoint or identical ({c} equivalence class{'es' if c != 1 else ''})"
    )


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
        sizes = [
            check_int(int(c) if isinstance(c, (np.integer, torch.Tensor)) else c, f"classes[{i}]", 1)
            for i, c in enumerate(list(classes))
        ]
        if not sizes:
            raise ValueError("classes must hold at least one class size, got []")
        if len(sizes) > m * n:
            raise ValueError(f"classes must have at most m*n = {m * n} entries, got {len(sizes)}")
    else:
        c = check_int(classes, "classes", 1, m * n)
        sizes = [1] * c
    seed = check_int(seed, "seed", 0)
    g = torch.Generator().manual_seed(seed)
    rects = [(0, m, 0, n)]  # [r0, r1) x [c0, c1)
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
        q = (hi - lo) // 4  # cut in the middle half: balanced blocks
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
        cols = colperm[start : start + k]
        start += k
        for t in cols.tolist():
            I[prow[r0:r1], t] = True
            J[pcol[c0:c1], t] = True
    return I, J
