r"""How a network reaches a sparse state: every recipe at equal final sparsity, one flat row per run.

The experiments of the chapter "Pruning schedules, lottery tickets and dynamic
sparsity". A *run* (:func:`run_method`) builds a task, a model and one recipe,
trains it with the settings of a :class:`MethodConfig` and reports one flat row. The recipes (:data:`METHODS`), all ending at
the same density :math:`d` of the pruned layers (the hidden layers of an MLP; the
output layer stays dense):

``dense``
    no pruning (the reference; its row has density 1).
``one-shot``
    train dense for :math:`E` epochs, keep the :math:`\operatorname{round}(dN)`
    largest-magnitude weights (one global threshold), fine-tune :math:`E` epochs.
``gradual``
    one run of :math:`E` epochs; magnitude pruning on the cubic schedule of Zhu &
    Gupta (2017) from the end of the first epoch to about two thirds of the steps
    (:class:`sparselab.pruning.GradualPruning`).
``IMP``
    iterative magnitude pruning with rewinding (:func:`sparselab.pruning.iterative_magnitude_pruning`):
    :math:`S` rounds each removing a fraction :math:`\alpha = 1 - d^{1/S}` of the surviving
    weights, so :math:`(S + 1)E` epochs in all.
``IMP-reinit``
    the final IMP mask with a fresh random initialisation, trained :math:`E` epochs
    (the control of the lottery-ticket experiment, Frankle & Carbin 2019).
``random``
    a uniformly random mask of the same per-layer densities, fixed, trained :math:`E` epochs.
``hard``, ``soft``, ``sigmoid``
    the learned masks of Chapter 1 (:class:`sparselab.SparseLinear`), :math:`E` epochs.
``SET``, ``RigL``
    dynamic sparse training at constant density (:mod:`sparselab.pruning.dynamic`), :math:`E` epochs.

Two training budgets (:data:`BUDGETS`, the ``budget`` argument of :func:`run_method` and :func:`compare`):

``"sparsity"`` (equal final sparsity)
    the costs above: :math:`E` epochs per training, so IMP takes :math:`(S + 1)E` epochs, one-shot
    :math:`2E` and every other recipe :math:`E`.
``"compute"`` (equal compute)
    every recipe takes IMP's total of :math:`T = (S + 1)E` epochs (its dense pre-training and every
    retraining after a rewind included): IMP as above, one-shot :math:`\lfloor T/2 \rfloor` dense
    epochs and :math:`\lceil T/2 \rceil` of fine-tuning, every one-training recipe :math:`T` epochs
    (the gradual window and the SET/RigL updates stretch with the run). ``IMP-reinit`` has no such
    run (its mask already costs an IMP run).

A row holds ``test_error`` (test MSE for ``regression``, the misclassification
rate :math:`1 - \text{accuracy}` for ``digits``: lower is better for both),
``budget``, ``density`` (measured over the pruned layers), ``steps`` (the optimizer steps
really taken, summed over every training of the run), ``epochs`` (epochs in all) and
``seconds`` (wall time of the run).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass

import pandas as pd
import torch
from tqdm.auto import tqdm

from sparselab import pruning
from sparselab._validation import check_choice, check_float, check_int, check_int_list, check_str
from sparselab.data import load_digits, make_regression
from sparselab.nn import MLP, DigitsCNN
from sparselab.pruning import SET, GradualPruning, RigL, iterative_magnitude_pruning
from sparselab.training import TrainConfig, evaluate, train

__all__ = [
    "METHODS",
    "TASKS",
    "BUDGETS",
    "STRUCTURES",
    "make_data",
    "make_model",
    "gradual_window",
    "MethodConfig",
    "run_method",
    "compare",
    "budget_epochs",
    "versus_reference",
    "GradientNormLog",
    "random_masks",
    "structured_sweep",
]

METHODS = ("dense", "one-shot", "gradual", "IMP", "IMP-reinit", "random", "hard", "soft", "sigmoid", "SET", "RigL")
TASKS = ("regression", "digits")
#: The training budgets of a comparison: equal final sparsity only, or equal optimizer steps (IMP's total) too.
BUDGETS = ("sparsity", "compute")
#: Structures compared on the CNN, with the keyword arguments of :func:`sparselab.pruning.magnitude_mask`.
STRUCTURES = {
    "unstructured": {"structure": "unstructured"},
    "channels": {"structure": "row"},
    "input channels": {"structure": "column"},
    "blocks 4x4": {"structure": "block", "block": (4, 4)},
    "2:4": {"structure": "nm", "n": 2, "m": 4},
    "1:4": {"structure": "nm", "n": 1, "m": 4},
}

#: Default problem sizes of each task (override with ``data=``).
DATA_DEFAULTS = {
    "regression": dict(n_train=1000, n_test=1000, in_features=32, width=32, noise=0.05, density=0.1),
    "digits": dict(test_fraction=0.25),
}

ROW_COLUMNS = (
    "task",
    "method",
    "budget",
    "sparsity",
    "seed",
    "density",
    "test_error",
    "train_loss",
    "steps",
    "epochs",
    "seconds",
)


def make_data(task: str, seed: int = 0, **options):
    """The data of a task: the planted nonlinear regression problem of Chapter 1, or the 8×8 digits."""
    check_choice(task, "task", TASKS)
    options = {**DATA_DEFAULTS[task], **options}
    if task == "regression":
        return make_regression("nonlinear", seed=seed, **options)
    return load_digits(seed=seed, **options)


def make_model(data, widths, *, mask: str | None = None, density: float | None = None, seed: int = 0) -> MLP:
    """An MLP for ``data`` with the given hidden ``widths``, its weights drawn from ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    out = data.n_classes if data.task == "classification" else data.y_train.shape[1]
    return MLP(data.X_train.shape[1], widths, out, mask=mask, density=density)


def random_masks(model, density: float, *, layers, seed: int = 0) -> dict[str, torch.Tensor]:
    """Uniformly random masks with exactly ``round(d n_l)`` survivors in each named layer (seeded)."""
    g = torch.Generator().manual_seed(seed)
    modules = dict(model.named_modules())
    masks = {}
    for name in layers:
        weight = pruning.effective_weight(modules[name])
        scores = torch.rand(weight.shape, generator=g)
        masks[name] = pruning.magnitude_mask(weight, density, scores=scores)
    return masks


def gradual_window(total: int, steps_per_epoch: int, update_every: int) -> tuple[int, int, int]:
    r"""The pruning window ``(start_step, end_step, update_every)`` of the ``gradual`` recipe.

    One dense epoch (at most a third of the run), then cubic pruning until about two
    thirds of the ``total`` steps, then fine-tuning at the final density. Short runs
    update more often, so that the last update always falls inside the run.
    """
    start = min(steps_per_epoch, total // 3)
    every = min(update_every, max(1, (2 * total) // 3 - start))
    end = start + max(1, ((2 * total) // 3 - start) // every) * every
    return start, end, every


def _error(model, data) -> float:
    metrics = evaluate(model, data)
    return metrics["test_mse"] if data.task == "regression" else 1.0 - metrics["test_accuracy"]


@dataclass(frozen=True)
class MethodConfig:
    r"""The training and pruning settings of a recipe: the same for every recipe of a comparison.

    ``widths`` are the hidden widths of the MLP; each training is ``epochs`` epochs of Adam at
    learning rate ``lr`` (cosine decay) in batches of ``batch_size`` on ``device``. ``IMP`` prunes
    in ``imp_rounds`` rounds and rewinds to the weights after ``rewind_step`` steps; ``gradual``,
    ``SET`` and ``RigL`` update the masks every ``update_every`` steps, and ``drop_fraction`` is
    SET's drop fraction and RigL's initial one :math:`f_0`. Checked on construction (errors
    name the field); ``widths`` is stored as a tuple, numbers as ``int``/``float``.
    """

    widths: tuple[int, ...] = (32,)
    epochs: int = 20
    lr: float = 0.01
    batch_size: int = 128
    imp_rounds: int = 4
    rewind_step: int = 0
    update_every: int = 10
    drop_fraction: float = 0.3
    device: str = "cpu"

    def __post_init__(self):
        checked = {
            "widths": tuple(check_int_list(self.widths, "widths", low=1, distinct=False)),
            "epochs": check_int(self.epochs, "epochs", low=1),
            "lr": check_float(self.lr, "lr", low=0.0, low_inclusive=False),
            "batch_size": check_int(self.batch_size, "batch_size", low=1),
            "imp_rounds": check_int(self.imp_rounds, "imp_rounds", low=1),
            "rewind_step": check_int(self.rewind_step, "rewind_step", low=0),
            "update_every": check_int(self.update_every, "update_every", low=1),
            "drop_fraction": check_float(self.drop_fraction, "drop_fraction", low=0.0, high=1.0, low_inclusive=False),
            "device": check_str(self.device, "device"),  # TrainConfig checks that it is available
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def train_config(self, seed: int) -> TrainConfig:
        """The :class:`sparselab.training.TrainConfig` of one training of a run seeded by ``seed``."""
        return TrainConfig(
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            seed=seed,
            device=self.device,
            progress=False,
            track_flips=False,
        )


def budget_epochs(method: str, config: MethodConfig, budget: str = "sparsity") -> tuple[int, ...]:
    """The epochs of each training of ``method`` under ``budget`` (:data:`BUDGETS`), in order.

    ``"sparsity"``: ``(E,)`` per training, ``(E, E)`` for one-shot and ``S + 1`` times ``E`` for IMP.
    ``"compute"``: IMP's total :math:`T = (S + 1)E` for every recipe, one-shot split into
    ``(T // 2, T - T // 2)``. ``IMP-reinit`` has no equal-compute run (ValueError).
    """
    check_choice(method, "method", METHODS)
    check_choice(budget, "budget", BUDGETS)
    config = _check_config(config)
    E, S = config.epochs, config.imp_rounds
    if method == "IMP":
        return (E,) * (S + 1)
    if budget == "sparsity":
        return (E, E) if method == "one-shot" else (E,)
    if method == "IMP-reinit":
        raise ValueError(
            "method 'IMP-reinit' has no equal-compute run (its mask is the product of an IMP run); "
            "use budget='sparsity'"
        )
    total = (S + 1) * E
    return (total // 2, total - total // 2) if method == "one-shot" else (total,)


def _check_config(config) -> MethodConfig:
    if config is None:
        return MethodConfig()
    if not isinstance(config, MethodConfig):
        raise TypeError(f"config must be a MethodConfig, got {config!r} of type {type(config).__name__}")
    return config


def run_method(
    method: str,
    config: MethodConfig | None = None,
    *,
    task: str,
    sparsity: float,
    seed: int = 0,
    data=None,
    imp_mask=None,
    callbacks=(),
    keep: bool = False,
    budget: str = "sparsity",
) -> dict:
    r"""Train one recipe of :data:`METHODS` to sparsity ``sparsity`` with the settings ``config`` and return its row.

    ``config`` is a :class:`MethodConfig` (``None``: its defaults). ``data`` is the task's data
    (built by :func:`make_data` from ``seed`` when not given). ``imp_mask`` (``IMP-reinit``
    only) is the IMP mask to re-initialise, as returned in the ``masks`` entry of an ``IMP``
    row made with ``keep=True``. ``budget`` (:data:`BUDGETS`) sets the length of each training
    (:func:`budget_epochs`): ``"compute"`` trains every recipe as many steps as IMP in all. With ``keep=True`` the row also holds the trained ``model``
    (and for ``IMP`` its ``masks``, ``densities`` and ``target_densities`` per round, and ``alpha``).
    """
    check_choice(method, "method", METHODS)
    check_choice(task, "task", TASKS)
    sparsity = check_float(sparsity, "sparsity", low=0.0, high=1.0, high_inclusive=False)
    density = round(1.0 - sparsity, 12)
    if method != "dense" and sparsity == 0.0:
        raise ValueError(f"sparsity must be in (0, 1) for method {method!r}; only 'dense' runs at sparsity 0")
    config = _check_config(config)
    budget = check_choice(budget, "budget", BUDGETS)
    trainings = budget_epochs(method, config, budget)
    if method == "IMP-reinit" and imp_mask is None:
        raise ValueError("method 'IMP-reinit' needs imp_mask, the masks of an IMP run (run_method('IMP', keep=True))")
    if data is None:
        data = make_data(task, seed=seed)
    train_config = dataclasses.replace(config.train_config(seed), epochs=trainings[-1])
    steps_per_epoch = math.ceil(len(data.X_train) / config.batch_size)
    total = trainings[-1] * steps_per_epoch
    t0 = time.perf_counter()
    extra: dict = {}

    mask_kind = method if method in ("hard", "soft", "sigmoid") else None
    model = make_model(
        data,
        config.widths,
        mask=mask_kind,
        density=density if mask_kind else None,
        seed=seed + 1000 if method == "IMP-reinit" else seed,
    )
    layers = model.hidden_layers
    histories = []
    if method in ("dense", "hard", "soft", "sigmoid"):
        histories.append(train(model, data, train_config, callbacks=callbacks))
    elif method == "one-shot":
        histories.append(train(model, data, dataclasses.replace(train_config, epochs=trainings[0])))
        pruning.prune_model(model, density, layers=layers)
        histories.append(train(model, data, train_config, callbacks=callbacks))
    elif method == "gradual":
        start, end, every = gradual_window(total, steps_per_epoch, config.update_every)
        schedule = GradualPruning(density, start_step=start, end_step=end, update_every=every, layers=layers)
        histories.append(train(model, data, train_config, callbacks=[schedule, *callbacks]))
    elif method == "IMP":
        result = iterative_magnitude_pruning(
            model,
            data,
            train_config,
            final_density=density,
            rounds=config.imp_rounds,
            rewind_step=config.rewind_step,
            layers=layers,
            callbacks=callbacks,
            progress=False,
        )
        histories.extend(result.histories)
        extra = {
            "masks": result.masks,
            "densities": result.densities,
            "target_densities": result.target_densities,
            "alpha": result.alpha,
        }
    elif method in ("IMP-reinit", "random"):
        masks = imp_mask if method == "IMP-reinit" else random_masks(model, density, layers=layers, seed=seed)
        modules = dict(model.named_modules())
        for name, mask in masks.items():
            pruning.attach_mask(modules[name], mask)
        histories.append(train(model, data, train_config, callbacks=callbacks))
    else:  # SET, RigL
        rule = SET if method == "SET" else RigL
        init = {"regrow_init": "uniform"} if method == "SET" else {}  # SET regrows at random values, RigL at zero
        updater = rule(
            density,
            update_every=config.update_every,
            drop_fraction=config.drop_fraction,
            end_step=max(1, (3 * total) // 4),
            layers=layers,
            seed=seed,
            **init,
        )
        histories.append(train(model, data, train_config, callbacks=[updater, *callbacks]))
        extra = {"updates": len(updater.log)}

    row = {
        "task": task,
        "method": method,
        "budget": budget,
        "sparsity": sparsity,
        "seed": seed,
        "density": pruning.mask_density(model, layers),
        "test_error": _error(model, data),
        "train_loss": histories[-1].train_loss[-1],
        "steps": sum(h.steps[-1] for h in histories),
        "epochs": sum(len(h.epoch) for h in histories),
        "seconds": time.perf_counter() - t0,
    }
    if keep:
        row.update(model=model, histories=histories, **extra)
    return row


def _run_group(
    task: str, seed: int, sparsity: float, methods: tuple, data_options: dict, config: MethodConfig, budget: str
) -> tuple:
    """All ``methods`` of one (task, seed, sparsity): IMP before IMP-reinit, which reuses its mask."""
    torch.set_num_threads(1)
    data = make_data(task, seed=seed, **data_options)
    rows, schedule, imp_mask = [], None, None
    for method in sorted(methods, key=lambda m: m == "IMP-reinit"):
        row = run_method(
            method,
            config,
            task=task,
            sparsity=sparsity,
            seed=seed,
            data=data,
            keep=method == "IMP",
            imp_mask=imp_mask if method == "IMP-reinit" else None,
            budget=budget,
        )
        if method == "IMP":
            imp_mask = row["masks"]
            schedule = (row["densities"], row["target_densities"], row["alpha"])
        rows.append({c: row[c] for c in ROW_COLUMNS})
    return (task, sparsity, seed), rows, schedule


def compare(
    config: MethodConfig | None = None,
    *,
    tasks=TASKS,
    methods=METHODS,
    sparsities=(0.8, 0.9, 0.95, 0.98),
    seeds=(0, 1, 2),
    data=None,
    workers: int = 1,
    progress: bool = True,
    budget: str = "sparsity",
) -> tuple[pd.DataFrame, dict]:
    """Every ``method`` × ``sparsity`` × ``seed`` × ``task`` (``dense`` once per seed and task), with the settings ``config``.

    ``IMP-reinit`` reuses the mask of the ``IMP`` run of the same task, sparsity and seed,
    so ``IMP`` must be among ``methods`` when it is. ``data`` maps a task to options of
    :func:`make_data`; ``config`` (a :class:`MethodConfig`, ``None``: its defaults) goes to
    every :func:`run_method`, and so does ``budget`` (:data:`BUDGETS`; ``"compute"``: every recipe
    as many optimizer steps as IMP in all, and no ``IMP-reinit``). ``workers > 1`` runs the
    (task, seed, sparsity) groups in that many processes (each with one torch thread);
    every run seeds itself, so the numbers do not depend on ``workers``. Returns the
    frame of rows (columns :data:`ROW_COLUMNS`, in a fixed order) and the IMP schedules
    ``{(task, sparsity, seed): (densities, target_densities, alpha)}``.
    """
    config = _check_config(config)
    methods = tuple(methods)
    for m in methods:
        check_choice(m, "methods", METHODS)
    if "IMP-reinit" in methods and "IMP" not in methods:
        raise ValueError("methods lists 'IMP-reinit' but not 'IMP', whose masks it re-initialises")
    budget = check_choice(budget, "budget", BUDGETS)
    if budget == "compute" and "IMP-reinit" in methods:
        raise ValueError("methods lists 'IMP-reinit', which has no equal-compute run; drop it for budget='compute'")
    for t in tasks:
        check_choice(t, "tasks", TASKS)
    for s in sparsities:
        check_float(s, "sparsities[i]", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    workers = check_int(workers, "workers", low=1)
    data = data or {}
    unknown = sorted(set(data) - set(TASKS))
    if unknown:
        raise ValueError(f"data has options for unknown task(s) {unknown}; allowed: {list(TASKS)}")
    sparse_methods = tuple(m for m in methods if m != "dense")
    groups = [(t, seed, 0.0, ("dense",)) for t in tasks for seed in seeds if "dense" in methods]
    groups += [(t, seed, s, sparse_methods) for t in tasks for seed in seeds for s in sparsities if sparse_methods]
    jobs = [(t, seed, s, ms, data.get(t, {}), config, budget) for t, seed, s, ms in groups]
    bar = tqdm(total=len(jobs), desc="run groups", unit="group", disable=not progress)
    results = {}
    if workers == 1:
        for job in jobs:
            key, rows, schedule = _run_group(*job)
            results[key] = (rows, schedule)
            bar.update()
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for future in as_completed([pool.submit(_run_group, *job) for job in jobs]):
                key, rows, schedule = future.result()
                results[key] = (rows, schedule)
                bar.update()
    bar.close()
    rows, schedules = [], {}
    for t, seed, s, _ in groups:
        group_rows, schedule = results[(t, s, seed)]
        rows.extend(group_rows)
        if schedule is not None:
            schedules[(t, s, seed)] = schedule
    frame = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    order = {m: i for i, m in enumerate(METHODS)}
    frame = frame.sort_values(
        ["task", "method", "sparsity", "seed"], key=lambda c: c.map(order) if c.name == "method" else c, kind="stable"
    ).reset_index(drop=True)
    return frame, schedules


def versus_reference(
    frame: pd.DataFrame,
    reference,
    *,
    by=("task", "sparsity"),
    value: str = "test_error",
    level: float = 0.95,
) -> pd.DataFrame:
    r"""Every recipe against a ``reference`` recipe, paired over seeds (:func:`sparselab.chapters.stats.paired_comparison`).

    In each group of ``by``, for each method :math:`m` of the frame other than the reference :math:`r`
    (in the order of :data:`METHODS`), the differences :math:`\delta_i = v_{m,i} - v_{r,i}` over the seeds
    :math:`i` both ran (a seed's two runs share data, split and sparsity) give the paired Student-:math:`t`
    interval and the Wilcoxon signed-rank p-value of :func:`sparselab.chapters.stats.paired_difference`.
    ``reference`` is a method name, or a dict mapping a group key (a tuple of the ``by`` values) to the
    method compared against in that group (groups missing from it are skipped).

    Returns one row per (group, method): the ``by`` columns, ``method`` (:math:`m`), ``reference``
    (:math:`r`) and the columns of :func:`~sparselab.chapters.stats.paired_difference`: ``mean`` is
    :math:`\bar\delta` (positive: :math:`m` has the higher ``value``) and ``verdict`` is ``"higher"``,
    ``"lower"`` or ``"indistinguishable"`` (the interval covers zero).
    """
    from sparselab.chapters import stats

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*by, "method", "seed", value] if c not in frame.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not in the frame; it has {list(frame.columns)}")
    parts = []
    for key, group in frame.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        ref = reference.get(key) if isinstance(reference, dict) else reference
        if ref is None:
            continue
        present = set(group["method"])
        if ref not in present:
            raise ValueError(f"reference method {ref!r} has no run in group {dict(zip(by, key))}")
        for method in [m for m in METHODS if m in present and m != ref]:
            result = stats.paired_comparison(
                group, value=value, between="method", a=method, b=ref, pair_on="seed", by=by, level=level
            )
            parts.append(result.rename(columns={"a": "method", "b": "reference"}))
    columns = [*by, "method", "reference", *stats.PAIRED_COLUMNS]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


class GradientNormLog:
    r"""Callback: after every epoch, the dense gradient of the full training loss split by the mask.

    Records :math:`\|G \odot M\|_2` and :math:`\|G \odot (1 - M)\|_2`
    (:func:`sparselab.pruning.gradient_norms`) in ``self.active`` and ``self.pruned``.
    Training with a fixed mask is projected gradient descent onto
    :math:`\{W : \operatorname{supp}(W) \subseteq M\}`: at a constrained stationary point the
    first vanishes, the second need not.
    """

    def __init__(self, data, layers=None):
        from sparselab.training import task_loss

        self.data, self.layers = data, layers
        self.loss = lambda pred, y: task_loss(pred, y, data.task)
        self.epoch, self.active, self.pruned = [], [], []

    def on_epoch_end(self, epoch, model, history):
        device = next(model.parameters()).device
        norms = pruning.gradient_norms(
            model, self.data.X_train.to(device), self.data.y_train.to(device), self.loss, layers=self.layers
        )
        self.epoch.append(epoch)
        self.active.append(norms["active"])
        self.pruned.append(norms["pruned"])

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"epoch": self.epoch, "active": self.active, "pruned": self.pruned})


def _structure_options(name: str, density: float) -> dict | None:
    """Keyword arguments of :func:`sparselab.pruning.prune_model` for a structure, or None when the
    structure cannot reach ``density`` (N:M has the fixed density n/m)."""
    options = dict(STRUCTURES[name])
    if options["structure"] == "nm":
        if not math.isclose(options["n"] / options["m"], density):
            return None
        return options
    return {**options, "density": density}


def structured_sweep(
    *,
    structures=tuple(STRUCTURES),
    densities=(0.5, 0.25, 0.125),
    seeds=(0, 1, 2),
    channels=(8, 16),
    epochs: int = 10,
    finetune_epochs: int = 5,
    lr: float = 0.01,
    batch_size: int = 128,
    device: str = "cpu",
    progress: bool = True,
) -> pd.DataFrame:
    r"""Structured vs unstructured pruning of the middle convolution of a :class:`~sparselab.nn.DigitsCNN`.

    Per seed: train the dense CNN on the digits (``epochs``), then for every structure
    of :data:`STRUCTURES` and density :math:`d` (N:M only at its own density
    :math:`n/m`), prune ``conv2`` (the layer with 96 % of
    the network's multiply-adds) to density :math:`d` with that structure, and fine-tune
    ``finetune_epochs`` with the mask fixed. Whole output channels (``"channels"``) are
    pruned together with their biases. A structure keeps whole groups, so the density
    it reaches is ``measured_density`` (the default sizes and densities make it exact).
    Each row reports

    * ``nonzero_params`` and ``executed_flops``: the masked network as it runs (dense
      kernels, so masks do not lower its FLOPs, only its non-zero count);
    * ``params``, ``flops`` and ``channels``: the physically smaller network that
      :func:`sparselab.flops.shrink_channels` builds by deleting every channel that is
      entirely zero or unread (output channels of ``conv2``, and the ``conv1`` channels
      that ``conv2`` no longer reads when its input channels are pruned), with
      ``shrink_max_diff`` the largest change of any test logit (rounding level).

    Structured pruning shrinks parameters and FLOPs together; unstructured pruning
    lowers the non-zero count and leaves the FLOPs. One row per (seed, structure,
    density) plus a ``dense`` row per seed.
    """
    from sparselab.data import load_digits
    from sparselab.flops import count_flops, count_parameters, shrink_channels

    for name in structures:
        check_choice(name, "structures", STRUCTURES)
    for d in densities:
        check_float(d, "densities[i]", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_int(epochs, "epochs", low=1)
    check_int(finetune_epochs, "finetune_epochs", low=1)
    combos = [(name, d) for name in structures for d in densities if _structure_options(name, d) is not None]
    rows = []
    bar = tqdm(total=len(seeds) * (1 + len(combos)), desc="structured", unit="run", disable=not progress)
    for seed in seeds:
        data = load_digits(seed=seed, image=True)
        example = data.X_test[:1]
        torch.manual_seed(seed)
        dense = DigitsCNN(channels)
        config = TrainConfig(
            epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, device=device, progress=False, track_flips=False
        )
        t0 = time.perf_counter()
        train(dense, data, config)
        dense.cpu()
        params, flops = count_parameters(dense), count_flops(dense, example)
        rows.append(
            {
                "structure": "dense",
                "density": 1.0,
                "seed": seed,
                "test_error": _error(dense, data.to("cpu")),
                "measured_density": 1.0,
                "nonzero_params": params,
                "executed_flops": flops,
                "params": params,
                "flops": flops,
                "shrink_max_diff": 0.0,
                "channels": tuple(channels),
                "seconds": time.perf_counter() - t0,
            }
        )
        bar.update()
        for name, d in combos:
            t0 = time.perf_counter()
            model = copy.deepcopy(dense)
            masks = pruning.prune_model(model, scope="layer", layers=["conv2"], **_structure_options(name, d))
            if name == "channels":
                pruning.attach_mask(model.conv2, masks["conv2"].flatten(1).any(1), name="bias")
            train(model, data, TrainConfig(**{**config.__dict__, "epochs": finetune_epochs}))
            model.cpu()
            data_cpu = data.to("cpu")
            row = {
                "structure": name,
                "density": d,
                "seed": seed,
                "test_error": _error(model, data_cpu),
                "measured_density": pruning.mask_density(model, ["conv2"]),
                "nonzero_params": count_parameters(model, nonzero=True),
                "executed_flops": count_flops(model, example),
            }
            small = shrink_channels(model)
            with torch.no_grad():
                diff = float((small(data_cpu.X_test) - model(data_cpu.X_test)).abs().max())
            row.update(
                params=count_parameters(small),
                flops=count_flops(small, example),
                shrink_max_diff=diff,
                channels=tuple(small.channels),
            )
            row["seconds"] = time.perf_counter() - t0
            rows.append(row)
            bar.update()
    bar.close()
    return pd.DataFrame(rows)
