r"""Linear layers with sparse weights: thin modules around :mod:`sparselab.masks`.

``SparseLinear`` is a drop-in for :class:`torch.nn.Linear`
(:math:`y = x W_\text{eff}^\top + b`) whose effective weight is produced by one of
the mask kinds (the book's model built on it, ``SparseMLP``, is in :mod:`sparselab.nn.models`).
The structured layers (butterfly, Monarch) are in :mod:`sparselab.nn.structured`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sparselab import masks as M
from sparselab._validation import check_bool, check_float, check_int, resolve_density

__all__ = ["SparseLinear", "sparse_layers"]


class SparseLinear(nn.Module):
    r"""Linear layer whose weight is masked to a fixed density.

    Parameters
    ----------
    in_features, out_features, bias, device, dtype
        As for :class:`torch.nn.Linear`.
    density, sparsity
        Fraction of connections kept, :math:`d \in (0, 1]`, or removed,
        :math:`1 - d \in [0, 1)`; give at most one (default: dense).
    mask
        ``"hard"`` (top-:math:`k` on learned scores), ``"soft"`` (soft threshold
        reparameterisation: a learned threshold :math:`\tau = \sigma(s)` sets the density in
        training, the export keeps the top-:math:`k` magnitudes) or ``"sigmoid"`` (annealed
        relaxation of top-:math:`k`).
    straight_through
        ``hard`` only: pass the straight-through gradient :math:`G \odot W` to the
        scores. ``False`` reproduces the original recipe, whose scores never learn.
    dense_weight_grad
        ``hard`` (with the STE) and ``soft``: the weights receive the dense gradient
        :math:`G` (pruned weights keep learning and can re-enter), or with ``False``
        the exact one, zero on pruned weights (which are then frozen).
    temperature
        ``sigmoid`` only: initial temperature :math:`T` (set it during training with
        :meth:`set_temperature`, e.g. from :func:`sparselab.masks.temperature_schedule`).
    threshold_init
        ``soft`` only: the initial logit :math:`s_0` of the threshold
        :math:`\tau = \sigma(s)` (default -5,
        :math:`\tau_0 \approx 0.0067`: almost dense at the start).

    Notes
    -----
    Parameters are named ``weight``, ``scores`` (``hard``, ``sigmoid``),
    ``threshold`` (``soft``: the scalar *logit* :math:`s`, not :math:`\tau`; :meth:`tau`
    gives :math:`\tau = \sigma(s)`) and ``bias``.

    The ``soft`` layer in training mode computes :math:`S_\tau(W)` with no budget, so its
    density :meth:`training_density` is :math:`\#\{|W| > \tau\}/n`, set by the learned
    threshold; :func:`sparselab.training.train` adds the regulariser that drives it to the
    target density (:func:`sparselab.masks.soft_density_penalty`). In evaluation mode and in
    :meth:`mask` (the export) exactly :math:`k` survive: the top-:math:`k` magnitudes, shrunk by
    :math:`\min(\tau, |W|_{(k+1)})`; ties in :math:`|W|` go to the lower flat index. At density 1
    (:math:`k = n`) the soft layer is an ``nn.Linear`` in both modes: nothing is thresholded.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device=None,
        dtype=None,
        *,
        density: float | None = None,
        sparsity: float | None = None,
        mask: str = "hard",
        straight_through: bool = True,
        dense_weight_grad: bool = True,
        temperature: float = 1.0,
        threshold_init: float = -5.0,
    ):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", low=1)
        self.out_features = check_int(out_features, "out_features", low=1)
        self.target_density = resolve_density(density, sparsity)
        self.mask_kind = M.check_mask_kind(mask)
        self.straight_through = check_bool(straight_through, "straight_through")
        self.dense_weight_grad = bool(dense_weight_grad)
        self.k = M.keep_count(self.in_features * self.out_features, self.target_density)
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(out_features, in_features, **factory))
        if mask in ("hard", "sigmoid"):
            self.scores = nn.Parameter(torch.empty(out_features, in_features, **factory))
        else:
            self.register_parameter("scores", None)
        if mask == "soft":
            self.threshold_init = check_float(threshold_init, "threshold_init")
            self.threshold = nn.Parameter(torch.full((), self.threshold_init, **factory))
        else:
            self.register_parameter("threshold", None)
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features, **factory))
        else:
            self.register_parameter("bias", None)
        # The buffer carries T in the state dict; the float mirror is what the forward reads, so that a
        # CUDA forward never waits on a device-to-host copy.
        self._temperature = check_float(temperature, "temperature", low=0.0, low_inclusive=False)
        self.register_buffer("temperature", torch.tensor(self._temperature, **factory), persistent=True)
        self._mask_cache: tuple | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-uniform weight and scores (as ``nn.Linear``), uniform bias, threshold logit ``threshold_init``."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.scores is not None:
            nn.init.kaiming_uniform_(self.scores, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            nn.init.uniform_(self.bias, -bound, bound)
        if self.threshold is not None:
            with torch.no_grad():
                self.threshold.fill_(self.threshold_init)
        self._mask_cache = None

    # ------------------------------------------------------------------ masks
    def _topk_of_scores(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact top-k mask of the scores, boolean and in the weight's dtype, cached until the scores change.

        The cache is keyed on the scores' autograd version counter, which every
        in-place write through the parameter bumps (optimizer steps, ``copy_`` under
        ``no_grad``, ``load_state_dict``). Writes through ``scores.data`` bypass that
        counter: call :meth:`invalidate_mask` after them.
        """
        key = (self.scores._version, self.scores.data_ptr(), self.scores.device, self.k)
        if self._mask_cache is None or self._mask_cache[0] != key:
            mask = M.topk_mask(self.scores, self.k)
            self._mask_cache = (key, mask, mask.to(self.weight.dtype))
        return self._mask_cache[1:]

    def invalidate_mask(self) -> None:
        """Forget the cached top-k mask (needed only after writing to ``scores.data`` directly)."""
        self._mask_cache = None

    def mask(self) -> torch.Tensor:
        """The boolean mask the layer exports, exactly ``k`` True: top-k of the scores (``hard``, ``sigmoid``)
        or of the magnitudes :math:`|W|` (``soft``), ties to the lower flat index."""
        if self.mask_kind == "soft":
            return M.topk_mask(self.weight.detach().abs(), self.k)
        return self._topk_of_scores()[0].clone()

    def tau(self) -> torch.Tensor:
        r"""``soft`` only: the learned threshold :math:`\tau = \sigma(s)` (differentiable in ``threshold``)."""
        if self.mask_kind != "soft":
            raise ValueError(f"tau() is defined for mask='soft' layers only, this layer has mask={self.mask_kind!r}")
        return M.str_threshold(self.threshold)

    def training_density(self) -> float:
        r"""Density in training mode: :math:`\#\{|W| > \tau\}/n` (``soft``), the exported density otherwise."""
        if self.mask_kind == "soft" and self.k < self.weight.numel():
            return M.soft_density(self.weight, self.tau().detach())
        return self.k / self.weight.numel()

    def nonbinary_fraction(self) -> float:
        """``sigmoid`` only: fraction of relaxed mask values in (0.01, 0.99) at the current temperature."""
        if self.mask_kind != "sigmoid":
            raise ValueError(
                f"nonbinary_fraction() is defined for mask='sigmoid' layers only, this layer has mask={self.mask_kind!r}"
            )
        with torch.no_grad():
            return M.nonbinary_fraction(M.sigmoid_mask_values(self.scores, self.k, self._temperature))

    def effective_weight(self) -> torch.Tensor:
        r""":math:`W_\text{eff}` as used by ``forward`` in the current mode (train/eval)."""
        if self.mask_kind == "hard":
            return M.hard_mask(
                self.weight,
                self.scores,
                self.k,
                straight_through=self.straight_through,
                dense_weight_grad=self.dense_weight_grad,
                mask=self._topk_of_scores()[1],
            )
        if self.mask_kind == "soft":
            if self.k >= self.weight.numel():  # density 1: every connection kept, nothing shrunk (an nn.Linear)
                return self.weight
            k = None if self.training else self.k
            return M.soft_mask(self.weight, self.tau(), k, dense_weight_grad=self.dense_weight_grad)
        if self.training:
            return M.sigmoid_mask(self.weight, self.scores, self.k, self._temperature)
        return M.hard_mask(self.weight, self.scores, self.k, straight_through=False, mask=self._topk_of_scores()[1])

    def set_temperature(self, temperature: float) -> None:
        """Set the sigmoid mask's temperature :math:`T > 0`."""
        self._temperature = check_float(temperature, "temperature", low=0.0, low_inclusive=False)
        self.temperature.fill_(self._temperature)

    @property
    def nnz(self) -> int:
        """Number of connections the exported mask keeps."""
        return int(self.mask().sum())

    @property
    def density(self) -> float:
        """Fraction of connections kept by the exported mask, ``nnz / numel``."""
        return self.nnz / self.weight.numel()

    @property
    def sparsity(self) -> float:
        return 1.0 - self.density

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if input.shape[-1] != self.in_features:
            raise ValueError(
                f"input has {input.shape[-1]} features in its last dimension, but this layer has "
                f"in_features={self.in_features}"
            )
        return F.linear(input, self.effective_weight(), self.bias)

    def _load_from_state_dict(self, *args, **kwargs):
        self._mask_cache = None
        super()._load_from_state_dict(*args, **kwargs)
        self._temperature = float(self.temperature)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
            f"mask={self.mask_kind!r}, density={self.target_density:g}, k={self.k}"
            + ("" if self.straight_through or self.mask_kind != "hard" else ", straight_through=False")
        )


def sparse_layers(model: nn.Module) -> list[tuple[str, SparseLinear]]:
    """All ``SparseLinear`` submodules of ``model`` with their qualified names."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, SparseLinear)]


# ============================================================================ structured (butterfly, Monarch)
