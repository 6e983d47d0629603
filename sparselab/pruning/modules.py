r"""Masks on modules, the projected gradient and the group-lasso step.

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
:class:`~sparselab.nn.SparseLinear` layer the attached mask composes with the layer's own
learned mask: its forward reads ``self.weight`` (which the pre-hook has set to
:math:`W \odot M_\text{att}`) and masks it again, so the layer computes with
:math:`W \odot M_\text{att} \odot M_\text{own}` and :func:`current_mask` returns
:math:`M_\text{att} \wedge M_\text{own}`.

The *effective weight* of a layer is :math:`W \odot M` with :math:`M` = :func:`current_mask`
(for a ``SparseLinear`` the exported mask :meth:`~sparselab.nn.SparseLinear.mask` stands
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
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from sparselab import masks as M
from sparselab._validation import check_choice, check_float, check_module
from sparselab.nn.layers import SparseLinear
from sparselab.pruning.magnitude import (
    GROUP_STRUCTURES,
    PRUNABLE,
    SCOPES,
    STRUCTURES,
    check_block,
    check_block_divides,
    check_nm,
    divisors,
    global_magnitude_masks,
    group_soft_threshold,
    group_view_norms,
    magnitude_mask,
    resolve_structure_density,
)

__all__ = [
    "prunable_layers",
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
    "group_lasso_step",
]


# =========================================================================== masks on modules
def prunable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """All ``nn.Linear``, ``nn.Conv2d`` and ``SparseLinear`` submodules, in ``named_modules`` order."""
    check_module(model, "model")
    return [(name, mod) for name, mod in model.named_modules() if isinstance(mod, PRUNABLE)]


def _pruning_hook(module: nn.Module, name: str):
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, prune.BasePruningMethod) and hook._tensor_name == name:
            return hook
    return None


def is_masked(module: nn.Module, name: str = "weight") -> bool:
    """Whether ``module.<name>`` is re-parametrised by :mod:`torch.nn.utils.prune` (has ``<name>_mask``)."""
    check_module(module)
    return _pruning_hook(module, name) is not None and hasattr(module, name + "_mask")


def base_weight(module: nn.Module, name: str = "weight") -> torch.Tensor:
    """``<name>_orig * <name>_mask`` if masked, else the parameter (detached)."""
    if is_masked(module, name):
        return (getattr(module, name + "_orig") * getattr(module, name + "_mask")).detach()
    return getattr(module, name).detach()


def _own_mask(module: SparseLinear, base: torch.Tensor) -> torch.Tensor:
    """A SparseLinear's exported mask, computed from ``base`` (the pre-hook's ``weight`` may be stale)."""
    if module.mask_kind == "soft":  # the export of a soft layer: the top-k magnitudes (SparseLinear.mask)
        return M.topk_mask(base.detach().abs(), module.k)
    return module.mask()


def _check_param_name(module: nn.Module, name: str) -> None:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if not (isinstance(getattr(module, name, None), torch.Tensor) or is_masked(module, name)):
        raise ValueError(f"name={name!r} is not a tensor of {type(module).__name__}")


def current_mask(module: nn.Module, name: str = "weight") -> torch.Tensor:
    r"""The boolean mask the module computes with (all True when nothing is attached).

    For a :class:`~sparselab.nn.SparseLinear` (``name="weight"``) it is the product of the
    attached mask and the layer's own exported mask, :math:`M_\text{att} \wedge M_\text{own}`.
    """
    check_module(module)
    _check_param_name(module, name)
    if is_masked(module, name):
        mask = getattr(module, name + "_mask").detach() != 0
    else:
        mask = torch.ones_like(getattr(module, name), dtype=torch.bool)
    if isinstance(module, SparseLinear) and name == "weight":
        mask = mask & _own_mask(module, base_weight(module)).to(mask.device)
    return mask


def effective_weight(module: nn.Module, name: str = "weight") -> torch.Tensor:
    r"""The (detached) effective weight :math:`W \odot M` with :math:`M` = :func:`current_mask`."""
    mask = current_mask(module, name)
    return base_weight(module, name) * mask


def attach_mask(module: nn.Module, mask: torch.Tensor, name: str = "weight") -> nn.Module:
    r"""Attach ``mask`` to ``module.<name>`` with :func:`torch.nn.utils.prune.custom_from_mask`.

    The first call re-parametrises the module (``<name>_orig``, buffer ``<name>_mask``, forward
    pre-hook). Later calls copy ``mask`` into the existing buffer in place (the same tensor
    object), replacing — not multiplying — the previous mask, so pruned weights can be regrown.
    ``mask`` is boolean or 0/1 of the parameter's shape. Returns ``module``.
    """
    check_module(module)
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
    check_module(model, "model")
    removed = []
    for mod_name, mod in list(model.named_modules()):
        names = [
            h._tensor_name for h in list(mod._forward_pre_hooks.values()) if isinstance(h, prune.BasePruningMethod)
        ]
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
        raise ValueError(
            f"layers contains names that are not prunable layers of the model: {unknown}; allowed: {list(by_name)}"
        )
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers contains duplicates: {layers}")
    return [(n, by_name[n]) for n in layers]


def prune_model(
    model: nn.Module,
    density: float | None = None,
    *,
    sparsity: float | None = None,
    scope: str = "global",
    structure: str = "unstructured",
    layers=None,
    block=(4, 4),
    n: int = 2,
    m: int = 4,
) -> dict[str, torch.Tensor]:
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
    check_module(model, "model")
    scope = check_choice(scope, "scope", SCOPES)
    structure = check_choice(structure, "structure", STRUCTURES)
    block = check_block(block)
    n, m = check_nm(n, m)
    d = resolve_structure_density(structure, density, sparsity, n, m)
    if scope == "global" and structure in GROUP_STRUCTURES:
        raise ValueError(
            f"scope='global' ranks individual weights across layers and supports structure "
            f"'unstructured' or 'nm'; use scope='layer' for structure={structure!r}"
        )
    selected = select_layers(model, layers)
    # validate every layer's shape before attaching anything
    for name, mod in selected:
        shape = effective_weight(mod).shape
        if structure == "block" and (shape[0] % block[0] or shape[1] % block[1]):
            raise ValueError(
                f"layer {name!r}: block={block} must tile the weight's (out, in) = "
                f"({shape[0]}, {shape[1]}) exactly (weight shape {tuple(shape)}); allowed "
                f"block[0]: {divisors(int(shape[0]))}, block[1]: {divisors(int(shape[1]))}"
            )
        if structure == "nm" and shape[1] % m:
            raise ValueError(
                f"layer {name!r}: m={m} must divide the input dimension {shape[1]} "
                f"(weight shape {tuple(shape)}); allowed m: {divisors(int(shape[1]))}"
            )

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
    check_module(model, "model")
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
    check_module(model, "model")
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
    check_module(model, "model")
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
        g = torch.zeros_like(base_weight(mod))
        for _leaf in leaves[name]:
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


def group_lasso_step(
    model: nn.Module, lam: float, lr: float, *, structure: str = "row", block=(4, 4), layers=None
) -> dict[str, int]:
    r"""Apply the group-lasso proximal map with threshold :math:`\eta\lambda` to the prunable layers, in place.

    Call it after each optimizer step (learning rate :math:`\eta` = ``lr``): together they are
    proximal gradient descent on :math:`L(W) + \lambda \sum_g \|W_g\|_2`. The prox acts on the
    masked weight :math:`W \odot M` (:func:`current_mask`); masked-out entries do not enter the
    group norms and are left as they are. The parameter written is ``weight`` (``weight_orig``
    when a mask is attached). Returns layer name -> number of groups that are entirely zero
    afterwards.
    """
    check_module(model, "model")
    lam = check_float(lam, "lam", low=0.0)
    lr = check_float(lr, "lr", low=0.0, low_inclusive=False)
    structure = check_choice(structure, "structure", GROUP_STRUCTURES)
    block = check_block(block)
    selected = select_layers(model, layers)
    if structure == "block":
        for _, mod in selected:
            check_block_divides(base_weight(mod).shape, block)
    zero_groups = {}
    for name, mod in selected:
        param = mod.weight_orig if is_masked(mod) else mod.weight
        with torch.no_grad():
            mask = current_mask(mod).to(param.dtype)
            active = param * mask
            new = group_soft_threshold(active, lam * lr, structure=structure, block=block)
            param.copy_(new + param * (1 - mask))
            norms = group_view_norms(new, structure, block)
        if is_masked(mod):  # keep module.weight current until the next forward recomputes it
            mod.weight = _pruning_hook(mod, "weight").apply_mask(mod)
        if isinstance(mod, SparseLinear):
            mod.invalidate_mask()
        zero_groups[name] = int((norms == 0).sum())
    return zero_groups
