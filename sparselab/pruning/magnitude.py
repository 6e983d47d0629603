r"""Magnitude pruning: masks from the magnitudes of tensors, unstructured, structured and N:M.

Notation (the same as the book and :mod:`sparselab.masks`). A prunable layer has a
weight :math:`W` — a matrix of shape ``(out, in)`` for a linear layer, a tensor of
shape ``(out, in, kh, kw)`` for a convolution — and a binary mask :math:`M` of the same
shape; the layer computes with :math:`W \odot M`. The *density* :math:`d \in (0, 1]` is
the fraction of weights kept (the *sparsity* is :math:`1 - d`). Of :math:`n` candidates
exactly :math:`k = \operatorname{round}(d\,n)` survive (:func:`sparselab.masks.keep_count`),
and the survivors are the exact top-:math:`k` of an importance score, ties broken in favour
of the lower flat index (:func:`sparselab.masks.topk_mask`).

Structures (:func:`magnitude_mask`)
-----------------------------------
The weights are partitioned into groups :math:`g`, each scored by its Euclidean norm
:math:`\|W_g\|_2` (or the norm of a user-supplied score tensor :math:`S` over the group),
and exactly :math:`k = \operatorname{round}(d \cdot \#\text{groups})` whole groups survive:

``unstructured``
    every weight is its own group, scored by :math:`|W_{ij}|`; :math:`k = \operatorname{round}(d\,n)`
    weights survive.
``row``
    :math:`W_{i,:}` — an output neuron, or for a convolution an output channel
    :math:`W_{i,:,:,:}` (dimension 0).
``column``
    :math:`W_{:,j}` — an input feature, or an input channel :math:`W_{:,j,:,:}` (dimension 1).
``block``
    :math:`b_r \times b_c` tiles of the ``(out, in)`` matrix; for a convolution one tile
    spans all kernel positions (the group is :math:`b_r \times b_c \times k_h \times k_w`).
    The tile must divide the matrix: ``out % b_r == 0`` and ``in % b_c == 0``, otherwise a
    :class:`ValueError` lists the allowed divisors. There is deliberately no silent padding
    (padding would make the survivor count depend on phantom entries).
``nm``
    :math:`N{:}M` semi-structured sparsity: in every run of :math:`M` consecutive entries
    along the input dimension (dimension 1), for each row and, for a convolution, each
    kernel position, exactly the :math:`N` largest :math:`|W_{ij}|` survive, so
    :math:`d = N/M` exactly (the pattern of sparse tensor cores, e.g. 2:4). ``in % M``
    must be 0.

:func:`global_magnitude_masks` uses *one* threshold across several tensors,
:math:`\tau = |w|_{(k)}` over the concatenation of all of them with
:math:`k = \operatorname{round}(d \sum_\ell n_\ell)`, so layers with larger weights keep a
larger fraction; scope ``"layer"`` in :func:`prune_model` instead keeps exactly the fraction
:math:`d` of every layer.

Attaching a mask to a module, the projected gradient and the group-lasso step are in
:mod:`sparselab.pruning.modules`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from sparselab import masks as M
from sparselab._validation import check_choice, check_float, check_int, resolve_density
from sparselab.nn.layers import SparseLinear
from sparselab.thresholding import group_shrink_factor

PRUNABLE = (nn.Linear, nn.Conv2d, SparseLinear)
STRUCTURES = ("unstructured", "row", "column", "block", "nm")
GROUP_STRUCTURES = ("row", "column", "block")
SCOPES = ("global", "layer")

__all__ = [
    "PRUNABLE",
    "STRUCTURES",
    "GROUP_STRUCTURES",
    "SCOPES",
    "magnitude_mask",
    "group_norms",
    "global_magnitude_masks",
    "group_soft_threshold",
]


# =========================================================================== validation helpers
def check_weight(weight, name: str = "weight") -> torch.Tensor:
    if not torch.is_tensor(weight):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(weight).__name__}")
    if weight.dim() < 2:
        raise ValueError(f"{name} must have at least 2 dimensions (out, in[, kh, kw]), got shape {tuple(weight.shape)}")
    if weight.numel() == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(weight.shape)}")
    return weight


def check_block(block) -> tuple[int, int]:
    if isinstance(block, (str, bytes)) or not isinstance(block, Sequence) or len(block) != 2:
        raise TypeError(f"block must be a pair of positive integers (b_r, b_c), got {block!r}")
    return (check_int(block[0], "block[0]", low=1), check_int(block[1], "block[1]", low=1))


def divisors(x: int) -> list[int]:
    return [d for d in range(1, x + 1) if x % d == 0]


def check_block_divides(shape: torch.Size, block: tuple[int, int]) -> None:
    out, inp = int(shape[0]), int(shape[1])
    if out % block[0] or inp % block[1]:
        raise ValueError(
            f"block={block} must tile the weight's (out, in) = ({out}, {inp}) exactly (weight shape "
            f"{tuple(shape)}); no padding is done. Allowed block[0]: divisors of {out}: "
            f"{divisors(out)}; allowed block[1]: divisors of {inp}: {divisors(inp)}"
        )


def check_nm(n, m) -> tuple[int, int]:
    m = check_int(m, "m", low=1)
    n = check_int(n, "n", low=1, high=m)
    return n, m


def resolve_structure_density(structure, density, sparsity, n, m) -> float:
    """The density of a mask request; for ``nm`` it is n/m, and an explicit density must agree."""
    if structure == "nm":
        target = n / m
        if density is not None or sparsity is not None:
            d = resolve_density(density, sparsity)
            if not math.isclose(d, target, rel_tol=1e-9, abs_tol=1e-12):
                raise ValueError(
                    f"density must be None or n/m = {n}/{m} = {target:g} for structure='nm', got density {d!r}"
                )
        return target
    if density is None and sparsity is None:
        raise ValueError(f"pass density in (0, 1] or sparsity in [0, 1) for structure={structure!r}")
    return resolve_density(density, sparsity)


# =========================================================================== pure functions on tensors
def _importance(weight: torch.Tensor, scores) -> torch.Tensor:
    """Elementwise importance: ``scores`` (as given) or ``|weight|``, detached, floating point."""
    s = weight.detach().abs() if scores is None else scores.detach()
    return s if s.is_floating_point() else s.double()


def group_view_norms(s: torch.Tensor, structure: str, block: tuple[int, int]) -> torch.Tensor:
    """L2 norms of the groups of ``s``: shape (out,), (in,) or (out/b_r, in/b_c)."""
    if structure == "row":
        return torch.linalg.vector_norm(s.reshape(s.shape[0], -1), dim=1)
    if structure == "column":
        return torch.linalg.vector_norm(s.transpose(0, 1).reshape(s.shape[1], -1), dim=1)
    br, bc = block
    rest = tuple(s.shape[2:])
    tiles = s.reshape(s.shape[0] // br, br, s.shape[1] // bc, bc, *rest)
    dims = (1, 3) + tuple(range(4, 4 + len(rest)))
    return torch.linalg.vector_norm(tiles, dim=dims)


def expand_groups(g: torch.Tensor, shape: torch.Size, structure: str, block: tuple[int, int]) -> torch.Tensor:
    """Broadcast a per-group tensor back to the weight's shape."""
    extra = (1,) * (len(shape) - 2)
    if structure == "row":
        return g.view(shape[0], 1, *extra).expand(shape)
    if structure == "column":
        return g.view(1, shape[1], *extra).expand(shape)
    br, bc = block
    r, c = g.shape
    tiled = g.view(r, 1, c, 1, *extra).expand(r, br, c, bc, *shape[2:])
    return tiled.reshape(shape)


def _nm_mask(s: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Exactly ``n`` largest of every ``m`` consecutive entries along dim 1 (ties: lower index wins)."""
    moved = s.movedim(1, -1).contiguous()
    groups = moved.reshape(*moved.shape[:-1], moved.shape[-1] // m, m)
    order = torch.sort(groups, dim=-1, descending=True, stable=True).indices[..., :n]
    keep = torch.zeros(groups.shape, dtype=torch.bool, device=s.device)
    keep.scatter_(-1, order, True)
    return keep.reshape(moved.shape).movedim(-1, 1).contiguous()


def magnitude_mask(
    weight: torch.Tensor,
    density: float | None = None,
    *,
    sparsity: float | None = None,
    structure: str = "unstructured",
    block=(4, 4),
    n: int = 2,
    m: int = 4,
    scores: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Boolean magnitude-pruning mask of ``weight`` (2-D ``(out, in)`` or 4-D ``(out, in, kh, kw)``).

    Parameters
    ----------
    weight
        The weight :math:`W` (at least 2-D; dimension 0 is the output, dimension 1 the input).
    density, sparsity
        Fraction kept :math:`d \in (0, 1]` or removed :math:`1 - d`; exactly one is required,
        except for ``structure="nm"``, where :math:`d = n/m` and a given density must equal it.
    structure
        ``"unstructured"``, ``"row"``, ``"column"``, ``"block"`` or ``"nm"`` (see the module
        docstring).
    block
        ``(b_r, b_c)`` tile of the ``(out, in)`` matrix for ``"block"``; must divide it.
    n, m
        :math:`N{:}M` pattern for ``"nm"``: :math:`1 \le n \le m` and ``in % m == 0``.
    scores
        Optional importance :math:`S` of the same shape, replacing :math:`|W|`: unstructured
        pruning keeps the top-:math:`k` of :math:`S`, group structures rank :math:`\|S_g\|_2`,
        ``nm`` the entries of :math:`S` within each group of :math:`m`.

    Returns
    -------
    torch.BoolTensor
        Of ``weight``'s shape; exactly :math:`\operatorname{round}(d\cdot\#\text{groups})` whole
        groups are True (for ``nm``: exactly ``n`` of every ``m``). Ties are broken in favour of
        the lower (row-major) group index.
    """
    weight = check_weight(weight)
    structure = check_choice(structure, "structure", STRUCTURES)
    block = check_block(block)
    n, m = check_nm(n, m)
    d = resolve_structure_density(structure, density, sparsity, n, m)
    if scores is not None:
        if not torch.is_tensor(scores):
            raise TypeError(f"scores must be a torch.Tensor or None, got {type(scores).__name__}")
        if scores.shape != weight.shape:
            raise ValueError(f"scores must have the shape of weight {tuple(weight.shape)}, got {tuple(scores.shape)}")
    if structure == "block":
        check_block_divides(weight.shape, block)
    if structure == "nm" and weight.shape[1] % m:
        raise ValueError(
            f"m={m} must divide the input dimension (dim 1) of the weight, which has "
            f"{weight.shape[1]} entries (weight shape {tuple(weight.shape)}); allowed m: "
            f"{divisors(int(weight.shape[1]))}"
        )

    s = _importance(weight, scores)
    if structure == "unstructured":
        return M.topk_mask(s, M.keep_count(s.numel(), d))
    if structure == "nm":
        return _nm_mask(s, n, m)
    g = group_view_norms(s, structure, block)
    keep = M.topk_mask(g, M.keep_count(g.numel(), d))
    return expand_groups(keep, weight.shape, structure, block).contiguous()


def group_norms(weight: torch.Tensor, structure: str = "row", *, block=(4, 4)) -> torch.Tensor:
    r"""The group norms :math:`\|W_g\|_2`: shape ``(out,)`` for ``"row"``, ``(in,)`` for ``"column"``,
    ``(out/b_r, in/b_c)`` for ``"block"`` (a convolution's groups span all kernel positions)."""
    weight = check_weight(weight)
    structure = check_choice(structure, "structure", GROUP_STRUCTURES)
    block = check_block(block)
    if structure == "block":
        check_block_divides(weight.shape, block)
    return group_view_norms(weight, structure, block)


def global_magnitude_masks(
    weights: Iterable[torch.Tensor], density: float | None = None, *, sparsity: float | None = None
) -> list[torch.Tensor]:
    r"""Unstructured masks with *one* magnitude threshold across all ``weights``.

    Exactly :math:`k = \operatorname{round}(d \sum_\ell n_\ell)` entries survive in total: the
    top-:math:`k` of :math:`|W|` over the concatenation of the flattened tensors (ties: earlier
    tensor, then lower flat index). Returns one boolean mask per tensor, on its device.
    """
    weights = list(weights) if not torch.is_tensor(weights) else None
    if weights is None:
        raise TypeError("weights must be a list of tensors, not a single tensor (use magnitude_mask for one)")
    if not weights:
        raise ValueError("weights must contain at least one tensor, got an empty list")
    for i, w in enumerate(weights):
        if not torch.is_tensor(w):
            raise TypeError(f"weights[{i}] must be a torch.Tensor, got {type(w).__name__}")
        if w.numel() == 0:
            raise ValueError(f"weights[{i}] must be non-empty, got shape {tuple(w.shape)}")
    if density is None and sparsity is None:
        raise ValueError("pass density in (0, 1] or sparsity in [0, 1)")
    d = resolve_density(density, sparsity)

    device = weights[0].device
    flat = torch.cat([w.detach().abs().reshape(-1).to(device=device, dtype=torch.float64) for w in weights])
    keep = M.topk_mask(flat, M.keep_count(flat.numel(), d))
    out, start = [], 0
    for w in weights:
        out.append(keep[start : start + w.numel()].view(w.shape).to(w.device))
        start += w.numel()
    return out


def group_soft_threshold(weight: torch.Tensor, lam: float, *, structure: str = "row", block=(4, 4)) -> torch.Tensor:
    r"""Block soft-thresholding, the proximal map of :math:`\lambda \sum_g \|W_g\|_2`.

    :math:`W_g \mapsto W_g \max(0, 1 - \lambda/\|W_g\|_2)`: every group's norm shrinks by
    :math:`\lambda`, and groups with :math:`\|W_g\|_2 \le \lambda` become exactly zero (a zero
    group stays zero). Groups as in :func:`magnitude_mask` (``"row"``, ``"column"``,
    ``"block"``). Returns a new tensor.
    """
    weight = check_weight(weight)
    lam = check_float(lam, "lam", low=0.0)
    structure = check_choice(structure, "structure", GROUP_STRUCTURES)
    block = check_block(block)
    if structure == "block":
        check_block_divides(weight.shape, block)
    scale = group_shrink_factor(group_view_norms(weight, structure, block), lam)
    return weight * expand_groups(scale, weight.shape, structure, block)
