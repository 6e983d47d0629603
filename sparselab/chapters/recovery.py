r"""The experiments of the chapter "Exact recovery of planted sparse networks by iterative hard thresholding".

Every function here runs a grid of seeded runs of :func:`sparselab.recovery.iht`
and of the iterative-magnitude-pruning baseline :func:`sparselab.recovery.imp_baseline`
and returns a long-format :class:`pandas.DataFrame`, one row per run, with the
columns listed in the function's docstring (and in the module constants
``*_COLUMNS``). The drawing is in :mod:`sparselab.chapters.plots`; the algorithms are in
:mod:`sparselab.recovery`.

* :func:`recovery_sweep` -- a planted network of width :math:`m` with :math:`s`
  non-zeros, recovered by each method at the true width, over a grid
  :math:`m \times s` (the phase diagram);
* :func:`samples_sweep` -- the same over training samples :math:`n \times s` at one width;
* :func:`cost_scaling` -- wall-clock time and peak memory against :math:`s` at a fixed
  width and against the width at a fixed :math:`s`;
* :func:`classification` -- scikit-learn's digits (0 vs 1 and all ten classes, and
  MNIST when a path is given): test accuracy against the number of non-zeros;
* :func:`inr_experiment` -- an implicit neural representation of an image from random
  Fourier features: PSNR against non-zeros and the reconstructed images;
* :func:`width_mismatch` -- recovery when the fitted width :math:`p` over-estimates the
  planted width :math:`m`, for each way of treating empty neurons;
* :func:`assumption_failures` -- recovery when an assumption of the guarantee is broken.

Shared conventions. A *success* is the one criterion
:func:`sparselab.recovery.exact_recovery`, for every method alike: the planted support
found up to a permutation of neurons (support :math:`F_1 \ge` ``min_f1``, default 1) **and**
a held-out relative error of at most ``max_rel_error`` (default :math:`10^{-3}`, 60 dB);
both methods fit in ``dtype`` (float64 by default, on CPU). The continuous metrics
(``support_f1``, ``psnr_test``, ``rel_error_test``) are kept beside it. Each run seeds itself (the planted
network from ``seed``, IHT's generators from ``seed``, IMP's initialisation from
``seed``), so a frame depends only on its arguments, except for the measured
``time_s`` and ``peak_bytes``. Peak memory is
:func:`sparselab.recovery.measure_peak_memory` around the fit alone (the data exist
before it).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from sparselab._memory import measure_peak_memory
from sparselab._validation import check_bool, check_choice, check_choice_list, check_float, check_int, check_int_list
from sparselab.metrics import psnr, support_match
from sparselab.recovery import (
    EMPTY_NEURONS,
    MODES,
    SUCCESS_REL_ERROR,
    SUCCESS_SUPPORT_F1,
    iht,
    imp_baseline,
    planted_network,
    recovery_outcome,
)

__all__ = [
    "METHODS",
    "PAIRED_VALUES",
    "PAPER_GRID_PSNR_INF",
    "method_comparison",
    "load_paper_grid",
    "SWEEP_COLUMNS",
    "COST_COLUMNS",
    "CLASSIFICATION_COLUMNS",
    "INR_COLUMNS",
    "WIDTH_COLUMNS",
    "ASSUMPTION_COLUMNS",
    "CONDITIONS",
    "WIDTH_VARIANTS",
    "CLASSIFICATION_TASKS",
    "recovery_sweep",
    "samples_sweep",
    "cost_scaling",
    "classification",
    "inr_experiment",
    "width_mismatch",
    "assumption_failures",
    "geometric_rate",
    "loglog_slope",
    "align_to_planted",
    "imp_fused",
]

METHODS = ("IHT", "IMP")

SWEEP_COLUMNS = (
    "method",
    "width",
    "fit_width",
    "nnz",
    "n_train",
    "seed",
    "psnr_train",
    "psnr_test",
    "rel_error_test",
    "precision",
    "recall",
    "support_f1",
    "success",
    "time_s",
    "peak_bytes",
)
COST_COLUMNS = ("method", "sweep", "nnz", "width", "n_train", "time_s", "peak_bytes")
CLASSIFICATION_COLUMNS = ("method", "task", "nnz", "width", "seed", "accuracy_test", "accuracy_train")
INR_COLUMNS = ("method", "nnz", "width", "seed", "psnr_train", "psnr_test")
WIDTH_COLUMNS = (
    "variant",
    "width_factor",
    "width",
    "seed",
    "psnr_train",
    "psnr_test",
    "rel_error_test",
    "support_f1",
    "success",
    "active_neurons",
)
ASSUMPTION_COLUMNS = (
    "condition",
    "seed",
    "psnr_train",
    "psnr_test",
    "rel_error_test",
    "precision",
    "recall",
    "support_f1",
    "success",
)

#: Ways of handling width over-estimation compared by :func:`width_mismatch`:
#: the ``empty_neurons`` options of :func:`~sparselab.recovery.iht`, and ``"redraw+restarts"``
#: (``"redraw"`` with the best of several restarts by training residual).
WIDTH_VARIANTS = ("naive", "dead", "keep", "redraw", "redraw+restarts")

CLASSIFICATION_TASKS = ("digits 0 vs 1", "digits 10-class")

#: Conditions of :func:`assumption_failures` (the first is the guarantee's setting).
CONDITIONS = (
    "Gaussian inputs",
    "uniform inputs",
    "non-negative inputs",
    "correlated inputs",
    "few samples",
    "label noise",
    "near-parallel neurons",
    "dead neuron",
)


# ----------------------------------------------------------------------------- validation


_IHT_KEYS = {"steps", "mode", "refine_steps", "empty_neurons", "restarts", "chunk", "tol"}
_IMP_KEYS = {"rounds", "alpha", "epochs", "lr", "batch_size"}


def _options(options, name: str, allowed: set) -> dict:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"{name} must be a dict of keyword arguments, got {type(options).__name__}")
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"{name} has unknown option(s) {unknown}; allowed: {sorted(allowed)}")
    out = dict(options)
    if "mode" in out:
        check_choice(out["mode"], f"{name}['mode']", MODES)
    if "empty_neurons" in out:
        check_choice(out["empty_neurons"], f"{name}['empty_neurons']", EMPTY_NEURONS)
    for key in ("steps", "restarts", "chunk", "rounds", "epochs", "batch_size"):
        if out.get(key) is not None:
            check_int(out[key], f"{name}[{key!r}]", low=1)
    if "refine_steps" in out:
        check_int(out["refine_steps"], f"{name}['refine_steps']", low=0)
    return out


def _criterion(min_f1, max_rel_error) -> dict:
    return {
        "min_f1": check_float(min_f1, "min_f1", low=0.0, high=1.0, low_inclusive=False),
        "max_rel_error": check_float(max_rel_error, "max_rel_error", low=0.0, low_inclusive=False),
    }


# ----------------------------------------------------------------------------- one run


def imp_fused(model) -> torch.Tensor:
    r"""The fused weights :math:`w_{jik} = u_{ji} v_{kj}` of an IMP network, as a ``(p, d, K)`` tensor.

    ``model`` is the bias-free MLP of :func:`sparselab.recovery.imp_baseline` (or its
    :class:`~sparselab.recovery.IMPBaseline`); :math:`U` is the pruned first layer's
    effective weight, :math:`V` the output layer's.
    """
    from sparselab.pruning import effective_weight

    model = getattr(model, "model", model)
    U = effective_weight(model.fc1).detach().to(torch.float64).cpu()
    V = model.out.weight.detach().to(torch.float64).cpu()
    return U[:, :, None] * V.T[:, None, :]


def align_to_planted(planted_fused, recovered_fused) -> torch.Tensor:
    r"""The recovered neurons re-ordered to match the planted ones: a ``(m, d[, K])`` tensor.

    Rows are matched by :func:`sparselab.metrics.support_match` with ``match="weights"`` (the assignment
    minimising :math:`\sum_j \|\hat w_{\pi(j)} - w^\star_j\|^2`); a planted neuron matched
    to no recovered one gets a zero row. Recovered neurons matched to no planted
    neuron (when :math:`p > m`) are left out.
    """
    P = torch.as_tensor(planted_fused).detach().to(torch.float64).cpu()
    R = torch.as_tensor(recovered_fused).detach().to(torch.float64).cpu()
    perm = support_match(R, P, match="weights")["permutation"]
    out = torch.zeros_like(P)
    for j, r in enumerate(perm):
        if r >= 0:
            out[j] = R[int(r)]
    return out


def geometric_rate(residuals, *, floor: float = 1e-12) -> float:
    r"""Rate :math:`\rho` of the least-squares fit :math:`r_t \approx C\rho^t` of a residual history.

    :math:`\log r_t` is regressed on :math:`t` over the steps with :math:`r_t >` ``floor``
    (the same fit as :func:`sparselab.chapters.plots.convergence`); NaN with fewer than two.
    """
    r = np.asarray(residuals, dtype=float).ravel()
    t = np.arange(len(r), dtype=float)
    keep = np.isfinite(r) & (r > floor)
    if keep.sum() < 2:
        return float("nan")
    slope, _ = np.polyfit(t[keep], np.log(r[keep]), 1)
    return float(math.exp(slope))


def loglog_slope(x, y) -> float:
    r"""Slope :math:`k` of the least-squares line :math:`\log y = k \log x + c` (NaN with fewer than two points).

    Points with a non-positive or non-finite coordinate are left out. A slope near 1 is
    linear growth, near 0 no growth.
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    if keep.sum() < 2 or np.ptp(np.log(x[keep])) == 0:
        return float("nan")
    slope, _ = np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)
    return float(slope)


def _fit(
    method: str,
    X,
    y,
    *,
    nnz: int,
    width: int,
    seed: int,
    device,
    iht_options: dict,
    imp_options: dict,
    task: str = "regression",
    dtype=None,
):
    """Fit one method, measuring time and peak memory; returns (model, time_s, peak_bytes)."""
    if method == "IHT":
        fn, kwargs = iht, dict(nnz=nnz, width=width, seed=seed, device=device, dtype=dtype, **iht_options)
    else:
        kwargs = dict(nnz=nnz, width=width, seed=seed, device=device, task=task, **imp_options)
        if dtype is not None:
            kwargs["dtype"] = dtype
        fn = imp_baseline
    start = time.perf_counter()
    model, peak, _ = measure_peak_memory(fn, X, y, memory_device=device, **kwargs)
    return model, time.perf_counter() - start, peak


def _planted_row(method, pn, model, *, criterion) -> dict:
    X_train, X_test = pn.X_train, pn.X_test
    pred_train = model.predict(X_train)
    recovered = model.fused_dense() if method == "IHT" else imp_fused(model)
    outcome = recovery_outcome(pn, recovered, model.predict(X_test), **criterion)
    return {
        "psnr_train": psnr(pn.y_train, pred_train),
        **{key: outcome[key] for key in ("psnr_test", "rel_error_test", "precision", "recall", "support_f1")},
        "success": outcome["success"],
    }


def _planted_runs(
    cells,
    *,
    in_features,
    n_test,
    seeds,
    methods,
    iht_options,
    imp_options,
    criterion,
    device,
    progress,
    desc,
    width_factor=1,
    signs="positive",
    dtype=torch.float64,
) -> pd.DataFrame:
    """Rows of :data:`SWEEP_COLUMNS` for cells ``(width, nnz, n_train)``: one planted network per cell and seed,
    fitted with ``width_factor * width`` neurons. Checks the arguments the two sweeps share before any fit."""
    n_test = check_int(n_test, "n_test", low=1)
    seeds = check_int_list(seeds, "seeds", low=0)
    methods = check_choice_list(methods, "methods", METHODS)
    iht_options = _options(iht_options, "iht_options", _IHT_KEYS)
    imp_options = _options(imp_options, "imp_options", _IMP_KEYS)
    progress = check_bool(progress, "progress")
    width_factor = check_int(width_factor, "width_factor", low=1)
    rows = []
    bar = tqdm(total=len(cells) * len(seeds) * len(methods), desc=desc, unit="run", disable=not progress)
    for width, nnz, n_train in cells:
        for seed in seeds:
            pn = planted_network(
                in_features=in_features,
                width=width,
                nnz=nnz,
                n_train=n_train,
                n_test=n_test,
                signs=signs,
                seed=seed,
                dtype=dtype,
            )
            for method in methods:
                model, seconds, peak = _fit(
                    method,
                    pn.X_train,
                    pn.y_train,
                    nnz=nnz,
                    width=width_factor * width,
                    seed=seed,
                    device=device,
                    iht_options=iht_options,
                    imp_options=imp_options,
                    dtype=dtype,
                )
                rows.append(
                    {
                        "method": method,
                        "width": width,
                        "fit_width": width_factor * width,
                        "nnz": nnz,
                        "n_train": n_train,
                        "seed": seed,
                        **_planted_row(method, pn, model, criterion=criterion),
                        "time_s": seconds,
                        "peak_bytes": peak,
                    }
                )
                bar.update(1)
    bar.close()
    return pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))


# ----------------------------------------------------------------------------- phase diagrams


def recovery_sweep(
    widths=(1, 2, 5, 10),
    nnzs=(1, 2, 5, 10, 20, 50),
    *,
    in_features: int = 20,
    n_train: int = 2000,
    n_test: int = 1000,
    seeds=(0, 1),
    methods=METHODS,
    width_factor: int = 1,
    iht_options=None,
    imp_options=None,
    min_f1: float = SUCCESS_SUPPORT_F1,
    max_rel_error: float = SUCCESS_REL_ERROR,
    dtype: torch.dtype = torch.float64,
    device="cpu",
    progress: bool = True,
) -> pd.DataFrame:
    r"""The recovery phase diagram over width :math:`m` and sparsity :math:`s`.

    For every width :math:`m` in ``widths``, number of non-zeros :math:`s` in ``nnzs``
    with :math:`s \le m d` (larger cells cannot be planted and are skipped) and seed, a
    planted network (:func:`sparselab.recovery.planted_network`, Gaussian inputs,
    second layer of ones) with ``n_train`` training and ``n_test`` held-out samples is
    fitted by each method with :math:`p =` ``width_factor`` :math:`\cdot\, m` neurons
    (1: the true width) and the true budget :math:`s`: IHT (``iht_options`` go to
    :func:`~sparselab.recovery.iht`) and IMP (``imp_options`` go to
    :func:`~sparselab.recovery.imp_baseline`).

    Returns one row per (cell, seed, method) with :data:`SWEEP_COLUMNS` (``width`` is
    the planted :math:`m`, ``fit_width`` the fitted :math:`p`): ``psnr_train``,
    ``psnr_test`` (dB), ``rel_error_test``, support ``precision``/``recall``/``support_f1`` of the
    fused weights against the planted ones up to a permutation of neurons, ``success``
    (:func:`sparselab.recovery.exact_recovery` with ``min_f1`` and ``max_rel_error``: exact
    support and a small held-out error), ``time_s`` and ``peak_bytes`` of the fit. Both
    methods fit in ``dtype`` (float64 by default), on the same data.
    """
    in_features = check_int(in_features, "in_features", low=1)
    widths = check_int_list(widths, "widths", low=1)
    nnzs = check_int_list(nnzs, "nnzs", low=1)
    n_train = check_int(n_train, "n_train", low=1)
    cells = [(m, s, n_train) for m in widths for s in nnzs if s <= m * in_features]
    if not cells:
        raise ValueError(
            f"no cell of widths={widths} x nnzs={nnzs} has nnz <= width * in_features (in_features={in_features})"
        )
    return _planted_runs(
        cells,
        in_features=in_features,
        n_test=n_test,
        seeds=seeds,
        methods=methods,
        iht_options=iht_options,
        imp_options=imp_options,
        criterion=_criterion(min_f1, max_rel_error),
        device=device,
        progress=progress,
        desc="width x nnz",
        width_factor=width_factor,
        dtype=dtype,
    )


def samples_sweep(
    n_trains=(50, 100, 200, 500, 1000),
    nnzs=(5, 10, 20, 50),
    *,
    width: int = 5,
    in_features: int = 20,
    n_test: int = 1000,
    seeds=(0, 1),
    methods=METHODS,
    width_factor: int = 1,
    iht_options=None,
    imp_options=None,
    min_f1: float = SUCCESS_SUPPORT_F1,
    max_rel_error: float = SUCCESS_REL_ERROR,
    dtype: torch.dtype = torch.float64,
    device="cpu",
    progress: bool = True,
) -> pd.DataFrame:
    r"""Success against the number of training samples :math:`n` and non-zeros :math:`s`, at one width.

    As :func:`recovery_sweep` with the planted width fixed to ``width`` (fitted with
    ``width_factor`` times as many neurons) and the grid
    ``n_trains`` :math:`\times` ``nnzs`` (cells with :math:`s > m d` skipped). The mean of
    ``success`` over seeds is the empirical probability of recovery. Same columns
    (:data:`SWEEP_COLUMNS`).
    """
    in_features = check_int(in_features, "in_features", low=1)
    width = check_int(width, "width", low=1)
    n_trains = check_int_list(n_trains, "n_trains", low=1)
    nnzs = check_int_list(nnzs, "nnzs", low=1)
    cells = [(width, s, n) for n in n_trains for s in nnzs if s <= width * in_features]
    if not cells:
        raise ValueError(f"no value of nnzs={nnzs} is at most width * in_features = {width * in_features}")
    return _planted_runs(
        cells,
        in_features=in_features,
        n_test=n_test,
        seeds=seeds,
        methods=methods,
        iht_options=iht_options,
        imp_options=imp_options,
        criterion=_criterion(min_f1, max_rel_error),
        device=device,
        progress=progress,
        desc="samples x nnz",
        width_factor=width_factor,
        dtype=dtype,
    )


# ----------------------------------------------------------------------------- cost


def cost_scaling(
    nnzs=(10, 20, 50, 100, 200, 500),
    widths=(10, 20, 50, 100, 200, 500),
    *,
    fixed_width: int = 50,
    fixed_nnz: int = 50,
    in_features: int = 20,
    n_train: int = 10000,
    planted_width: int = 5,
    planted_nnz: int = 20,
    methods=METHODS,
    iht_options=None,
    imp_options=None,
    seed: int = 0,
    device="cpu",
    dtype: torch.dtype = torch.float32,
    progress: bool = True,
) -> pd.DataFrame:
    r"""Wall-clock time and peak memory of one fit against :math:`s` and against the width :math:`p`.

    One data set of ``n_train`` samples from a planted network (width ``planted_width``,
    ``planted_nnz`` non-zeros) is fitted by each method (both in ``dtype``, float32 by
    default, so the bytes compare): with budget :math:`s` in ``nnzs`` at width
    ``fixed_width`` (``sweep="nnz"``; values with :math:`s > p d` skipped), and at
    width :math:`p` in ``widths`` with budget ``fixed_nnz`` (``sweep="width"``; widths
    with :math:`p d <` ``fixed_nnz`` skipped). IHT runs every pass (``tol=0`` unless
    ``iht_options`` says otherwise), so its time is that of ``steps`` passes and does
    not depend on how fast it converged.

    What to expect. IHT keeps the :math:`n \times s` columns :math:`A_S` and streams
    :math:`A^\top r` over chunks of ``chunk`` neurons (:math:`O(n \cdot \text{chunk})`
    transient memory), so its peak grows linearly in :math:`s` and stops growing with
    :math:`p` once :math:`p` exceeds one chunk. IMP trains a dense :math:`d \to p`
    network (masked), whose full-batch activations are :math:`n \times p`: its peak
    grows with :math:`p` and does not depend on :math:`s`.

    Returns one row per point with :data:`COST_COLUMNS` (``peak_bytes`` from
    :func:`~sparselab.recovery.measure_peak_memory`: peak RSS growth on a Linux CPU,
    noisy below about 1 MiB).
    """
    nnzs = check_int_list(nnzs, "nnzs", low=1)
    widths = check_int_list(widths, "widths", low=1)
    fixed_width = check_int(fixed_width, "fixed_width", low=1)
    in_features = check_int(in_features, "in_features", low=1)
    fixed_nnz = check_int(fixed_nnz, "fixed_nnz", low=1)
    n_train = check_int(n_train, "n_train", low=1)
    planted_width = check_int(planted_width, "planted_width", low=1)
    planted_nnz = check_int(planted_nnz, "planted_nnz", low=1, high=planted_width * in_features)
    methods = check_choice_list(methods, "methods", METHODS)
    seed = check_int(seed, "seed", low=0)
    progress = check_bool(progress, "progress")
    iht_options = {"tol": 0.0, **_options(iht_options, "iht_options", _IHT_KEYS)}
    imp_options = _options(imp_options, "imp_options", _IMP_KEYS)
    points = [("nnz", s, fixed_width) for s in nnzs if s <= fixed_width * in_features]
    points += [("width", fixed_nnz, p) for p in widths if fixed_nnz <= p * in_features]
    if not points:
        raise ValueError("no point of the two sweeps satisfies nnz <= width * in_features")
    pn = planted_network(
        in_features=in_features, width=planted_width, nnz=planted_nnz, n_train=n_train, n_test=1, seed=seed, dtype=dtype
    )
    X, y = pn.X_train, pn.y_train
    # warm-up: the first fit of a process pays for lazy imports, allocator pools and kernel set-up
    small = min(len(X), 64)
    for method in methods:
        _fit(
            method,
            X[:small],
            y[:small],
            nnz=1,
            width=1,
            seed=seed,
            device=device,
            iht_options={**iht_options, "steps": 2},
            imp_options={**imp_options, "epochs": 1},
            dtype=dtype,
        )
    rows = []
    bar = tqdm(total=len(points) * len(methods), desc="cost", unit="run", disable=not progress)
    for sweep, s, p in points:
        for method in methods:
            _, seconds, peak = _fit(
                method,
                X,
                y,
                nnz=s,
                width=p,
                seed=seed,
                device=device,
                iht_options=iht_options,
                imp_options=imp_options,
                dtype=dtype,
            )
            rows.append(
                {
                    "method": method,
                    "sweep": sweep,
                    "nnz": s,
                    "width": p,
                    "n_train": n_train,
                    "time_s": seconds,
                    "peak_bytes": peak,
                }
            )
            bar.update(1)
    bar.close()
    return pd.DataFrame(rows, columns=list(COST_COLUMNS))


# ----------------------------------------------------------------------------- classification


def _classification_data(task: str, seed: int, *, mnist_path, mnist_limit_train, mnist_limit_test):
    from sparselab.data import load_digits
    from sparselab.mnist import load_mnist

    binary = "0 vs 1" in task
    classes = (0, 1) if binary else None
    if task.startswith("digits"):
        data = load_digits(seed=seed, classes=classes)
    else:
        data = load_mnist(mnist_path, classes=classes, limit_train=mnist_limit_train, limit_test=mnist_limit_test)
    # centred with the training mean: a bias-free network on non-negative pixels would see every
    # generator with non-negative entries active on every image (both methods get the same inputs)
    X_train = data.X_train.to(torch.float64)
    mean = X_train.mean(0, keepdim=True)
    return (
        X_train - mean,
        data.y_train,
        data.X_test.to(torch.float64) - mean,
        data.y_test,
        binary,
        int(data.n_classes),
    )


def classification(
    nnzs=(5, 10, 20, 50, 100, 200),
    *,
    width: int = 16,
    tasks=CLASSIFICATION_TASKS,
    seeds=(0, 1),
    methods=METHODS,
    iht_options=None,
    imp_options=None,
    mnist_path=None,
    mnist_limit_train: int | None = 10000,
    mnist_limit_test: int | None = None,
    device="cpu",
    progress: bool = True,
) -> pd.DataFrame:
    r"""Test accuracy against the number of non-zeros on scikit-learn's digits (and MNIST).

    Tasks: ``"digits 0 vs 1"`` and ``"digits 10-class"`` (:func:`sparselab.data.load_digits`,
    split by ``seed``), and, when ``mnist_path`` is given, ``"MNIST 0 vs 1"`` and
    ``"MNIST 10-class"`` (:func:`sparselab.mnist.load_mnist`, the first
    ``mnist_limit_train`` training images). The pixels are centred by the training
    mean (both methods see the same inputs). Both networks have ``width`` hidden
    neurons and no biases.

    * **IHT** fits a regression: targets :math:`\pm 1` for two classes (prediction:
      the sign), one-hot targets for :math:`K` classes (:math:`K` outputs sharing the
      generators; prediction: the arg-max). Its budget :math:`s` counts fused
      (neuron, input, output) weights, i.e. the first-layer weights of the un-fused
      network, which has one hidden unit per (neuron, output) pair in use.
    * **IMP** trains the :math:`d \to p \to K` MLP with cross-entropy and prunes its
      first layer to :math:`s` non-zeros (the output layer, :math:`pK` weights, stays
      dense).

    Budgets with :math:`s > p d` are skipped. Returns one row per (task, nnz, seed,
    method) with :data:`CLASSIFICATION_COLUMNS`.
    """
    nnzs = check_int_list(nnzs, "nnzs", low=1)
    width = check_int(width, "width", low=1)
    seeds = check_int_list(seeds, "seeds", low=0)
    methods = check_choice_list(methods, "methods", METHODS)
    tasks = check_choice_list(tasks, "tasks", CLASSIFICATION_TASKS)
    if mnist_path is not None:
        tasks = tasks + ["MNIST 0 vs 1", "MNIST 10-class"]
    for name, value in (("mnist_limit_train", mnist_limit_train), ("mnist_limit_test", mnist_limit_test)):
        if value is not None:
            check_int(value, name, low=1)
    iht_options = _options(iht_options, "iht_options", _IHT_KEYS)
    imp_options = _options(imp_options, "imp_options", _IMP_KEYS)
    progress = check_bool(progress, "progress")
    rows = []
    bar = tqdm(
        total=len(tasks) * len(seeds) * len(nnzs) * len(methods),
        desc="classification",
        unit="run",
        disable=not progress,
    )
    for task in tasks:
        for seed in seeds:
            X_train, y_train, X_test, y_test, binary, K = _classification_data(
                task,
                seed,
                mnist_path=mnist_path,
                mnist_limit_train=mnist_limit_train,
                mnist_limit_test=mnist_limit_test,
            )
            d = X_train.shape[1]
            targets = (
                (2.0 * y_train - 1.0).to(torch.float64)
                if binary
                else torch.nn.functional.one_hot(y_train, K).to(torch.float64)
            )
            for nnz in nnzs:
                if nnz > d * width:
                    bar.update(len(methods))
                    continue
                for method in methods:
                    if method == "IHT":
                        model = iht(X_train, targets, nnz=nnz, width=width, seed=seed, device=device, **iht_options)

                        def labels(X, model=model):
                            out = model.predict(X)
                            return (out >= 0).long() if binary else out.argmax(1)
                    else:
                        model = imp_baseline(
                            X_train.float(),
                            y_train,
                            nnz=nnz,
                            width=width,
                            seed=seed,
                            task="classification",
                            device=device,
                            **imp_options,
                        )

                        def labels(X, model=model):
                            return model.predict(X.float()).argmax(1)

                    rows.append(
                        {
                            "method": method,
                            "task": task,
                            "nnz": nnz,
                            "width": width,
                            "seed": seed,
                            "accuracy_test": float((labels(X_test).cpu() == y_test).double().mean()),
                            "accuracy_train": float((labels(X_train).cpu() == y_train).double().mean()),
                        }
                    )
                    bar.update(1)
    bar.close()
    return pd.DataFrame(rows, columns=list(CLASSIFICATION_COLUMNS))


# ----------------------------------------------------------------------------- INR


def inr_experiment(
    nnzs=(50, 100, 200, 500, 1000),
    *,
    image: str = "camera",
    size: int = 32,
    n_frequencies: int = 64,
    scale: float = 4.0,
    width: int = 32,
    holdout: float = 0.25,
    seeds=(0,),
    methods=METHODS,
    iht_options=None,
    imp_options=None,
    device="cpu",
    progress: bool = True,
):
    r"""An implicit neural representation of one image: PSNR against non-zeros, and the reconstructions.

    The image (:func:`sparselab.recovery.sample_image`, ``size`` :math:`\times` ``size``
    grey levels in :math:`[0, 1]`) becomes a regression from the random Fourier
    features of each pixel's coordinates (:func:`sparselab.recovery.image_regression`:
    ``n_frequencies`` frequencies of scale ``scale``, so :math:`d = 2\,`
    ``n_frequencies`` inputs) to its intensity; a random fraction ``holdout`` of the
    pixels is held out. Each method fits a width-``width`` network with :math:`s`
    non-zero first-layer (IHT: fused) weights; budgets :math:`s > p d` are skipped.
    The Fourier frequencies and the split are drawn from ``seed``.

    Returns ``(frame, reconstructions, target)``: the frame has one row per (nnz,
    seed, method) with :data:`INR_COLUMNS` (PSNR on the training pixels and on the
    held-out ones); ``reconstructions`` maps ``(method, nnz)`` to the ``(size, size)``
    image the fit of the first seed predicts at every pixel; ``target`` is the image.
    """
    from sparselab.recovery import SAMPLE_IMAGES, image_features, image_regression, sample_image, to_image

    nnzs = check_int_list(nnzs, "nnzs", low=1)
    check_choice(image, "image", SAMPLE_IMAGES)
    size = check_int(size, "size", low=4, high=512)
    n_frequencies = check_int(n_frequencies, "n_frequencies", low=1)
    scale = check_float(scale, "scale", low=0.0, low_inclusive=False)
    width = check_int(width, "width", low=1)
    holdout = check_float(holdout, "holdout", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    seeds = check_int_list(seeds, "seeds", low=0)
    methods = check_choice_list(methods, "methods", METHODS)
    iht_options = _options(iht_options, "iht_options", _IHT_KEYS)
    imp_options = _options(imp_options, "imp_options", _IMP_KEYS)
    progress = check_bool(progress, "progress")
    target = sample_image(image, size)
    d = 2 * n_frequencies
    budgets = [s for s in nnzs if s <= width * d]
    if not budgets:
        raise ValueError(f"no value of nnzs={nnzs} is at most width * 2 * n_frequencies = {width * d}")
    rows, images = [], {}
    bar = tqdm(total=len(seeds) * len(budgets) * len(methods), desc="INR", unit="run", disable=not progress)
    for seed in seeds:
        data = image_regression(target, n_frequencies=n_frequencies, scale=scale, holdout=holdout, seed=seed)
        features = image_features(target, n_frequencies=n_frequencies, scale=scale, seed=seed)
        y_train, y_test = data.y_train[:, 0], data.y_test[:, 0]
        for nnz in budgets:
            for method in methods:
                if method == "IHT":
                    model = iht(data.X_train, y_train, nnz=nnz, width=width, seed=seed, device=device, **iht_options)

                    def predict(X, model=model):
                        return model.predict(X).detach().cpu().to(torch.float64)
                else:
                    model = imp_baseline(
                        data.X_train.float(),
                        y_train.float(),
                        nnz=nnz,
                        width=width,
                        seed=seed,
                        device=device,
                        **imp_options,
                    )

                    def predict(X, model=model):
                        return model.predict(X.float()).detach().cpu().to(torch.float64)

                rows.append(
                    {
                        "method": method,
                        "nnz": nnz,
                        "width": width,
                        "seed": seed,
                        "psnr_train": psnr(y_train, predict(data.X_train)),
                        "psnr_test": psnr(y_test, predict(data.X_test)),
                    }
                )
                if seed == seeds[0]:
                    images[(method, nnz)] = to_image(predict(features), target.shape).numpy()
                bar.update(1)
    bar.close()
    return pd.DataFrame(rows, columns=list(INR_COLUMNS)), images, target


# ----------------------------------------------------------------------------- width mismatch


def width_mismatch(
    width_factors=(1, 2, 4),
    *,
    variants=WIDTH_VARIANTS,
    width: int = 5,
    nnz: int = 20,
    in_features: int = 20,
    n_train: int = 2000,
    n_test: int = 1000,
    seeds=(0, 1, 2, 3),
    restarts: int = 4,
    iht_options=None,
    min_f1: float = SUCCESS_SUPPORT_F1,
    max_rel_error: float = SUCCESS_REL_ERROR,
    device="cpu",
    progress: bool = True,
) -> pd.DataFrame:
    r"""IHT (sequential mode) fitted with :math:`p = f m` neurons to a planted network of width :math:`m`.

    For each factor :math:`f` in ``width_factors``, seed and variant: ``"naive"``,
    ``"dead"``, ``"keep"`` and ``"redraw"`` are the ``empty_neurons`` options of
    :func:`sparselab.recovery.iht` (what an empty neuron becomes after a pass: a zero
    generator, so the neuron turns linear; switched off for good; its random generator,
    kept; a fresh random generator), and ``"redraw+restarts"`` is ``"redraw"`` returning
    the best of ``restarts`` runs by final *training* residual. ``iht_options`` (not ``empty_neurons`` or
    ``restarts``) go to every fit. The planted network is that of
    :func:`recovery_sweep` (``width`` :math:`= m`, ``nnz`` non-zeros).

    Returns one row per (factor, seed, variant) with :data:`WIDTH_COLUMNS`
    (``width`` is the fitted :math:`p`; ``active_neurons`` the neurons with a non-zero
    weight at the end).
    """
    width_factors = check_int_list(width_factors, "width_factors", low=1)
    variants = check_choice_list(variants, "variants", WIDTH_VARIANTS)
    width = check_int(width, "width", low=1)
    in_features = check_int(in_features, "in_features", low=1)
    nnz = check_int(nnz, "nnz", low=1, high=width * in_features)
    n_train = check_int(n_train, "n_train", low=1)
    n_test = check_int(n_test, "n_test", low=1)
    seeds = check_int_list(seeds, "seeds", low=0)
    restarts = check_int(restarts, "restarts", low=1)
    options = _options(iht_options, "iht_options", _IHT_KEYS - {"empty_neurons", "restarts"})
    criterion = _criterion(min_f1, max_rel_error)
    progress = check_bool(progress, "progress")
    rows = []
    bar = tqdm(
        total=len(width_factors) * len(seeds) * len(variants), desc="width mismatch", unit="run", disable=not progress
    )
    for seed in seeds:
        pn = planted_network(in_features=in_features, width=width, nnz=nnz, n_train=n_train, n_test=n_test, seed=seed)
        for factor in width_factors:
            for variant in variants:
                empty = "redraw" if variant == "redraw+restarts" else variant
                fit = iht(
                    pn.X_train,
                    pn.y_train,
                    nnz=nnz,
                    width=factor * width,
                    seed=seed,
                    device=device,
                    empty_neurons=empty,
                    restarts=restarts if variant == "redraw+restarts" else 1,
                    **options,
                )
                outcome = recovery_outcome(pn, fit.fused_dense(), fit.predict(pn.X_test), **criterion)
                rows.append(
                    {
                        "variant": variant,
                        "width_factor": factor,
                        "width": factor * width,
                        "seed": seed,
                        "psnr_train": psnr(pn.y_train, fit.predict(pn.X_train)),
                        "psnr_test": outcome["psnr_test"],
                        "rel_error_test": outcome["rel_error_test"],
                        "support_f1": outcome["support_f1"],
                        "success": outcome["success"],
                        "active_neurons": fit.active_neurons,
                    }
                )
                bar.update(1)
    bar.close()
    return pd.DataFrame(rows, columns=list(WIDTH_COLUMNS))


# ----------------------------------------------------------------------------- assumptions


def _relabel(pn, first_layer: torch.Tensor):
    """The planted network ``pn`` with its first layer replaced and its targets recomputed (noise-free)."""
    from dataclasses import replace

    V = pn.second_layer

    def label(X):
        out = torch.relu(X @ first_layer.T) @ V.T
        return out[:, 0] if V.shape[0] == 1 else out

    return replace(
        pn,
        first_layer=first_layer,
        fused=first_layer[:, :, None] * V.T[:, None, :],
        y_train=label(pn.X_train),
        y_test=label(pn.X_test),
    )


def _condition_network(
    condition: str, *, seed, in_features, width, nnz, n_train, n_test, few_samples, noise, correlation, perturbation
):
    base = dict(in_features=in_features, width=width, nnz=nnz, n_train=n_train, n_test=n_test, seed=seed)
    if condition == "Gaussian inputs":
        return planted_network(**base)
    if condition == "uniform inputs":
        return planted_network(**base, inputs="uniform")
    if condition == "non-negative inputs":
        return planted_network(**base, inputs="nonnegative")
    if condition == "correlated inputs":
        return planted_network(**base, inputs="correlated", correlation=correlation)
    if condition == "few samples":
        return planted_network(**{**base, "n_train": few_samples})
    if condition == "label noise":
        return planted_network(**base, noise=noise)
    if condition == "near-parallel neurons":
        # neuron 1 := neuron 0 + a small perturbation on neuron 0's support: two neurons whose
        # activation patterns differ on a small fraction of the inputs, and the same non-zero count
        pn = planted_network(**base)
        U = pn.first_layer.clone()
        g = torch.Generator().manual_seed(seed + 7)
        support = U[0] != 0
        U[1] = 0
        U[1, support] = U[0, support] + perturbation * torch.randn(int(support.sum()), generator=g, dtype=U.dtype)
        # the non-zero count changes by |supp u_0| - |supp u_1|: IHT gets the new planted count
        return _relabel(pn, U)
    # "dead neuron": non-negative inputs and neuron 0 with non-positive weights, so relu(x.u_0) = 0 for
    # every input: the neuron does not change the function and its weights cannot be identified
    pn = planted_network(**base, inputs="nonnegative")
    U = pn.first_layer.clone()
    U[0] = -U[0].abs()
    return _relabel(pn, U)


def assumption_failures(
    conditions=CONDITIONS,
    *,
    width: int = 5,
    nnz: int = 20,
    in_features: int = 20,
    n_train: int = 2000,
    n_test: int = 1000,
    seeds=(0, 1, 2, 3),
    few_samples: int = 60,
    noise: float = 0.1,
    correlation: float = 0.9,
    perturbation: float = 0.05,
    width_factor: int = 1,
    iht_options=None,
    min_f1: float = SUCCESS_SUPPORT_F1,
    max_rel_error: float = SUCCESS_REL_ERROR,
    device="cpu",
    progress: bool = True,
) -> pd.DataFrame:
    r"""IHT on planted networks that break one assumption of the recovery guarantee at a time.

    The guarantee assumes Gaussian inputs, enough samples, noise-free labels, neurons
    active on a fair fraction of the data and distinct neurons with distinct activation
    patterns. The conditions (:data:`CONDITIONS`), each with the planted network of
    :func:`recovery_sweep` (width ``width``, ``nnz`` non-zeros, ``n_train`` samples) unless
    stated:

    ``"Gaussian inputs"``
        the guarantee's setting (the reference);
    ``"uniform inputs"``
        :math:`U(-\sqrt 3, \sqrt 3)` entries (unit variance, not Gaussian);
    ``"non-negative inputs"``
        :math:`|\mathcal N(0, 1)|` entries: all inputs in one orthant, so many
        activation patterns are all-on or nearly so;
    ``"correlated inputs"``
        equicorrelated Gaussian entries with coefficient ``correlation``;
    ``"few samples"``
        only ``few_samples`` training samples;
    ``"label noise"``
        training targets plus :math:`\mathcal N(0, \sigma^2)` noise, :math:`\sigma` =
        ``noise`` (test targets clean);
    ``"near-parallel neurons"``
        neuron 1 replaced by neuron 0 plus ``perturbation`` times Gaussian noise on
        neuron 0's support, so the two patterns differ on few inputs;
    ``"dead neuron"``
        non-negative inputs and neuron 0's weights made non-positive: that neuron is
        never active, so it cannot be identified (its planted weights count in the
        support recall) although the function can still be fitted.

    IHT gets ``width_factor`` times the planted width and the planted number of non-zeros
    (``iht_options`` go to every fit). Returns one row per (condition, seed) with :data:`ASSUMPTION_COLUMNS`.
    """
    conditions = check_choice_list(conditions, "conditions", CONDITIONS)
    width = check_int(width, "width", low=1)
    width_factor = check_int(width_factor, "width_factor", low=1)
    in_features = check_int(in_features, "in_features", low=1)
    nnz = check_int(nnz, "nnz", low=1, high=width * in_features)
    n_train = check_int(n_train, "n_train", low=1)
    n_test = check_int(n_test, "n_test", low=1)
    seeds = check_int_list(seeds, "seeds", low=0)
    few_samples = check_int(few_samples, "few_samples", low=1)
    noise = check_float(noise, "noise", low=0.0)
    correlation = check_float(correlation, "correlation", low=0.0, high=1.0, high_inclusive=False)
    perturbation = check_float(perturbation, "perturbation", low=0.0)
    if "near-parallel neurons" in conditions and width < 2:
        raise ValueError(f"the 'near-parallel neurons' condition needs width >= 2, got width={width}")
    options = _options(iht_options, "iht_options", _IHT_KEYS)
    criterion = _criterion(min_f1, max_rel_error)
    progress = check_bool(progress, "progress")
    rows = []
    bar = tqdm(total=len(conditions) * len(seeds), desc="assumptions", unit="run", disable=not progress)
    for condition in conditions:
        for seed in seeds:
            pn = _condition_network(
                condition,
                seed=seed,
                in_features=in_features,
                width=width,
                nnz=nnz,
                n_train=n_train,
                n_test=n_test,
                few_samples=few_samples,
                noise=noise,
                correlation=correlation,
                perturbation=perturbation,
            )
            s = int((pn.first_layer != 0).sum())
            fit = iht(pn.X_train, pn.y_train, nnz=s, width=width_factor * width, seed=seed, device=device, **options)
            outcome = recovery_outcome(pn, fit.fused_dense(), fit.predict(pn.X_test), **criterion)
            rows.append(
                {
                    "condition": condition,
                    "seed": seed,
                    "psnr_train": psnr(pn.y_train, fit.predict(pn.X_train)),
                    **{k: outcome[k] for k in ("psnr_test", "rel_error_test", "precision", "recall", "support_f1")},
                    "success": outcome["success"],
                }
            )
            bar.update(1)
    bar.close()
    return pd.DataFrame(rows, columns=list(ASSUMPTION_COLUMNS))


# ----------------------------------------------------------------------------- IHT against IMP, paired

#: The per-run metrics :func:`method_comparison` compares by default: the success criterion (as 0/1), the support
#: :math:`F_1` and the held-out PSNR (dB).
PAIRED_VALUES = ("success", "support_f1", "psnr_test")


def method_comparison(
    frame: pd.DataFrame,
    *,
    values=PAIRED_VALUES,
    a: str = "IHT",
    b: str = "IMP",
    pair_on=("width", "nnz", "n_train", "seed"),
    psnr_cap: float | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    r"""Paired differences :math:`a - b` of per-run metrics of a sweep (:func:`recovery_sweep`, :func:`samples_sweep`).

    Runs of ``a`` and ``b`` are paired when they share ``pair_on`` (the cell and the seed), that is, when both
    methods fitted the *same* planted network on the same data; each pair is one independent planted instance.
    For each metric in ``values`` (``success`` counts as 0/1), :func:`sparselab.chapters.stats.paired_comparison`
    gives the mean difference :math:`\bar\delta` over the :math:`n` pairs with its Student-t interval
    :math:`\bar\delta \pm t_{n-1}\, s_\delta / \sqrt n` and the verdict (``"higher"``, ``"lower"`` or
    ``"indistinguishable"`` when the interval covers 0). ``psnr_cap`` clips ``psnr_test`` from above first
    (float64 round-off reaches some 300 dB and an exactly zero error :math:`+\infty`, which would make every
    difference that involves an exact fit a difference of round-off). Returns one row per metric: ``value`` and
    the columns of :func:`~sparselab.chapters.stats.paired_comparison`.
    """
    from sparselab.chapters.stats import paired_comparison

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    values = [values] if isinstance(values, str) else list(values)
    missing = [v for v in values if v not in frame.columns]
    if missing:
        raise ValueError(f"values {missing} are not columns of the frame; it has {list(frame.columns)}")
    pair_on = [c for c in ([pair_on] if isinstance(pair_on, str) else pair_on) if c in frame.columns]
    data = frame.copy()
    if "success" in data.columns:
        data["success"] = data["success"].astype(float)
    if psnr_cap is not None:
        psnr_cap = check_float(psnr_cap, "psnr_cap", low=0.0, low_inclusive=False)
        data["psnr_test"] = data["psnr_test"].clip(upper=psnr_cap)
    rows = []
    for value in values:
        result = paired_comparison(data, value=value, between="method", a=a, b=b, pair_on=pair_on, level=level)
        rows.append(result.assign(value=value))
    out = pd.concat(rows, ignore_index=True)
    return out[["value", *[c for c in out.columns if c != "value"]]]


# ----------------------------------------------------------------------------- the paper-scale grid, from its file

#: ``data/recovery_paper.json`` stores a PSNR of :math:`+\infty` (an exactly zero held-out error) as this number.
PAPER_GRID_PSNR_INF = 1e308


def load_paper_grid(path) -> tuple[pd.DataFrame, dict]:
    r"""The executed paper-scale grid (``data/recovery_paper.json``, written by ``tools/recovery_paper_grid.py``).

    Returns ``(frame, meta)``: ``frame`` has one row per (cell, seed, method) with :data:`SWEEP_COLUMNS`, as
    :func:`recovery_sweep` returns it (a stored :data:`PAPER_GRID_PSNR_INF` back to :math:`+\infty`); ``meta`` the
    rest of the file: ``parameters``, ``machine`` (CPU, versions), ``date``, ``complete``, ``n_cells``,
    ``missing_cells`` and ``seconds`` (the summed run time of the cells). The chapter never re-runs the grid; a
    missing file is an error, since the file is committed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: it is committed with the repository; regenerate it with "
            "`python tools/recovery_paper_grid.py --out data/recovery_paper.json`"
        )
    raw = json.loads(path.read_text())
    rows = [row for cell in raw["cells"] for row in cell["rows"]]
    frame = pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))
    for column in ("psnr_train", "psnr_test"):
        frame[column] = frame[column].astype(float).mask(frame[column] >= PAPER_GRID_PSNR_INF, np.inf)
    frame["success"] = frame["success"].astype(bool)
    meta = {key: value for key, value in raw.items() if key != "cells"}
    meta["seconds"] = float(sum(cell["seconds"] for cell in raw["cells"]))
    meta.setdefault("missing_cells", [])
    return frame, meta
