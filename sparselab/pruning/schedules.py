r"""Pruning schedules: gradual (cubic) magnitude pruning and iterative magnitude pruning with rewinding.

Notation (the same as the book): a model's prunable weights number :math:`N`; at
density :math:`d` exactly :math:`k = \operatorname{round}(d\,N)` of them survive
(:func:`sparselab.masks.keep_count`); sparsity is :math:`s = 1 - d`. A *step* is one
optimizer step, counted from 1 inside a :func:`sparselab.training.train` call.

Gradual magnitude pruning (Zhu & Gupta, 2017)
    The sparsity rises from :math:`s_i` to :math:`s_f` over :math:`n` pruning
    updates spaced :math:`\Delta t` steps apart, starting at step :math:`t_0`:

    .. math::

        s_t = s_f + (s_i - s_f)\Big(1 - \frac{t - t_0}{n\,\Delta t}\Big)^3,
        \qquad t \in \{t_0, t_0 + \Delta t, \dots, t_0 + n\Delta t\},

    fast at first, while many redundant weights remain, and slowly near the end.
    At every update the weights with the smallest magnitude are removed until the
    scheduled density is reached (:class:`GradualPruning`). One-shot pruning is the
    case :math:`n = 0` (:class:`OneShotPruning`).

Iterative magnitude pruning (Frankle & Carbin, 2019; Frankle et al., 2020)
    Train; remove a fraction :math:`\alpha` of the surviving weights by magnitude;
    rewind the survivors to their values at step :math:`k` (:math:`k = 0`: the
    initialisation, the "lottery ticket"; :math:`k > 0`: "late rewinding", which
    Frankle et al. 2020 found necessary for deeper networks); retrain; repeat. After
    round :math:`r` the density is :math:`d_r = (1 - \alpha)^r`, so :math:`S` rounds
    reach :math:`d_f` with :math:`\alpha = 1 - d_f^{1/S}` (:func:`imp_density`,
    :func:`imp_alpha`, :func:`iterative_magnitude_pruning`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from sparselab._validation import check_choice, check_density, check_float, check_int, check_layer_names
from sparselab.masks import keep_count, topk_mask
from sparselab.pruning import modules
from sparselab.pruning.magnitude import SCOPES, STRUCTURES

__all__ = [
    "cubic_sparsity",
    "imp_density",
    "imp_alpha",
    "GradualPruning",
    "OneShotPruning",
    "IMPResult",
    "iterative_magnitude_pruning",
    "snapshot_weights",
    "rewind_weights",
]


# --------------------------------------------------------------------------- pure schedules
def cubic_sparsity(
    step: int,
    *,
    final_sparsity: float,
    initial_sparsity: float = 0.0,
    start_step: int = 0,
    n_updates: int,
    update_every: int,
) -> float:
    r"""Sparsity of the cubic schedule of Zhu & Gupta (2017) at ``step``.

    .. math::

        s_t = s_f + (s_i - s_f)\Big(1 - \frac{\bar t - t_0}{n\,\Delta t}\Big)^3,
        \qquad \bar t = t_0 + \Delta t \Big\lfloor \frac{t - t_0}{\Delta t} \Big\rfloor,

    for :math:`t_0 \le t \le t_0 + n\Delta t`: the schedule is evaluated at the last
    update step :math:`\bar t \le t`, so it is piecewise constant between updates.
    Before :math:`t_0` it is :math:`s_i`, from :math:`t_0 + n\Delta t` on it is
    :math:`s_f`; with :math:`n = 0` it jumps from :math:`s_i` to :math:`s_f` at
    :math:`t_0` (one-shot). Monotone non-decreasing in :math:`t` since
    :math:`s_i \le s_f`.

    Parameters
    ----------
    step : int >= 0, the step :math:`t`
    final_sparsity : :math:`s_f \in [0, 1)`
    initial_sparsity : :math:`s_i \in [0, s_f]`
    start_step : :math:`t_0 \ge 0`
    n_updates : :math:`n \ge 0`, the number of updates after the one at :math:`t_0`
    update_every : :math:`\Delta t \ge 1`
    """
    step = check_int(step, "step", low=0)
    s_f = check_float(final_sparsity, "final_sparsity", low=0.0, high=1.0, high_inclusive=False)
    s_i = check_float(initial_sparsity, "initial_sparsity", low=0.0, high=s_f)
    t0 = check_int(start_step, "start_step", low=0)
    n = check_int(n_updates, "n_updates", low=0)
    dt = check_int(update_every, "update_every", low=1)
    if step < t0:
        return s_i
    if step >= t0 + n * dt:
        return s_f
    last = t0 + dt * ((step - t0) // dt)
    return s_f + (s_i - s_f) * (1.0 - (last - t0) / (n * dt)) ** 3


def imp_density(round: int, alpha: float) -> float:
    r"""Density after ``round`` rounds of iterative magnitude pruning, :math:`d_r = (1 - \alpha)^r`.

    Each round removes the fraction :math:`\alpha \in (0, 1)` of the weights that
    survived the previous one (Frankle & Carbin, 2019).
    """
    r = check_int(round, "round", low=0)
    alpha = check_float(alpha, "alpha", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    return (1.0 - alpha) ** r


def imp_alpha(final_density: float, rounds: int) -> float:
    r"""Per-round pruning fraction that reaches ``final_density`` in ``rounds`` rounds, :math:`\alpha = 1 - d_f^{1/S}`.

    The inverse of :func:`imp_density`: :math:`(1 - \alpha)^S = d_f`.
    """
    d = check_density(final_density, "final_density")
    if d >= 1.0:
        raise ValueError(f"final_density must be in (0, 1) for iterative pruning to remove anything, got {d!r}")
    s = check_int(rounds, "rounds", low=1)
    return 1.0 - d ** (1.0 / s)


# --------------------------------------------------------------------------- helpers shared by the callbacks
# --------------------------------------------------------------------------- gradual pruning
class GradualPruning:
    r"""Callback: gradual magnitude pruning on the cubic schedule (Zhu & Gupta, 2017).

    At the update steps :math:`t_0, t_0 + \Delta t, \dots, t_0 + n\Delta t` (with
    ``start_step`` :math:`= t_0`, ``end_step`` :math:`= t_0 + n\Delta t`,
    ``update_every`` :math:`= \Delta t`) the model is pruned by magnitude
    (:func:`sparselab.modules.prune_model`, from the effective weights, so pruned
    weights stay pruned) to the density :math:`1 - s_t` of :func:`cubic_sparsity`
    with :math:`s_i = 1 -` ``initial_density`` and :math:`s_f = 1 -` ``final_density``.
    At the last update the density is ``final_density`` exactly: with
    ``scope="global"`` exactly ``keep_count(N, final_density)`` of the :math:`N`
    weights of the chosen layers survive, with ``scope="layer"`` each layer keeps
    ``keep_count(numel, final_density)``. An update whose target density is 1 is a
    no-op (nothing is attached). ``start_step == end_step`` is one-shot pruning
    (see :class:`OneShotPruning`); step 0 means before the first optimizer step
    (pruning at initialisation, done in ``on_train_begin``).

    ``log`` holds ``(step, target_density, measured_density)`` per update, the
    measured density being the exact fraction of active mask entries.
    The model is expected to start dense (or at least as dense as ``initial_density``).
    """

    def __init__(
        self,
        final_density: float,
        *,
        start_step: int,
        end_step: int,
        update_every: int,
        initial_density: float = 1.0,
        scope: str = "global",
        structure: str = "unstructured",
        layers=None,
        **structure_kwargs,
    ):
        self.final_density = check_density(final_density, "final_density")
        self.initial_density = check_density(initial_density, "initial_density")
        if self.initial_density < self.final_density:
            raise ValueError(
                f"initial_density must be >= final_density={self.final_density!r} (pruning only "
                f"removes weights), got {self.initial_density!r}"
            )
        self.start_step = check_int(start_step, "start_step", low=0)
        self.end_step = check_int(end_step, "end_step", low=self.start_step)
        self.update_every = check_int(update_every, "update_every", low=1)
        span = self.end_step - self.start_step
        if span % self.update_every:
            raise ValueError(
                f"end_step - start_step = {span} must be a multiple of update_every="
                f"{self.update_every} (the last update falls on end_step), got end_step={self.end_step}"
            )
        self.n_updates = span // self.update_every
        self.scope = check_choice(scope, "scope", SCOPES)
        self.structure = check_choice(structure, "structure", STRUCTURES)
        if self.scope == "global" and self.structure in ("row", "column", "block"):
            raise ValueError(
                f"structure={structure!r} needs scope='layer' (scope='global' ranks single weights "
                "across layers: structure 'unstructured' or 'nm')"
            )
        unknown = sorted(set(structure_kwargs) - {"block", "n", "m"})
        if unknown:
            raise ValueError(f"unknown structure option(s) {unknown}; allowed: 'block', 'n', 'm'")
        if self.structure == "nm":
            n, m = structure_kwargs.get("n", 2), structure_kwargs.get("m", 4)
            if self.n_updates or not math.isclose(self.final_density, n / m):
                raise ValueError(
                    f"structure='nm' has the fixed density n/m = {n}/{m}: final_density must equal it "
                    f"and start_step == end_step (one shot); got final_density={self.final_density!r}, "
                    f"start_step={self.start_step}, end_step={self.end_step}"
                )
        self.layers = check_layer_names(layers)
        self.structure_kwargs = dict(structure_kwargs)
        self.log: list[tuple[int, float, float]] = []
        self._selected = None

    def is_update_step(self, step: int) -> bool:
        """Whether ``step`` is one of the pruning updates."""
        return self.start_step <= step <= self.end_step and (step - self.start_step) % self.update_every == 0

    def target_density(self, step: int) -> float:
        r"""Scheduled density :math:`1 - s_t` at ``step`` (exactly ``final_density`` from ``end_step`` on)."""
        if step >= self.end_step:
            return self.final_density
        if step < self.start_step:
            return self.initial_density
        s = cubic_sparsity(
            step,
            final_sparsity=round(1.0 - self.final_density, 12),
            initial_sparsity=round(1.0 - self.initial_density, 12),
            start_step=self.start_step,
            n_updates=self.n_updates,
            update_every=self.update_every,
        )
        return round(1.0 - s, 12)  # 1 - (1 - d) is not d in binary: snap it

    def on_train_begin(self, model, optimizer):
        self._selected = modules.select_layers(model, self.layers)
        if self.start_step == 0:
            self._update(0, model)

    def on_step_end(self, step, model, optimizer, batch):
        if step >= 1 and self.is_update_step(step):
            self._update(step, model)

    def _update(self, step: int, model) -> None:
        if self._selected is None:
            self._selected = modules.select_layers(model, self.layers)
        target = self.target_density(step)
        if target < 1.0:
            names = [name for name, _ in self._selected]
            modules.prune_model(
                model, target, scope=self.scope, structure=self.structure, layers=names, **self.structure_kwargs
            )
        self.log.append((step, target, modules.mask_density(model, [name for name, _ in self._selected])))


class OneShotPruning(GradualPruning):
    """Callback: magnitude pruning to ``density`` once, at step ``at_step`` (0: before training).

    The special case ``start_step == end_step == at_step`` of :class:`GradualPruning`.
    """

    def __init__(
        self,
        density: float,
        *,
        at_step: int,
        scope: str = "global",
        structure: str = "unstructured",
        layers=None,
        **structure_kwargs,
    ):
        at_step = check_int(at_step, "at_step", low=0)
        super().__init__(
            density,
            start_step=at_step,
            end_step=at_step,
            update_every=1,
            scope=scope,
            structure=structure,
            layers=layers,
            **structure_kwargs,
        )


# --------------------------------------------------------------------------- iterative magnitude pruning
def snapshot_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of every parameter and buffer of ``model`` except the masks.

    Keys are the names of the unpruned model: a pruned ``weight_orig`` is stored as
    ``weight``, so a snapshot taken before pruning can be restored after it.
    """
    state = {}
    for name, p in model.named_parameters():
        state[_unpruned_name(name)] = p.detach().clone()
    for name, b in model.named_buffers():
        if not name.endswith("_mask"):
            state[_unpruned_name(name)] = b.detach().clone()
    return state


def rewind_weights(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy ``state`` (from :func:`snapshot_weights`) into the parameters and buffers of ``model``, in place.

    The masks are left as they are, and the parameter objects are kept (only their
    values change), so a pruned model stays pruned with its survivors rewound.
    """
    targets = {_unpruned_name(name): p for name, p in model.named_parameters()}
    targets.update({_unpruned_name(name): b for name, b in model.named_buffers() if not name.endswith("_mask")})
    missing = sorted(set(targets) - set(state))
    if missing:
        raise ValueError(f"state has no entry for {missing}; it was not taken from this model")
    with torch.no_grad():
        for name, t in targets.items():
            t.copy_(state[name])


def _unpruned_name(name: str) -> str:
    return name[: -len("_orig")] if name.endswith("_orig") else name


@dataclass
class IMPResult:
    """Outcome of :func:`iterative_magnitude_pruning`, one list entry per round (round 0 = dense training).

    ``densities`` are measured (exact fraction of active weights over the pruned
    layers), ``target_densities`` the scheduled :math:`(1 - \\alpha)^r`;
    ``test_metric`` is the final test MSE (regression) or test accuracy
    (classification) of each round's training, named by ``metric``;
    ``masks`` the final boolean masks by layer name; ``rewind_state`` the snapshot
    the weights were rewound to (see :func:`snapshot_weights`).
    """

    densities: list = field(default_factory=list)
    target_densities: list = field(default_factory=list)
    test_metric: list = field(default_factory=list)
    metric: str = "test_mse"
    histories: list = field(default_factory=list)
    total_steps: int = 0
    masks: dict = field(default_factory=dict)
    rewind_state: dict = field(default_factory=dict)
    alpha: float = 0.0
    rewind_step: int = 0


class _StepCounter:
    """Counts optimizer steps and snapshots the model after step ``rewind_step`` (when > 0)."""

    def __init__(self, rewind_step: int = 0):
        self.steps = 0
        self.rewind_step = rewind_step
        self.snapshot = None

    def on_step_end(self, step, model, optimizer, batch):
        self.steps += 1
        if self.rewind_step and step == self.rewind_step:
            self.snapshot = snapshot_weights(model)


def _imp_masks(selected, density: float, scope: str) -> list[torch.Tensor]:
    r"""Magnitude masks at ``density`` among the currently surviving weights.

    Scores are :math:`|W|` on active entries and :math:`-\infty` on pruned ones, so a
    pruned weight never returns; ``global``: exactly ``keep_count(N, density)``
    survive over all layers together, ``layer``: ``keep_count(numel, density)`` per layer.
    """
    current_mask = modules.current_mask
    scores = []
    for _, m in selected:
        w = modules.base_weight(m).detach()
        active = current_mask(m).to(w.device)
        scores.append(torch.where(active, w.abs(), torch.full_like(w, -math.inf)))
    if scope == "layer":
        return [topk_mask(s, keep_count(s.numel(), density)) for s in scores]
    flat = torch.cat([s.reshape(-1).cpu() for s in scores])
    keep = topk_mask(flat, keep_count(flat.numel(), density))
    out, i = [], 0
    for s in scores:
        out.append(keep[i : i + s.numel()].view(s.shape).to(s.device))
        i += s.numel()
    return out


def iterative_magnitude_pruning(
    model: torch.nn.Module,
    data,
    config=None,
    *,
    final_density: float | None = None,
    alpha: float | None = None,
    rounds: int,
    rewind_step: int = 0,
    scope: str = "global",
    layers=None,
    callbacks=(),
    progress: bool = True,
) -> IMPResult:
    r"""Iterative magnitude pruning with weight rewinding (Frankle & Carbin, 2019; Frankle et al., 2020).

    1. Snapshot the weights :math:`\theta_k`: at initialisation (``rewind_step=0``)
       or after :math:`k` optimizer steps of the first training (``rewind_step=k``).
    2. Train the dense model (round 0).
    3. For :math:`r = 1, \dots, S`: keep the :math:`\operatorname{round}(d_r N)`
       largest-magnitude surviving weights, :math:`d_r = (1 - \alpha)^r` (the count
       is computed from :math:`d_r` directly, never by compounding rounded counts;
       the last round uses ``final_density`` itself when it is given), rewind every
       parameter and buffer (biases included, masks excluded) to :math:`\theta_k`,
       and retrain with a fresh optimizer (a new :func:`sparselab.training.train` call).

    Parameters
    ----------
    model : the network (dense, or pruned no further than round 1's density)
    data : ``RegressionData`` or ``ClassificationData``
    config : ``TrainConfig`` or dict, used for every round (``checkpoint`` must be unset)
    final_density, alpha : exactly one; :math:`\alpha = 1 - d_f^{1/S}` (:func:`imp_alpha`)
    rounds : :math:`S \ge 1` pruning rounds (so :math:`S + 1` trainings)
    rewind_step : :math:`k \ge 0`, at most the number of steps of one training
    scope : ``"global"`` (one magnitude threshold over all chosen layers) or ``"layer"``
    layers : names of the prunable layers to prune (``None``: all)
    callbacks : passed to every ``train`` call
    progress : a progress bar over rounds; ``False`` also silences the per-round bars
    """
    from sparselab import training

    rounds = check_int(rounds, "rounds", low=1)
    if (final_density is None) == (alpha is None):
        raise ValueError(
            f"pass exactly one of final_density and alpha (got final_density={final_density!r}, alpha={alpha!r})"
        )
    if final_density is not None:
        final_density = check_density(final_density, "final_density")
        alpha = imp_alpha(final_density, rounds)
    else:
        alpha = check_float(alpha, "alpha", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    rewind_step = check_int(rewind_step, "rewind_step", low=0)
    scope = check_choice(scope, "scope", SCOPES)
    layers = check_layer_names(layers)
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be a bool, got {progress!r}")
    callbacks = tuple(callbacks)
    if config is None:
        config = training.TrainConfig()
    elif isinstance(config, dict):
        config = training.TrainConfig.from_dict(config)
    elif not isinstance(config, training.TrainConfig):
        raise TypeError(f"config must be a TrainConfig, a dict or None, got {type(config).__name__}")
    if config.checkpoint:
        raise ValueError(
            f"config.checkpoint must be None for iterative pruning (each round would resume from the "
            f"previous round's checkpoint), got {config.checkpoint!r}"
        )
    if not progress:
        config = dataclasses.replace(config, progress=False)
    epochs = config.epochs if config.stop_after is None else min(config.epochs, config.stop_after)
    steps_per_training = epochs * math.ceil(len(data.X_train) / config.batch_size)
    if rewind_step > steps_per_training:
        raise ValueError(
            f"rewind_step must be in [0, {steps_per_training}] (the optimizer steps of one training: "
            f"{epochs} epochs x ceil({len(data.X_train)}/{config.batch_size})), got {rewind_step}"
        )
    targets = [1.0] + [imp_density(r, alpha) for r in range(1, rounds + 1)]
    if final_density is not None:
        targets[-1] = final_density
    selected = modules.select_layers(model, layers)
    n_total = sum(modules.base_weight(m).numel() for _, m in selected)
    keep_count(n_total, targets[-1])  # raises up front if the final density keeps nothing
    task = getattr(data, "task", "regression")
    metric = "test_accuracy" if task == "classification" else "test_mse"
    attach_mask = modules.attach_mask

    result = IMPResult(metric=metric, alpha=alpha, rewind_step=rewind_step)
    counter = _StepCounter(rewind_step)
    if rewind_step == 0:
        result.rewind_state = snapshot_weights(model)
    bar = tqdm(range(rounds + 1), desc="IMP", unit="round", disable=not progress)
    for r in bar:
        if r > 0:
            masks = _imp_masks(selected, targets[r], scope)
            for (_, m), mask in zip(selected, masks):
                attach_mask(m, mask)
            rewind_weights(model, result.rewind_state)
        history = training.train(model, data, config, callbacks=callbacks + (counter,))
        if r == 0 and rewind_step > 0:
            result.rewind_state = counter.snapshot
            counter.rewind_step = 0
        result.histories.append(history)
        result.target_densities.append(targets[r])
        result.densities.append(modules.mask_density(model, [name for name, _ in selected]))
        result.test_metric.append(float(getattr(history, metric)[-1]))
        bar.set_postfix(density=f"{result.densities[-1]:.4g}", metric=f"{result.test_metric[-1]:.4g}")
    bar.close()
    current_mask = modules.current_mask
    result.total_steps = counter.steps
    result.masks = {name: current_mask(m).detach().cpu().clone() for name, m in selected}
    return result
