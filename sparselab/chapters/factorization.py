r"""The experiments of the chapter "Sparse matrix factorisation, ill-posedness and butterflies".

Every function here runs a small grid of seeded problems and returns a long-format
:class:`pandas.DataFrame` (one row per run or per recorded step) with the columns in the module
constants ``*_COLUMNS``. The algorithms are in :mod:`sparselab.factorization` (fixed-support
factorisation, the LU counter-example, sparse ReLU training) and :mod:`sparselab.factorization.butterfly`
(Kronecker-sparse and butterfly matrices, the hierarchical butterfly factorisation, Monarch
projections); the structured layers in :mod:`sparselab.nn`; the drawing in :mod:`sparselab.chapters.plots`.

1. :func:`lu_path_frame` -- the LU counter-example: error :math:`\varepsilon` at norm :math:`\sim 2/\sqrt\varepsilon`;
2. :func:`descent_on_supports` -- gradient descent on the LU support (no minimiser: the error goes to 0 while
   the norm grows) against the full support (minimiser attained, bounded norm);
3. :func:`relu_scalar_training` -- a sparse one-hidden-layer ReLU network with scalar output (a minimiser
   always exists): training converges with bounded weights;
4. :func:`fsmf_starts` -- ALS and gradient descent from many starts on a tractable support (all reach the
   exact SVD optimum) and on a general one (different starts end at different errors);
5. :func:`butterfly_exactness` -- the DFT (bit-reversed) and Hadamard matrices are factorised exactly;
6. :func:`butterfly_noise` -- the error of the hierarchical algorithm on a noisy butterfly is proportional
   to the noise;
7. :func:`dense_random` -- what a butterfly (or a Monarch matrix) cannot fit: a Gaussian matrix;
8. :func:`factorization_timing` -- time of the hierarchical factorisation against :math:`N`;
9. :func:`product_timing`, :func:`loglog_slope` -- time of a matrix-vector product: butterfly
   (:math:`O(N\log N)`), dense (:math:`O(N^2)`), Monarch (:math:`O(N^{3/2})`), FFT;
10. :func:`structured_layer_task` -- learning the Hadamard transform with a single linear layer: dense,
    butterfly, Monarch, unstructured sparse and low-rank at (about) equal parameter counts;
11. :func:`structured_layer_digits` -- the same layers inside a small digits classifier.

Shared conventions. Everything runs on the CPU; the numerics are float64 (the layers in
:func:`structured_layer_digits` train in float32, the dtype of the data). Every random draw comes
from a local generator seeded by :func:`sparselab.chapters.thresholding.derive_seed` of ``seed`` and
the run's cell, so two calls with the same arguments return bitwise the same frame, except the
columns named ``"seconds"``.
"""

from __future__ import annotations

import math
import statistics
import time

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from sparselab._validation import (
    check_bool,
    check_choice,
    check_choice_list,
    check_float,
    check_float_list,
    check_int,
    check_int_list,
)
from sparselab.chapters.thresholding import derive_seed
from sparselab.factorization import monarch_blocks
from sparselab.loop import fit, supervised_step
from sparselab.masks import random_support
from sparselab.training import resolve_device

__all__ = [
    "LU_PATH_COLUMNS",
    "DESCENT_COLUMNS",
    "RELU_COLUMNS",
    "STARTS_COLUMNS",
    "EXACTNESS_COLUMNS",
    "NOISE_COLUMNS",
    "DENSE_RANDOM_COLUMNS",
    "FACTORIZATION_TIMING_COLUMNS",
    "PRODUCT_TIMING_COLUMNS",
    "SLOPE_COLUMNS",
    "LAYER_TASK_COLUMNS",
    "LAYER_DIGITS_COLUMNS",
    "ORDERS",
    "SUPPORTS",
    "FSMF_METHODS",
    "EXACTNESS_MATRICES",
    "PRODUCT_KINDS",
    "LAYER_MODELS",
    "LAYER_TARGETS",
    "lu_path_frame",
    "descent_on_supports",
    "relu_scalar_training",
    "fsmf_starts",
    "butterfly_exactness",
    "butterfly_noise",
    "dense_random",
    "factorization_timing",
    "product_timing",
    "loglog_slope",
    "structured_layer",
    "structured_layer_task",
    "structured_layer_digits",
]

LU_PATH_COLUMNS = ("eps", "error", "norm", "norm_x", "norm_y")
DESCENT_COLUMNS = ("support", "seed", "step", "error", "norm")
RELU_COLUMNS = ("seed", "step", "loss", "norm")
STARTS_COLUMNS = ("support", "method", "start", "error", "optimal_error", "gap", "relative_error", "seconds")
EXACTNESS_COLUMNS = ("matrix", "N", "order", "relative_error", "seconds")
NOISE_COLUMNS = ("noise", "order", "seed", "relative_error", "ratio")
DENSE_RANDOM_COLUMNS = ("N", "order", "seed", "relative_error", "monarch_relative_error")
FACTORIZATION_TIMING_COLUMNS = ("N", "order", "seconds", "relative_error")
PRODUCT_TIMING_COLUMNS = ("N", "kind", "batch", "seconds")
SLOPE_COLUMNS = ("kind", "batch", "slope")
LAYER_TASK_COLUMNS = ("model", "params", "seed", "train_mse", "test_relative_error")
LAYER_DIGITS_COLUMNS = ("model", "params", "seed", "train_accuracy", "test_accuracy")

ORDERS = ("balanced", "left_to_right", "right_to_left")
SUPPORTS = ("tractable", "general")
FSMF_METHODS = ("als", "gd")
EXACTNESS_MATRICES = ("DFT", "Hadamard", "DFT (no permutation)")
PRODUCT_KINDS = ("butterfly", "dense", "monarch", "fft")
LAYER_MODELS = ("dense", "butterfly", "monarch", "sparse", "low-rank")
LAYER_TARGETS = ("hadamard", "dct")

_MIN_TIMED = 2e-3  # product_timing: each measurement runs the product often enough to last >= 2 ms


def _bar(total: int, desc: str, unit: str, progress) -> tqdm:
    return tqdm(total=total, desc=desc, unit=unit, disable=not check_bool(progress, "progress"))


def _frame(rows: list, columns: tuple) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


def _fro(M: torch.Tensor) -> float:
    return float(torch.linalg.norm(M))


# ----------------------------------------------------------------------------- 1. the LU path


def lu_path_frame(eps_values=(1.0, 0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4)) -> pd.DataFrame:
    r"""Error against norm along the minimising sequence of the LU counter-example.

    For :math:`A = \begin{pmatrix}0&1\\1&0\end{pmatrix}` with lower-triangular supports on both
    factors (:func:`sparselab.factorization.lu_counterexample`, :math:`XY^\top = LU`) the infimum of
    :math:`\|A - XY^\top\|_F` is 0 but it is not attained. :func:`sparselab.factorization.lu_path`
    gives, for every :math:`\varepsilon > 0`, the smallest-norm feasible pair of its family with error
    exactly :math:`\varepsilon`, and

    .. math:: \|X\|_F^2 + \|Y\|_F^2 = \frac{4 + 2\varepsilon^2}{\varepsilon} \to \infty
              \quad (\varepsilon \to 0):

    the closer to the infimum, the larger the factors, so any minimising sequence diverges.

    Parameters
    ----------
    eps_values : sequence of float
        Distinct target errors :math:`\varepsilon > 0`.

    Returns
    -------
    pandas.DataFrame
        :data:`LU_PATH_COLUMNS`, one row per :math:`\varepsilon`: ``error`` :math:`= \|A - XY^\top\|_F`,
        ``norm`` :math:`= \sqrt{\|X\|_F^2 + \|Y\|_F^2}`, ``norm_x`` :math:`= \|X\|_F`, ``norm_y`` :math:`= \|Y\|_F`.
    """
    from sparselab.factorization import lu_counterexample, lu_path

    eps_values = check_float_list(eps_values, "eps_values", low=0.0, low_inclusive=False)
    A, _, _ = lu_counterexample()
    rows = []
    for eps in eps_values:
        X, Y = lu_path(eps)
        nx, ny = _fro(X), _fro(Y)
        rows.append((eps, _fro(A - X @ Y.T), math.sqrt(nx * nx + ny * ny), nx, ny))
    return _frame(rows, LU_PATH_COLUMNS)


# ----------------------------------------------------------------------------- 2. descent on LU vs full


def descent_on_supports(
    *, steps: int = 3000, seeds=(0, 1, 2), record_every: int = 10, init_scale: float = 0.5, progress: bool = False
) -> pd.DataFrame:
    r"""Gradient descent on the LU counter-example and on the full support, from the same starts.

    Both problems fit the anti-diagonal :math:`A = \begin{pmatrix}0&1\\1&0\end{pmatrix}` by
    :math:`XY^\top` with :math:`X, Y \in \mathbb R^{2\times 2}` by gradient descent with an Armijo line
    search (:func:`sparselab.factorization.fsmf_gd`) on :math:`\frac12\|A - XY^\top\|_F^2`:

    * ``"LU"``: :math:`I = J` lower triangular. The infimum 0 is not attained
      (:func:`sparselab.factorization.lu_counterexample`), so as the error decreases towards 0 the
      norm :math:`\sqrt{\|X\|_F^2 + \|Y\|_F^2}` must grow without bound (at error :math:`\varepsilon`
      at least about :math:`2/\sqrt\varepsilon`, see :func:`lu_path_frame`);
    * ``"full"``: :math:`I = J = \mathbf 1_{2\times 2}` (rank 2). :math:`A` itself is feasible, the
      minimiser is attained and descent converges to one of them with a bounded norm.

    Parameters
    ----------
    steps : int
        Gradient steps per run, ``>= 1``.
    seeds : sequence of int
        Seeds of the random starts (the same start for both supports: entries
        :math:`\mathcal N(0, s^2)` on the support).
    record_every : int
        Record every ``record_every`` steps (and step 0 and the last one).
    init_scale : float
        Scale of the start, ``> 0`` (:func:`sparselab.factorization.fsmf_gd`).
    progress : bool
        Show a progress bar over the runs.

    Returns
    -------
    pandas.DataFrame
        :data:`DESCENT_COLUMNS`, one row per recorded step of each run; ``support`` is ``"LU"`` or ``"full"``.
    """
    from sparselab.factorization import fsmf_gd, lu_counterexample

    steps = check_int(steps, "steps", low=1)
    seeds = check_int_list(seeds, "seeds", low=0)
    record_every = check_int(record_every, "record_every", low=1)
    init_scale = check_float(init_scale, "init_scale", low=0.0, low_inclusive=False)
    A, I_lu, J_lu = lu_counterexample()
    full = torch.ones(2, 2, dtype=torch.bool)
    problems = (("LU", I_lu, J_lu), ("full", full, full))
    rows = []
    bar = _bar(len(problems) * len(seeds), "descent", "run", progress)
    for support, I, J in problems:
        for seed in seeds:
            fit = fsmf_gd(
                A,
                I,
                J,
                steps=steps,
                seed=derive_seed(seed, 2),
                init_scale=init_scale,
                record_every=record_every,
                tol=0.0,
            )
            h = fit.history
            rows += [(support, seed, int(s), float(e), float(n)) for s, e, n in zip(h["step"], h["error"], h["norm"])]
            bar.update()
    bar.close()
    return _frame(rows, DESCENT_COLUMNS)


# ----------------------------------------------------------------------------- 3. sparse ReLU, scalar output


def relu_scalar_training(
    *,
    samples: int = 200,
    in_features: int = 8,
    width: int = 16,
    density: float = 0.25,
    steps: int = 3000,
    lr: float = 0.2,
    seeds=(0, 1, 2),
    noise: float = 0.1,
    record_every: int = 10,
    progress: bool = False,
) -> pd.DataFrame:
    r"""Full-batch training of a sparse one-hidden-layer ReLU network with scalar output.

    Inputs :math:`x_i \sim \mathcal N(0, I_d)`; targets from a random *dense* ReLU teacher with the
    same width, :math:`y_i = \sum_j a_j \operatorname{relu}(b_j^\top x_i) + \sigma \xi_i` with
    :math:`b_{jk} \sim \mathcal N(0, 1/d)`, :math:`a_j \sim \mathcal N(0, 1/h)` and
    :math:`\xi_i \sim \mathcal N(0, 1)`. The student
    :math:`f(x) = \sum_j v_j \operatorname{relu}(w_j^\top x)` has a fixed random first-layer support
    with :math:`\operatorname{round}(\text{density}\cdot h d)` entries (every row non-empty) and is
    trained by :func:`sparselab.factorization.fit_sparse_relu`. It cannot represent the teacher nor
    the noise, so the optimal loss is positive. Le, Riccietti and Gribonval (2023) prove that with one
    hidden layer and scalar output the problem always has a global minimiser, whatever the support:
    unlike the LU example (:func:`descent_on_supports`), the loss settles at a positive value while
    the parameter norm :math:`\sqrt{\|W\|_F^2 + \|v\|_2^2}` stays bounded.

    Parameters
    ----------
    samples, in_features, width : int
        :math:`N`, :math:`d` and the width :math:`h` (hidden units), each ``>= 1``.
    density : float
        Density of the first-layer support, in :math:`(0, 1]`.
    steps, lr, record_every
        As in :func:`sparselab.factorization.fit_sparse_relu`.
    seeds : sequence of int
        One problem (data, teacher, support, initialisation) per seed.
    noise : float
        :math:`\sigma \ge 0`.
    progress : bool
        Show a progress bar over the seeds.

    Returns
    -------
    pandas.DataFrame
        :data:`RELU_COLUMNS`, one row per recorded step of each run; ``loss`` is
        :math:`\frac1{2N}\sum_i (f(x_i) - y_i)^2`.
    """
    from sparselab.factorization import fit_sparse_relu

    samples = check_int(samples, "samples", low=1)
    d = check_int(in_features, "in_features", low=1)
    h = check_int(width, "width", low=1)
    density = check_float(density, "density", low=0.0, high=1.0, low_inclusive=False)
    steps = check_int(steps, "steps", low=1)
    lr = check_float(lr, "lr", low=0.0, low_inclusive=False)
    seeds = check_int_list(seeds, "seeds", low=0)
    noise = check_float(noise, "noise", low=0.0)
    record_every = check_int(record_every, "record_every", low=1)
    nnz = max(round(density * h * d), h)
    rows = []
    bar = _bar(len(seeds), "sparse ReLU", "run", progress)
    for seed in seeds:
        g = torch.Generator().manual_seed(derive_seed(seed, 3))
        X = torch.randn(samples, d, generator=g, dtype=torch.float64)
        B = torch.randn(h, d, generator=g, dtype=torch.float64) / math.sqrt(d)
        a = torch.randn(h, generator=g, dtype=torch.float64) / math.sqrt(h)
        y = torch.relu(X @ B.T) @ a + noise * torch.randn(samples, generator=g, dtype=torch.float64)
        mask = random_support(h, d, nnz, g)
        fit = fit_sparse_relu(X, y, mask, steps=steps, lr=lr, seed=derive_seed(seed, 4), record_every=record_every)
        hist = fit.history
        rows += [(seed, int(s), float(loss), float(n)) for s, loss, n in zip(hist["step"], hist["loss"], hist["norm"])]
        bar.update()
    bar.close()
    return _frame(rows, RELU_COLUMNS)


# ----------------------------------------------------------------------------- 4. tractable vs general supports


def _class_sizes(rank: int) -> list[int]:
    """Split ``rank`` columns into classes of sizes 1, 2, 3, ... (the last one truncated)."""
    sizes, k = [], 1
    while rank > 0:
        sizes.append(min(k, rank))
        rank -= sizes[-1]
        k += 1
    return sizes


def fsmf_starts(
    *,
    size: int = 12,
    rank: int = 6,
    density: float = 0.4,
    starts: int = 30,
    steps: int = 300,
    seed: int = 0,
    methods=("als", "gd"),
    supports=("tractable", "general"),
    general_target: str = "planted",
    progress: bool = False,
) -> pd.DataFrame:
    r"""ALS and gradient descent from many random starts on a tractable and on a general support.

    :math:`A` is a ``size`` :math:`\times` ``size`` Gaussian matrix; :math:`X, Y` have ``rank`` columns.

    * ``"tractable"``: :func:`sparselab.factorization.tractable_supports` -- the columns are grouped in
      classes of sizes :math:`1, 2, 3, \dots` whose rank-one supports are disjoint rectangles, so every
      two rank-one supports are disjoint or identical. :func:`sparselab.factorization.fsmf_exact`
      solves the problem by one SVD per class (Eckart--Young), ``optimal_error`` is its error, and the
      landscape has no spurious local minimum or valley (Le, Riccietti & Gribonval 2021): both local
      methods reach the optimum from every start (gap :math:`\approx 0`). One extra row with
      ``method="exact"`` and ``start=-1`` holds the exact solution.
    * ``"general"``: :func:`sparselab.factorization.random_supports` with the given ``density``,
      re-drawn until it is *not* tractable. FSMF is NP-hard in general and there is no certificate of
      optimality for a generic :math:`A`. With ``general_target="planted"`` (default) the target is
      instead :math:`A = X_\star Y_\star^\top` with Gaussian :math:`X_\star, Y_\star` on the supports, so the
      optimum is known to be 0 (``optimal_error = 0``) and every start that ends above it is stuck;
      with ``"gaussian"`` the target is the Gaussian :math:`A` and ``optimal_error`` is the best error
      found over all starts and methods.

    ``gap`` :math:`= (\text{error} - \text{optimal\_error}) / \|A\|_F`, ``relative_error``
    :math:`= \text{error}/\|A\|_F`.

    Parameters
    ----------
    size, rank : int
        Size of :math:`A` (``>= 2``) and number of columns of the factors (``>= 1``).
    density : float
        Density of the general supports, in :math:`(0, 1]`.
    starts : int
        Random starts per method and support, ``>= 1`` (``start`` = ``0..starts-1``, also the solver seed).
    steps : int
        Maximum ALS sweeps and gradient steps (Armijo line search) per run, ``>= 1``.
    seed : int
        Seed of :math:`A` (``torch.randn`` with a generator seeded by ``seed``), of the tractable
        supports (``tractable_supports(..., seed=seed)``) and of the general ones
        (``random_supports(..., seed=seed + i)`` for the first :math:`i = 0, 1, \dots` that is not tractable).
    methods : sequence of str
        Among :data:`FSMF_METHODS`.
    supports : sequence of str
        Among :data:`SUPPORTS`.
    general_target : str
        ``"planted"`` or ``"gaussian"``: the target on the general support (see above).
    progress : bool
        Show a progress bar over the runs.

    Returns
    -------
    pandas.DataFrame
        :data:`STARTS_COLUMNS`, one row per (support, method, start), plus the ``"exact"`` rows.
        ``gap`` and ``relative_error`` are relative to the norm of that support's target.
    """
    from sparselab.factorization import fsmf_als, fsmf_exact, fsmf_gd, is_tractable, random_supports, tractable_supports

    size = check_int(size, "size", low=2)
    rank = check_int(rank, "rank", low=1, high=size * size)
    density = check_float(density, "density", low=0.0, high=1.0, low_inclusive=False)
    starts = check_int(starts, "starts", low=1)
    steps = check_int(steps, "steps", low=1)
    seed = check_int(seed, "seed", low=0)
    methods = check_choice_list(methods, "methods", FSMF_METHODS)
    supports = check_choice_list(supports, "supports", SUPPORTS)
    check_choice(general_target, "general_target", ("planted", "gaussian"))
    A = torch.randn(size, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    targets = {"tractable": A, "general": A}
    pairs = {}
    if "tractable" in supports:
        pairs["tractable"] = tractable_supports(size, size, _class_sizes(rank), seed=seed)
    if "general" in supports:
        for attempt in range(1000):
            I, J = random_supports(size, size, rank, density, seed=seed + attempt)
            if not is_tractable(I, J):
                break
        else:
            raise ValueError(
                f"random_supports({size}, {size}, {rank}, density={density}) gave only tractable "
                "supports in 1000 draws; raise rank or density for the 'general' support"
            )
        pairs["general"] = (I, J)
        if general_target == "planted":
            gen = torch.Generator().manual_seed(seed)
            X_star = torch.randn(size, rank, generator=gen, dtype=torch.float64) * I
            Y_star = torch.randn(size, rank, generator=gen, dtype=torch.float64) * J
            targets["general"] = X_star @ Y_star.T
    rows = []
    bar = _bar(len(supports) * len(methods) * starts, "FSMF starts", "run", progress)
    for support in supports:
        I, J = pairs[support]
        A = targets[support]
        normA = _fro(A)
        runs = []
        for method in methods:
            for start in range(starts):
                t0 = time.perf_counter()
                if method == "als":
                    fit = fsmf_als(A, I, J, steps=steps, seed=start)
                else:
                    fit = fsmf_gd(A, I, J, steps=steps, seed=start, record_every=steps)
                runs.append((method, start, fit.error, time.perf_counter() - t0))
                bar.update()
        if support == "tractable":
            t0 = time.perf_counter()
            exact = fsmf_exact(A, I, J)
            runs.insert(0, ("exact", -1, exact.error, time.perf_counter() - t0))
            optimal = exact.error
        elif general_target == "planted":
            optimal = 0.0  # A = X* Y*^T is feasible
        else:
            optimal = min(r[2] for r in runs)
        rows += [
            (support, method, start, err, optimal, (err - optimal) / normA, err / normA, sec)
            for method, start, err, sec in runs
        ]
    bar.close()
    return _frame(rows, STARTS_COLUMNS)


# ----------------------------------------------------------------------------- 5-8. butterflies


def check_sizes(sizes, name: str = "sizes", *, min_len: int = 1) -> list[int]:
    """``sizes`` as a list of at least ``min_len`` distinct powers of two :math:`\\geq 2` (errors name ``name[i]``)."""
    from sparselab.factorization import check_power_of_two

    sizes = check_int_list(sizes, name, low=2, min_len=min_len)
    return [check_power_of_two(N, f"{name}[{i}]") for i, N in enumerate(sizes)]


def butterfly_exactness(
    sizes=(4, 16, 64, 256, 1024), *, orders=("balanced", "left_to_right"), progress: bool = False
) -> pd.DataFrame:
    r"""The hierarchical butterfly factorisation recovers the DFT and the Hadamard matrix exactly.

    The DFT matrix with its columns in bit-reversed order is a butterfly matrix (this is the
    radix-2 Cooley--Tukey FFT: :math:`F_N P = B_1 \cdots B_L`), and so is the Sylvester--Hadamard
    matrix :math:`H_N = H_2^{\otimes L}` without permutation. Every split of the hierarchical
    algorithm (:func:`sparselab.factorization.butterfly_factorize`) is then a batch of *exactly* rank-one
    blocks, so the factorisation is exact up to rounding (relative error :math:`\sim 10^{-15}`) in
    every order. Without the bit reversal the DFT is far from a butterfly (``"DFT (no
    permutation)"``): its blocks are not rank one and the error is of order one.

    Parameters
    ----------
    sizes : sequence of int
        Powers of two :math:`N \ge 2`.
    orders : sequence of str
        Among :data:`ORDERS`.
    progress : bool
        Show a progress bar over the sizes.

    Returns
    -------
    pandas.DataFrame
        :data:`EXACTNESS_COLUMNS`, one row per (matrix, N, order); ``relative_error``
        :math:`= \|A P - B_1\cdots B_L\|_F / \|A\|_F`, ``seconds`` the factorisation's wall time.
    """
    from sparselab.factorization import butterfly_factorize, dft_matrix, hadamard_matrix

    sizes = check_sizes(sizes)
    orders = check_choice_list(orders, "orders", ORDERS)
    rows = []
    bar = _bar(len(sizes), "exactness", "size", progress)
    for N in sizes:
        F, H = dft_matrix(N), hadamard_matrix(N)
        for matrix, A, perm in (("DFT", F, "bit_reversal"), ("Hadamard", H, None), ("DFT (no permutation)", F, None)):
            for order in orders:
                res = butterfly_factorize(A, order=order, perm=perm)
                rows.append((matrix, N, order, float(res.relative_error), float(res.seconds)))
        bar.update()
    bar.close()
    return _frame(rows, EXACTNESS_COLUMNS)


def butterfly_noise(
    N: int = 256,
    noise_levels=(0, 1e-4, 1e-3, 1e-2, 1e-1),
    *,
    seeds=(0, 1, 2),
    orders=("balanced", "left_to_right", "right_to_left"),
    progress: bool = False,
) -> pd.DataFrame:
    r"""Stability of the hierarchical factorisation: a noisy butterfly is fitted to the noise level.

    :math:`A = B + E` with :math:`B = B_1 \cdots B_L` a random Gaussian butterfly
    (:func:`sparselab.factorization.random_butterfly`) and :math:`E` a Gaussian matrix scaled so that
    :math:`\|E\|_F = \text{noise}\cdot\|B\|_F`. Since :math:`B` is feasible, the best butterfly
    approximation has error at most :math:`\|E\|_F`; the hierarchical algorithm is not optimal but
    its error is within a constant factor of the best (Le et al. 2022, 2024), so
    ``relative_error`` :math:`= \|A - \hat A\|_F / \|A\|_F` is proportional to the noise:
    ``ratio`` = relative_error / noise stays close to one for every order and every noise level
    (the fit removes only the small part of :math:`E` along the :math:`2N\log_2 N`-dimensional
    butterfly set), and the error is :math:`\sim 10^{-15}` without noise (``ratio`` is NaN then).

    Parameters
    ----------
    N : int
        Power of two :math:`\ge 2`.
    noise_levels : sequence of float
        Relative noise levels :math:`\ge 0`.
    seeds : sequence of int
        One butterfly :math:`B` and one noise direction per seed.
    orders : sequence of str
        Among :data:`ORDERS`.
    progress : bool
        Show a progress bar over (seed, noise) problems.

    Returns
    -------
    pandas.DataFrame
        :data:`NOISE_COLUMNS`, one row per (noise, order, seed).
    """
    from sparselab.factorization import butterfly_dense, butterfly_factorize, check_power_of_two, random_butterfly

    N = check_power_of_two(N, "N")
    noise_levels = check_float_list(noise_levels, "noise_levels", low=0.0)
    seeds = check_int_list(seeds, "seeds", low=0)
    orders = check_choice_list(orders, "orders", ORDERS)
    rows = []
    bar = _bar(len(seeds) * len(noise_levels), "noise", "problem", progress)
    for seed in seeds:
        B = butterfly_dense(random_butterfly(N, seed=derive_seed(seed, 8)))
        g = torch.Generator().manual_seed(derive_seed(seed, 9))
        E = torch.randn(N, N, generator=g, dtype=torch.float64)
        E = E * (_fro(B) / _fro(E))
        for noise in noise_levels:
            A = B + noise * E
            for order in orders:
                rel = float(butterfly_factorize(A, order=order).relative_error)
                rows.append((noise, order, seed, rel, rel / noise if noise > 0 else float("nan")))
            bar.update()
    bar.close()
    return _frame(rows, NOISE_COLUMNS)


def dense_random(
    sizes=(16, 64, 256),
    *,
    seeds=(0, 1, 2),
    orders=("balanced", "left_to_right", "right_to_left"),
    progress: bool = False,
) -> pd.DataFrame:
    r"""What a butterfly cannot fit: the best structured approximation of a Gaussian matrix.

    A Gaussian :math:`N \times N` matrix has no structure: a butterfly has :math:`2N\log_2 N` of
    its :math:`N^2` degrees of freedom, a Monarch matrix :math:`2N^{3/2}`
    (:func:`sparselab.factorization.monarch_project`, optimal in Frobenius norm). The relative error
    :math:`\|A - \hat A\|_F / \|A\|_F` of the hierarchical butterfly factorisation is close to 1
    and grows with :math:`N` (about 0.70, 0.90, 0.97 for :math:`N = 16, 64, 256`); the optimal Monarch
    projection, with more parameters, keeps a bit more (about 0.59, 0.79, 0.89). A dense layer whose weights are
    random-like is therefore *not* well approximated by either: structured layers must be trained
    with their structure (:func:`structured_layer_task`).

    Parameters
    ----------
    sizes : sequence of int
        Powers of two :math:`N \ge 2` that are perfect squares for the Monarch column
        (:math:`N = 4^k`; otherwise ``monarch_relative_error`` uses the divisor of :math:`N` closest
        below :math:`\sqrt N` as the number of blocks).
    seeds : sequence of int
        One Gaussian matrix per (size, seed).
    orders : sequence of str
        Among :data:`ORDERS`.
    progress : bool
        Show a progress bar over (size, seed).

    Returns
    -------
    pandas.DataFrame
        :data:`DENSE_RANDOM_COLUMNS`, one row per (N, order, seed); ``monarch_relative_error`` does not
        depend on the order and is repeated.
    """
    from sparselab.factorization import butterfly_factorize, monarch_project

    sizes = check_sizes(sizes)
    seeds = check_int_list(seeds, "seeds", low=0)
    orders = check_choice_list(orders, "orders", ORDERS)
    rows = []
    bar = _bar(len(sizes) * len(seeds), "dense random", "matrix", progress)
    for N in sizes:
        blocks = monarch_blocks(N)
        for seed in seeds:
            g = torch.Generator().manual_seed(derive_seed(seed, 10, N))
            A = torch.randn(N, N, generator=g, dtype=torch.float64)
            monarch = float(monarch_project(A, blocks=blocks).relative_error)
            for order in orders:
                rows.append((N, order, seed, float(butterfly_factorize(A, order=order).relative_error), monarch))
            bar.update()
    bar.close()
    return _frame(rows, DENSE_RANDOM_COLUMNS)


def factorization_timing(
    sizes=(64, 256, 1024, 4096),
    *,
    orders=("balanced", "left_to_right"),
    repeats: int = 1,
    device: str = "cpu",
    progress: bool = False,
) -> pd.DataFrame:
    r"""Wall time of the hierarchical butterfly factorisation of the bit-reversed DFT against :math:`N`.

    Every split reads all the entries of its node once and fits a batch of rank-one
    approximations of :math:`h \times w` blocks (:func:`sparselab.factorization.rank_one_blocks`:
    Gram matrix and eigendecomposition of the smaller side, :math:`O(hw\min(h, w))` per block). In
    the left-to-right order every split has :math:`h = 2`: :math:`O(N^2)` per level and
    :math:`O(N^2\log N)` in all. The balanced order's first split fits :math:`N` blocks of
    :math:`\sqrt N \times \sqrt N`: :math:`O(N^{5/2})`, which dominates for large :math:`N`. Both are
    far below the :math:`O(N^3)` of a dense SVD of :math:`A`. ``seconds`` is the median over
    ``repeats`` runs of :attr:`sparselab.factorization.butterfly.ButterflyFactorization.seconds`; the relative
    error (:math:`\sim 10^{-15}`) is a check that each run is exact.

    Parameters
    ----------
    sizes : sequence of int
        Powers of two :math:`N \ge 2`.
    orders : sequence of str
        Among :data:`ORDERS`.
    repeats : int
        Timed runs per (N, order), ``>= 1``.
    device : str
        Where :math:`A` lives and the factorisation runs (``"cpu"``, ``"cuda"``, ``"mps"``, ``"auto"``).
    progress : bool
        Show a progress bar over the sizes.

    Returns
    -------
    pandas.DataFrame
        :data:`FACTORIZATION_TIMING_COLUMNS`, one row per (N, order).
    """
    from sparselab.factorization import butterfly_factorize, dft_matrix

    sizes = check_sizes(sizes)
    orders = check_choice_list(orders, "orders", ORDERS)
    repeats = check_int(repeats, "repeats", low=1)
    dev = resolve_device(device)
    rows = []
    bar = _bar(len(sizes), "factorisation time", "size", progress)
    for N in sizes:
        F = dft_matrix(N).to(dev)
        for order in orders:
            runs = [butterfly_factorize(F, order=order, perm="bit_reversal") for _ in range(repeats)]
            rows.append((N, order, float(statistics.median(r.seconds for r in runs)), float(runs[-1].relative_error)))
        del F, runs
        bar.update()
    bar.close()
    return _frame(rows, FACTORIZATION_TIMING_COLUMNS)


# ----------------------------------------------------------------------------- 9. product timing

_CPU = torch.device("cpu")


def _time(fn, repeats: int, device: torch.device = _CPU) -> float:
    """Median seconds per call of ``fn`` over ``repeats`` measurements, after one warm-up.

    Each measurement runs ``fn`` as often as needed to last about :data:`_MIN_TIMED` seconds (the
    count is fixed from the warm-up), so that microsecond products are not lost in timer noise.
    """
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    once = time.perf_counter() - t0
    inner = max(1, min(1000, math.ceil(_MIN_TIMED / max(once, 1e-7))))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / inner)
    return float(statistics.median(times))


def product_timing(
    sizes=(64, 256, 1024, 4096),
    *,
    batches=(1, 64),
    repeats: int = 5,
    kinds=("butterfly", "dense", "monarch", "fft"),
    device: str = "cpu",
    progress: bool = False,
) -> pd.DataFrame:
    r"""Wall time of one product with an :math:`N \times N` structured matrix against :math:`N`.

    On a batch of ``batch`` float64 vectors :math:`x \in \mathbb R^N`:

    * ``"butterfly"``: :func:`sparselab.factorization.butterfly_apply`, :math:`\log_2 N` Kronecker-sparse
      factors, :math:`2N\log_2 N` multiply-adds per vector;
    * ``"dense"``: ``x @ W.T``, :math:`N^2`;
    * ``"monarch"``: :func:`sparselab.factorization.monarch_apply` with :math:`\sqrt N` blocks (:math:`N = 4^k`;
      otherwise the divisor closest below :math:`\sqrt N`), :math:`2N^{3/2}`;
    * ``"fft"``: :func:`torch.fft.fft` on the complex vectors (the optimised :math:`O(N \log N)`
      reference, complex128).

    On a log--log plot the time grows with slope about 1 (:math:`N\log N`), 2 and 1.5 once the
    sizes are large enough to leave the constant overhead of a call (:func:`loglog_slope`).
    ``seconds`` is the median over ``repeats`` measurements after one warm-up call (short products
    are repeated within a measurement).

    Parameters
    ----------
    sizes : sequence of int
        Powers of two :math:`N \ge 2`.
    batches : sequence of int
        Numbers of vectors per product, ``>= 1``.
    repeats : int
        Measurements per (N, kind, batch), ``>= 1``.
    kinds : sequence of str
        Among :data:`PRODUCT_KINDS`.
    device : str
        Where the matrices and vectors live (``"cpu"``, ``"cuda"``, ``"mps"``, ``"auto"``); on CUDA every
        measurement waits for the queued kernels.
    progress : bool
        Show a progress bar over the sizes.

    Returns
    -------
    pandas.DataFrame
        :data:`PRODUCT_TIMING_COLUMNS`, one row per (N, kind, batch).
    """
    from sparselab.factorization import butterfly_apply, monarch_apply, random_butterfly

    sizes = check_sizes(sizes)
    batches = check_int_list(batches, "batches", low=1)
    repeats = check_int(repeats, "repeats", low=1)
    kinds = check_choice_list(kinds, "kinds", PRODUCT_KINDS)
    dev = resolve_device(device)
    rows = []
    bar = _bar(len(sizes), "product time", "size", progress)
    for N in sizes:
        g = torch.Generator().manual_seed(derive_seed(0, 11, N))
        m = monarch_blocks(N)
        n = N // m
        ops = {}
        if "butterfly" in kinds:
            factors = random_butterfly(N, seed=derive_seed(0, 12, N), device=dev)
            ops["butterfly"] = lambda x, f=factors: butterfly_apply(f, x)
        if "dense" in kinds:
            W = torch.randn(N, N, generator=g, dtype=torch.float64).to(dev)
            ops["dense"] = lambda x, W=W: x @ W.T
        if "monarch" in kinds:
            left = torch.randn(1, n, m, m, generator=g, dtype=torch.float64).to(dev)
            right = torch.randn(m, 1, n, n, generator=g, dtype=torch.float64).to(dev)
            ops["monarch"] = lambda x, l=left, r=right: monarch_apply(l, r, x)
        if "fft" in kinds:
            ops["fft"] = lambda x: torch.fft.fft(x)
        with torch.no_grad():
            for kind in kinds:
                for batch in batches:
                    x = torch.randn(batch, N, generator=g, dtype=torch.float64).to(dev)
                    if kind == "fft":
                        x = torch.complex(x, torch.zeros_like(x))
                    rows.append((N, kind, batch, _time(lambda op=ops[kind], x=x: op(x), repeats, dev)))
        ops.clear()
        bar.update()
    bar.close()
    return _frame(rows, PRODUCT_TIMING_COLUMNS)


def loglog_slope(
    frame: pd.DataFrame, x: str = "N", y: str = "seconds", by=("kind", "batch"), min_x=None
) -> pd.DataFrame:
    r"""Least-squares slope of :math:`\log y` against :math:`\log x` in every group of ``frame``.

    For each group (the distinct values of the columns ``by``) with points :math:`(x_i, y_i)`,
    :math:`x_i \ge` ``min_x``, the slope

    .. math:: s = \frac{\sum_i (u_i - \bar u)(v_i - \bar v)}{\sum_i (u_i - \bar u)^2},
              \qquad u_i = \log x_i,\ v_i = \log y_i,

    i.e. :math:`y \propto x^s`. A group with fewer than two distinct :math:`x` gets NaN.

    Parameters
    ----------
    frame : pandas.DataFrame
        With the columns ``x``, ``y`` and ``by``; ``x`` and ``y`` positive.
    x, y : str
        Column names.
    by : str or sequence of str
        Grouping columns (one or more).
    min_x : float, optional
        Only fit the points with :math:`x \ge` ``min_x``.

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns and ``slope``, one row per group (for the defaults: :data:`SLOPE_COLUMNS`).
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas.DataFrame, got {type(frame).__name__}")
    by = [by] if isinstance(by, str) else list(by)
    if not by:
        raise ValueError("by must name at least one column, got []")
    for name, col in [("x", x), ("y", y)] + [(f"by[{i}]", c) for i, c in enumerate(by)]:
        if not isinstance(col, str) or col not in frame.columns:
            raise ValueError(f"{name} must be a column of frame ({', '.join(map(str, frame.columns))}), got {col!r}")
    if min_x is not None:
        min_x = check_float(min_x, "min_x")
    sub = frame if min_x is None else frame[frame[x] >= min_x]
    vals = sub[[x, y]].to_numpy(dtype=np.float64)
    if vals.size and not (np.isfinite(vals).all() and (vals > 0).all()):
        raise ValueError(f"columns {x!r} and {y!r} must hold positive finite values for a log-log fit")
    rows = []
    for key, grp in sub.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        u = np.log(grp[x].to_numpy(dtype=np.float64))
        v = np.log(grp[y].to_numpy(dtype=np.float64))
        du = u - u.mean()
        denom = float(du @ du)
        slope = float(du @ (v - v.mean()) / denom) if np.unique(u).size >= 2 and denom > 0 else float("nan")
        rows.append((*key, slope))
    return pd.DataFrame(rows, columns=[*by, "slope"])


# ----------------------------------------------------------------------------- 10-11. structured layers


def _masked_linear(features: int, nnz: int, bias: bool, g: torch.Generator, dtype) -> nn.Linear:
    r"""``nn.Linear`` with a fixed random mask :math:`M` of ``nnz`` entries attached by
    :func:`sparselab.pruning.attach_mask` (:math:`y = x (W \odot M)^\top + b`); weights
    :math:`\mathcal N(0, 1/\text{fan-in})` on the mask, bias 0."""
    from sparselab.pruning import attach_mask

    mask = random_support(features, features, nnz, g)
    fan = mask.sum(1, keepdim=True).clamp(min=1).to(torch.float64)
    w = torch.randn(features, features, generator=g, dtype=torch.float64) / fan.sqrt() * mask
    layer = nn.Linear(features, features, bias=bias, dtype=dtype)
    with torch.no_grad():
        layer.weight.copy_(w)
        if bias:
            layer.bias.zero_()
    return attach_mask(layer, mask)


class _LowRankLinear(nn.Module):
    r""":math:`y = x V U^\top + b` with :math:`U, V \in \mathbb R^{N \times r}`."""

    def __init__(self, features: int, rank: int, bias: bool, g: torch.Generator, dtype):
        super().__init__()
        self.V = nn.Parameter(
            (torch.randn(features, rank, generator=g, dtype=torch.float64) / math.sqrt(features)).to(dtype)
        )
        self.U = nn.Parameter(
            (torch.randn(features, rank, generator=g, dtype=torch.float64) / math.sqrt(rank)).to(dtype)
        )
        self.bias = nn.Parameter(torch.zeros(features, dtype=dtype)) if bias else None

    def forward(self, x):
        y = (x @ self.V) @ self.U.T
        return y if self.bias is None else y + self.bias


def structured_layer(
    model: str, N: int, *, bias: bool = False, seed: int = 0, dtype=torch.float64
) -> tuple[nn.Module, int]:
    r"""A square :math:`N \to N` linear layer of the kind ``model`` and the number of its weights.

    * ``"dense"``: :class:`torch.nn.Linear`, :math:`N^2` weights;
    * ``"butterfly"``: :class:`sparselab.nn.ButterflyLinear` (orthogonal init), :math:`2N\log_2 N`;
    * ``"monarch"``: :class:`sparselab.nn.MonarchLinear` (orthogonal init, :math:`\sqrt N` blocks
      when :math:`N` is a perfect square), :math:`N(m + n)`;
    * ``"sparse"``: a fixed uniformly random unstructured mask with :math:`2N\log_2 N` entries (the
      butterfly's count; every row non-empty), weights :math:`\mathcal N(0, 1/\text{fan-in})`;
    * ``"low-rank"``: :math:`UV^\top` with :math:`r = \log_2 N`, :math:`2Nr = 2N\log_2 N` weights.

    The bias (``bias=True``) is not counted. ``N`` must be a power of two.
    """
    from sparselab.factorization import butterfly_nnz, check_power_of_two
    from sparselab.nn import ButterflyLinear, MonarchLinear

    check_choice(model, "model", LAYER_MODELS)
    N = check_power_of_two(N, "N")
    bias = check_bool(bias, "bias")
    seed = check_int(seed, "seed", low=0)
    L = N.bit_length() - 1
    g = torch.Generator().manual_seed(derive_seed(seed, 13))
    if model == "dense":
        layer = nn.Linear(N, N, bias=bias, dtype=torch.float64)
        bound = 1 / math.sqrt(N)
        with torch.no_grad():
            layer.weight.copy_((2 * torch.rand(N, N, generator=g, dtype=torch.float64) - 1) * bound)
            if bias:
                layer.bias.zero_()
        layer = layer.to(dtype)
        params = N * N
    elif model == "butterfly":
        layer = ButterflyLinear(N, bias=bias, dtype=dtype, init="orthogonal", seed=derive_seed(seed, 14))
        params = butterfly_nnz(N)
    elif model == "monarch":
        blocks = monarch_blocks(N)
        layer = MonarchLinear(N, bias=bias, dtype=dtype, blocks=blocks, init="orthogonal", seed=derive_seed(seed, 14))
        params = N * (blocks + N // blocks)
    elif model == "sparse":
        params = butterfly_nnz(N)
        layer = _masked_linear(N, params, bias, g, dtype)
    else:
        layer = _LowRankLinear(N, L, bias, g, dtype)
        params = 2 * N * L
    if bias and model in ("butterfly", "monarch"):
        with torch.no_grad():
            layer.bias.zero_()
    return layer, params


def _target_matrix(target: str, N: int) -> torch.Tensor:
    if target == "hadamard":
        from sparselab.factorization import hadamard_matrix

        return hadamard_matrix(N, normalized=True)
    from scipy.fft import dct

    return torch.from_numpy(np.ascontiguousarray(dct(np.eye(N), type=2, norm="ortho", axis=0)))


def _train(
    model: nn.Module,
    loss_fn,
    X: torch.Tensor,
    Y: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    g: torch.Generator,
) -> None:
    """Adam on minibatches drawn by a seeded permutation every epoch (``g`` draws one per epoch)."""
    n = X.shape[0]

    def batches(epoch: int):
        perm = torch.randperm(n, generator=g)
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            yield X[idx], Y[idx]

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    fit(supervised_step(model, loss_fn, optimizer), epochs=epochs, batches=batches)


def structured_layer_task(
    *,
    N: int = 64,
    samples: int = 32,
    test_samples: int = 1024,
    target: str = "hadamard",
    models=("dense", "butterfly", "monarch", "sparse", "low-rank"),
    epochs: int = 400,
    lr: float = 3e-2,
    batch_size: int = 64,
    seeds=(0, 1, 2),
    noise: float = 0.0,
    device: str = "cpu",
    progress: bool = False,
) -> pd.DataFrame:
    r"""Learn the linear map :math:`x \mapsto Tx` with one structured layer (no bias).

    :math:`T` is the normalised Hadamard matrix :math:`H_N/\sqrt N` (``target="hadamard"``, an
    orthogonal butterfly matrix) or the orthonormal DCT-II (``"dct"``, close to a butterfly up to
    permutations). Training pairs :math:`(x_i, Tx_i + \sigma\xi_i)` with :math:`x_i, \xi_i \sim
    \mathcal N(0, I_N)`, Adam on the mean squared error, float64. The layers
    (:func:`structured_layer`): dense (:math:`N^2` weights), butterfly (:math:`2N\log_2 N`),
    Monarch (:math:`2N^{3/2}`), and at the butterfly's budget an unstructured random sparse mask and a
    rank-:math:`\log_2 N` product. A fixed sparse mask keeps only :math:`2\log_2 N / N` of the
    entries of :math:`T`, all of magnitude :math:`1/\sqrt N`, so its best error is
    :math:`\sqrt{1 - 2\log_2 N/N}`; a rank-:math:`r` matrix can keep at most :math:`r` of the
    :math:`N` unit singular values, error :math:`\ge\sqrt{1 - r/N}`; the butterfly (and the Monarch
    layer, which contains the Hadamard matrix: :math:`H_{mn} = H_m \otimes H_n`) can represent
    :math:`T` exactly.

    With fewer samples than inputs (the default: 32 pairs for :math:`N = 64`) the dense layer is
    underdetermined: it fits the training pairs exactly but only learns :math:`T` on their span, so
    its test error stays near :math:`\sqrt{1 - \text{samples}/N}` or above (the part of its random
    initialisation off the span is never corrected). The butterfly and Monarch layers have fewer
    weights than the :math:`\text{samples}\cdot N` equations and recover :math:`T` from the same
    data: the structure is the prior that generalises. With ``samples`` :math:`\ge N` the dense layer
    recovers :math:`T` as well.

    Parameters
    ----------
    N : int
        Power of two :math:`\ge 2`.
    samples, test_samples : int
        Training and test pairs, ``>= 1``.
    target : str
        ``"hadamard"`` or ``"dct"``.
    models : sequence of str
        Among :data:`LAYER_MODELS`.
    epochs, lr, batch_size
        Adam's passes over the data, step size and minibatch size.
    seeds : sequence of int
        One data set and initialisation per seed.
    noise : float
        :math:`\sigma \ge 0` on the training targets (the test targets are exact).
    device : str
        Where the layers are trained (``"cpu"``, ``"cuda"``, ``"mps"``, ``"auto"``); data and initial
        weights are drawn on the CPU first, so they do not depend on it.
    progress : bool
        Show a progress bar over the runs.

    Returns
    -------
    pandas.DataFrame
        :data:`LAYER_TASK_COLUMNS`, one row per (model, seed): ``params`` the layer's weights,
        ``train_mse`` the mean over entries of :math:`(\hat y - y)^2` on the training set,
        ``test_relative_error`` :math:`\|\hat Y - TX\|_F / \|TX\|_F` on the test set.
    """
    from sparselab.factorization import check_power_of_two

    N = check_power_of_two(N, "N")
    samples = check_int(samples, "samples", low=1)
    test_samples = check_int(test_samples, "test_samples", low=1)
    target = check_choice(target, "target", LAYER_TARGETS)
    models = check_choice_list(models, "models", LAYER_MODELS)
    epochs = check_int(epochs, "epochs", low=1)
    lr = check_float(lr, "lr", low=0.0, low_inclusive=False)
    batch_size = check_int(batch_size, "batch_size", low=1)
    seeds = check_int_list(seeds, "seeds", low=0)
    noise = check_float(noise, "noise", low=0.0)
    progress = check_bool(progress, "progress")
    dev = resolve_device(device)
    T = _target_matrix(target, N)
    rows = []
    bar = _bar(len(models) * len(seeds), f"{target} task", "run", progress)
    for seed in seeds:
        g = torch.Generator().manual_seed(derive_seed(seed, 15))
        X = torch.randn(samples, N, generator=g, dtype=torch.float64)
        Y = X @ T.T + noise * torch.randn(samples, N, generator=g, dtype=torch.float64)
        Xt = torch.randn(test_samples, N, generator=g, dtype=torch.float64)
        Yt = Xt @ T.T
        X, Y, Xt, Yt = (t.to(dev) for t in (X, Y, Xt, Yt))
        for model in models:
            layer, params = structured_layer(model, N, bias=False, seed=seed)
            layer = layer.to(dev)
            _train(
                layer,
                nn.functional.mse_loss,
                X,
                Y,
                epochs=epochs,
                lr=lr,
                batch_size=batch_size,
                g=torch.Generator().manual_seed(derive_seed(seed, 16)),
            )
            with torch.no_grad():
                train_mse = float(nn.functional.mse_loss(layer(X), Y))
                test_rel = _fro(layer(Xt) - Yt) / _fro(Yt)
            rows.append((model, params, seed, train_mse, test_rel))
            bar.update()
    bar.close()
    return _frame(rows, LAYER_TASK_COLUMNS)


def structured_layer_digits(
    *,
    models=("dense", "butterfly", "monarch", "sparse", "low-rank"),
    epochs: int = 20,
    lr: float = 1e-2,
    batch_size: int = 64,
    seeds=(0, 1, 2),
    device: str = "cpu",
    progress: bool = False,
) -> pd.DataFrame:
    r"""Structured layers inside a small classifier of the 8x8 digits.

    :func:`sparselab.data.load_digits` (64 pixels in :math:`[0, 1]`, 10 classes, a stratified 75/25
    split drawn with the run's seed) :math:`\to` a square :math:`64 \to 64` layer of the kind
    ``model`` with a bias (:func:`structured_layer`) :math:`\to` ReLU :math:`\to`
    ``Linear(64, 10)``, trained by Adam on the cross-entropy in float32. The structured layer
    mixes all pixels with :math:`2N\log_2 N = 768` (butterfly) or :math:`1024` (Monarch) weights
    instead of 4096; the unstructured sparse mask and the rank-6 product have the butterfly's budget.

    Parameters
    ----------
    models : sequence of str
        Among :data:`LAYER_MODELS`.
    epochs, lr, batch_size
        Adam's passes over the training set, step size and minibatch size.
    seeds : sequence of int
        One split and initialisation per seed.
    device : str
        Where the networks are trained (``"cpu"``, ``"cuda"``, ``"mps"``, ``"auto"``).
    progress : bool
        Show a progress bar over the runs.

    Returns
    -------
    pandas.DataFrame
        :data:`LAYER_DIGITS_COLUMNS`, one row per (model, seed); ``params`` counts the structured
        layer's weights only (no bias, not the classifier head).
    """
    from sparselab.data import load_digits

    models = check_choice_list(models, "models", LAYER_MODELS)
    epochs = check_int(epochs, "epochs", low=1)
    lr = check_float(lr, "lr", low=0.0, low_inclusive=False)
    batch_size = check_int(batch_size, "batch_size", low=1)
    seeds = check_int_list(seeds, "seeds", low=0)
    progress = check_bool(progress, "progress")
    dev = resolve_device(device)
    rows = []
    bar = _bar(len(models) * len(seeds), "digits", "run", progress)
    for seed in seeds:
        data = load_digits(seed=seed)
        X, y, Xt, yt = (t.to(dev) for t in (data.X_train, data.y_train, data.X_test, data.y_test))
        N = X.shape[1]
        for model in models:
            layer, params = structured_layer(model, N, bias=True, seed=seed, dtype=torch.float32)
            g = torch.Generator().manual_seed(derive_seed(seed, 17))
            head = nn.Linear(N, data.n_classes, dtype=torch.float32)
            bound = 1 / math.sqrt(N)
            with torch.no_grad():
                head.weight.copy_(
                    ((2 * torch.rand(head.weight.shape, generator=g, dtype=torch.float64) - 1) * bound).float()
                )
                head.bias.zero_()
            net = nn.Sequential(layer, nn.ReLU(), head).to(dev)
            _train(net, nn.functional.cross_entropy, X, y, epochs=epochs, lr=lr, batch_size=batch_size, g=g)
            with torch.no_grad():
                train_acc = float((net(X).argmax(1) == y).double().mean())
                test_acc = float((net(Xt).argmax(1) == yt).double().mean())
            rows.append((model, params, seed, train_acc, test_acc))
            bar.update()
    bar.close()
    return _frame(rows, LAYER_DIGITS_COLUMNS)
