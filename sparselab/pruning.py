r"""Magnitude pruning, masks attached to modules, the projected gradient and the group lasso.

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

Masks on modules
----------------
Masks are attached with PyTorch's own re-parametrisation, :mod:`torch.nn.utils.prune`:
:func:`attach_mask` calls :func:`torch.nn.utils.prune.custom_from_mask`, which renames the
parameter ``weight`` to ``weight_orig``, registers the buffer ``weight_mask`` and a forward
pre-hook that sets ``module.weight = weight_orig * weight_mask`` before every forward pass.
Attaching again does not stack another pruning method (PyTorch would build a
``PruningContainer`` and multiply the masks, so a pruned weight could never return); it
copies the new mask into the existing ``weight_mask`` buffer in place, which is how
regrowth (RigL and friends) re-opens connections. :func:`remove_masks` calls
:func:`torch.nn.utils.prune.remove`, which makes the pruning permanent: ``weight`` is again a
plain parameter, equal to :math:`W \odot M` (zeros where pruned). For a
:class:`~sparselab.layers.SparseLinear` layer the attached mask composes with the layer's own
learned mask: its forward reads ``self.weight`` (which the pre-hook has set to
:math:`W \odot M_\text{att}`) and masks it again, so the layer computes with
:math:`W \odot M_\text{att} \odot M_\text{own}` and :func:`current_mask` returns
:math:`M_\text{att} \wedge M_\text{own}`.

The *effective weight* of a layer is :math:`W \odot M` with :math:`M` = :func:`current_mask`
(for a ``SparseLinear`` the exported mask :meth:`~sparselab.layers.SparseLinear.mask` stands
for the layer's own mask). Magnitude pruning of an already pruned model ranks the effective
weights, so pruned weights (zeros) are the first to go again.

The projected-gradient picture
------------------------------
With :math:`L` the loss and :math:`G = \partial L / \partial (W \odot M)` the *dense* gradient
with respect to the effective weight, gradient descent on the masked model only ever uses
:math:`G \odot M` (the projection onto the support); :math:`G \odot (1 - M)` is what a pruned
weight would receive if it were alive, the signal that gradient-based regrowth (RigL) reads.
:func:`gradient_norms` reports :math:`\|G \odot M\|_2` and :math:`\|G \odot (1-M)\|_2`.

Group lasso
-----------
The penalty :math:`\lambda \sum_g \|W_g\|_2` drives whole groups to exactly zero. Its proximal
map is block soft-thresholding,

.. math::  \operatorname{prox}_{\lambda}(W)_g = W_g \, \max\!\big(0,\ 1 - \lambda / \|W_g\|_2\big),

which shrinks every group's norm by :math:`\lambda` and zeroes groups with
:math:`\|W_g\|_2 \le \lambda` (:func:`group_soft_threshold`). Proximal gradient descent takes an
ordinary optimizer step on :math:`L` and then applies the prox with threshold
:math:`\eta\lambda` for learning rate :math:`\eta` (:func:`group_lasso_step`).
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from . import masks as M
from ._validation import check_choice, check_float, check_int, resolve_density
from .layers import SparseLinear

PRUNABLE = (nn.Linear, nn.Conv2d, SparseLinear)
STRUCTURES = ("unstructured", "row", "column", "block", "nm")
GROUP_STRUCTURES = ("row", "column", "block")
SCOPES = ("global", "layer")

__all__ = [
    "PRUNABLE",
    "STRUCTURES",
    "prunable_layers",
    "magnitude_mask",
    "group_norms",
    "global_magnitude_masks",
    "attach_mask",
    "current_mask",
    "effective_weight",
    "remove_masks",
    "is_masked",
    "prune_model",
    "select_layers",
    "mask_density",
    "model_density",
    "dense_gradients",
    "gradient_norms",
    "group_soft_threshold",
    "group_lasso_step",
]


# =========================================================================== validation helpers
def _check_weight(weight, name: str = "weight") -> torch.Tensor:
    if not torch.is_tensor(weight):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(weight).__name__}")
    if weight.dim() < 2:
        raise ValueError(f"{name} must have at least 2 dimensions (out, in[, kh, kw]), got shape "
                         f"{tuple(weight.shape)}")
    if weight.numel() == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(weight.shape)}")
    return weight


def _check_block(block) -> tuple[int, int]:
    if isinstance(block, (str, bytes)) or not isinstance(block, Sequence) or len(block) != 2:
        raise TypeError(f"block must be a pair of positive integers (b_r, b_c), got {block!r}")
    return (check_int(block[0], "block[0]", low=1), check_int(block[1], "block[1]", low=1))


def _divisors(x: int) -> list[int]:
    return [d for d in range(1, x + 1) if x % d == 0]


def _check_block_divides(shape: torch.Size, block: tuple[int, int]) -> None:
    out, inp = int(shape[0]), int(shape[1])
    if out % block[0] or inp % block[1]:
        raise ValueError(
            f"block={block} must tile the weight's (out, in) = ({out}, {inp}) exactly (weight shape "
            f"{tuple(shape)}); no padding is done. Allowed block[0]: divisors of {out}: "
            f"{_divisors(out)}; allowed block[1]: divisors of {inp}: {_divisors(inp)}")


def _check_nm(n, m) -> tuple[int, int]:
    m = check_int(m, "m", low=1)
    n = check_int(n, "n", low=1, high=m)
    return n, m


def _check_module(module, name: str = "module") -> nn.Module:
    if not isinstance(module, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(module).__name__}")
    return module


def _resolve_structure_density(structure, density, sparsity, n, m) -> float:
    """The density of a mask request; for ``nm`` it is n/m, and an explicit density must agree."""
    if structure == "nm":
        target = n / m
        if density is not None or sparsity is not None:
            d = resolve_density(density, sparsity)
            if not math.isclose(d, target, rel_tol=1e-9, abs_tol=1e-12):
                raise ValueError(f"density must be None or n/m = {n}/{m} = {target:g} for structure='nm', "
                                 f"got density {d!r}")
        return target
    if density is None and sparsity is None:
        raise ValueError(f"pass density in (0, 1] or sparsity in [0, 1) for structure={structure!r}")
    return resolve_density(density, sparsity)


# =========================================================================== pure functions on tensors
def _importance(weight: torch.Tensor, scores) -> torch.Tensor:
    """Elementwise importance: ``scores`` (as given) or ``|weight|``, detached, floating point."""
    s = weight.detach().abs() if scores is None else scores.detach()
    return s if s.is_floating_point() else s.double()


def _group_view_norms(s: torch.Tensor, structure: str, block: tuple[int, int]) -> torch.Tensor:
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


def _expand_groups(g: torch.Tensor, shape: torch.Size, structure: str, block: tuple[int, int]) -> torch.Tensor:
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


def magnitude_mask(weight: torch.Tensor, density: float | None = None, *, sparsity: float | None = None,
                   structure: str = "unstructured", block=(4, 4), n: int = 2, m: int = 4,
                   scores: torch.Tensor | None = None) -> torch.Tensor:
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
    weight = _check_weight(weight)
    structure = check_choice(structure, "structure", STRUCTURES)
    block = _check_block(block)
    n, m = _check_nm(n, m)
    d = _resolve_structure_density(structure, density, sparsity, n, m)
    if scores is not None:
        if not torch.is_tensor(scores):
            raise TypeError(f"scores must be a torch.Tensor or None, got {type(scores).__name__}")
        if scores.shape != weight.shape:
            raise ValueError(f"scores must have the shape of weight {tuple(weight.shape)}, "
                             f"got {tuple(scores.shape)}")
    if structure == "block":
        _check_block_divides(weight.shape, block)
    if structure == "nm" and weight.shape[1] % m:
        raise ValueError(f"m={m} must divide the input dimension (dim 1) of the weight, which has "
                         f"{weight.shape[1]} entries (weight shape {tuple(weight.shape)}); allowed m: "
                         f"{_divisors(int(weight.shape[1]))}")

    s = _importance(weight, scores)
    if structure == "unstructured":
        return M.topk_mask(s, M.keep_count(s.numel(), d))
    if structure == "nm":
        return _nm_mask(s, n, m)
    g = _group_view_norms(s, structure, block)
    keep = M.topk_mask(g, M.keep_count(g.numel(), d))
    return _expand_groups(keep, weight.shape, structure, block).contiguous()


def group_norms(weight: torch.Tensor, structure: str = "row", *, block=(4, 4)) -> torch.Tensor:
    r"""The group norms :math:`\|W_g\|_2`: shape ``(out,)`` for ``"row"``, ``(in,)`` for ``"column"``,
    ``(out/b_r, in/b_c)`` for ``"block"`` (a convolution's groups span all kernel positions)."""
    weight = _check_weight(weight)
    structure = check_choice(structure, "structure", GROUP_STRUCTURES)
    block = _check_block(block)
    if structure == "block":
        _check_block_divides(weight.shape, block)
    return _group_view_norms(weight, structure, block)


def global_magnitude_masks(weights: Iterable[torch.Tensor], density: float | None = None, *,
                           sparsity: float | None = None) -> list[torch.Tensor]:
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
        out.append(keep[start:start + w.numel()].view(w.shape).to(w.device))
        start += w.numel()
    return out


def group_soft_threshold(weight: torch.Tensor, lam: float, *, structure: str = "row", block=(4, 4)) -> torch.Tensor:
    r"""Block soft-thresholding, the proximal map of :math:`\lambda \sum_g \|W_g\|_2`.

    :math:`W_g \mapsto W_g \max(0, 1 - \lambda/\|W_g\|_2)`: every group's norm shrinks by
    :math:`\lambda`, and groups with :math:`\|W_g\|_2 \le \lambda` become exactly zero (a zero
    group stays zero). Groups as in :func:`magnitude_mask` (``"row"``, ``"column"``,
    ``"block"``). Returns a new tensor.
    """
    weight = _check_weight(weight)
    lam = check_float(lam, "lam", low=0.0)
    structure = check_choice(structure, "structure", GROUP_STRUCTURES)
    block = _check_block(block)
    if structure == "block":
        _check_block_divides(weight.shape, block)
    norms = _group_view_norms(weight, structure, block)
    safe = torch.where(norms > 0, norms, torch.ones_like(norms))
    scale = torch.where(norms > lam, 1.0 - lam / safe, torch.zeros_like(norms))
    return weight * _expand_groups(scale, weight.shape, structure, block)


# =========================================================================== masks on modules
def prunable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """All ``nn.Linear``, ``nn.Conv2d`` and ``SparseLinear`` submodules, in ``named_modules`` order."""
    _check_module(model, "model")
    return [(name, mod) for name, mod in model.named_modules() if isinstance(mod, PRUNABLE)]


def _pruning_hook(module: nn.Module, name: str):
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, prune.BasePruningMethod) and hook._tensor_name == name:
            return hook
    return None


def is_masked(module: nn.Module, name: str = "weight") -> bool:
    """Whether ``module.<name>`` is re-parametrised by :mod:`torch.nn.utils.prune` (has ``<name>_mask``)."""
    _check_module(module)
    return _pruning_hook(module, name) is not None and hasattr(module, name + "_mask")


def _base_weight(module: nn.Module, name: str = "weight") -> torch.Tensor:
    """``<name>_orig * <name>_mask`` if masked, else the parameter (detached)."""
    if is_masked(module, name):
        return (getattr(module, name + "_orig") * getattr(module, name + "_mask")).detach()
    return getattr(module, name).detach()


def _own_mask(module: SparseLinear, base: torch.Tensor) -> torch.Tensor:
    """A SparseLinear's exported mask, computed from ``base`` (the pre-hook's ``weight`` may be stale)."""
    if module.mask_kind == "soft":
        with torch.no_grad():
            return M.soft_mask(base, module.threshold, module.k, dense_weight_grad=False) != 0
    return module.mask()


def _check_param_name(module: nn.Module, name: str) -> None:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if not (isinstance(getattr(module, name, None), torch.Tensor) or is_masked(module, name)):
        raise ValueError(f"name={name!r} is not a tensor of {type(module).__name__}")


def current_mask(module: nn.Module, name: str = "weight") -> torch.Tensor:
    r"""The boolean mask the module computes with (all True when nothing is attached).

    For a :class:`~sparselab.layers.SparseLinear` (``name="weight"``) it is the product of the
    attached mask and the layer's own exported mask, :math:`M_\text{att} \wedge M_\text{own}`.
    """
    _check_module(module)
    _check_param_name(module, name)
    if is_masked(module, name):
        mask = getattr(module, name + "_mask").detach() != 0
    else:
        mask = torch.ones_like(getattr(module, name), dtype=torch.bool)
    if isinstance(module, SparseLinear) and name == "weight":
        mask = mask & _own_mask(module, _base_weight(module)).to(mask.device)
    return mask


def effective_weight(module: nn.Module, name: str = "weight") -> torch.Tensor:
    r"""The (detached) effective weight :math:`W \odot M` with :math:`M` = :func:`current_mask`."""
    mask = current_mask(module, name)
    return _base_weight(module, name) * mask


def attach_mask(module: nn.Module, mask: torch.Tensor, name: str = "weight") -> nn.Module:
    r"""Attach ``mask`` to ``module.<name>`` with :func:`torch.nn.utils.prune.custom_from_mask`.

    The first call re-parametrises the module (``<name>_orig``, buffer ``<name>_mask``, forward
    pre-hook). Later calls copy ``mask`` into the existing buffer in place (the same tensor
    object), replacing — not multiplying — the previous mask, so pruned weights can be regrown.
    ``mask`` is boolean or 0/1 of the parameter's shape. Returns ``module``.
    """
    _check_module(module)
    _check_param_name(module, name)
    if not torch.is_tensor(mask):
        raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    target = getattr(module, name + "_orig") if is_masked(module, name) else getattr(module, name)
    if mask.shape != target.shape:
        raise ValueError(f"mask must have the shape of {name} {tuple(target.shape)}, got {tuple(mask.shape)}")
    if mask.dtype != torch.bool and not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("mask must be boolean or hold only 0 and 1")
    mask = mask.detach().to(device=target.device, dtype=target.dtype)
    if is_masked(module, name):
        buf = getattr(module, name + "_mask")
        with torch.no_grad():
            buf.copy_(mask)
        # what the pre-hook would set at the next forward, so module.<name> is current right away
        setattr(module, name, _pruning_hook(module, name).apply_mask(module))
    else:
        prune.custom_from_mask(module, name, mask)
    if isinstance(module, SparseLinear):
        module.invalidate_mask()
    return module


def remove_masks(model: nn.Module) -> list[str]:
    r"""Make all pruning permanent (:func:`torch.nn.utils.prune.remove` on every pruned tensor).

    Afterwards ``<name>`` is a plain parameter equal to :math:`W \odot M`. Returns the qualified
    names of the tensors that were un-re-parametrised (``"layer.weight"``, ...).
    """
    _check_module(model, "model")
    removed = []
    for mod_name, mod in list(model.named_modules()):
        names = [h._tensor_name for h in list(mod._forward_pre_hooks.values())
                 if isinstance(h, prune.BasePruningMethod)]
        for name in names:
            prune.remove(mod, name)
            removed.append(f"{mod_name}.{name}" if mod_name else name)
        if names and isinstance(mod, SparseLinear):
            mod.invalidate_mask()
    return removed


def select_layers(model: nn.Module, layers=None) -> list[tuple[str, nn.Module]]:
    """The prunable layers of ``model`` named in ``layers``, in that order (all of them, in module order, for None)."""
    available = prunable_layers(model)
    if layers is None:
        if not available:
            raise ValueError("model has no prunable layers (nn.Linear, nn.Conv2d, SparseLinear)")
        return available
    if isinstance(layers, str) or not isinstance(layers, Iterable):
        raise TypeError(f"layers must be None or a list of layer names, got {layers!r}")
    layers = list(layers)
    if not layers:
        raise ValueError("layers must be None (all prunable layers) or a non-empty list of names")
    by_name = dict(available)
    unknown = [n for n in layers if n not in by_name]
    if unknown:
        raise ValueError(f"layers contains names that are not prunable layers of the model: {unknown}; "
                         f"allowed: {list(by_name)}")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers contains duplicates: {layers}")
    return [(n, by_name[n]) for n in layers]


def prune_model(model: nn.Module, density: float | None = None, *, sparsity: float | None = None,
                scope: str = "global", structure: str = "unstructured", layers=None, block=(4, 4),
                n: int = 2, m: int = 4) -> dict[str, torch.Tensor]:
    r"""Magnitude-prune ``model``'s prunable layers and attach the masks (:func:`attach_mask`).

    Masks are computed from the *effective* weights (:func:`effective_weight`), so an already
    pruned model is pruned further from what it computes with.

    Parameters
    ----------
    density, sparsity
        Target density :math:`d` (or :math:`1-d`); for ``structure="nm"`` it is :math:`n/m`.
    scope
        ``"global"``: one magnitude threshold over all selected layers (exactly
        :math:`\operatorname{round}(d \sum_\ell n_\ell)` weights survive in total; unstructured only).
        ``"layer"``: every layer keeps exactly its own fraction :math:`d`.
        Structured pruning (``row``, ``column``, ``block``) needs ``scope="layer"``; ``nm`` is a
        per-group pattern and is the same under either scope.
    structure, block, n, m
        As for :func:`magnitude_mask`.
    layers
        ``None`` for every prunable layer, or a list of qualified names from :func:`prunable_layers`.

    Returns
    -------
    dict
        Layer name -> the boolean mask attached to its ``weight``.
    """
    _check_module(model, "model")
    scope = check_choice(scope, "scope", SCOPES)
    structure = check_choice(structure, "structure", STRUCTURES)
    block = _check_block(block)
    n, m = _check_nm(n, m)
    d = _resolve_structure_density(structure, density, sparsity, n, m)
    if scope == "global" and structure in GROUP_STRUCTURES:
        raise ValueError(f"scope='global' ranks individual weights across layers and supports structure "
                         f"'unstructured' or 'nm'; use scope='layer' for structure={structure!r}")
    selected = select_layers(model, layers)
    # validate every layer's shape before attaching anything
    for name, mod in selected:
        shape = effective_weight(mod).shape
        if structure == "block" and (shape[0] % block[0] or shape[1] % block[1]):
            raise ValueError(f"layer {name!r}: block={block} must tile the weight's (out, in) = "
                             f"({shape[0]}, {shape[1]}) exactly (weight shape {tuple(shape)}); allowed "
                             f"block[0]: {_divisors(int(shape[0]))}, block[1]: {_divisors(int(shape[1]))}")
        if structure == "nm" and shape[1] % m:
            raise ValueError(f"layer {name!r}: m={m} must divide the input dimension {shape[1]} "
                             f"(weight shape {tuple(shape)}); allowed m: {_divisors(int(shape[1]))}")

    weights = [effective_weight(mod) for _, mod in selected]
    if scope == "global" and structure == "unstructured":
        masks = global_magnitude_masks(weights, d)
    elif structure == "nm":
        masks = [magnitude_mask(w, structure="nm", n=n, m=m) for w in weights]
    else:
        masks = [magnitude_mask(w, d, structure=structure, block=block) for w in weights]
    result = {}
    for (name, mod), mask in zip(selected, masks):
        attach_mask(mod, mask)
        result[name] = mask
    return result


def model_density(model: nn.Module, layers=None) -> float:
    r"""Fraction of non-zero effective weights :math:`\sum_\ell \|W_\ell \odot M_\ell\|_0 / \sum_\ell n_\ell`
    over the prunable layers (or the named ``layers``)."""
    _check_module(model, "model")
    selected = select_layers(model, layers)
    nnz = total = 0
    for _, mod in selected:
        w = effective_weight(mod)
        nnz += int(torch.count_nonzero(w))
        total += w.numel()
    return nnz / total


def mask_density(model: nn.Module, layers=None) -> float:
    r"""Fraction of mask entries that are on, :math:`\sum_\ell |M_\ell| / \sum_\ell n_\ell`, over the
    prunable layers (or the named ``layers``).

    Unlike :func:`model_density` this counts an active weight whose value happens to be
    zero (e.g. one just regrown at zero by RigL) as active: it is the density the
    schedules and dynamic sparse training keep exact.
    """
    _check_module(model, "model")
    masks = [current_mask(mod) for _, mod in select_layers(model, layers)]
    return sum(int(m.sum()) for m in masks) / sum(m.numel() for m in masks)


# =========================================================================== gradients
def _layer_output(module: nn.Module, inp: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    if isinstance(module, nn.Conv2d):
        return module._conv_forward(inp, weight, module.bias)
    return F.linear(inp, weight, module.bias)


def dense_gradients(model: nn.Module, X, y, loss_fn: Callable, *, layers=None) -> dict[str, torch.Tensor]:
    r"""The dense gradient :math:`G_\ell = \partial L / \partial W_{\text{eff},\ell}` of every prunable layer.

    :math:`L` = ``loss_fn(model(X), y)``. Forward hooks recompute each selected layer's output
    from a detached leaf copy of the effective weight it used in that forward pass (``F.linear``
    for linear layers, ``_conv_forward`` for convolutions); ``torch.autograd.grad`` with respect
    to those leaves gives :math:`G`, including on pruned coordinates, without touching any
    parameter's ``.grad``. A layer applied several times sums its gradients; one not applied
    gets zeros. The model's train/eval mode is used as it is; the hooks are removed afterwards.
    """
    _check_module(model, "model")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(prediction, y), got {type(loss_fn).__name__}")
    selected = select_layers(model, layers)
    leaves: dict[str, list[torch.Tensor]] = {name: [] for name, _ in selected}

    def make_hook(name):
        def hook(module, inputs, output):
            if isinstance(module, SparseLinear):
                w = module.effective_weight()
            else:
                w = module.weight  # the prune pre-hook has set it to weight_orig * weight_mask
            leaf = w.detach().requires_grad_(True)
            leaves[name].append(leaf)
            return _layer_output(module, inputs[0], leaf)
        return hook

    handles = [mod.register_forward_hook(make_hook(name), prepend=True) for name, mod in selected]
    try:
        with torch.enable_grad():
            loss = loss_fn(model(X), y)
            if not torch.is_tensor(loss) or loss.numel() != 1:
                raise ValueError("loss_fn must return a scalar tensor")
            flat = [leaf for name, _ in selected for leaf in leaves[name]]
            grads = torch.autograd.grad(loss, flat, allow_unused=True) if flat else ()
    finally:
        for h in handles:
            h.remove()
    out, i = {}, 0
    for name, mod in selected:
        g = torch.zeros_like(_base_weight(mod))
        for leaf in leaves[name]:
            if grads[i] is not None:
                g = g + grads[i]
            i += 1
        out[name] = g
    return out


def gradient_norms(model: nn.Module, X, y, loss_fn: Callable, *, layers=None) -> dict:
    r"""The projected-gradient picture: :math:`\|G \odot M\|_2` (active) and :math:`\|G \odot (1-M)\|_2` (pruned).

    :math:`G` from :func:`dense_gradients`, :math:`M` = :func:`current_mask` of each layer.
    ``"active"`` and ``"pruned"`` are the Euclidean norms over all selected layers together,
    :math:`\big(\sum_\ell \|G_\ell \odot M_\ell\|_2^2\big)^{1/2}`; ``"per_layer"`` maps each layer
    name to ``{"active": ..., "pruned": ...}``.
    """
    grads = dense_gradients(model, X, y, loss_fn, layers=layers)
    modules = dict(model.named_modules())
    per_layer, act2, pru2 = {}, 0.0, 0.0
    for name, g in grads.items():
        mask = current_mask(modules[name]).to(g.device)
        a = float(torch.linalg.vector_norm(g * mask))
        p = float(torch.linalg.vector_norm(g * ~mask))
        per_layer[name] = {"active": a, "pruned": p}
        act2 += a * a
        pru2 += p * p
    return {"active": math.sqrt(act2), "pruned": math.sqrt(pru2), "per_layer": per_layer}


def group_lasso_step(model: nn.Module, lam: float, lr: float, *, structure: str = "row", block=(4, 4),
                     layers=None) -> dict[str, int]:
    r"""Apply the group-lasso proximal map with threshold :math:`\eta\lambda` to the prunable layers, in place.

    Call it after each optimizer step (learning rate :math:`\eta` = ``lr``): together they are
    proximal gradient descent on :math:`L(W) + \lambda \sum_g \|W_g\|_2`. The prox acts on the
    masked weight :math:`W \odot M` (:func:`current_mask`); masked-out entries do not enter the
    group norms and are left as they are. The parameter written is ``weight`` (``weight_orig``
    when a mask is attached). Returns layer name -> number of groups that are entirely zero
    afterwards.
    """
    _check_module(model, "model")
    lam = check_float(lam, "lam", low=0.0)
    lr = check_float(lr, "lr", low=0.0, low_inclusive=False)
    structure = check_choice(structure, "structure", GROUP_STRUCTURES)
    block = _check_block(block)
    selected = select_layers(model, layers)
    if structure == "block":
        for name, mod in selected:
            _check_block_divides(_base_weight(mod).shape, block)
    zero_groups = {}
    for name, mod in selected:
        param = mod.weight_orig if is_masked(mod) else mod.weight
        with torch.no_grad():
            mask = current_mask(mod).to(param.dtype)
            active = param * mask
            new = group_soft_threshold(active, lam * lr, structure=structure, block=block)
            param.copy_(new + param * (1 - mask))
            norms = _group_view_norms(new, structure, block)
        if is_masked(mod):  # keep module.weight current until the next forward recomputes it
            setattr(mod, "weight", _pruning_hook(mod, "weight").apply_mask(mod))
        if isinstance(mod, SparseLinear):
            mod.invalidate_mask()
        zero_groups[name] = int((norms == 0).sum())
    return zero_groups
