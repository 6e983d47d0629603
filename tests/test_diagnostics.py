"""Tests of sparselab.sensing.diagnostics: coherence, irrepresentable condition, RIP, A-optimal rows, ℓ1 phase transition."""

import math
from itertools import combinations, product

import numpy as np
import pytest
import torch
from scipy.optimize import brentq, linprog, minimize_scalar
from scipy.stats import norm

from sparselab.sensing import diagnostics as D
from sparselab.sensing import ensembles as E

pytestmark = pytest.mark.usefixtures("one_thread")


def orthogonal(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0]


# ----------------------------------------------------------------------------- mutual coherence


def test_mutual_coherence_hand_computed_cases():
    assert D.mutual_coherence(orthogonal(6)) < 1e-12
    assert D.mutual_coherence(torch.eye(4)) == 0.0
    # columns (3, 4), (0, 1), (1, 1): cosines 4/5, 7/(5 sqrt 2), 1/sqrt 2
    A = torch.tensor([[3.0, 0.0, 1.0], [4.0, 1.0, 1.0]], dtype=torch.float64)
    assert D.mutual_coherence(A) == pytest.approx(7 / (5 * math.sqrt(2)), abs=1e-12)
    twins = torch.tensor([[1.0, 2.0, 0.0], [1.0, 2.0, 1.0]])  # columns 0 and 1 parallel (scale does not matter)
    assert D.mutual_coherence(twins) == pytest.approx(1.0)
    assert D.mutual_coherence(-np.eye(3)[:, [0, 1, 0]]) == pytest.approx(1.0)  # numpy, equal up to sign


def test_mutual_coherence_rejects_bad_inputs():
    with pytest.raises(ValueError, match="at least 2 columns"):
        D.mutual_coherence(torch.ones(3, 1))
    with pytest.raises(ValueError, match="zero column"):
        D.mutual_coherence(torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="A must be a non-empty 2-D matrix"):
        D.mutual_coherence(torch.ones(3))
    with pytest.raises(ValueError, match="NaN or infinite"):
        D.mutual_coherence(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]))
    with pytest.raises(TypeError, match="A must be a torch.Tensor or numpy.ndarray"):
        D.mutual_coherence([[1.0, 0.0], [0.0, 1.0]])


# ----------------------------------------------------------------------------- irrepresentable


def test_irrepresentable_is_zero_for_an_orthonormal_design():
    Q = orthogonal(8, seed=1)
    assert D.irrepresentable(Q, [1, 4, 6]) < 1e-12
    assert D.irrepresentable(Q, [1, 4, 6], signs=[1, -1, 1]) < 1e-12
    assert D.irrepresentable(Q, torch.arange(8)) == 0.0  # no column outside the support


def test_irrepresentable_hand_computed():
    s = 1 / math.sqrt(2)
    # a1 = e1, a2 = (e1 + e2)/sqrt 2, a3 = (e2 + e3)/sqrt 2: a3's projection on span(a1, a2) is
    # (0, 1/sqrt 2, 0) = -a1/sqrt 2 + 1 * a2, so the regression coefficients are (-1/sqrt 2, 1)
    A = torch.tensor([[1.0, s, 0.0], [0.0, s, s], [0.0, 0.0, s]], dtype=torch.float64)
    assert D.irrepresentable(A, [0, 1]) == pytest.approx(1 + s, abs=1e-12)  # worst sign: (-1, +1)
    assert D.irrepresentable(A, [0, 1], signs=[1, 1]) == pytest.approx(1 - s, abs=1e-12)
    assert D.irrepresentable(A, [0, 1], signs=[-1, 1]) == pytest.approx(1 + s, abs=1e-12)
    mask = torch.tensor([True, True, False])
    assert D.irrepresentable(A, mask, signs=torch.tensor([1.0, 1.0])) == pytest.approx(1 - s, abs=1e-12)
    # orthonormal support: the coefficients are plain inner products
    B = torch.tensor([[1.0, 0.0, 0.3], [0.0, 1.0, 0.4], [0.0, 0.0, 0.866]], dtype=torch.float64)
    assert D.irrepresentable(B, [0, 1]) == pytest.approx(0.7)
    assert D.irrepresentable(B, [0, 1], signs=[1, -1]) == pytest.approx(0.1)


def test_irrepresentable_worst_case_is_the_max_over_all_sign_patterns():
    A = E.gaussian(15, 30, seed=2)
    S = [2, 5, 11, 20]
    worst = max(D.irrepresentable(A, S, signs=list(sg)) for sg in product((-1, 1), repeat=4))
    assert D.irrepresentable(A, S) == pytest.approx(worst, rel=1e-10)


@pytest.mark.parametrize(
    "support, signs, match",
    [
        ([], None, "at least one index"),
        ([0, 0], None, "must not repeat"),
        ([0, 9], None, r"support indices must be in \[0, 3\]"),
        ([0, 1], [1], "one entry per support index"),
        ([0, 1], [1, 0], r"only \+1 and -1"),
        ([0, 1, 2], None, "support size must be at most m = 2"),
    ],
)
def test_irrepresentable_rejects_bad_inputs(support, signs, match):
    A = torch.randn(2, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match=match):
        D.irrepresentable(A, support, signs)


def test_irrepresentable_rejects_a_singular_support():
    A = torch.tensor([[1.0, 2.0, 0.0], [1.0, 2.0, 1.0], [0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="linearly dependent"):
        D.irrepresentable(A, [0, 1])


# ----------------------------------------------------------------------------- RIP


def exact_delta(A, s):
    best = 0.0
    for S in combinations(range(A.shape[1]), s):
        eig = torch.linalg.eigvalsh(A[:, list(S)].T @ A[:, list(S)])
        best = max(best, float(eig[-1] - 1), float(1 - eig[0]))
    return best


def test_rip_estimate_is_zero_for_orthonormal_columns():
    Q = orthogonal(12, seed=3)[:, :7]
    est = D.rip_lower_estimate(Q, 3, trials=50, seed=0)
    assert est.delta < 1e-12 and est.support.numel() == 3


def test_rip_estimate_finds_a_known_bad_support():
    A = orthogonal(8, seed=4)[:, :6].clone()
    theta = 0.3
    A[:, 4] = math.cos(theta) * A[:, 1] + math.sin(theta) * A[:, 2]  # unit column close to column 1
    bad = A[:, [1, 4]]
    eig = torch.linalg.eigvalsh(bad.T @ bad)
    bad_delta = max(float(eig[-1] - 1), float(1 - eig[0]))
    assert bad_delta == pytest.approx(math.cos(theta), abs=1e-12)  # eigenvalues 1 +- <a_1, a_4>
    est = D.rip_lower_estimate(A, 2, trials=100, seed=0)  # C(6, 2) = 15 <= 100: exhaustive, exact
    assert est.delta >= bad_delta - 1e-12 and est.delta == pytest.approx(exact_delta(A, 2), abs=1e-12)
    assert est.support.tolist() == [1, 4]
    assert est.eigenvalue_max == pytest.approx(1 + math.cos(theta)) and est.eigenvalue_min == pytest.approx(
        1 - math.cos(theta)
    )


def test_rip_sampled_estimate_is_a_lower_bound_and_seeded():
    A = E.gaussian(8, 12, seed=5)
    exact = exact_delta(A, 3)
    est = D.rip_lower_estimate(A, 3, trials=40, seed=1, chunk=7)  # C(12, 3) = 220 > 40: sampled
    assert 0 < est.delta <= exact + 1e-12
    lo, hi = D.restricted_eigenvalues(A, est.support[None])
    assert est.delta == pytest.approx(max(float(hi) - 1, 1 - float(lo)))
    assert D.rip_lower_estimate(A, 3, trials=40, seed=1, chunk=40).delta == est.delta  # chunking is invisible
    again = D.rip_lower_estimate(A, 3, trials=40, seed=1)
    assert again.delta == est.delta and torch.equal(again.support, est.support)
    assert D.rip_lower_estimate(A, 3, trials=220, seed=0).delta == pytest.approx(exact)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(s=0), r"s must be an integer in \[1, 5\]"),
        (dict(s=6), r"s must be an integer in \[1, 5\]"),
        (dict(s=2, trials=0), r"trials must be an integer in \[1, inf\]"),
        (dict(s=2, seed=-3), r"seed must be an integer in \[0, inf\]"),
    ],
)
def test_rip_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        D.rip_lower_estimate(torch.randn(3, 5), **kwargs)


# ----------------------------------------------------------------------------- A-optimal rows


def direct_trace(A, rows, eps):
    AS = A[rows]
    return float(torch.linalg.inv(AS.T @ AS + eps * torch.eye(A.shape[1], dtype=torch.float64)).trace())


def test_a_optimal_picks_distinct_basis_rows_before_duplicates():
    eye = torch.eye(4, dtype=torch.float64)
    A = eye[[0, 0, 1, 1, 2, 3]]  # e0, e0, e1, e1, e2, e3
    sel = D.a_optimal_rows(A, 6, eps=1e-6)
    assert sel.indices[:4].tolist() == [0, 2, 4, 5]
    assert sorted(sel.indices[4:].tolist()) == [1, 3]
    for t in range(6):
        assert sel.traces[t].item() == pytest.approx(direct_trace(A, sel.indices[: t + 1], 1e-6), rel=1e-8)
    assert sel.traces[3].item() == pytest.approx(4 / (1 + 1e-6))  # full rank: trace of the identity
    assert sel.traces[5].item() == pytest.approx(2 / (1 + 1e-6) + 2 / (2 + 1e-6))


def test_a_optimal_traces_match_direct_computation_and_each_pick_is_the_greedy_best():
    A = E.gaussian(30, 5, seed=6) * torch.linspace(0.2, 2.0, 30, dtype=torch.float64)[:, None]
    eps = 1e-3
    sel = D.a_optimal_rows(A, 12, eps=eps)
    assert sel.indices.unique().numel() == 12
    chosen = []
    for t, p in enumerate(sel.indices.tolist()):
        scores = {i: direct_trace(A, chosen + [i], eps) for i in range(30) if i not in chosen}
        assert scores[p] == pytest.approx(min(scores.values()), rel=1e-9)
        chosen.append(p)
        assert sel.traces[t].item() == pytest.approx(direct_trace(A, chosen, eps), rel=1e-9)
    assert (sel.traces.diff() < 0).all()


def test_a_optimal_differs_from_magnitude_selection_on_parallel_rows():
    # two large nearly parallel rows and a small orthogonal one: magnitude keeps the parallel pair,
    # A-optimal keeps one of them and the orthogonal row, which makes the 2-D estimate well posed
    A = torch.tensor([[10.0, 0.1], [10.0, -0.1], [0.0, 1.0]], dtype=torch.float64)
    mag = D.largest_norm_rows(A, 2)
    opt = D.a_optimal_rows(A, 2).indices
    assert sorted(mag.tolist()) == [0, 1] and 2 in opt.tolist()
    assert D.selection_overlap(mag, opt) == 0.5
    assert direct_trace(A, opt, 0.0) < direct_trace(A, mag, 0.0)


def test_largest_norm_rows_and_selection_overlap():
    A = torch.tensor([[1.0, 0.0], [3.0, 4.0], [0.0, 2.0], [2.0, 0.0], [0.0, 0.5]])
    assert D.largest_norm_rows(A, 3).tolist() == [1, 2, 3]  # norms 5, 2, 2: tie kept in index order
    assert D.selection_overlap([1, 2, 3], torch.tensor([3, 0, 1])) == pytest.approx(2 / 3)
    assert D.selection_overlap(np.array([4]), [4]) == 1.0
    with pytest.raises(ValueError, match="same number of indices"):
        D.selection_overlap([1, 2], [1])
    with pytest.raises(ValueError, match="a must not repeat"):
        D.selection_overlap([1, 1], [1, 2])
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 5\]"):
        D.largest_norm_rows(A, 6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(k=0), r"k must be an integer in \[1, 4\]"),
        (dict(k=5), r"k must be an integer in \[1, 4\]"),
        (dict(k=2, eps=0.0), r"eps must be a finite number in \(0.0, inf\]"),
        (dict(k=2, eps=float("inf")), "eps must be a finite number"),
    ],
)
def test_a_optimal_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        D.a_optimal_rows(torch.randn(4, 3), **kwargs)


# ----------------------------------------------------------------------------- phase transition


def statistical_dimension_curve(delta):
    """Independent route (Amelunxen-Lotz-McCoy-Tropp 2014): the transition is at m/N = D(eps)/N with
    eps = k/N and D(eps)/N = inf_t eps (1 + t^2) + (1 - eps) 2 ((1 + t^2) Phi(-t) - t phi(t)); rho = eps/delta."""

    def sd(eps):
        def f(t):
            return eps * (1 + t * t) + (1 - eps) * 2 * ((1 + t * t) * norm.cdf(-t) - t * norm.pdf(t))

        return minimize_scalar(f, bounds=(0, 20), method="bounded", options={"xatol": 1e-12}).fun

    return brentq(lambda e: sd(e) - delta, 1e-12, delta, xtol=1e-14) / delta


# rho(delta) to four digits; e.g. rho(0.5) = 0.3857 (the weak threshold of the cross-polytope)
REFERENCE = {0.1: 0.1894, 0.25: 0.2674, 0.5: 0.3857, 0.75: 0.5337, 0.9: 0.6782}


def test_donoho_tanner_matches_reference_values_and_the_statistical_dimension():
    for delta, rho in REFERENCE.items():
        value = D.donoho_tanner_l1(delta)
        assert isinstance(value, float)
        assert value == pytest.approx(rho, abs=1e-4)
        assert value == pytest.approx(statistical_dimension_curve(delta), abs=1e-7)


def test_donoho_tanner_is_vectorised_monotone_with_the_right_limits():
    deltas = np.linspace(0, 1, 201)
    rho = D.donoho_tanner_l1(deltas)
    assert rho.shape == deltas.shape and rho[0] == 0.0 and rho[-1] == 1.0
    assert np.all(np.diff(rho) > 0)
    assert D.donoho_tanner_l1(1e-8) < 0.03 and D.donoho_tanner_l1(1 - 1e-8) > 0.999
    # delta -> 0: rho ~ 1 / (2 log(1/delta))
    assert D.donoho_tanner_l1(1e-12) * 2 * math.log(1e12) == pytest.approx(1, abs=0.2)
    assert D.donoho_tanner_l1(np.array([[0.5]])).shape == (1, 1)
    with pytest.raises(ValueError, match=r"delta must lie in \[0, 1\]"):
        D.donoho_tanner_l1(1.5)
    with pytest.raises(ValueError, match=r"delta must lie in \[0, 1\]"):
        D.donoho_tanner_l1([0.2, float("nan")])


def basis_pursuit(A, y):
    N = A.shape[1]
    res = linprog(np.ones(2 * N), A_eq=np.hstack([A, -A]), b_eq=y, bounds=(0, None), method="highs")
    return res.x[:N] - res.x[N:]


def test_basis_pursuit_succeeds_below_and_fails_above_the_curve():
    """Monte Carlo at N = 100, delta = 0.5 (curve at rho = 0.386): rho = 0.2 always recovers, rho = 0.6 never."""
    N, m = 100, 50
    outcome = {}
    for rho in (0.2, 0.6):
        wins = 0
        for seed in range(8):
            A = E.gaussian(m, N, seed=seed).numpy()
            x = E.sparse_signal(N, int(rho * m), seed=seed, distribution="rademacher")[0].numpy()
            wins += np.linalg.norm(basis_pursuit(A, A @ x) - x) < 1e-6 * np.linalg.norm(x)
        outcome[rho] = wins
    assert outcome == {0.2: 8, 0.6: 0}
    assert 0.2 < D.donoho_tanner_l1(0.5) < 0.6
