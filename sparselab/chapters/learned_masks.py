r"""Experiments: one seeded training run as a flat row, sweeps over grids of runs, and summaries.

The book's notebooks hold no algorithm code; they call these functions.

A *run* (:func:`run_one`) draws a regression problem with a planted sparse teacher
(:func:`sparselab.data.make_regression`), builds the book's model
:class:`sparselab.SparseMLP` (``Input -> SparseLinear -> ReLU -> Linear``) at a given
density :math:`d` (sparsity :math:`1 - d`), trains it with
:func:`sparselab.training.train` and reports one flat row of numbers:

``test_mse``
    :math:`\frac1{n}\sum_i (f(x_i) - y_i)^2` on the held-out set. Targets are scaled to
    unit variance, so this is a fraction of the target variance; the noise floor is
    :math:`\sigma^2`.
``train_loss``
    the mean training loss of the last epoch (in training mode: for a ``sigmoid``
    mask this is the relaxed mask's loss).
``nnz``, ``k``
    connections kept by the exported mask, and the budget :math:`k = \operatorname{round}(d\,n)`.
``flip_rate``, ``total_flips``
    a *flip* is a connection whose mask state changes between two consecutive
    optimizer steps; the flip rate of an epoch is its number of flips divided by the
    number of connections :math:`n`. ``flip_rate`` is that of the last epoch,
    ``total_flips`` the sum over the run, ``late_flip_share`` the fraction of those
    flips that happened in the second half of the epochs (``NaN`` without flips).
``init_overlap``
    :math:`|M_0 \cap M_T| / |M_0|`, the fraction of the connections kept at
    initialisation that are still kept at the end (1 for a mask that never moves).
``precision``, ``recall``, ``f1``
    agreement of the learned support :math:`\hat M` with the planted one :math:`M^\star`
    (:func:`sparselab.metrics.support_match`). For the ``nonlinear`` target the
    connections of the first layer are compared after matching hidden neurons to the
    teacher's by maximum overlap; for the ``linear`` target (whose teacher has no
    hidden layer) the sets of *input features* used,
    :func:`sparselab.metrics.feature_support`, are compared.
``tau``, ``training_density``
    ``soft`` masks only (``NaN`` otherwise): the learned threshold :math:`\tau = \sigma(s)` at
    the end of training and the layer's training-mode density :math:`\#\{|W| > \tau\}/n`,
    the density the learned threshold reached *before* the export step keeps exactly
    :math:`k`.
``nonbinary``
    ``sigmoid`` masks only (``NaN`` otherwise): the fraction of the relaxed mask's values in
    :math:`(0.01, 0.99)` at the last epoch's temperature (0 for a mask that is binary).

:func:`sweep` runs a list of such configurations into a :class:`pandas.DataFrame`
(one row per run) and :func:`grid` builds such lists as Cartesian products. The
chapter reduces the frames with :func:`sparselab.chapters.stats.summarise` (a mean and
a Student-:math:`t` interval per group, the book's one convention) and publishes them
with :mod:`sparselab.chapters.publish`.
"""

from __future__ import annotations

import itertools
import numbers
import time
from dataclasses import fields

import pandas as pd
import torch
from tqdm.auto import tqdm

from sparselab import metrics
from sparselab import training as _training
from sparselab._validation import check_bool, check_choice, check_int, check_options, resolve_density
from sparselab.data import TARGET_KINDS, RegressionData, make_regression
from sparselab.masks import MASK_KINDS
from sparselab.nn import SparseMLP
from sparselab.training import TrainConfig

__all__ = [
    "METHODS",
    "method_label",
    "run_one",
    "grid",
    "sweep",
    "predict",
]

#: The mask recipes compared in the book, by label: keyword arguments of :func:`run_one`.
METHODS = {
    "hard+STE": {"mask": "hard", "straight_through": True},
    "hard, no STE": {"mask": "hard", "straight_through": False},
    "soft": {"mask": "soft", "straight_through": False},
    "sigmoid": {"mask": "sigmoid", "straight_through": False},
}

#: Keys of the ``data`` dict of :func:`run_one` (``kind`` and ``seed`` are set by the run).
DATA_KEYS = ("n_train", "n_test", "in_features", "out_features", "width", "density", "noise")
#: Keys of the ``model`` dict of :func:`run_one` (sizes other than the width come from the data).
MODEL_KEYS = ("width", "temperature", "bias")
#: Keys of the ``train`` dict of :func:`run_one` (``seed`` is set by the run).
TRAIN_KEYS = tuple(f.name for f in fields(TrainConfig) if f.name != "seed")

#: Columns of a row, in order (``history``, ``model`` and ``data`` are added with ``keep=True``).
ROW_COLUMNS = (
    "target",
    "method",
    "mask",
    "straight_through",
    "density",
    "sparsity",
    "seed",
    "k",
    "nnz",
    "train_loss",
    "test_mse",
    "flip_rate",
    "total_flips",
    "late_flip_share",
    "init_overlap",
    "precision",
    "recall",
    "f1",
    "tau",
    "training_density",
    "nonbinary",
    "epochs",
    "seconds",
)


def method_label(mask: str, straight_through: bool = True) -> str:
    """The label of a recipe in :data:`METHODS` (``straight_through`` matters for ``hard`` only)."""
    if mask == "hard":
        return "hard+STE" if straight_through else "hard, no STE"
    return mask


def run_one(
    *,
    target: str,
    mask: str = "hard",
    seed: int = 0,
    density: float | None = None,
    sparsity: float | None = None,
    straight_through: bool = True,
    data: dict | None = None,
    model: dict | None = None,
    train: dict | None = None,
    keep: bool = False,
) -> dict:
    r"""Train one :class:`~sparselab.SparseMLP` on one planted problem and return a flat row.

    Parameters
    ----------
    target : ``"linear"`` or ``"nonlinear"``
        The teacher of :func:`sparselab.data.make_regression`.
    mask : ``"hard"``, ``"soft"`` or ``"sigmoid"``
        The mask kind of the model's sparse layer.
    seed : int >= 0
        Seeds the data (``make_regression(seed=seed)``), the model's initialisation
        (``torch.manual_seed(seed)`` just before it is built) and the batch order.
    density, sparsity : float
        The model's kept fraction :math:`d \in (0, 1]` or removed fraction
        :math:`1 - d \in [0, 1)`; at most one (default dense).
    straight_through : bool
        ``hard`` only: use the straight-through estimator for the scores.
    data : dict
        Further arguments of ``make_regression`` (:data:`DATA_KEYS`); note that
        ``data["density"]`` is the *teacher's* density, not the model's.
    model : dict
        ``width`` (default: the teacher's width ``data["width"]``, also for the
        linear target), ``temperature``, ``bias``.
    train : dict
        Fields of :class:`~sparselab.training.TrainConfig` other than ``seed``;
        ``progress`` defaults to ``False`` here.
    keep : bool
        Also return the ``history`` (:class:`~sparselab.training.History`), the trained
        ``model`` (in evaluation mode) and the ``data`` under those keys.

    Returns
    -------
    dict
        The columns :data:`ROW_COLUMNS` described in the module docstring, plus the
        three objects above with ``keep=True``.
    """
    check_choice(target, "target", TARGET_KINDS)
    check_choice(mask, "mask", MASK_KINDS)
    seed = check_int(seed, "seed", low=0)
    model_density = round(resolve_density(density, sparsity), 12)  # 1 - 0.9 is 0.09999999999999998
    model_sparsity = round(1.0 - model_density, 12)
    straight_through = check_bool(straight_through, "straight_through")
    keep = check_bool(keep, "keep")
    if mask != "hard":
        straight_through = False  # the soft and sigmoid masks are differentiable: no estimator involved
    data_opts = check_options(
        data,
        "data",
        DATA_KEYS,
        {"kind": "the teacher is the target argument", "seed": "the seed argument seeds the data"},
    )
    model_opts = check_options(
        model,
        "model",
        MODEL_KEYS,
        {
            "density": "pass the model's density or sparsity to run_one; data['density'] is the teacher's",
            "sparsity": "pass it to run_one itself",
            "mask": "pass it to run_one itself",
            "straight_through": "pass it to run_one itself",
        },
    )
    train_opts = check_options(train, "train", TRAIN_KEYS, {"seed": "the seed argument seeds training"})
    train_opts.setdefault("progress", False)
    config = TrainConfig(seed=seed, **train_opts)  # validates the training options before any work

    problem = make_regression(target, seed=seed, **data_opts)
    teacher_width = data_opts.get("width", make_regression.__kwdefaults__["width"])
    width = model_opts.pop("width", teacher_width)
    torch.manual_seed(seed)
    net = SparseMLP(
        problem.in_features,
        width,
        problem.out_features,
        density=model_density,
        mask=mask,
        straight_through=straight_through,
        **model_opts,
    )
    initial = net.sparse.mask().cpu()
    start = time.perf_counter()
    history = _training.train(net, problem, config)
    seconds = time.perf_counter() - start
    net.eval()

    layer = net.sparse
    learned = layer.mask().cpu()
    match = metrics.planted_support_match(learned, problem)
    total_flips = int(sum(history.mask_flips))
    late = int(sum(history.mask_flips[len(history.mask_flips) // 2 :]))
    tau = training_density = nonbinary = float("nan")
    if mask == "soft":
        if history.soft_threshold[-1]:
            tau, training_density = history.soft_threshold[-1][0], history.soft_density[-1][0]
        else:  # density 1: the layer is dense and thresholds nothing
            training_density = 1.0
    elif mask == "sigmoid":
        nonbinary = history.sigmoid_nonbinary[-1][0]

    row = {
        "target": target,
        "method": method_label(mask, straight_through),
        "mask": mask,
        "straight_through": straight_through,
        "density": model_density,
        "sparsity": model_sparsity,
        "seed": seed,
        "k": layer.k,
        "nnz": int(learned.sum()),
        "train_loss": history.train_loss[-1],
        "test_mse": history.test_mse[-1],
        "flip_rate": history.flip_rate[-1],
        "total_flips": total_flips,
        "late_flip_share": late / total_flips if total_flips else float("nan"),
        "init_overlap": int((initial & learned).sum()) / int(initial.sum()),
        "precision": match["precision"],
        "recall": match["recall"],
        "f1": match["f1"],
        "tau": tau,
        "training_density": training_density,
        "nonbinary": nonbinary,
        "epochs": config.epochs,
        "seconds": seconds,
    }
    if keep:
        row.update(history=history, model=net, data=problem)
    return row


def grid(*, methods=None, **axes) -> list[dict]:
    """The Cartesian product of ``axes`` as a list of keyword dicts for :func:`run_one`.

    Each keyword names an argument of :func:`run_one` and gives a list of values
    (a scalar or a dict counts as a single value). ``methods`` lists labels of
    :data:`METHODS`, each expanded into its ``mask`` and ``straight_through``.
    The last axis varies fastest; ``methods`` is the first axis.

    >>> grid(target=["linear"], sparsity=[0.5, 0.9], seed=[0])
    [{'target': 'linear', 'sparsity': 0.5, 'seed': 0}, {'target': 'linear', 'sparsity': 0.9, 'seed': 0}]
    """
    if methods is not None:
        if isinstance(methods, str):
            methods = [methods]
        for label in methods:
            check_choice(label, "methods", METHODS)
    names = list(axes)
    values = []
    for name in names:
        value = axes[name]
        if isinstance(value, (str, dict, numbers.Number)) or value is None or not hasattr(value, "__iter__"):
            value = [value]
        value = list(value)
        if not value:
            raise ValueError(f"axis {name!r} of the grid is empty")
        values.append(value)
    combos = [dict(zip(names, combo)) for combo in itertools.product(*values)]
    if methods is None:
        return combos
    return [{**METHODS[label], **combo} for label in methods for combo in combos]


_NESTED = ("data", "model", "train")


def _merge(common: dict, entry: dict) -> dict:
    merged = {**common, **entry}
    for key in _NESTED:
        if isinstance(common.get(key), dict) and isinstance(entry.get(key), dict):
            merged[key] = {**common[key], **entry[key]}
    return merged


def sweep(
    grid: list[dict], *, progress: bool = True, desc: str = "sweep", histories: bool = False, **common
) -> pd.DataFrame:
    """Run every configuration of ``grid`` with :func:`run_one`; one row per entry, in order.

    ``histories=True`` adds a ``history`` column holding each run's :class:`~sparselab.training.History`
    (its per-epoch curves, e.g. the soft mask's threshold and density); models are never kept.

    ``common`` holds keyword arguments shared by all runs; an entry's own values win,
    and the nested ``data``, ``model`` and ``train`` dicts are merged key by key. Every
    configuration is checked (by building it) before the first run starts, so a typo
    in the last entry does not cost the whole sweep. A :mod:`tqdm` bar counts runs
    when ``progress`` is true; the runs themselves train silently.
    """
    if not isinstance(grid, (list, tuple)):
        raise TypeError(f"grid must be a list of dicts of run_one arguments, got {type(grid).__name__}")
    if "keep" in common:
        raise ValueError("sweep does not keep models or histories; call run_one(keep=True) for a single run")
    progress = check_bool(progress, "progress")
    configs = []
    allowed = set(run_one.__kwdefaults__) | {"target"}
    for i, entry in enumerate(grid):
        if not isinstance(entry, dict):
            raise TypeError(f"grid[{i}] must be a dict, got {type(entry).__name__}")
        config = _merge(common, entry)
        unknown = sorted(set(config) - allowed)
        if unknown:
            raise ValueError(f"grid[{i}] has unknown run_one argument(s) {unknown}; allowed: {sorted(allowed)}")
        if "target" not in config:
            raise ValueError(f"grid[{i}] gives no target (one of {TARGET_KINDS})")
        if config.get("keep"):
            raise ValueError(f"grid[{i}]: sweep does not keep models or histories")
        configs.append(config)
    histories = check_bool(histories, "histories")
    rows = []
    for config in tqdm(configs, desc=desc, unit="run", disable=not progress):
        if histories:
            row = run_one(**config, keep=True)
            for key in ("model", "data"):
                del row[key]
        else:
            row = run_one(**config)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(ROW_COLUMNS) + (["history"] if histories else []))


@torch.no_grad()
def predict(model: torch.nn.Module, X) -> torch.Tensor:
    """Predictions of ``model`` for ``X`` in evaluation mode, on the CPU (for plots and tables)."""
    if isinstance(X, RegressionData):
        X = X.X_test
    if not torch.is_tensor(X):
        raise TypeError(f"X must be a torch.Tensor or RegressionData, got {type(X).__name__}")
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        return model(X.to(device)).float().cpu()
    finally:
        model.train(was_training)
