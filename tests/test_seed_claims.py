"""The claims of the sources the chapters examine, each tested at small size so that it fails if the code stops
supporting it (issue 14, item 5). Citations are author-year as in ``book/references.bib``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from sparselab import SparseMLP, TrainConfig, factorization, flops, make_regression, metrics, pruning, sensing, train
from sparselab import recovery as R
from sparselab._memory import measure_peak_memory
from sparselab.masks import keep_count
from sparselab.nn import DigitsCNN

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- pruning
def test_imp_density_is_one_minus_alpha_to_the_s_exactly():
    """Frankle & Carbin, 2019: after round r of IMP the density is (1 - alpha)^r.

    Claim: exactly round((1 - alpha)^r N) of the N prunable weights survive round r, the count being taken from
    (1 - alpha)^r directly. Tolerance: none (integer equality). With N = 144, alpha = 0.3, S = 3 compounding the
    rounded counts would give 50 at round 3 instead of round(144 * 0.343) = 49, so an approximate schedule fails.
    """
    data = make_regression("nonlinear", n_train=64, n_test=32, in_features=8, width=8, seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))  # N = 128 + 16 = 144
    config = TrainConfig(epochs=2, batch_size=32, lr=1e-2, device="cpu", progress=False)
    alpha, rounds, N = 0.3, 3, 144
    res = pruning.iterative_magnitude_pruning(model, data, config, alpha=alpha, rounds=rounds, progress=False)
    counts = [round(N * (1 - alpha) ** r) for r in range(rounds + 1)]
    assert counts == [144, 101, 71, 49]
    assert res.densities == [c / N for c in counts]
    assert res.target_densities == [pruning.imp_density(r, alpha) for r in range(rounds + 1)]
    active = sum(int(pruning.current_mask(m).sum()) for _, m in pruning.prunable_layers(model))
    assert active == 49 == keep_count(N, (1 - alpha) ** rounds)
    for r, d in enumerate(res.densities):
        assert abs(d - (1 - alpha) ** r) <= 0.5 / N  # the nearest count to (1 - alpha)^r N


def test_parameters_and_flops_drop_together_when_channels_are_removed():
    """Li et al., 2017: pruning whole filters (output channels) lowers parameters *and* FLOPs.

    Claim: zeroing half the output channels of both convolutions (kernels and biases) and removing them physically
    (``flops.shrink_channels``) gives the DigitsCNN formulas at (k1, k2) = (4, 8) for both counts, with the same
    outputs (to 1e-5, float32). Control: the masked network and unstructured pruning at the same density leave the
    FLOPs unchanged (dense kernels), so the drop comes from channel removal alone. Tolerance: exact counts.
    """
    torch.manual_seed(0)
    model = DigitsCNN((8, 16), 10)
    x = torch.randn(5, 1, 8, 8)
    example = x[:1]
    p_dense, f_dense = flops.count_parameters(model), flops.count_flops(model, example)
    unstructured = DigitsCNN((8, 16), 10)
    unstructured.load_state_dict(model.state_dict())
    pruning.prune_model(unstructured, 0.5, scope="layer", layers=["conv1", "conv2"])
    assert flops.count_flops(flops.shrink_channels(unstructured), example) == f_dense  # nothing removable

    masks = pruning.prune_model(model, 0.5, scope="layer", structure="row", layers=["conv1", "conv2"])
    for name in ("conv1", "conv2"):
        pruning.attach_mask(getattr(model, name), masks[name].flatten(1).any(1), name="bias")
    assert flops.count_flops(model, example) == f_dense  # masks alone do not lower FLOPs
    assert flops.count_parameters(model, nonzero=True) < p_dense
    small = flops.shrink_channels(model)
    k1, k2, C, n = 4, 8, 10, 1
    assert tuple(small.channels) == (k1, k2)
    assert flops.count_parameters(small) == 9 * k1 + k1 + 9 * k1 * k2 + k2 + 16 * k2 * C + C
    assert flops.count_flops(small, example) == 2 * n * 64 * 9 * (k1 + k1 * k2) + 2 * n * 16 * k2 * C
    assert flops.count_parameters(small) < p_dense and flops.count_flops(small, example) < f_dense
    with torch.no_grad():
        assert torch.allclose(small(x), model(x), atol=1e-5)


# ----------------------------------------------------------------------------- learned masks
def test_straight_through_lets_scores_flip_the_mask_and_the_plain_hard_mask_does_not():
    """Ramanujan et al., 2020 with the STE of Bengio et al., 2013: the top-k mask of learned scores changes only
    when the scores get the straight-through gradient G * W.

    Claim: the same SparseMLP, data and seed trained 3 epochs: with ``straight_through=True`` the flip rate is
    > 0 (observed 42 of 256 connections changed), with ``False`` the scores receive no gradient, stay equal
    bit for bit and the mask never flips (0 exactly). Both keep exactly k connections. Tolerance: exact.
    """
    data = make_regression("nonlinear", n_train=256, n_test=64, in_features=16, width=8, density=0.25, seed=0)
    config = TrainConfig(epochs=3, batch_size=32, lr=1e-2, device="cpu", progress=False, seed=0)
    flips = {}
    for ste in (True, False):
        torch.manual_seed(0)
        model = SparseMLP(16, 16, density=0.25, mask="hard", straight_through=ste)
        scores0, mask0 = model.sparse.scores.detach().clone(), model.sparse.mask()
        history = train(model, data, config)
        flips[ste] = (sum(history.mask_flips), int((model.sparse.mask() != mask0).sum()))
        assert model.sparse.nnz == model.sparse.k == 64
        assert torch.equal(model.sparse.scores.detach(), scores0) == (not ste)
    assert flips[True][0] > 0 and flips[True][1] > 0
    assert flips[False] == (0, 0)


# ----------------------------------------------------------------------------- recovery
PLANTED_SEEDS = (2026, 2027, 2028)  # the planted networks' own generators
SOLVER = dict(width=10, steps=30, refine_steps=10, restarts=4, chunk=64, seed=0)


def _solver_stream_seeds(restarts: int = 4, generations: int = 64) -> set:
    """Seeds of the solver's generator streams (seed * 1000003 + chunk * 7919 + generation * 104729, one chunk)."""
    return {(r * 1_000_003 + g * 104_729) % 2**63 for r in range(restarts) for g in range(generations)}


@pytest.mark.parametrize("planted_seed", PLANTED_SEEDS)
def test_iht_recovers_an_independently_drawn_planted_network(planted_seed):
    """Fridovich-Keil & Pilanci, 2025: IHT on the lifted model recovers a planted sparse ReLU network exactly.

    Inside the guarantee's conditions as the recovery chapter states them (Gaussian inputs, enough samples:
    n = 1000 for s = 20 non-zeros in d = 20, exact labels, N(0, 1) neurons, active on about half the data and
    distinct), with the chapter's sequential IHT (p = 2m, best of 4 restarts). The planted network is drawn from
    its own generator (seed 2026..2028), none of the seeds the solver's streams use. Tolerance: held-out relative
    error < 1e-6 (observed ~1e-16), support precision = recall = 1 up to a permutation of neurons.
    """
    assert planted_seed not in _solver_stream_seeds()
    P = R.planted_network(in_features=20, width=5, nnz=20, n_train=1000, n_test=1000, seed=planted_seed)
    fit = R.iht(P.X_train, P.y_train, nnz=20, **SOLVER)
    assert metrics.relative_error(P.y_test, fit.predict(P.X_test)) < 1e-6
    match = metrics.support_match(fit.fused_dense(), P.fused, match="weights")
    assert match["precision"] == match["recall"] == 1.0 and match["weight_error"] < 1e-6


@pytest.mark.parametrize("condition", ["few samples", "correlated inputs"])
@pytest.mark.parametrize("planted_seed", PLANTED_SEEDS)
def test_iht_fails_as_documented_outside_the_guarantee(condition, planted_seed):
    """Fridovich-Keil & Pilanci, 2025, outside the conditions (book/recovery.ipynb, "Where the guarantee's
    assumptions fail").

    The same planted network and solver as the recovery test, breaking one condition: n = 60 samples ("few
    samples": too few equations, IHT does not even fit the training samples exactly) or equicorrelated inputs
    with c = 0.9 ("correlated inputs": nearly collinear columns of A, a badly conditioned sensing matrix). The
    documented failure is not a slightly-off fit: every restart ends far from round-off (all 4 run, training
    residual > 1e-3), held-out PSNR in the tens of dB (< 60 dB, the success threshold is 100 dB; observed 22-46)
    and support recall <= 0.8 (observed 0.45-0.65): a fit on a wrong support.
    """
    kwargs = (
        dict(n_train=60) if condition == "few samples" else dict(n_train=1000, inputs="correlated", correlation=0.9)
    )
    P = R.planted_network(in_features=20, width=5, nnz=20, n_test=1000, seed=planted_seed, **kwargs)
    fit = R.iht(P.X_train, P.y_train, nnz=20, **SOLVER)
    assert len(fit.history["restart_residuals"]) == 4 and min(fit.history["restart_residuals"]) > 1e-3
    assert metrics.psnr(P.y_test, fit.predict(P.X_test)) < 60.0
    assert metrics.support_match(fit.fused_dense(), P.fused, match="weights")["recall"] <= 0.8


def _peak(*args, **kwargs) -> int:
    """The smaller of two measurements of one call (a stray allocation of the process can only add)."""
    return min(measure_peak_memory(*args, **kwargs)[1] for _ in range(2))


@pytest.mark.skipif(measure_peak_memory(int)[2] == "tracemalloc", reason="tracemalloc does not see torch tensors")
def test_iht_peak_memory_is_linear_in_nnz_and_flat_in_width():
    """Fridovich-Keil & Pilanci, 2025: IHT's memory grows linearly in s and does not depend on the width p.

    Measured with the package's probe (``measure_peak_memory``: growth of the peak over what was in use before the
    call), after a warm-up call, the smaller of two runs per point, n = 6000, d = 20, float64, chunks of 32
    neurons, 3 passes. Against s in {100, 200, 400, 800} at p = 64: a least-squares line has R^2 >= 0.99, every
    point within 10 % of it, and a slope of 1 to 4 n x s float64 arrays per non-zero (A_S and its transients;
    observed ~2). Against p in {64, 256, 1024} at s = 200: max/min peak <= 1.15 (observed <= 1.08), whereas a
    width-proportional term such as the dense A (n x dp) would grow 16x; the probe resolves such growth (control:
    ``LiftedReLUOperator.dense`` at p = 8 and 32 differ by >= 3x).
    """
    g = torch.Generator().manual_seed(12345)
    n, d = 6000, 20
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randn(n, generator=g, dtype=torch.float64)
    opts = dict(steps=3, refine_steps=2, chunk=32, tol=0.0, seed=0)
    measure_peak_memory(R.iht, X[:64], y[:64], nnz=1, width=1, **opts)  # warm-up
    nnzs = np.array([100, 200, 400, 800], dtype=float)
    peaks = np.array([_peak(R.iht, X, y, nnz=int(s), width=64, **opts) for s in nnzs], dtype=float)
    slope, intercept = np.polyfit(nnzs, peaks, 1)
    fitted = intercept + slope * nnzs
    r2 = 1 - np.sum((peaks - fitted) ** 2) / np.sum((peaks - peaks.mean()) ** 2)
    assert r2 >= 0.99, (peaks, r2)
    assert np.max(np.abs(peaks - fitted) / peaks) <= 0.10, peaks
    assert 1.0 <= slope / (8 * n) <= 4.0, slope / (8 * n)

    widths = (64, 256, 1024)
    at_width = [_peak(R.iht, X, y, nnz=200, width=p, **opts) for p in widths]
    assert max(at_width) / min(at_width) <= 1.15, at_width
    dense = [_peak(lambda p: R.LiftedReLUOperator(X, p).dense().sum(), p) for p in (8, 32)]
    assert dense[1] >= 3 * dense[0], dense


# ----------------------------------------------------------------------------- factorization
def test_fsmf_infimum_example_error_decreases_while_factor_norm_diverges():
    """Le, Riccietti & Gribonval, 2021: on the LU support the FSMF infimum 0 of ||A - XY^T|| is not attained.

    Claim: along ``lu_path`` the error is exactly eps (relative 1e-12) while ||X||^2 + ||Y||^2 = (4 + 2 eps^2)/eps
    (relative 1e-12) diverges, with supports respected; gradient descent (Armijo) on the same instance lowers the
    error at every checkpoint while the norm grows, staying within 20 % of the path's norm at its error; on the
    full support (control) the error reaches 1e-10 with a bounded norm (< 3). The support is not tractable.
    """
    A, I, J = factorization.lu_counterexample()
    assert not factorization.is_tractable(I, J)
    errors, norms = [], []
    for eps in (1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-6):
        X, Y = factorization.lu_path(eps)
        assert not X[~I].any() and not Y[~J].any()
        err = float(torch.linalg.matrix_norm(A - X @ Y.T))
        sq = float(X.square().sum() + Y.square().sum())
        assert err == pytest.approx(eps, rel=1e-12)
        assert sq == pytest.approx((4 + 2 * eps**2) / eps, rel=1e-12)
        errors.append(err)
        norms.append(math.sqrt(sq))
    assert errors == sorted(errors, reverse=True) and norms == sorted(norms)
    assert norms[-1] > 1000  # 2 / sqrt(1e-6) = 2000

    gd = factorization.fsmf_gd(A, I, J, steps=4000, seed=0, record_every=1000)
    err, nrm = gd.history["error"], gd.history["norm"]
    assert len(err) == 5 and all(b < a for a, b in zip(err, err[1:])) and all(b > a for a, b in zip(nrm, nrm[1:]))
    X, Y = factorization.lu_path(err[-1])
    assert nrm[-1] >= 0.8 * math.sqrt(float(X.square().sum() + Y.square().sum()))
    full = torch.ones(2, 2, dtype=torch.bool)
    ok = factorization.fsmf_gd(A, full, full, steps=4000, seed=0)
    assert ok.error < 1e-10 and max(ok.history["norm"]) < 3.0


@pytest.mark.parametrize("N", [4, 16, 64, 256, 1024])
def test_dft_is_a_butterfly_after_bit_reversal_exactly(N):
    """Cooley & Tukey, 1965; Dao et al., 2019; Le et al., 2024: F_N P = B_1 ... B_L with butterfly factors.

    Claim: the hierarchical factorisation of the bit-reversed DFT is exact in every order: relative Frobenius
    error <= 1e-12 (observed ~1e-15), the factored product applied to vectors equals ``torch.fft.fft`` to 1e-12
    relative, with 2 N log2 N parameters. Control: without the bit reversal the error is >= 0.5.
    """
    F = factorization.dft_matrix(N)
    x = torch.randn(3, N, dtype=torch.complex128)
    for order in factorization.ORDERS:
        res = factorization.butterfly_factorize(F, order=order, perm="bit_reversal")
        assert res.relative_error <= 1e-12
        ref = torch.fft.fft(x)
        assert float((res.apply(x) - ref).norm() / ref.norm()) <= 1e-12
        assert res.nnz == factorization.butterfly_nnz(N) == 2 * N * int(math.log2(N))
        assert factorization.butterfly_factorize(F, order=order).relative_error >= 0.5


# ----------------------------------------------------------------------------- thresholding
def _signed_bias(estimate, x, support) -> float:
    """mean over the support of (x_hat - x*) sign(x*): negative = shrunk towards zero."""
    return float(((estimate - x)[support] * torch.sign(x[support])).mean())


def test_lasso_shrinks_by_lambda_on_an_orthonormal_design_and_debiasing_and_iht_do_not():
    """Tibshirani, 1996; Donoho, 1995; Blumensath & Davies, 2009: the lasso's soft threshold shrinks every
    survivor by lambda; least squares on its support and IHT's hard threshold do not.

    Orthonormal columns (256 x 128 DCT rows, A^T A = I), k = 32 entries +-1, lambda = 0.1. Noise-free: the lasso
    (FISTA) has x_hat - x* = -lambda sign(x*) on every support entry (to 1e-9); debiased and IHT estimates are exact
    (1e-9). With noise sigma = 0.02 the mean signed bias is -lambda within 4 sigma / sqrt(k) = 0.014 for the lasso
    and 0 within the same for the debiased lasso and IHT.
    """
    m, N, k, lam, sigma = 256, 128, 32, 0.1, 0.02
    A = sensing.dct_matrix(m)[:, :N]
    x, support = sensing.sparse_signal(N, k, seed=11, distribution="rademacher")
    tol = 4 * sigma / math.sqrt(k)
    for noise in (0.0, sigma):
        y = sensing.measure(A, x, noise=noise, seed=12)
        lasso = sensing.fista(A, y, lam=lam, steps=2000, tol=1e-12).x
        debiased = sensing.debias(A, y, lasso != 0)
        hard = sensing.iht(A, y, k=k).x
        assert torch.equal(lasso != 0, x != 0) and torch.equal(hard != 0, x != 0)
        if noise == 0:
            shift = (lasso - x)[support] * torch.sign(x[support])
            assert torch.allclose(shift, torch.full_like(shift, -lam), atol=1e-9)
            assert torch.allclose(debiased, x, atol=1e-9) and torch.allclose(hard, x, atol=1e-9)
        else:
            assert abs(_signed_bias(lasso, x, support) + lam) <= tol
            assert abs(_signed_bias(debiased, x, support)) <= tol
            assert abs(_signed_bias(hard, x, support)) <= tol


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lasso_bias_is_about_lambda_in_a_well_conditioned_gaussian_design(seed):
    """Tibshirani, 1996: in a well-conditioned design the lasso's bias on the support is about -lambda.

    Gaussian A (400 x 200, k = 10, so A_S^T A_S ~ I within ~sqrt(k/m)), +-1 entries, lambda = 0.1, sigma = 0.01:
    the signed bias x_hat - x* is -lambda (A_S^T A_S)^{-1} sign + noise, so its mean lies in [-1.25, -0.75] lambda
    (observed -0.93 to -1.07); the debiased lasso and IHT have |bias| <= 0.1 lambda (observed <= 0.04 lambda).
    """
    A = sensing.gaussian(400, 200, seed=seed)
    x, support = sensing.sparse_signal(200, 10, seed=100 + seed, distribution="rademacher")
    lam = 0.1
    y = sensing.measure(A, x, noise=0.01, seed=200 + seed)
    lasso = sensing.fista(A, y, lam=lam, steps=5000, tol=1e-12).x
    assert -1.25 * lam <= _signed_bias(lasso, x, support) <= -0.75 * lam
    assert abs(_signed_bias(sensing.debias(A, y, lasso != 0), x, support)) <= 0.1 * lam
    assert abs(_signed_bias(sensing.iht(A, y, k=10).x, x, support)) <= 0.1 * lam
