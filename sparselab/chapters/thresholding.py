r"""The experiments of the chapter "Hard vs soft thresholding, compressed sensing, and why sparse models generalise".

Every function here runs a small grid of seeded problems :math:`y = A x + e` and
returns a long-format :class:`pandas.DataFrame`, one row per run (or per coordinate),
with the columns in the module constants ``*_COLUMNS``. The solvers are in
:mod:`sparselab.sensing` and :mod:`sparselab.thresholding`, the matrices and signals in
:mod:`sparselab.sensing.ensembles`, the matrix diagnostics in :mod:`sparselab.sensing.diagnostics`; the
drawing is in :mod:`sparselab.chapters.plots`.

* :func:`shrinkage_instance` -- one problem solved by the lasso, the debiased lasso and
  IHT, one row per coordinate;
* :func:`shrinkage_sweep` -- the estimation error against the lasso's :math:`\lambda` and
  against IHT's :math:`k`;
* :func:`phase_transition` -- success of :math:`\ell_1` and IHT over
  :math:`\delta = m/N` and :math:`\rho = k/m` (Donoho-Tanner diagrams), on Gaussian
  matrices or on random rows of a multi-channel 1-D convolution;
* :func:`noise_robustness` -- the error against the noise level;
* :func:`group_sweep` -- group lasso against lasso on block-sparse signals;
* :func:`correlation_sweep` -- support recovery against feature correlation, with the
  irrepresentable condition and the mutual coherence of each design;
* :func:`selection_comparison` -- A-optimal against largest-norm row selection;
* :func:`generalisation` -- a dense and pruned linear classifier on two digits: errors,
  margins and a Rademacher margin bound against the number of non-zero weights.

Shared conventions. Matrices have unit-norm columns on average
(:func:`sparselab.sensing.gaussian`: :math:`\mathcal N(0, 1/m)` entries); the error
of an estimate is :math:`\|\hat x - x\|_2 / \|x\|_2`. Every problem is drawn from seeds
derived from ``seed`` and its cell (:func:`derive_seed`), so a frame depends only on its
arguments. All computation is float64 on the CPU.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
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
from sparselab.metrics import precision_recall_f1, relative_error
from sparselab.sensing import least_squares

__all__ = [
    "SHRINKAGE_INSTANCE_COLUMNS",
    "SHRINKAGE_COLUMNS",
    "PHASE_COLUMNS",
    "NOISE_COLUMNS",
    "GROUP_COLUMNS",
    "CORRELATION_COLUMNS",
    "SELECTION_COLUMNS",
    "GENERALISATION_COLUMNS",
    "ENSEMBLES",
    "PHASE_METHODS",
    "GENERALISATION_METHODS",
    "derive_seed",
    "universal_lambda",
    "conv_rows",
    "selection_matrix",
    "correlated_design",
    "sparse_linear_rademacher",
    "margin_bound",
    "shrinkage_instance",
    "shrinkage_sweep",
    "phase_transition",
    "noise_robustness",
    "group_sweep",
    "correlation_sweep",
    "selection_comparison",
    "generalisation",
]

SHRINKAGE_INSTANCE_COLUMNS = ("index", "true", "lasso", "debiased lasso", "IHT")
SHRINKAGE_COLUMNS = ("method", "knob", "value", "seed", "rel_error", "support_size", "precision", "recall")
PHASE_COLUMNS = ("method", "ensemble", "delta", "rho", "N", "m", "k", "seed", "rel_error", "success")
NOISE_COLUMNS = ("method", "noise", "seed", "rel_error", "precision", "recall")
GROUP_COLUMNS = ("method", "m", "seed", "rel_error", "success", "block_recall", "block_precision")
CORRELATION_COLUMNS = (
    "correlation",
    "seed",
    "irrepresentable",
    "coherence",
    "lasso_sign_recovery",
    "iht_support_recovery",
    "lasso_best_recall",
    "lasso_best_precision",
)
SELECTION_COLUMNS = ("method", "k", "seed", "trace", "mse", "overlap_with_largest_norm")
GENERALISATION_COLUMNS = (
    "method",
    "k",
    "seed",
    "n_train",
    "d",
    "nnz",
    "single_class",
    "train_error",
    "test_error",
    "gap",
    "median_margin",
    "rademacher",
    "bound",
    "bound_margin",
)

ENSEMBLES = ("gaussian", "conv1d")
PHASE_METHODS = ("l1", "IHT")

_KNOB_LAMBDA = "lambda / lambda_max"
_KNOB_K = "k"


# ----------------------------------------------------------------------------- validation and helpers


def derive_seed(seed: int, *cell) -> int:
    """A seed in ``[0, 2^31)`` derived from ``seed`` and the integers ``cell`` (numpy's SeedSequence).

    Different cells of a grid get independent problems; the same arguments give the same seed.
    """
    entropy = [int(seed)] + [int(c) for c in cell]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] % (2**31))


def _support(x, tol: float = 0.0) -> set:
    return set(torch.nonzero(torch.as_tensor(x).abs() > tol).flatten().tolist())


def _precision_recall(found: set, true: set) -> tuple[float, float]:
    """Support precision and recall of index sets, by :func:`sparselab.metrics.precision_recall_f1`."""
    precision, recall, _ = precision_recall_f1(len(found & true), len(found), len(true))
    return precision, recall


def universal_lambda(noise: float, N: int, factor: float = 1.0) -> float:
    r"""The universal threshold :math:`\lambda = c\,\sigma\sqrt{2\log N}` of Donoho and Johnstone.

    With unit-norm columns and noise of standard deviation :math:`\sigma`, :math:`A^\top e`
    has :math:`N` coordinates of standard deviation about :math:`\sigma`, whose maximum is
    about :math:`\sigma\sqrt{2\log N}`: the smallest :math:`\lambda` at which the lasso
    rarely selects a coordinate on noise alone.
    """
    return float(factor) * float(noise) * math.sqrt(2.0 * math.log(N))


def _lasso_fit(A, y, lam, *, steps, x0=None):
    """FISTA with adaptive restart (batched like :func:`sparselab.sensing.fista`)."""
    from sparselab.sensing import fista

    return fista(A, y, lam=lam, steps=steps, x0=x0, restart=True)


def _cap_support(x, cap: int | None):
    """The mask of ``x != 0`` restricted to its ``cap`` largest magnitudes (per problem of a batch)."""
    mask = x != 0
    if cap is not None and cap < x.shape[-1]:
        top = torch.zeros_like(mask)
        top.scatter_(-1, torch.topk(x.abs(), cap, dim=-1).indices, True)
        mask = mask & top
    return mask


def _debias(A, y, x, cap: int | None = None):
    """Least squares on the support of ``x`` (its ``cap`` largest magnitudes if it is larger); batched."""
    from sparselab.sensing import debias

    return debias(A, y, _cap_support(x, cap))


def _iht_fit(A, y, k, *, steps):
    from sparselab.sensing import iht

    return iht(A, y, k=k, steps=steps, step_size="normalized")


def _problem(
    m: int,
    N: int,
    k: int,
    *,
    seed: int,
    noise: float = 0.0,
    distribution: str = "gaussian",
    ensemble: str = "gaussian",
    conv_channels: int = 4,
    conv_kernel: int = 5,
):
    """(A, x, support, y) of one seeded problem."""
    from sparselab.sensing import gaussian, measure, sparse_signal

    if ensemble == "gaussian":
        A = gaussian(m, N, seed=derive_seed(seed, 1))
    else:
        A = conv_rows(m, N, channels=conv_channels, kernel=conv_kernel, seed=derive_seed(seed, 1))
    x, support = sparse_signal(N, k, seed=derive_seed(seed, 2), distribution=distribution)
    y = measure(A, x, noise=noise, seed=derive_seed(seed, 3))
    return A, x, support, y


def conv_rows(m: int, N: int, *, channels: int = 4, kernel: int = 5, seed: int = 0) -> torch.Tensor:
    r"""``m`` random rows of the matrix of a random multi-channel 1-D convolution, columns scaled to unit norm.

    The layer has ``channels`` input and output channels, kernel size ``kernel``, Gaussian
    weights and ``"same"`` zero padding, on signals of length :math:`N /` ``channels``: its
    matrix (:func:`sparselab.sensing.conv1d_matrix`) is :math:`N \times N` and block
    Toeplitz, one :math:`L \times L` block per (output, input) channel pair. Keeping
    :math:`m` of its rows, chosen uniformly without replacement, is a random partial
    convolution, the structured analogue of a Gaussian :math:`m \times N` matrix; every
    column is then divided by its norm (a column with no entry in the kept rows stays 0).
    """
    from sparselab.sensing import conv1d_matrix

    N = check_int(N, "N", low=1)
    channels = check_int(channels, "conv_channels", low=1)
    kernel = check_int(kernel, "conv_kernel", low=1)
    m = check_int(m, "m", low=1, high=N)
    if N % channels:
        raise ValueError(f"N must be a multiple of conv_channels={channels}, got N={N}")
    gen = torch.Generator().manual_seed(int(seed))
    weight = torch.randn(channels, channels, kernel, generator=gen, dtype=torch.float64)
    M = conv1d_matrix(weight, N // channels, padding="same").to(torch.float64)
    rows = torch.randperm(M.shape[0], generator=gen)[:m].sort().values
    A = M[rows]
    norms = A.norm(dim=0)
    return A / torch.where(norms > 0, norms, torch.ones_like(norms))


def check_sizes(m, N, k) -> tuple[int, int, int]:
    """``(m, N, k)`` of a sensing problem as ints, checked: ``N >= 2``, ``1 <= m <= N`` and ``1 <= k <= m``."""
    N = check_int(N, "N", low=2)
    m = check_int(m, "m", low=1, high=N)
    k = check_int(k, "k", low=1, high=m)
    return m, N, k


# ----------------------------------------------------------------------------- shrinkage


def shrinkage_instance(
    *,
    N: int = 200,
    m: int = 80,
    k: int = 10,
    noise: float = 0.05,
    lam: float | None = None,
    lam_factor: float = 1.0,
    steps: int = 500,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict]:
    r"""One problem solved three ways: the lasso (FISTA), the debiased lasso, and IHT with the true :math:`k`.

    :math:`A` is Gaussian (:math:`m \times N`), :math:`x` has :math:`k` non-zero
    :math:`\mathcal N(0, 1)` entries, :math:`y = Ax + e` with :math:`e \sim \mathcal N(0,
    \sigma^2 I)`. The lasso's :math:`\lambda` is ``lam`` or else
    :func:`universal_lambda` (``lam_factor`` :math:`\cdot\,\sigma\sqrt{2\log N}`, at
    least :math:`10^{-3}\lambda_{\max}`). The debiased lasso refits least squares on the
    lasso's support (:func:`sparselab.sensing.debias`).

    Returns ``(frame, info)``: one row per coordinate with
    :data:`SHRINKAGE_INSTANCE_COLUMNS` (the true value and the three estimates), and a
    dict with ``lam``, ``lambda_max`` and the relative errors ``rel_error_<method>``.
    """
    from sparselab.sensing import lambda_max

    m, N, k = check_sizes(m, N, k)
    noise = check_float(noise, "noise", low=0.0)
    lam_factor = check_float(lam_factor, "lam_factor", low=0.0, low_inclusive=False)
    steps = check_int(steps, "steps", low=1)
    seed = check_int(seed, "seed", low=0)
    A, x, support, y = _problem(m, N, k, seed=seed, noise=noise)
    lmax = float(lambda_max(A, y))
    if lam is None:
        lam = max(universal_lambda(noise, N, lam_factor), 1e-3 * lmax)
    lam = check_float(lam, "lam", low=0.0, low_inclusive=False)
    lasso = _lasso_fit(A, y, lam, steps=steps).x
    debiased = _debias(A, y, lasso, cap=m)
    hard = _iht_fit(A, y, k, steps=steps).x
    frame = pd.DataFrame(
        {
            "index": np.arange(N),
            "true": x.numpy(),
            "lasso": lasso.numpy(),
            "debiased lasso": debiased.numpy(),
            "IHT": hard.numpy(),
        },
        columns=list(SHRINKAGE_INSTANCE_COLUMNS),
    )
    info = {"lam": lam, "lambda_max": lmax, "m": m, "N": N, "k": k, "noise": noise}
    for name, est in (("lasso", lasso), ("debiased lasso", debiased), ("IHT", hard)):
        info[f"rel_error_{name}"] = relative_error(x, est)
    return frame, info


def shrinkage_sweep(
    lam_ratios=(0.01, 0.03, 0.1, 0.3),
    ks=(5, 10, 20),
    *,
    N: int = 200,
    m: int = 80,
    k: int = 10,
    noise: float = 0.05,
    steps: int = 500,
    seeds=(0, 1),
    progress: bool = True,
) -> pd.DataFrame:
    r"""The estimation error against the lasso's :math:`\lambda` and against IHT's :math:`k`.

    For each seed one problem as in :func:`shrinkage_instance` (true sparsity ``k``). The
    lasso and the debiased lasso are solved at :math:`\lambda = r\,\lambda_{\max}` for each
    :math:`r` in ``lam_ratios`` (``knob`` = ``"lambda / lambda_max"``), IHT with each
    sparsity level in ``ks`` (``knob`` = ``"k"``; values above :math:`m` are rejected).
    Rows: :data:`SHRINKAGE_COLUMNS`, with the support size and the precision and recall of
    the estimate's support against the true one.
    """
    from sparselab.sensing import lambda_max

    m, N, k = check_sizes(m, N, k)
    lam_ratios = check_float_list(lam_ratios, "lam_ratios", low=0.0, high=1.0, low_inclusive=False)
    ks = check_int_list(ks, "ks", low=1, high=m)
    noise = check_float(noise, "noise", low=0.0)
    steps = check_int(steps, "steps", low=1)
    seeds = check_int_list(seeds, "seeds", low=0)
    rows = []
    bar = tqdm(
        total=len(seeds) * (len(lam_ratios) + len(ks)),
        desc="shrinkage",
        unit="fit",
        disable=not check_bool(progress, "progress"),
    )
    for seed in seeds:
        A, x, support, y = _problem(m, N, k, seed=seed, noise=noise)
        true = set(int(i) for i in support)
        lmax = float(lambda_max(A, y))
        warm = None
        for r in sorted(lam_ratios, reverse=True):  # a path from large to small lambda, warm-started
            fit = _lasso_fit(A, y, r * lmax, steps=steps, x0=warm)
            warm = fit.x
            for method, est in (("lasso", fit.x), ("debiased lasso", _debias(A, y, fit.x, cap=m))):
                found = _support(est)
                p, rc = _precision_recall(found, true)
                rows.append(
                    {
                        "method": method,
                        "knob": _KNOB_LAMBDA,
                        "value": r,
                        "seed": seed,
                        "rel_error": relative_error(x, est),
                        "support_size": len(found),
                        "precision": p,
                        "recall": rc,
                    }
                )
            bar.update(1)
        for kk in ks:
            est = _iht_fit(A, y, kk, steps=steps).x
            found = _support(est)
            p, rc = _precision_recall(found, true)
            rows.append(
                {
                    "method": "IHT",
                    "knob": _KNOB_K,
                    "value": kk,
                    "seed": seed,
                    "rel_error": relative_error(x, est),
                    "support_size": len(found),
                    "precision": p,
                    "recall": rc,
                }
            )
            bar.update(1)
    bar.close()
    return pd.DataFrame(rows, columns=list(SHRINKAGE_COLUMNS))


# ----------------------------------------------------------------------------- phase transitions


def phase_transition(
    deltas=(0.2, 0.4, 0.6, 0.8),
    rhos=(0.1, 0.3, 0.5),
    *,
    N: int = 100,
    ensemble: str = "gaussian",
    methods=PHASE_METHODS,
    seeds=(0, 1),
    steps: int = 300,
    lam_ratio: float = 1e-3,
    success_tol: float = 1e-3,
    distribution: str = "rademacher",
    conv_channels: int = 4,
    conv_kernel: int = 5,
    progress: bool = True,
) -> pd.DataFrame:
    r"""Donoho-Tanner diagram: success of :math:`\ell_1` and IHT over :math:`\delta = m/N` and :math:`\rho = k/m`.

    For each :math:`\delta` in ``deltas`` (:math:`m = \operatorname{round}(\delta N)`),
    :math:`\rho` in ``rhos`` (:math:`k = \max(1, \operatorname{round}(\rho m))`) and seed, a
    noise-free problem :math:`y = Ax` with a :math:`k`-sparse :math:`x` (``distribution``:
    ``"rademacher"`` :math:`\pm 1` entries, the signed setting of the :math:`\ell_1`
    theory, whose transition does not depend on the magnitudes; or ``"gaussian"``).
    :math:`A` is ``"gaussian"`` (:func:`sparselab.sensing.gaussian`) or ``"conv1d"``
    (:func:`conv_rows`).

    * ``"l1"``: FISTA for the lasso with the small :math:`\lambda =` ``lam_ratio``
      :math:`\cdot\,\lambda_{\max}` (``steps`` iterations; as :math:`\lambda \to 0` the
      lasso tends to basis pursuit, :math:`\min \|x\|_1` s.t. :math:`Ax = y`), then least
      squares on its support (at most :math:`m` entries), which removes the remaining
      :math:`O(\lambda)` bias;
    * ``"IHT"``: normalised IHT with the true :math:`k` (``steps`` iterations).

    ``success`` is ``rel_error <= success_tol``. Rows: :data:`PHASE_COLUMNS`.
    """
    from sparselab.sensing import lambda_max

    N = check_int(N, "N", low=2)
    deltas = check_float_list(deltas, "deltas", low=0.0, high=1.0, low_inclusive=False)
    rhos = check_float_list(rhos, "rhos", low=0.0, high=1.0, low_inclusive=False)
    check_choice(ensemble, "ensemble", ENSEMBLES)
    methods = check_choice_list(methods, "methods", PHASE_METHODS)
    seeds = check_int_list(seeds, "seeds", low=0)
    steps = check_int(steps, "steps", low=1)
    lam_ratio = check_float(lam_ratio, "lam_ratio", low=0.0, high=1.0, low_inclusive=False)
    success_tol = check_float(success_tol, "success_tol", low=0.0, low_inclusive=False)
    check_choice(distribution, "distribution", ("gaussian", "rademacher"))
    conv_channels = check_int(conv_channels, "conv_channels", low=1)
    conv_kernel = check_int(conv_kernel, "conv_kernel", low=1)
    if ensemble == "conv1d" and N % conv_channels:
        raise ValueError(f"N must be a multiple of conv_channels={conv_channels} for the conv1d ensemble, got N={N}")
    rows = []
    bar = tqdm(
        total=len(deltas) * len(methods),
        desc=f"phase ({ensemble})",
        unit="batch",
        disable=not check_bool(progress, "progress"),
    )
    for i, delta in enumerate(deltas):
        m = max(1, int(round(delta * N)))
        cells = [(j, rho, min(m, max(1, int(round(rho * m)))), seed) for j, rho in enumerate(rhos) for seed in seeds]
        problems = [
            _problem(
                m,
                N,
                k,
                seed=derive_seed(seed, i, j),
                distribution=distribution,
                ensemble=ensemble,
                conv_channels=conv_channels,
                conv_kernel=conv_kernel,
            )
            for j, rho, k, seed in cells
        ]
        A = torch.stack([p[0] for p in problems])
        x = torch.stack([p[1] for p in problems])
        y = torch.stack([p[3] for p in problems])
        for method in methods:  # one batched solve per (delta, method): every rho and seed at once
            if method == "l1":
                fit = _lasso_fit(A, y, lam_ratio * lambda_max(A, y), steps=steps)
                est = _debias(A, y, fit.x, cap=m)
            else:
                ks = torch.tensor([k for _, _, k, _ in cells])
                est = _iht_fit(A, y, ks, steps=steps).x
            errors = (est - x).norm(dim=-1) / x.norm(dim=-1)
            for (_j, rho, k, seed), err in zip(cells, errors.tolist()):
                rows.append(
                    {
                        "method": method,
                        "ensemble": ensemble,
                        "delta": delta,
                        "rho": rho,
                        "N": N,
                        "m": m,
                        "k": k,
                        "seed": seed,
                        "rel_error": err,
                        "success": bool(err <= success_tol),
                    }
                )
            bar.update(1)
    bar.close()
    frame = pd.DataFrame(rows, columns=list(PHASE_COLUMNS))
    frame["success"] = frame["success"].astype(bool)
    return frame


# ----------------------------------------------------------------------------- noise


def noise_robustness(
    noises=(0.0, 0.01, 0.03, 0.1, 0.3),
    *,
    N: int = 200,
    m: int = 80,
    k: int = 10,
    lam_factor: float = 1.0,
    steps: int = 500,
    seeds=(0, 1),
    progress: bool = True,
) -> pd.DataFrame:
    r"""The relative error against the noise standard deviation :math:`\sigma`.

    For each :math:`\sigma` in ``noises`` and seed: a Gaussian :math:`m \times N` problem
    with a :math:`k`-sparse :math:`\mathcal N(0, 1)` signal (the matrix and signal depend on
    the seed only, the noise on both). Methods: ``"lasso"`` at :math:`\lambda =`
    :func:`universal_lambda` (at least :math:`10^{-3}\lambda_{\max}`), ``"debiased
    lasso"``, ``"IHT"`` with the true :math:`k`, and ``"oracle"``: least squares on the
    true support (the error floor no method can beat on average). Rows: :data:`NOISE_COLUMNS`.
    """
    from sparselab.sensing import debias, lambda_max, measure

    m, N, k = check_sizes(m, N, k)
    noises = check_float_list(noises, "noises", low=0.0)
    lam_factor = check_float(lam_factor, "lam_factor", low=0.0, low_inclusive=False)
    steps = check_int(steps, "steps", low=1)
    seeds = check_int_list(seeds, "seeds", low=0)
    rows = []
    bar = tqdm(
        total=len(noises) * len(seeds), desc="noise", unit="problem", disable=not check_bool(progress, "progress")
    )
    for seed in seeds:
        A, x, support, _ = _problem(m, N, k, seed=seed)
        true = set(int(i) for i in support)
        for i, sigma in enumerate(noises):
            y = measure(A, x, noise=sigma, seed=derive_seed(seed, 4, i))
            lam = max(universal_lambda(sigma, N, lam_factor), 1e-3 * float(lambda_max(A, y)))
            lasso = _lasso_fit(A, y, lam, steps=steps).x
            ests = {
                "lasso": lasso,
                "debiased lasso": _debias(A, y, lasso, cap=m),
                "IHT": _iht_fit(A, y, k, steps=steps).x,
                "oracle": debias(A, y, torch.as_tensor(sorted(true))),
            }
            for method, est in ests.items():
                p, rc = _precision_recall(_support(est), true)
                rows.append(
                    {
                        "method": method,
                        "noise": sigma,
                        "seed": seed,
                        "rel_error": relative_error(x, est),
                        "precision": p,
                        "recall": rc,
                    }
                )
            bar.update(1)
    bar.close()
    return pd.DataFrame(rows, columns=list(NOISE_COLUMNS))


# ----------------------------------------------------------------------------- group lasso


def group_sweep(
    ms=(20, 30, 40, 60),
    *,
    N: int = 100,
    group_size: int = 5,
    active_groups: int = 4,
    steps: int = 500,
    lam_ratio: float = 1e-3,
    success_tol: float = 1e-3,
    seeds=(0, 1),
    progress: bool = True,
) -> pd.DataFrame:
    r"""Group lasso against lasso on block-sparse signals, against the number of measurements :math:`m`.

    :math:`x \in \mathbb R^N` is split into consecutive blocks of ``group_size``; ``active_groups``
    blocks, chosen at random, are fully non-zero with :math:`\mathcal N(0, 1)` entries
    (:func:`sparselab.sensing.sparse_signal` with ``blocks``). For each :math:`m` in ``ms``
    and seed, a Gaussian :math:`m \times N` matrix and noise-free :math:`y = Ax`:

    * ``"lasso"``: FISTA at :math:`\lambda =` ``lam_ratio`` :math:`\lambda_{\max}`, then least
      squares on its support;
    * ``"group lasso"``: :func:`sparselab.sensing.group_lasso` at :math:`\lambda =`
      ``lam_ratio`` :math:`\max_g \|A_g^\top y\|_2` (:func:`sparselab.sensing.group_lambda_max`), then least
      squares on the union of its selected blocks.

    ``success`` is ``rel_error <= success_tol``; ``block_recall``/``block_precision`` compare the
    blocks holding a non-zero of the estimate with the true blocks. Rows: :data:`GROUP_COLUMNS`.
    """
    from sparselab.sensing import gaussian, group_lambda_max, group_lasso, lambda_max, sparse_signal

    N = check_int(N, "N", low=2)
    group_size = check_int(group_size, "group_size", low=1, high=N)
    if N % group_size:
        raise ValueError(f"N must be a multiple of group_size={group_size}, got N={N}")
    n_groups = N // group_size
    active_groups = check_int(active_groups, "active_groups", low=1, high=n_groups)
    ms = check_int_list(ms, "ms", low=1, high=N)
    steps = check_int(steps, "steps", low=1)
    lam_ratio = check_float(lam_ratio, "lam_ratio", low=0.0, high=1.0, low_inclusive=False)
    success_tol = check_float(success_tol, "success_tol", low=0.0, low_inclusive=False)
    seeds = check_int_list(seeds, "seeds", low=0)
    groups = torch.arange(N) // group_size
    k = active_groups * group_size
    signals = [sparse_signal(N, k, seed=derive_seed(seed, 2), blocks=group_size) for seed in seeds]
    x = torch.stack([sig[0] for sig in signals])
    true_blocks = [set(int(g) for g in torch.unique(groups[torch.as_tensor(sig[1])])) for sig in signals]
    rows = []
    bar = tqdm(total=len(ms), desc="group lasso", unit="m", disable=not check_bool(progress, "progress"))
    for i, m in enumerate(ms):  # one batched solve per m and method: every seed at once
        A = torch.stack([gaussian(m, N, seed=derive_seed(seed, 1, i)) for seed in seeds])
        y = (A @ x[..., None])[..., 0]
        lasso = _lasso_fit(A, y, lam_ratio * lambda_max(A, y), steps=steps).x
        glasso = group_lasso(
            A, y, lam=lam_ratio * group_lambda_max(A, y, groups), groups=groups, steps=steps, restart=True
        ).x
        ests = {
            "lasso": _debias(A, y, lasso, cap=m),
            "group lasso": torch.stack([_debias_blocks(A[s], y[s], glasso[s], groups, m) for s in range(len(seeds))]),
        }
        for method, est in ests.items():
            for s_, seed in enumerate(seeds):
                err = relative_error(x[s_], est[s_])
                found = set(int(g) for g in torch.unique(groups[est[s_] != 0]))
                p, rc = _precision_recall(found, true_blocks[s_])
                rows.append(
                    {
                        "method": method,
                        "m": m,
                        "seed": seed,
                        "rel_error": err,
                        "success": bool(err <= success_tol),
                        "block_recall": rc,
                        "block_precision": p,
                    }
                )
        bar.update(1)
    bar.close()
    frame = pd.DataFrame(rows, columns=list(GROUP_COLUMNS))
    frame["success"] = frame["success"].astype(bool)
    return frame


def _debias_blocks(A, y, x, groups, m):
    """Least squares on the union of the blocks where ``x`` is non-zero (the largest blocks up to ``m`` columns)."""
    from sparselab.sensing import debias

    ids = torch.unique(groups[x != 0])
    if ids.numel() == 0:
        return torch.zeros_like(x)
    norms = torch.stack([x[groups == g].norm() for g in ids])
    keep, cols = [], 0
    for g in ids[torch.argsort(norms, descending=True)]:
        size = int((groups == g).sum())
        if cols + size > m:
            break
        keep.append(int(g))
        cols += size
    if not keep:
        return torch.zeros_like(x)
    support = torch.nonzero(torch.isin(groups, torch.as_tensor(keep))).flatten()
    return debias(A, y, support)


# ----------------------------------------------------------------------------- correlation


def correlated_design(n: int, N: int, support, signs, correlation: float, *, seed: int) -> torch.Tensor:
    r"""An :math:`n \times N` design whose off-support features lean on the signed sum of the support's.

    With independent :math:`z_j \sim \mathcal N(0, I_n)`, the support features are
    :math:`x_j = z_j` and every other feature is
    :math:`x_j = \sqrt{1 - r^2}\, z_j + r\, k^{-1/2} \sum_{i \in S} s_i z_i`, so that in the
    population :math:`\Sigma_{SS} = I`, :math:`\Sigma_{jS} = r\, s_S^\top / \sqrt k` and the
    irrepresentable quantity :math:`|\Sigma_{jS}\Sigma_{SS}^{-1} s_S| = r\sqrt k`: the
    condition of Zhao and Yu holds for :math:`r < 1/\sqrt k` and fails above. The columns are
    then scaled to unit norm.
    """
    n = check_int(n, "n", low=1)
    N = check_int(N, "N", low=2)
    correlation = check_float(correlation, "correlation", low=0.0, high=1.0, high_inclusive=False)
    gen = torch.Generator().manual_seed(int(seed))
    Z = torch.randn(n, N, generator=gen, dtype=torch.float64)
    support = torch.as_tensor(support, dtype=torch.long)
    signs = torch.as_tensor(signs, dtype=torch.float64)
    common = Z[:, support] @ signs / math.sqrt(len(support))
    X = math.sqrt(1.0 - correlation**2) * Z + correlation * common[:, None]
    X[:, support] = Z[:, support]
    return X / X.norm(dim=0)


def correlation_sweep(
    correlations=(0.0, 0.3, 0.6, 0.9),
    *,
    n: int = 60,
    N: int = 100,
    k: int = 4,
    noise: float = 0.01,
    n_lams: int = 20,
    steps: int = 300,
    seeds=(0, 1),
    progress: bool = True,
) -> pd.DataFrame:
    r"""Support recovery against feature correlation, with the irrepresentable condition of each design.

    For each correlation :math:`r` in ``correlations`` and seed, a design from
    :func:`correlated_design` (:math:`n` samples, :math:`N` features, a random support of
    size :math:`k` with random signs :math:`s`), a signal :math:`\beta_S = s` and
    :math:`y = X\beta + e`, :math:`e \sim \mathcal N(0, \sigma^2 I)`.

    * ``irrepresentable``: :func:`sparselab.sensing.irrepresentable` of the sampled
      design at the true support and signs (below 1: the lasso can be sign-consistent);
    * ``coherence``: :func:`sparselab.sensing.mutual_coherence`;
    * ``lasso_sign_recovery``: whether *some* :math:`\lambda` on a path of ``n_lams``
      values from :math:`\lambda_{\max}` down to :math:`10^{-3}\lambda_{\max}`
      (geometric; FISTA with adaptive restart, ``steps`` iterations, the whole path in one
      batched solve) gives exactly the true signs;
      ``lasso_best_recall``/``lasso_best_precision`` are those of the path point with the
      best F1 score of the support;
    * ``iht_support_recovery``: whether IHT with the true :math:`k` finds the true support.

    Rows: :data:`CORRELATION_COLUMNS`.
    """
    from sparselab.sensing import irrepresentable, lambda_max, mutual_coherence

    correlations = check_float_list(correlations, "correlations", low=0.0, high=1.0, high_inclusive=False)
    n = check_int(n, "n", low=1)
    N = check_int(N, "N", low=2)
    k = check_int(k, "k", low=1, high=min(n, N - 1))
    noise = check_float(noise, "noise", low=0.0)
    n_lams = check_int(n_lams, "n_lams", low=1)
    steps = check_int(steps, "steps", low=1)
    seeds = check_int_list(seeds, "seeds", low=0)
    rows = []
    bar = tqdm(
        total=len(correlations) * len(seeds),
        desc="correlation",
        unit="design",
        disable=not check_bool(progress, "progress"),
    )
    for seed in seeds:
        gen = torch.Generator().manual_seed(derive_seed(seed, 5))
        support = torch.randperm(N, generator=gen)[:k].sort().values
        signs = torch.randint(0, 2, (k,), generator=gen).to(torch.float64) * 2 - 1
        beta = torch.zeros(N, dtype=torch.float64)
        beta[support] = signs
        true = set(support.tolist())
        for i, r in enumerate(correlations):
            X = correlated_design(n, N, support, signs, r, seed=derive_seed(seed, 6, i))
            e = torch.randn(n, generator=torch.Generator().manual_seed(derive_seed(seed, 7, i)), dtype=torch.float64)
            y = X @ beta + noise * e
            irr = _scalar(irrepresentable(X, support, signs))
            coh = _scalar(mutual_coherence(X))
            lams = lambda_max(X, y) * torch.as_tensor(np.geomspace(1.0, 1e-3, n_lams))
            path = _lasso_fit(X, y, lams, steps=steps).x  # (n_lams, N): the whole path in one batched solve
            sign_ok = bool((torch.sign(path) == torch.sign(beta)).all(dim=-1).any())
            best = (-1.0, 0.0, 0.0)
            for est in path:
                p, rc = _precision_recall(_support(est), true)
                f1 = 2 * p * rc / (p + rc) if p + rc > 0 else 0.0
                if f1 > best[0]:
                    best = (f1, p, rc)
            hard = _iht_fit(X, y, k, steps=steps).x
            rows.append(
                {
                    "correlation": r,
                    "seed": seed,
                    "irrepresentable": irr,
                    "coherence": coh,
                    "lasso_sign_recovery": sign_ok,
                    "iht_support_recovery": _support(hard) == true,
                    "lasso_best_recall": best[2],
                    "lasso_best_precision": best[1],
                }
            )
            bar.update(1)
    bar.close()
    frame = pd.DataFrame(rows, columns=list(CORRELATION_COLUMNS))
    for c in ("lasso_sign_recovery", "iht_support_recovery"):
        frame[c] = frame[c].astype(bool)
    return frame


def _scalar(value) -> float:
    """A diagnostic's value as a float (the first element of a tuple, a 0-d tensor, a ``value`` attribute)."""
    if isinstance(value, tuple):
        value = value[0]
    if isinstance(value, dict):
        value = value.get("value", next(iter(value.values())))
    return float(value)


# ----------------------------------------------------------------------------- selection


def selection_matrix(rows: int, d: int, *, decay: float = 0.7, seed: int = 0) -> torch.Tensor:
    r"""Candidate rows :math:`a_i \sim \mathcal N(0, \Sigma)`, :math:`\Sigma = \operatorname{diag}(\gamma^{j})`.

    Rows are candidate measurements (or neurons). With :math:`\gamma =` ``decay`` :math:`< 1`
    most of a row's norm lies along the first coordinates, so the rows of largest norm
    measure the leading directions over and over and the last ones hardly at all.
    """
    rows = check_int(rows, "rows", low=1)
    d = check_int(d, "d", low=1)
    decay = check_float(decay, "decay", low=0.0, high=1.0, low_inclusive=False)
    gen = torch.Generator().manual_seed(int(seed))
    scale = decay ** (torch.arange(d, dtype=torch.float64) / 2)
    return torch.randn(rows, d, generator=gen, dtype=torch.float64) * scale


def selection_comparison(
    ks=(10, 15, 20, 40),
    *,
    rows: int = 200,
    d: int = 10,
    decay: float = 0.7,
    noise: float = 0.1,
    noise_draws: int = 50,
    seeds=(0, 1),
    progress: bool = True,
) -> pd.DataFrame:
    r"""A-optimal against largest-norm (and random) selection of :math:`k` rows for least squares.

    For each seed a candidate matrix from :func:`selection_matrix` (``rows`` :math:`\times d`)
    and a parameter :math:`x \sim \mathcal N(0, I_d)`. For each :math:`k \ge d` in ``ks`` the
    rows :math:`S` are chosen by :func:`sparselab.sensing.a_optimal_rows` (``"A-optimal"``),
    :func:`sparselab.sensing.largest_norm_rows` (``"largest norm"``, magnitude pruning's
    choice) or uniformly at random (``"random"``). Then :math:`x` is estimated by least
    squares from :math:`y_S = A_S x + e`, :math:`e \sim \mathcal N(0, \sigma^2 I)`:

    * ``trace``: :math:`\operatorname{tr}((A_S^\top A_S)^{-1})`, so that the expected squared
      error is :math:`\sigma^2` times it;
    * ``mse``: the measured :math:`\|\hat x - x\|^2` averaged over ``noise_draws`` noise draws;
    * ``overlap_with_largest_norm``: :func:`sparselab.sensing.selection_overlap` with the
      largest-norm choice.

    Rows: :data:`SELECTION_COLUMNS`.
    """
    from sparselab.sensing import a_optimal_rows, largest_norm_rows, selection_overlap

    rows = check_int(rows, "rows", low=1)
    d = check_int(d, "d", low=1, high=rows)
    ks = check_int_list(ks, "ks", low=d, high=rows)
    decay = check_float(decay, "decay", low=0.0, high=1.0, low_inclusive=False)
    noise = check_float(noise, "noise", low=0.0)
    noise_draws = check_int(noise_draws, "noise_draws", low=1)
    seeds = check_int_list(seeds, "seeds", low=0)
    out = []
    bar = tqdm(total=len(ks) * len(seeds), desc="selection", unit="k", disable=not check_bool(progress, "progress"))
    for seed in seeds:
        A = selection_matrix(rows, d, decay=decay, seed=derive_seed(seed, 8))
        gen = torch.Generator().manual_seed(derive_seed(seed, 9))
        x = torch.randn(d, generator=gen, dtype=torch.float64)
        for k in ks:
            largest = _indices(largest_norm_rows(A, k))
            picks = {
                "A-optimal": _indices(a_optimal_rows(A, k)),
                "largest norm": largest,
                "random": torch.randperm(rows, generator=gen)[:k],
            }
            for method, S in picks.items():
                AS = A[S]
                gram = AS.T @ AS
                trace = float(torch.linalg.inv(gram).diagonal().sum())
                E = noise * torch.randn(noise_draws, k, generator=gen, dtype=torch.float64)
                Y = (AS @ x)[None, :] + E
                X_hat = least_squares(AS, Y.T).T
                mse = float(((X_hat - x) ** 2).sum(dim=1).mean())
                out.append(
                    {
                        "method": method,
                        "k": k,
                        "seed": seed,
                        "trace": trace,
                        "mse": mse,
                        "overlap_with_largest_norm": _scalar(selection_overlap(S, largest)),
                    }
                )
            bar.update(1)
    bar.close()
    return pd.DataFrame(out, columns=list(SELECTION_COLUMNS))


def _indices(value) -> torch.Tensor:
    """Row indices from a selection function's result (a tensor, or a tuple whose first entry is one)."""
    if isinstance(value, tuple):
        value = value[0]
    return torch.as_tensor(value, dtype=torch.long)


# ----------------------------------------------------------------------------- generalisation


def sparse_linear_rademacher(k: int, d: int, n: int, x_max: float = 1.0) -> float:
    r"""Upper bound on the empirical Rademacher complexity of unit-norm :math:`k`-sparse linear predictors.

    For :math:`\mathcal F_k = \{x \mapsto \langle w, x\rangle : \|w\|_0 \le k,\ \|w\|_2 \le 1\}`
    and a sample with :math:`\max_{i,j} |x_{ij}| \le X_\infty`: since
    :math:`\|w\|_1 \le \sqrt k \|w\|_2 \le \sqrt k`, :math:`\mathcal F_k` lies in the
    :math:`\ell_1` ball of radius :math:`\sqrt k`, whose empirical Rademacher complexity is at
    most :math:`\sqrt k\, X_\infty \sqrt{2 \log(2d) / n}` (Massart's lemma on the :math:`2d`
    vertices; Kakade, Sridharan and Tewari 2008). So

    .. math:: \hat{\mathfrak R}_n(\mathcal F_k) \le X_\infty \sqrt{\frac{2 k \log(2d)}{n}}.
    """
    k = check_int(k, "k", low=1)
    d = check_int(d, "d", low=1)
    n = check_int(n, "n", low=1)
    x_max = check_float(x_max, "x_max", low=0.0)
    return x_max * math.sqrt(2.0 * min(k, d) * math.log(2 * d) / n)


def margin_bound(
    margins, rademacher: float, *, delta: float = 0.05, rho_grid=None, union: int = 1
) -> tuple[float, float]:
    r"""The margin bound on the test error of a binary classifier, minimised over a fixed grid of margins.

    For a class :math:`\mathcal F` of real predictors and a fixed margin :math:`\rho > 0`,
    with probability at least :math:`1 - \delta` over an i.i.d. sample of size :math:`n`,
    every :math:`f \in \mathcal F` satisfies (Bartlett and Mendelson 2002; Mohri,
    Rostamizadeh and Talwalkar 2018, Theorem 5.8)

    .. math::
        P(y f(x) \le 0) \le \frac1n \sum_i \mathbb 1[y_i f(x_i) \le \rho]
        + \frac2\rho \hat{\mathfrak R}_n(\mathcal F) + 3\sqrt{\frac{\log(2/\delta')}{2n}}.

    ``margins`` are the :math:`y_i f(x_i)` on the training sample and ``rademacher`` a bound
    on :math:`\hat{\mathfrak R}_n`. The bound is evaluated on ``rho_grid`` (default
    :math:`2^{0}, 2^{-1}, \dots, 2^{-15}`, fixed before seeing data) with
    :math:`\delta' = \delta / (|\text{grid}| \cdot` ``union`` :math:`)`, a union bound over the
    grid and over ``union`` classes (e.g. the sparsity levels tried), so the minimum over the
    grid holds simultaneously. Returns ``(bound, rho)`` at the minimising :math:`\rho`.
    """
    margins = np.asarray(margins, dtype=float).ravel()
    if margins.size == 0:
        raise ValueError("margins must hold at least one value")
    rademacher = check_float(rademacher, "rademacher", low=0.0)
    delta = check_float(delta, "delta", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    union = check_int(union, "union", low=1)
    grid = np.asarray(rho_grid if rho_grid is not None else 2.0 ** -np.arange(16), dtype=float)
    if grid.size == 0 or np.any(grid <= 0):
        raise ValueError(f"rho_grid must hold positive margins, got {grid}")
    n = margins.size
    confidence = 3.0 * math.sqrt(math.log(2.0 * grid.size * union / delta) / (2.0 * n))
    values = [(margins <= rho).mean() + 2.0 * rademacher / rho + confidence for rho in grid]
    best = int(np.argmin(values))
    return float(values[best]), float(grid[best])


GENERALISATION_METHODS = ("dense", "pruned", "pruned + refit", "IHT")


def generalisation(
    ks=(2, 4, 8, 16, 32),
    *,
    classes=(3, 8),
    ridge: float = 1e-2,
    steps: int = 300,
    delta: float = 0.05,
    seeds=(0, 1),
    progress: bool = True,
) -> pd.DataFrame:
    r"""A dense and pruned linear classifier on two digits: errors, margins and a Rademacher margin bound.

    Data: :func:`sparselab.data.load_digits` restricted to ``classes`` (two digits, labels
    :math:`\pm 1`), pixels in :math:`[0, 1]` plus a constant feature (:math:`d = 65`, so
    :math:`X_\infty = 1`); the split is seeded by ``seed``. Classifiers
    :math:`f(x) = \langle w, x\rangle`, fitted by least squares on the labels:

    * ``"dense"``: ridge, :math:`\min_w \|Xw - y\|^2 + \eta n \|w\|^2` (:math:`\eta =`
      ``ridge``), all :math:`d` weights (listed at :math:`k = d`);
    * ``"pruned"``: the dense weights hard-thresholded to their :math:`k` largest
      magnitudes (:func:`sparselab.thresholding.hard_threshold_k`), magnitude pruning;
    * ``"pruned + refit"``: least squares again on that support
      (:func:`sparselab.sensing.debias`);
    * ``"IHT"``: normalised IHT on :math:`\|Xw - y\|^2` with budget :math:`k`.

    Columns (:data:`GENERALISATION_COLUMNS`): ``nnz`` the non-zero weights, ``single_class`` whether
    the classifier puts no test image strictly on one of the two sides (every image predicted as one
    class or on the boundary; a score of exactly 0 counts as an error), train and test 0-1 errors and their ``gap``
    (test minus train); ``median_margin`` of :math:`y\langle w, x\rangle / \|w\|_2` on the
    training set; ``rademacher`` = :func:`sparse_linear_rademacher` at the number of
    non-zeros; ``bound`` = :func:`margin_bound` at confidence :math:`1 - \delta` (union over
    the sparsity levels) and ``bound_margin`` its margin :math:`\rho`.
    """
    from sparselab.data import load_digits
    from sparselab.sensing import debias
    from sparselab.thresholding import hard_threshold_k

    ks = check_int_list(ks, "ks", low=1, high=65)
    classes = check_int_list(classes, "classes", low=0, high=9)
    if len(classes) != 2:
        raise ValueError(f"classes must hold exactly two digits, got {classes}")
    ridge = check_float(ridge, "ridge", low=0.0, low_inclusive=False)
    steps = check_int(steps, "steps", low=1)
    delta = check_float(delta, "delta", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    seeds = check_int_list(seeds, "seeds", low=0)
    union = len(ks) + 1
    rows = []
    bar = tqdm(
        total=len(seeds) * (1 + 3 * len(ks)),
        desc="generalisation",
        unit="fit",
        disable=not check_bool(progress, "progress"),
    )
    for seed in seeds:
        data = load_digits(seed=seed, classes=classes)
        Xtr, Xte = (
            torch.cat([X.to(torch.float64), torch.ones(len(X), 1, dtype=torch.float64)], dim=1)
            for X in (data.X_train, data.X_test)
        )
        ytr, yte = (y.to(torch.float64) * 2 - 1 for y in (data.y_train, data.y_test))
        n, d = Xtr.shape
        x_max = float(Xtr.abs().max())
        dense = torch.linalg.solve(Xtr.T @ Xtr + ridge * n * torch.eye(d, dtype=torch.float64), Xtr.T @ ytr)
        fits = [("dense", d, dense)]
        for k in ks:
            pruned = hard_threshold_k(dense, k)
            fits += [
                ("pruned", k, pruned),
                ("pruned + refit", k, debias(Xtr, ytr, torch.nonzero(pruned).flatten())),
                ("IHT", k, _iht_fit(Xtr, ytr, k, steps=steps).x),
            ]
        for method, k, w in fits:
            nnz = int((w != 0).sum())
            norm = float(w.norm())
            margins = (ytr * (Xtr @ w) / norm).numpy() if norm > 0 else np.zeros(n)
            train_error = float((torch.sign(Xtr @ w) != ytr).double().mean())
            test_error = float((torch.sign(Xte @ w) != yte).double().mean())
            rad = sparse_linear_rademacher(max(nnz, 1), d, n, x_max)
            bound, rho = margin_bound(margins, rad, delta=delta, union=union)
            rows.append(
                {
                    "method": method,
                    "k": k,
                    "seed": seed,
                    "n_train": n,
                    "d": d,
                    "nnz": nnz,
                    "single_class": not bool(((Xte @ w) > 0).any() and ((Xte @ w) < 0).any()),
                    "train_error": train_error,
                    "test_error": test_error,
                    "gap": test_error - train_error,
                    "median_margin": float(np.median(margins)),
                    "rademacher": rad,
                    "bound": bound,
                    "bound_margin": rho,
                }
            )
            bar.update(1)
    bar.close()
    frame = pd.DataFrame(rows, columns=list(GENERALISATION_COLUMNS))
    frame["single_class"] = frame["single_class"].astype(bool)
    return frame
