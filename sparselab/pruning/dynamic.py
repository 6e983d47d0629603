r"""Dynamic sparse training: SET and RigL, which move a fixed budget of connections during training.

Notation (the same as the book). A layer has weight :math:`W` and mask :math:`M`
with :math:`k = \operatorname{round}(d\,n)` active entries, :math:`n` = ``W.numel()``.
Every ``update_every`` = :math:`\Delta T` optimizer steps each layer

1. **drops** the :math:`m = \operatorname{round}(f_t\,k)` active weights of smallest
   magnitude :math:`|W_{ij}|` (:func:`magnitude_drop`), and
2. **regrows** :math:`m` weights among those that were inactive before the update
   (so the dropped and the regrown sets are disjoint and exactly :math:`m` mask
   entries move each way; :math:`m` is capped at the :math:`n - k` inactive ones):

   * SET (Mocanu et al., 2018): uniformly at random (:func:`random_grow`);
   * RigL (Evci et al., 2020): the largest dense-gradient magnitudes
     :math:`|\partial L / \partial W_\text{eff}|` on the current batch
     (:func:`gradient_grow`), the gradient the masked model never uses for them.

The count of active weights of every layer, hence the density, is exactly constant.
Regrown weights start at zero (RigL; SET by default, or ``regrow_init="uniform"``)
and their optimizer state (Adam's ``exp_avg``, ``exp_avg_sq``) is reset at those
coordinates, so they start as fresh parameters. SET drops a constant fraction
:math:`f_t = f_0`; RigL decays it on a cosine,
:math:`f_t = \tfrac{f_0}{2}\big(1 + \cos(\pi t / T_\text{end})\big)`, and stops
updating at :math:`T_\text{end}` (:func:`cosine_drop_fraction`).

Masks are attached with :mod:`torch.nn.utils.prune` through
:func:`sparselab.modules.attach_mask`. At ``on_train_begin`` every chosen layer without
a mask gets a uniformly random one with exactly :math:`k` active entries (seeded);
a layer that already carries a mask (e.g. from magnitude pruning) keeps it and its
count. The algorithms are meant for ``nn.Linear`` and ``nn.Conv2d``; on a
``SparseLinear`` they move the attached mask, which composes with the layer's own.
"""

from __future__ import annotations

import math

import torch

from sparselab import training
from sparselab._validation import check_choice, check_density, check_float, check_int, check_layer_names
from sparselab.masks import keep_count, topk_mask
from sparselab.pruning import modules

REGROW_INITS = ("zero", "uniform")

__all__ = [
    "REGROW_INITS",
    "cosine_drop_fraction",
    "drop_count",
    "magnitude_drop",
    "random_grow",
    "gradient_grow",
    "random_mask",
    "SET",
    "RigL",
]


# --------------------------------------------------------------------------- pure functions
def cosine_drop_fraction(step: int, drop_fraction: float, end_step: int) -> float:
    r"""RigL's drop-fraction decay :math:`f_t = \tfrac{f_0}{2}\big(1 + \cos(\pi t / T_\text{end})\big)`, 0 after :math:`T_\text{end}`.

    Evci et al. (2020), eq. (1): the fraction of connections updated anneals to 0,
    so the topology settles before training ends.
    """
    step = check_int(step, "step", low=0)
    f0 = check_float(drop_fraction, "drop_fraction", low=0.0, high=1.0, low_inclusive=False)
    end = check_int(end_step, "end_step", low=1)
    if step >= end:
        return 0.0
    return 0.5 * f0 * (1.0 + math.cos(math.pi * step / end))


def drop_count(n_active: int, n_inactive: int, fraction: float) -> int:
    r"""Number of weights moved by an update, :math:`m = \min(\operatorname{round}(f\,k),\ n - k)`.

    ``round`` is Python's (half to even), as in :func:`sparselab.masks.keep_count`; the cap
    keeps room for the regrown weights among the previously inactive ones.
    """
    n_active = check_int(n_active, "n_active", low=0)
    n_inactive = check_int(n_inactive, "n_inactive", low=0)
    fraction = check_float(fraction, "fraction", low=0.0, high=1.0)
    return min(round(fraction * n_active), n_inactive)


def _empty(mask: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(mask, dtype=torch.bool)


def magnitude_drop(mask: torch.Tensor, weight: torch.Tensor, n: int) -> torch.Tensor:
    r"""The ``n`` active entries of smallest :math:`|W|` (a boolean tensor of ``mask``'s shape).

    Exact count: the top-``n`` of :math:`-|W|` over the active entries
    (:func:`sparselab.masks.topk_mask`; among equal magnitudes the lower flat index is dropped).
    """
    mask = _check_mask(mask)
    if weight.shape != mask.shape:
        raise ValueError(f"weight must have the shape of mask {tuple(mask.shape)}, got {tuple(weight.shape)}")
    n = check_int(n, "n", low=0, high=int(mask.sum()))
    if n == 0:
        return _empty(mask)
    w = weight.detach().abs().to(torch.float64)
    scores = torch.where(mask, -w, torch.full_like(w, -math.inf))
    return topk_mask(scores, n)


def gradient_grow(mask: torch.Tensor, grad: torch.Tensor, n: int) -> torch.Tensor:
    r"""The ``n`` inactive entries of largest dense-gradient magnitude :math:`|G|` (RigL's regrowth).

    Exact count: the top-``n`` of :math:`|G|` over the inactive entries (ties: lower flat index).
    """
    mask = _check_mask(mask)
    if grad.shape != mask.shape:
        raise ValueError(f"grad must have the shape of mask {tuple(mask.shape)}, got {tuple(grad.shape)}")
    n = check_int(n, "n", low=0, high=int((~mask).sum()))
    if n == 0:
        return _empty(mask)
    g = grad.detach().abs().to(torch.float64)
    scores = torch.where(mask, torch.full_like(g, -math.inf), g)
    return topk_mask(scores, n)


def random_grow(mask: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` inactive entries drawn uniformly without replacement (SET's regrowth), from ``generator``."""
    mask = _check_mask(mask)
    n = check_int(n, "n", low=0, high=int((~mask).sum()))
    grown = _empty(mask)
    if n == 0:
        return grown
    inactive = (~mask).reshape(-1).nonzero().squeeze(1).cpu()
    pick = inactive[torch.randperm(len(inactive), generator=generator)[:n]]
    grown.view(-1)[pick.to(mask.device)] = True
    return grown


def random_mask(shape, density: float, generator: torch.Generator) -> torch.Tensor:
    """A uniformly random boolean mask with exactly ``keep_count(numel, density)`` True entries (on the CPU)."""
    shape = torch.Size(shape)
    k = keep_count(shape.numel(), density)
    mask = torch.zeros(shape.numel(), dtype=torch.bool)
    mask[torch.randperm(shape.numel(), generator=generator)[:k]] = True
    return mask.view(shape)


def _check_mask(mask) -> torch.Tensor:
    if not torch.is_tensor(mask) or mask.dtype != torch.bool:
        raise TypeError(f"mask must be a boolean tensor, got {getattr(mask, 'dtype', type(mask).__name__)}")
    return mask


# --------------------------------------------------------------------------- callbacks
class _DynamicSparse:
    """Shared machinery of :class:`SET` and :class:`RigL` (random initial masks, drop/regrow, log)."""

    def __init__(self, density, *, update_every, drop_fraction, end_step, layers, seed, regrow_init):
        self.density = check_density(density, "density")
        self.update_every = check_int(update_every, "update_every", low=1)
        self.drop_fraction = check_float(drop_fraction, "drop_fraction", low=0.0, high=1.0, low_inclusive=False)
        self.end_step = None if end_step is None else check_int(end_step, "end_step", low=1)
        self.layers = check_layer_names(layers)
        self.seed = check_int(seed, "seed", low=0)
        self.regrow_init = check_choice(regrow_init, "regrow_init", REGROW_INITS)
        self.log: list[tuple[int, int, int, float]] = []
        self.counts: dict[str, int] = {}
        self._selected = None
        self._optimizer = None
        self._generator = None

    # ---------------------------------------------------------------- hooks
    def on_train_begin(self, model, optimizer):
        self._selected = modules.select_layers(model, self.layers)
        self._optimizer = optimizer
        self._generator = torch.Generator().manual_seed(self.seed)
        for name, m in self._selected:
            if not modules.is_masked(m):
                modules.attach_mask(m, random_mask(m.weight.shape, self.density, self._generator))
            self.counts[name] = int(self._mask(m).sum())

    def on_step_end(self, step, model, optimizer, batch):
        if step % self.update_every or (self.end_step is not None and step >= self.end_step):
            return
        fraction = self.fraction(step)
        if fraction <= 0.0:
            return
        if self._selected is None:
            self.on_train_begin(model, optimizer)
        self._optimizer = optimizer
        self.update(step, fraction, model, batch)

    def fraction(self, step: int) -> float:
        """Drop fraction at ``step``."""
        raise NotImplementedError

    # ---------------------------------------------------------------- the update
    @staticmethod
    def _mask(module) -> torch.Tensor:
        return module.weight_mask.detach() != 0

    def _grow(self, name, module, mask, n, grads):
        raise NotImplementedError

    def _gradients(self, model, batch):
        return None

    def update(self, step: int, fraction: float, model, batch) -> tuple[int, int]:
        """Drop and regrow ``fraction`` of each layer's active weights; returns (dropped, regrown) totals."""
        grads = self._gradients(model, batch)
        dropped_total = grown_total = 0
        for name, m in self._selected:
            mask = self._mask(m)
            active = int(mask.sum())
            n = drop_count(active, mask.numel() - active, fraction)
            if n == 0:
                continue
            param = m.weight_orig
            dropped = magnitude_drop(mask, param, n)
            grown = self._grow(name, m, mask, n, grads)
            new = (mask & ~dropped) | grown
            if int(new.sum()) != self.counts[name]:  # cannot happen: dropped ⊆ active, grown ⊆ inactive
                raise RuntimeError(f"layer {name!r}: active count changed from {self.counts[name]} to {int(new.sum())}")
            self._init_regrown(m, param, grown)
            modules.attach_mask(m, new)
            dropped_total += int(dropped.sum())
            grown_total += int(grown.sum())
        total = sum(m.weight_orig.numel() for _, m in self._selected)
        density = sum(self.counts.values()) / total
        self.log.append((step, dropped_total, grown_total, density))
        return dropped_total, grown_total

    def _init_regrown(self, module, param, grown):
        """Set the regrown weights (zero, or U(-b, b) with b = 1/sqrt(fan_in)) and reset their optimizer state."""
        with torch.no_grad():
            if self.regrow_init == "zero":
                param[grown] = 0.0
            else:
                fan_in = param[0].numel()
                bound = 1.0 / math.sqrt(fan_in)
                values = (torch.rand(int(grown.sum()), generator=self._generator, dtype=torch.float64) * 2 - 1) * bound
                param[grown] = values.to(device=param.device, dtype=param.dtype)
            state = self._optimizer.state.get(param, {}) if self._optimizer is not None else {}
            for _key, value in state.items():
                if torch.is_tensor(value) and value.shape == param.shape:
                    value[grown] = 0


class SET(_DynamicSparse):
    r"""Callback: Sparse Evolutionary Training (Mocanu et al., 2018).

    Every ``update_every`` steps each chosen layer drops the fraction ``drop_fraction``
    (:math:`\zeta`) of its active weights with the smallest magnitude and regrows as many
    uniformly at random among the inactive ones (seeded by ``seed``); the density stays
    exactly constant. No updates from ``end_step`` on (``None``: until the end).
    ``regrow_init`` is ``"zero"`` or ``"uniform"`` (:math:`\mathcal U(-b, b)`,
    :math:`b = 1/\sqrt{\text{fan-in}}`). ``log`` holds ``(step, dropped, regrown, density)``.
    """

    def __init__(
        self,
        density: float,
        *,
        update_every: int,
        drop_fraction: float = 0.3,
        end_step: int | None = None,
        layers=None,
        seed: int = 0,
        regrow_init: str = "zero",
    ):
        super().__init__(
            density,
            update_every=update_every,
            drop_fraction=drop_fraction,
            end_step=end_step,
            layers=layers,
            seed=seed,
            regrow_init=regrow_init,
        )

    def fraction(self, step: int) -> float:
        return self.drop_fraction

    def _grow(self, name, module, mask, n, grads):
        return random_grow(mask, n, self._generator)


class RigL(_DynamicSparse):
    r"""Callback: Rigging the Lottery (Evci et al., 2020).

    Every ``update_every`` steps before ``end_step`` each chosen layer drops the
    :math:`\operatorname{round}(f_t k)` active weights of smallest magnitude and regrows
    as many inactive ones with the largest dense-gradient magnitude
    :math:`|\partial L/\partial W_\text{eff}|`, computed on the step's batch
    (:func:`sparselab.modules.dense_gradients` with
    :func:`sparselab.training.task_loss`); :math:`f_t` is
    :func:`cosine_drop_fraction`. Regrown weights start at zero. The model's buffers
    (e.g. batch-norm statistics) are left as they were before the extra forward pass.
    ``log`` holds ``(step, dropped, regrown, density)``.
    """

    def __init__(
        self,
        density: float,
        *,
        update_every: int,
        drop_fraction: float = 0.3,
        end_step: int,
        layers=None,
        seed: int = 0,
    ):
        if end_step is None:
            raise ValueError(
                "end_step must be an integer >= 1 for RigL (the drop fraction decays to 0 there), got None"
            )
        super().__init__(
            density,
            update_every=update_every,
            drop_fraction=drop_fraction,
            end_step=end_step,
            layers=layers,
            seed=seed,
            regrow_init="zero",
        )

    def fraction(self, step: int) -> float:
        return cosine_drop_fraction(step, self.drop_fraction, self.end_step)

    def _gradients(self, model, batch):
        X, y, task = batch
        buffers = [(b, b.detach().clone()) for name, b in model.named_buffers() if not name.endswith("_mask")]
        names = [name for name, _ in self._selected]
        try:
            grads = modules.dense_gradients(
                model, X, y, lambda pred, target: training.task_loss(pred, target, task), layers=names
            )
        finally:
            with torch.no_grad():
                for b, saved in buffers:
                    b.copy_(saved)
        return grads

    def _grow(self, name, module, mask, n, grads):
        return gradient_grow(mask, grads[name].to(mask.device), n)
