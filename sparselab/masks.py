r"""Masks: differentiable maps from parameters to an effective, sparse weight.

Notation (the same as the book). A layer has a weight matrix :math:`W`, and where
the mask kind needs them an importance-score matrix :math:`S` of the same shape.
Of its :math:`n` entries exactly (or at most) :math:`k = \operatorname{round}(d\,n)`
survive, where :math:`d \in (0, 1]` is the *density* (sparsity is :math:`1 - d`).

Three kinds:

``hard``
    :math:`M = \mathbb{1}[S > \tau_k(S)]`, the exact top-:math:`k` of the scores, and
    :math:`W_\text{eff} = W \odot M`. The indicator has zero derivative almost
    everywhere, so on its own the scores never learn. The straight-through
    estimator (STE) treats the threshold as the identity in the backward pass:
    :math:`\partial L/\partial S := \partial L/\partial M = G \odot W` with
    :math:`G = \partial L/\partial W_\text{eff}` — the scores receive the gradient
    that flows into the mask multiplying the weight. By default the weights receive
    the dense gradient :math:`G` (as if unmasked), so a pruned weight keeps learning
    and can re-enter the mask with the right sign (the "feedback" of Lin et al.,
    2020); ``dense_weight_grad=False`` gives the exact :math:`G \odot M`, with which
    a pruned weight is frozen at its initial value.
``soft``
    Soft threshold reparameterisation (STR, Kusupati et al. 2020):
    :math:`W_\text{eff} = S_\tau(W) = \operatorname{sign}(W)\,\operatorname{relu}(|W| - \tau)`,
    the proximal map of :math:`\tau\|W\|_1`, with a learned threshold
    :math:`\tau = g(s) = \sigma(s)` (one learnable scalar :math:`s` per layer,
    :func:`str_threshold`). In training there is no budget: the layer's density is
    :math:`\rho(\tau) = \frac1n\#\{|W_{ij}| > \tau\}` (:func:`soft_density`), set by the
    learned threshold. The task loss pushes :math:`\tau` down (every survivor is shrunk
    by :math:`\tau`); what pushes it up is a regulariser on the smooth surrogate
    :math:`\tilde\rho = \frac1n\sum\sigma\big((|W_{ij}| - \tau)/(\beta\,\operatorname{sd}|W|)\big)`
    (:func:`soft_density_surrogate`), :math:`\lambda\big((\tilde\rho - d_t)/d_t\big)^2`
    (:func:`soft_density_penalty`) towards a scheduled density :math:`d_t` that falls
    from 1 to :math:`d` (:func:`sparselab.training.train` adds it). In evaluation and
    export exactly :math:`k` survive: :math:`M_k = \operatorname{top}_k(|W|)` and
    :math:`W_\text{eff} = M_k \odot S_{\tau_e}(W)`, :math:`\tau_e = \min(\tau, |W|_{(k+1)})`
    (clipped at 0), so that the export keeps the :math:`k` largest magnitudes, shrunk
    by at most the learned :math:`\tau`. Zeroed weights receive :math:`G` straight
    through, as with ``hard``; :math:`\tau` receives
    :math:`-\sum_{|W|>\tau} G\,\operatorname{sign}(W)` from the loss.
``sigmoid``
    :math:`M = \sigma\big((S - \tau_k(S)) / (T\,\operatorname{sd}(S))\big)` with a
    temperature :math:`T` annealed towards 0 (continuous sparsification). As
    :math:`T \to 0` it tends to the hard top-:math:`k` mask, which is what the
    layer uses in evaluation and export. :func:`sigmoid_mask_values` gives the relaxed
    mask itself, and :func:`nonbinary_fraction` the fraction of its entries in
    :math:`(0.01, 0.99)`, which measures how far the relaxation is from binary.

Ties in the scores are broken deterministically: among equal scores at the
threshold, lower flat (row-major) indices win. A top-:math:`k` mask (``hard``, and
``sigmoid`` in evaluation, ``soft`` in evaluation: the top-:math:`k` of :math:`|W|`)
never keeps more or fewer than :math:`k` entries. In the exported soft weight an entry
of :math:`M_k` whose magnitude ties with :math:`|W|_{(k+1)}` (or is 0) is shrunk to 0,
so ``W_eff != 0`` may count fewer than :math:`k`; the layer's ``mask()`` is :math:`M_k`.
"""

from __future__ import annotations

import numpy as np
import torch

from sparselab._validation import check_choice, check_density, check_float, check_int

MASK_KINDS = ("hard", "soft", "sigmoid")

__all__ = [
    "random_support",
    "MASK_KINDS",
    "keep_count",
    "topk_mask",
    "topk_threshold",
    "hard_mask",
    "soft_mask",
    "str_threshold",
    "soft_density",
    "soft_density_surrogate",
    "soft_density_penalty",
    "sigmoid_mask",
    "sigmoid_mask_values",
    "nonbinary_fraction",
    "temperature_schedule",
]


def keep_count(numel: int, density: float) -> int:
    r"""Number of surviving entries, :math:`k = \operatorname{round}(d\,n)`.

    Python's ``round`` (half to even) is used. A density that keeps no entry at all
    is an error rather than a silently dead layer.
    """
    numel = check_int(numel, "numel", low=1)
    density = check_density(density)
    k = round(density * numel)
    if k < 1:
        raise ValueError(
            f"density={density!r} keeps round(density * numel) = 0 of {numel} entries; "
            f"density must be at least {1 / numel:.3g} for this shape"
        )
    return k


def topk_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    r"""Boolean mask of exactly ``k`` largest entries of ``scores`` (any shape).

    :math:`M_{ij} = 1` for the ``k`` largest :math:`S_{ij}`. The threshold is found by
    selection (linear time, see :func:`topk_threshold`) rather than a full sort;
    entries equal to the threshold are admitted in increasing flat index until
    exactly ``k`` survive, so ties are broken deterministically and the count is
    always exact. On accelerators no host synchronisation is needed, so it is safe
    inside a CUDA training step.
    """
    n = scores.numel()
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}] for a tensor of {n} entries, got {k}")
    if k == n:
        return torch.ones_like(scores, dtype=torch.bool)
    flat = scores.detach().reshape(-1)
    if _numpy_ok(flat):
        return torch.from_numpy(_topk_mask_numpy(flat.numpy(), k)).view(scores.shape)
    tau = topk_threshold(flat, k)
    greater = flat > tau
    equal = flat == tau
    missing = k - greater.sum()
    mask = greater | (equal & (torch.cumsum(equal, 0) <= missing))
    return mask.view(scores.shape)


def topk_threshold(values: torch.Tensor, k: int) -> torch.Tensor:
    """The ``k``-th largest entry of ``values`` (a 0-dim tensor, detached).

    On CPU this is NumPy's introselect (``np.partition``), several times faster than
    ``torch.kthvalue`` there; elsewhere ``kthvalue``. Both are exact.
    """
    flat = values.detach().reshape(-1)
    n = flat.numel()
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}] for a tensor of {n} entries, got {k}")
    if _numpy_ok(flat):
        a = flat.numpy()
        return torch.as_tensor(np.partition(a, n - k)[n - k])
    return flat.kthvalue(n - k + 1).values


def _numpy_ok(flat: torch.Tensor) -> bool:
    """Whether the CPU/NumPy selection path applies (a CPU tensor of a dtype NumPy shares)."""
    return flat.device.type == "cpu" and flat.dtype in _NUMPY_DTYPES


_NUMPY_DTYPES = {torch.float32, torch.float64, torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8}


def _topk_mask_numpy(a: np.ndarray, k: int) -> np.ndarray:
    """Exact top-``k`` mask of a 1-D array with ties broken by lower index (the CPU path of :func:`topk_mask`)."""
    n = a.size
    tau = np.partition(a, n - k)[n - k]
    mask = a > tau
    missing = k - np.count_nonzero(mask)
    equal = np.flatnonzero(a == tau)
    mask[equal[:missing]] = True
    return mask


class _StraightThroughMask(torch.autograd.Function):
    """W ⊙ M in the forward pass; in the backward, G (or G ⊙ M) to W and G ⊙ W to S."""

    @staticmethod
    def forward(ctx, weight, scores, mask, dense_weight_grad):
        ctx.save_for_backward(weight, mask)
        ctx.dense_weight_grad = dense_weight_grad
        return weight * mask

    @staticmethod
    def backward(ctx, grad):
        weight, mask = ctx.saved_tensors
        grad_weight = grad_scores = None
        if ctx.needs_input_grad[0]:
            grad_weight = grad if ctx.dense_weight_grad else grad * mask
        if ctx.needs_input_grad[1]:
            grad_scores = grad * weight
        return grad_weight, grad_scores, None, None


def hard_mask(
    weight: torch.Tensor,
    scores: torch.Tensor,
    k: int,
    *,
    straight_through: bool = True,
    dense_weight_grad: bool = True,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Effective weight :math:`W \odot \mathbb{1}[S > \tau_k(S)]` (exact top-``k`` of ``scores``).

    With ``straight_through=True`` the scores receive :math:`G \odot W` (the STE) and
    the weights :math:`G` (``dense_weight_grad=True``) or :math:`G \odot M`; with
    ``False`` the mask is a constant of the graph, the weights receive
    :math:`G \odot M` and the scores no gradient at all — the original recipe, whose
    scores never move.
    ``mask`` may pass a precomputed ``topk_mask(scores, k)`` (the layer caches it).
    """
    if weight.shape != scores.shape:
        raise ValueError(f"scores must have the shape of weight {tuple(weight.shape)}, got {tuple(scores.shape)}")
    if mask is None:
        mask = topk_mask(scores, k)
    if mask.dtype != weight.dtype:
        mask = mask.to(weight.dtype)
    if straight_through:
        return _StraightThroughMask.apply(weight, scores, mask, bool(dense_weight_grad))
    return weight * mask


def soft_mask(
    weight: torch.Tensor, threshold: torch.Tensor, k: int | None = None, *, dense_weight_grad: bool = True
) -> torch.Tensor:
    r"""Soft-thresholded weight :math:`S_\tau(W)` (training, ``k=None``) or its exact-:math:`k` export.

    ``threshold`` is :math:`\tau` itself (a tensor, e.g. :func:`str_threshold` of the layer's logit).
    With ``k=None``: :math:`W_\text{eff} = S_\tau(W)`, no budget, the density is
    :math:`\rho(\tau)` (:func:`soft_density`). With ``k``: :math:`M_k = \operatorname{top}_k(|W|)` and
    :math:`W_\text{eff} = M_k \odot S_{\tau_e}(W)` with :math:`\tau_e = \max(0, \min(\tau, |W|_{(k+1)}))`
    (:math:`|W|_{(k+1)}` detached, 0 when :math:`k = n`): exactly the :math:`k` largest magnitudes
    survive (ties by lower flat index, as :func:`topk_mask`), an entry tied with :math:`|W|_{(k+1)}`
    being shrunk to 0.

    The exact derivative of :math:`S_\tau` is 0 on the zeroed entries, so a pruned
    weight would stay frozen until some kept weight shrank below it. With
    ``dense_weight_grad=True`` (the default, as for :func:`hard_mask`) the zeroed
    entries receive :math:`G` straight through instead and keep learning; the value
    of :math:`W_\text{eff}` and the gradients of the kept entries and of
    :math:`\tau` are unchanged.
    """
    threshold = torch.as_tensor(threshold, dtype=weight.dtype, device=weight.device)
    if k is None:
        return _SoftThreshold.apply(weight, threshold.clamp_min(0.0), bool(dense_weight_grad))
    n = weight.numel()
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}] for a tensor of {n} entries, got {k}")
    if k >= n:
        floor = weight.new_zeros(())
    else:
        floor = topk_threshold(weight.abs(), k + 1).to(weight.dtype)
    tau = torch.minimum(threshold, floor).clamp_min(0.0)
    keep = topk_mask(weight.abs(), k).to(weight.dtype)
    out = keep * _SoftThreshold.apply(weight, tau, bool(dense_weight_grad))
    if dense_weight_grad:  # the entries outside M_k get G straight through too (the added term's value is 0)
        out = out + (1.0 - keep) * (weight - weight.detach())
    return out


def str_threshold(logit: torch.Tensor) -> torch.Tensor:
    r"""The STR threshold :math:`\tau = g(s) = \sigma(s) \in (0, 1)` of a learnable logit :math:`s` (differentiable)."""
    return torch.sigmoid(logit)


def soft_density(weight: torch.Tensor, threshold) -> float:
    r"""Training-mode density of a soft mask, :math:`\rho(\tau) = \frac1n \#\{|W_{ij}| > \tau\}` (a float)."""
    with torch.no_grad():
        tau = torch.as_tensor(threshold, dtype=weight.dtype, device=weight.device)
        return float((weight.abs() > tau).sum()) / weight.numel()


def soft_density_surrogate(weight: torch.Tensor, threshold: torch.Tensor, beta: float = 0.05) -> torch.Tensor:
    r"""Smooth density :math:`\tilde\rho = \frac1n\sum\sigma\big((|W_{ij}| - \tau)/(\beta\,\operatorname{sd}|W|)\big)`.

    Differentiable in :math:`\tau` and in :math:`W` (the spread :math:`\operatorname{sd}|W|` is
    detached): a penalty on :math:`\tilde\rho` raises the threshold and shrinks the magnitudes within
    a few :math:`\beta\,\operatorname{sd}|W|` of it, so that the weights cannot simply outgrow a
    rising threshold. As :math:`\beta \to 0` it tends
    to :math:`\rho(\tau)` (:func:`soft_density`).
    """
    beta = check_float(beta, "beta", low=0.0, low_inclusive=False)
    mag = weight.abs()
    spread = mag.detach().std().clamp_min(torch.finfo(mag.dtype).tiny) if mag.numel() > 1 else mag.new_ones(())
    return torch.sigmoid((mag - threshold.to(mag.dtype)) / (beta * spread)).mean()


def soft_density_penalty(
    weight: torch.Tensor, threshold: torch.Tensor, target: float, *, strength: float = 1.0, beta: float = 0.05
) -> torch.Tensor:
    r"""The regulariser of the soft mask, :math:`\lambda\big((\tilde\rho - d_t)/d_t\big)^2`.

    :math:`\tilde\rho` is :func:`soft_density_surrogate`, :math:`d_t \in (0, 1]` the scheduled
    density ``target`` and :math:`\lambda \ge 0` the ``strength``. Its gradient raises :math:`\tau`
    while the layer is denser than :math:`d_t` and lowers it while sparser.
    """
    target = check_density(target, "target")
    strength = check_float(strength, "strength", low=0.0)
    rho = soft_density_surrogate(weight, threshold, beta)
    return strength * ((rho - target) / target) ** 2


class _SoftThreshold(torch.autograd.Function):
    r""":math:`S_\tau(W) = W - \operatorname{clip}(W, -\tau, \tau)` in two passes over :math:`W`.

    Backward: :math:`G` (dense) or :math:`G \odot A` to :math:`W`, where :math:`A` marks
    the survivors :math:`|W| > \tau`, and :math:`-\sum_{A} G \operatorname{sign}(W)` to
    :math:`\tau`. Equal in value and in the exact gradient to :func:`sparselab.thresholding.soft_threshold`.
    """

    @staticmethod
    def forward(ctx, weight, tau, dense_weight_grad):
        tau = tau.to(weight.dtype)
        out = weight - torch.clamp(weight, -tau, tau)
        ctx.save_for_backward(out)
        ctx.dense_weight_grad = dense_weight_grad
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        grad_weight = grad_tau = None
        if ctx.needs_input_grad[0]:
            grad_weight = grad if ctx.dense_weight_grad else grad * (out != 0)
        if ctx.needs_input_grad[1]:
            grad_tau = -(grad * torch.sign(out)).sum()  # sign(out) is sign(W) on survivors, 0 elsewhere
        return grad_weight, grad_tau, None


def sigmoid_mask(weight: torch.Tensor, scores: torch.Tensor, k: int, temperature: float) -> torch.Tensor:
    r"""Relaxed mask :math:`W \odot \sigma\big((S - \tau)/(T\,\operatorname{sd}(S))\big)`.

    :math:`\tau` is the midpoint between the ``k``-th and ``(k+1)``-th largest scores
    (detached), so the entries that the hard top-``k`` would keep are exactly those
    with mask value above 1/2, and the relaxation tends to that hard mask as
    :math:`T \to 0`. Dividing by the scores' standard deviation makes :math:`T`
    dimensionless. Use :func:`hard_mask`/:func:`topk_mask` for evaluation and export.
    """
    return weight * sigmoid_mask_values(scores, k, temperature)


def sigmoid_mask_values(scores: torch.Tensor, k: int, temperature: float) -> torch.Tensor:
    r"""The relaxed mask :math:`\sigma\big((S - \tau)/(T\,\operatorname{sd}(S))\big)` of :func:`sigmoid_mask` (all 1 for :math:`k = n`)."""
    temperature = check_float(temperature, "temperature", low=0.0, low_inclusive=False)
    flat = scores.detach().reshape(-1)
    n = flat.numel()
    if k >= n:
        return torch.ones_like(scores)  # every entry survives: the relaxed mask is identically 1
    if _numpy_ok(flat):  # both order statistics from one introselect
        part = np.partition(flat.numpy(), [n - k - 1, n - k])
        tau = torch.as_tensor(0.5 * (part[n - k] + part[n - k - 1]))
    else:
        tau = 0.5 * (topk_threshold(flat, k) + topk_threshold(flat, k + 1))
    spread = flat.std().clamp_min(torch.finfo(flat.dtype).tiny)
    return torch.sigmoid((scores - tau) / (temperature * spread))


def nonbinary_fraction(values: torch.Tensor, low: float = 0.01, high: float = 0.99) -> float:
    r"""Fraction of the entries of a relaxed mask strictly inside :math:`(\text{low}, \text{high})`: 0 for a binary mask."""
    low = check_float(low, "low", low=0.0, high=1.0)
    high = check_float(high, "high", low=low, high=1.0)
    with torch.no_grad():
        v = values.detach()
        return float(((v > low) & (v < high)).sum()) / max(v.numel(), 1)


def temperature_schedule(epoch: int, epochs: int, start: float = 1.0, end: float = 0.01) -> float:
    r"""Geometric annealing :math:`T_e = T_0\,(T_1/T_0)^{e/(E-1)}` for epoch :math:`e \in [0, E)`."""
    epochs = check_int(epochs, "epochs", low=1)
    epoch = check_int(epoch, "epoch", low=0, high=epochs - 1)
    start = check_float(start, "start", low=0.0, low_inclusive=False)
    end = check_float(end, "end", low=0.0, low_inclusive=False)
    if epochs == 1:
        return end
    return start * (end / start) ** (epoch / (epochs - 1))


def check_mask_kind(mask: str) -> str:
    return check_choice(mask, "mask", MASK_KINDS)


def random_support(
    rows: int, cols: int, nnz: int, generator: torch.Generator, *, cover_rows: bool = True
) -> torch.Tensor:
    r"""A uniformly random boolean ``(rows, cols)`` support with exactly ``nnz`` entries, one in every row first.

    With ``cover_rows`` and :math:`\text{nnz} \ge \text{rows}`, every row first gets one entry at a uniformly
    random column (so no neuron or row is empty), then the other :math:`\text{nnz} - \text{rows}` entries are
    drawn uniformly without replacement among the remaining positions; otherwise all ``nnz`` positions are drawn
    uniformly. The draws come from ``generator`` only, in this order (the row entries, then one permutation of
    the free positions), so a seed gives the same support everywhere it is used: the planted matrices of
    :mod:`sparselab.data`, the planted networks of :mod:`sparselab.recovery` and the chapters' masks.

    Parameters
    ----------
    rows, cols : int
        Shape, at least 1 each.
    nnz : int
        Number of entries, in :math:`[0, \text{rows}\cdot\text{cols}]`.
    generator : torch.Generator
        The (CPU) generator to draw from.
    cover_rows : bool
        Give every row one entry first (when there are enough).
    """
    rows = check_int(rows, "rows", 1)
    cols = check_int(cols, "cols", 1)
    nnz = check_int(nnz, "nnz", 0, rows * cols)
    chosen = torch.zeros(rows * cols, dtype=torch.bool)
    if cover_rows and nnz >= rows:
        chosen[torch.randint(cols, (rows,), generator=generator) + torch.arange(rows) * cols] = True
    free = (~chosen).nonzero().flatten()
    chosen[free[torch.randperm(len(free), generator=generator)[: nnz - int(chosen.sum())]]] = True
    return chosen.view(rows, cols)
