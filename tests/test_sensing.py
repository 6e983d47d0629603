"""Tests of sparselab.sensing: IHT, ISTA/FISTA, the group lasso, debiasing and the optimality diagnostics."""

import numpy as np
import pytest
import torch

from sparselab import sensing as S
from sparselab.thresholding import topk_keep

pytestmark = pytest.mark.usefixtures("one_thread")


def instance(m, N, k, *, noise=0.0, seed=0, batch=()):
    """Gaussian A with N(0, 1/m) entries, a k-sparse Gaussian x and y = A x + noise * e."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(*batch, m, N, generator=g, dtype=torch.float64) / m**0.5
    x = torch.zeros(*batch, N, dtype=torch.float64)
    for row in x.view(-1, N):
        idx = torch.randperm(N, generator=g)[:k]
        row[idx] = torch.randn(k, generator=g, dtype=torch.float64)
    y = (A @ x.unsqueeze(-1)).squeeze(-1) + noise * torch.randn(*batch, m, generator=g, dtype=torch.float64)
    return A, x, y


def lasso_instance():
    A, x, y = instance(40, 100, 5, noise=0.01, seed=0)
    lam = 0.1 * float(S.lambda_max(A, y))
    return A, x, y, lam


# ----------------------------------------------------------------------------- lasso: ISTA and FISTA


def test_ista_and_fista_reach_the_lasso_optimum_and_agree():
    A, _, y, lam = lasso_instance()
    ri = S.ista(A, y, lam=lam)
    rf = S.fista(A, y, lam=lam)
    for r in (ri, rf):
        assert r.converged and r.iterations < 1000
        assert float(S.lasso_optimality_gap(A, y, r.x, lam)) <= 1e-6
        assert r.history["change"][-1] <= 1e-10
    assert torch.allclose(ri.x, rf.x, atol=1e-5, rtol=0)
    assert torch.equal(ri.x != 0, rf.x != 0)
    # the subgradient condition checked by hand: A^T r = lam sign(x) on the support, |A^T r| <= lam off it
    c = A.T @ (y - A @ ri.x)
    on = ri.x != 0
    assert torch.allclose(c[on], lam * torch.sign(ri.x[on]), atol=1e-6, rtol=0)
    assert (c[~on].abs() <= lam + 1e-6).all()
    # the gap is large away from the optimum
    assert float(S.lasso_optimality_gap(A, y, torch.zeros(100, dtype=torch.float64), lam)) > 1.0


def test_fista_objective_decreases_faster_than_ista():
    A, _, y, lam = lasso_instance()
    ri = S.ista(A, y, lam=lam, tol=0.0, steps=300)
    rf = S.fista(A, y, lam=lam, tol=0.0, steps=300)
    Fi, Ff = np.array(ri.history["objective"]), np.array(rf.history["objective"])
    assert len(Fi) == len(Ff) == 300
    F_star = min(Fi.min(), Ff.min())
    assert Ff[49] < Fi[49]
    assert Ff[49] - F_star < 0.1 * (Fi[49] - F_star)

    def first_within(F, gap):
        return int(np.argmax(F - F_star <= gap)) + 1

    for gap in (1e-2, 1e-4, 1e-6):
        assert first_within(Ff, gap) < first_within(Fi, gap)
    # ISTA (step 1/L) is monotone, FISTA need not be
    assert (np.diff(Fi) <= 1e-12).all()
    # the recorded objective is the lasso objective of the returned point
    assert Fi[-1] == pytest.approx(float(S.lasso_objective(A, y, ri.x, lam)), rel=1e-12)


def test_fista_restart_converges_in_fewer_iterations():
    A, _, y, lam = lasso_instance()
    plain = S.fista(A, y, lam=lam)
    restarted = S.fista(A, y, lam=lam, restart=True)
    assert restarted.converged and restarted.iterations < plain.iterations
    assert float(S.lasso_optimality_gap(A, y, restarted.x, lam)) <= 1e-6


def test_lambda_max_gives_zero_and_any_smaller_lambda_does_not():
    A, _, y, _ = lasso_instance()
    lmax = S.lambda_max(A, y)
    assert float(lmax) == pytest.approx(float((A.T @ y).abs().max()))
    r = S.fista(A, y, lam=lmax)
    assert r.converged and torch.equal(r.x, torch.zeros(100, dtype=torch.float64))
    assert float(S.lasso_optimality_gap(A, y, r.x, lmax)) == 0.0
    for frac in (0.999, 0.9):
        r = S.fista(A, y, lam=frac * float(lmax))
        assert int((r.x != 0).sum()) >= 1
    assert torch.equal(S.ista(A, y, lam=2 * float(lmax)).x, torch.zeros(100, dtype=torch.float64))


def test_warm_start_from_the_solution_stops_at_once():
    A, _, y, lam = lasso_instance()
    for solver in (S.ista, S.fista):
        sol = solver(A, y, lam=lam).x
        again = solver(A, y, lam=lam, x0=sol)
        assert again.converged and again.iterations <= 2
        assert torch.allclose(again.x, sol, atol=1e-9, rtol=0)


def test_history_layout_and_step_size():
    A, _, y, lam = lasso_instance()
    r = S.ista(A, y, lam=lam, steps=7, tol=0.0)
    assert not r.converged and r.iterations == 7
    assert set(r.history) == {"step", "objective", "residual", "support_size", "step_size", "change"}
    assert r.history["step"] == list(range(7))  # the iteration index, as in recovery.iht; mu is "step_size"
    assert all(len(v) == 7 for v in r.history.values())
    L = float(np.linalg.norm(A.numpy(), 2) ** 2)
    assert r.history["step_size"][0] == pytest.approx(1 / L, rel=1e-10)
    assert r.history["residual"][-1] == pytest.approx(float((y - A @ r.x).norm()), rel=1e-12)
    assert r.history["support_size"][-1] == int((r.x != 0).sum())
    assert isinstance(r.history["support_size"][-1], int)
    assert torch.equal(r.support, r.x != 0)
    half = S.ista(A, y, lam=lam, steps=3, tol=0.0, step_size=0.5 / L)
    assert half.history["step_size"][0] == pytest.approx(0.5 / L)


def test_lipschitz_svd_and_power_iteration():
    A, _, _, _ = lasso_instance()
    L = float(np.linalg.norm(A.numpy(), 2) ** 2)
    assert float(S.lipschitz(A)) == pytest.approx(L, rel=1e-12)
    assert float(S.lipschitz(A, method="power", iters=300)) == pytest.approx(L, rel=1e-6)
    assert float(S.lipschitz(A, method="power", iters=300)) <= L * (1 + 1e-12)
    batch = torch.stack([A, 2 * A])
    assert torch.allclose(S.lipschitz(batch), torch.tensor([L, 4 * L], dtype=torch.float64))
    assert float(S.lipschitz(torch.eye(3, dtype=torch.float64))) == pytest.approx(1.0)


def test_batched_lasso_matches_one_problem_at_a_time_with_a_lambda_per_problem():
    A, _, y, _ = lasso_instance()
    g = torch.Generator().manual_seed(5)
    Y = torch.stack([y, y + 0.1 * torch.randn(40, generator=g, dtype=torch.float64), -y])
    lams = torch.tensor([0.05, 0.1, 0.2], dtype=torch.float64)
    rb = S.fista(A, Y, lam=lams)  # one A, three signals, three lambdas
    assert rb.x.shape == (3, 100) and rb.converged
    assert rb.iterations_each.shape == (3,) and rb.iterations == int(rb.iterations_each.max())
    assert len(rb.history["objective"][0]) == 3
    for b in range(3):
        single = S.fista(A, Y[b], lam=float(lams[b]))
        assert int(rb.iterations_each[b]) == single.iterations
        assert torch.allclose(rb.x[b], single.x, atol=1e-12, rtol=0)
    assert (S.lasso_optimality_gap(A, Y, rb.x, lams) <= 1e-6).all()


def test_float32_inputs_stay_float32():
    A, _, y, lam = lasso_instance()
    r = S.ista(A.float(), y.float(), lam=lam, tol=1e-6)
    assert r.x.dtype == torch.float32 and r.converged
    assert float(S.lasso_optimality_gap(A.float(), y.float(), r.x, lam)) <= 1e-4


# ----------------------------------------------------------------------------- IHT


def test_normalised_iht_recovers_an_exactly_sparse_signal():
    A, x, y = instance(60, 200, 5, seed=0)
    r = S.iht(A, y, k=5)
    assert r.converged
    assert torch.equal(r.x != 0, x != 0)
    assert float((r.x - x).norm()) < 1e-8
    F = np.array(r.history["objective"])
    assert (np.diff(F) <= 1e-15).all()  # the safeguard makes normalised IHT monotone
    assert set(r.history) >= {"step", "step_size", "backtracks", "support_size"}
    assert r.history["step"] == list(range(r.iterations))
    assert all(s == 5 for s in r.history["support_size"])


def test_plain_iht_with_fixed_step_is_monotone_and_can_stall_where_normalised_iht_does_not():
    A, x, y = instance(60, 200, 5, seed=0)
    L = float(S.lipschitz(A))
    r = S.iht(A, y, k=5, step_size=1 / L, steps=2000)
    assert r.converged and all(s == pytest.approx(1 / L) for s in r.history["step_size"])
    assert (np.diff(r.history["objective"]) <= 1e-15).all()  # mu <= 1/L: majorisation-minimisation
    # it stops at a fixed point x = H_k(x + mu A^T (y - A x)) with the wrong support ...
    assert r.history["objective"][-1] > 1e-3 and not torch.equal(r.x != 0, x != 0)
    step = r.x + (A.T @ (y - A @ r.x)) / L
    assert torch.allclose(S.iht(A, y, k=5, x0=r.x, step_size=1 / L, steps=1).x, r.x, atol=1e-8)
    assert torch.equal(r.x != 0, step.abs() >= step.abs().topk(5).values[-1])
    # ... where the normalised step recovers x (test above); with more measurements plain IHT does too
    A, x, y = instance(150, 200, 5, seed=0)
    r = S.iht(A, y, k=5, step_size=1 / float(S.lipschitz(A)), steps=2000)
    assert r.converged and torch.equal(r.x != 0, x != 0) and float((r.x - x).norm()) < 1e-7


def test_iht_warm_start_from_the_solution_stops_at_once():
    A, x, y = instance(60, 200, 5, seed=0)
    again = S.iht(A, y, k=5, x0=S.iht(A, y, k=5).x)
    assert again.converged and again.iterations <= 2
    assert float((again.x - x).norm()) < 1e-8


def test_iht_batched_over_matrices_with_a_budget_per_problem():
    A, x, y = instance(60, 200, 4, seed=3, batch=(3,))
    ks = torch.tensor([4, 6, 10])
    r = S.iht(A, y, k=ks)
    assert r.x.shape == (3, 200) and r.converged
    assert ((r.x != 0).sum(-1) <= ks).all()
    assert ((r.x - x).norm(dim=-1) < 1e-8).all()
    for b in range(3):
        single = S.iht(A[b], y[b], k=int(ks[b]))
        assert torch.allclose(r.x[b], single.x, atol=1e-12, rtol=0)


# ----------------------------------------------------------------------------- the normalised IHT step


def rule_instance(seed, m=10, N=30, k=4):
    """x k-sparse on its first k coordinates (the support S), g = A^T (y - A x) and H_k as a candidate maker."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(m, N, generator=g, dtype=torch.float64)
    y = torch.randn(m, generator=g, dtype=torch.float64)
    x = torch.zeros(N, dtype=torch.float64)
    x[:k] = torch.randn(k, generator=g, dtype=torch.float64)
    supp = x != 0
    grad = A.T @ (y - A @ x)

    def norms(v):
        Av = A @ v
        return v @ v, Av @ Av

    def threshold(mu):
        v = x + mu * grad
        keep = topk_keep(v.abs(), k)
        return v * keep, keep

    return A, x, supp, grad, norms, threshold


def test_normalised_step_on_a_fixed_support_is_the_exact_line_search():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(8, 5, generator=g, dtype=torch.float64)
    y = torch.randn(8, generator=g, dtype=torch.float64)
    assert int(torch.linalg.matrix_rank(A)) == 5
    x = torch.tensor([1.0, 0.0, -2.0, 0.5, 0.0], dtype=torch.float64)
    supp = x != 0
    gS = (A.T @ (y - A @ x)) * supp
    num, den = gS @ gS, (A @ gS) @ (A @ gS)
    proposed = []

    def threshold(mu):  # a fixed support: move along g_S only
        proposed.append(mu)
        return x + mu * gS, supp

    def no_safeguard(candidate):
        raise AssertionError("the support did not move: no safeguard")

    out = S.normalized_iht_step(num, den, threshold, lambda c: (c[1] != supp).any(-1), no_safeguard)
    assert torch.equal(out.step_size, num / den) and int(out.backtracks) == 0 and len(proposed) == 1
    mu = float(out.step_size)

    def f(t):
        return 0.5 * float(((y - A @ (x + t * gS)) ** 2).sum())

    assert f(mu) < f(mu * (1 + 1e-4)) and f(mu) < f(mu * (1 - 1e-4))  # the exact line search along g_S
    one = S.normalized_iht_step(num, den, threshold, lambda c: False, no_safeguard, scalar=True)
    assert isinstance(one.step_size, float) and one.step_size == float(num / den) and one.backtracks == 0
    # sensing.iht with k = N keeps every coordinate: its first step is ||g||^2 / ||A g||^2 exactly
    r = S.iht(A, y, k=5, steps=1)
    g0 = y @ A
    Ag0 = g0 @ A.mT
    assert r.history["step_size"][0] == float((g0 * g0).sum(-1) / (Ag0 * Ag0).sum(-1))
    assert r.history["backtracks"] == [0]


@pytest.mark.parametrize("c, kappa", [(0.01, 2.0), (0.2, 3.0)])
def test_normalised_step_backtracks_until_the_safeguard_holds_when_the_support_moves(c, kappa):
    A, x, supp, grad, norms, threshold = rule_instance(2)
    num, den = norms(grad * supp)
    out = S.normalized_iht_step(
        num, den, threshold, lambda c_: (c_[1] != supp).any(-1), lambda c_: norms(c_[0] - x), c=c, kappa=kappa
    )
    assert int(out.backtracks) >= 1 and bool((out.candidate[1] != supp).any())
    mu = num / den
    for _ in range(int(out.backtracks)):
        mu = mu / (kappa * (1 - c))
    assert torch.equal(out.step_size, mu)
    d_sq, Ad_sq = norms(out.candidate[0] - x)
    assert float(out.step_size) <= (1 - c) * float(d_sq) / float(Ad_sq)
    # the step before the last shrinking broke the safeguard
    before = threshold(out.step_size * (kappa * (1 - c)))
    if bool((before[1] != supp).any()):
        d_sq, Ad_sq = norms(before[0] - x)
        assert float(out.step_size * (kappa * (1 - c))) > (1 - c) * float(d_sq) / float(Ad_sq)
    assert all(torch.equal(a, b) for a, b in zip(out.candidate, threshold(out.step_size)))
    capped = S.normalized_iht_step(
        num, den, threshold, lambda c_: (c_[1] != supp).any(-1), lambda c_: norms(c_[0] - x), max_backtracks=0
    )
    assert int(capped.backtracks) == 0 and torch.equal(capped.step_size, num / den)


def test_normalised_step_batched_equals_one_problem_at_a_time():
    problems = [rule_instance(seed) for seed in range(6)]
    x = torch.stack([p[1] for p in problems])
    supp = torch.stack([p[2] for p in problems])
    grad = torch.stack([p[3] for p in problems])
    A = torch.stack([p[0] for p in problems])
    active = torch.tensor([True, True, False, True, True, True])

    def norms(v):
        Av = (A @ v.unsqueeze(-1)).squeeze(-1)
        return (v * v).sum(-1), (Av * Av).sum(-1)

    def threshold(mu):
        v = x + mu[..., None] * grad
        keep = topk_keep(v.abs(), 4)
        return v * keep, keep

    out = S.normalized_iht_step(
        *norms(grad * supp), threshold, lambda c: (c[1] != supp).any(-1), lambda c: norms(c[0] - x), active=active
    )
    assert out.step_size.shape == (6,) and out.backtracks.dtype == torch.long and int(out.backtracks[2]) == 0
    for b, (_, xb, sb, gb, norms_b, threshold_b) in enumerate(problems):
        one = S.normalized_iht_step(
            *norms_b(gb * sb),
            threshold_b,
            lambda c: bool((c[1] != sb).any()),
            lambda c: norms_b(c[0] - xb),
            scalar=True,
            max_backtracks=60 if active[b] else 0,
        )
        # the same rule; the batched products round differently in the last bit
        assert float(out.step_size[b]) == pytest.approx(one.step_size, rel=1e-12)
        assert int(out.backtracks[b]) == one.backtracks and torch.equal(out.candidate[1][b], one.candidate[1])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(c=0.0), ValueError, r"^c must be a finite number in \(0.0, 1.0\)"),
        (dict(c=1.0), ValueError, r"^c must be"),
        (dict(c=float("nan")), ValueError, r"^c must be"),
        (dict(kappa=1.0), ValueError, r"^kappa must be a finite number in \(1.0101"),
        (dict(c=0.5, kappa=2.0), ValueError, r"^kappa must be a finite number in \(2.0"),
        (dict(kappa=float("inf")), ValueError, r"^kappa must be"),
        (dict(max_backtracks=-1), ValueError, r"^max_backtracks must be an integer in \[0, inf\]"),
        (dict(max_backtracks=2.5), TypeError, r"^max_backtracks must be an integer"),
        (dict(c="0.01"), TypeError, r"^c must be a real number"),
    ],
)
def test_normalised_step_rejects_bad_constants(kwargs, error, match):
    A, x, supp, grad, norms, threshold = rule_instance(0)
    args = (*norms(grad * supp), threshold, lambda c: (c[1] != supp).any(-1), lambda c: norms(c[0] - x))
    with pytest.raises(error, match=match):
        S.normalized_iht_step(*args, **kwargs)
    if kwargs == dict(kappa=1.0):  # check=False (a solver's later iterations) skips the validation
        S.normalized_iht_step(*args, kappa=1.0, check=False)


def test_sensing_iht_takes_its_normalised_step_from_the_shared_rule(monkeypatch):
    from sparselab.sensing import solvers, step_rule

    assert solvers.normalized_iht_step is step_rule.normalized_iht_step is S.normalized_iht_step
    calls = []

    def counted(*args, **kwargs):
        calls.append(kwargs)
        return step_rule.normalized_iht_step(*args, **kwargs)

    monkeypatch.setattr(solvers, "normalized_iht_step", counted)
    A, _, y = instance(40, 100, 4, seed=1, batch=(3,))
    r = S.iht(A, y, k=4, steps=30)
    assert len(calls) == r.iterations and r.iterations >= 2
    assert all(kw["c"] == 0.01 and kw["kappa"] == 2.0 and kw["max_backtracks"] == 60 for kw in calls)
    assert [kw["check"] for kw in calls] == [True] + [False] * (len(calls) - 1)  # validated once
    calls.clear()
    S.iht(A, y, k=4, steps=5, step_size=0.1)
    assert calls == []  # a fixed step does not use the rule


# ----------------------------------------------------------------------------- debiasing


def test_debias_is_least_squares_on_the_support():
    A, _, y, lam = lasso_instance()
    sol = S.fista(A, y, lam=lam).x
    supp = sol != 0
    xd = S.debias(A, y, supp)
    idx = np.flatnonzero(supp.numpy())
    ref, *_ = np.linalg.lstsq(A.numpy()[:, idx], y.numpy(), rcond=None)
    assert np.allclose(xd.numpy()[idx], ref, atol=1e-10)
    assert (xd[~supp] == 0).all()
    assert torch.allclose(S.debias(A, y, torch.from_numpy(idx)), xd, atol=1e-12)
    # the debiased coefficients are larger in magnitude: the lasso had shrunk them
    assert (xd[supp].abs() > sol[supp].abs()).all()
    # the residual of least squares is orthogonal to the chosen columns
    assert torch.allclose(A[:, supp].T @ (y - A @ xd), torch.zeros(int(supp.sum()), dtype=torch.float64), atol=1e-10)
    assert torch.equal(S.debias(A, y, torch.zeros(100, dtype=torch.bool)), torch.zeros(100, dtype=torch.float64))
    # batched masks
    both = S.debias(A, torch.stack([y, 2 * y]), torch.stack([supp, supp]))
    assert torch.allclose(both[1], 2 * xd, atol=1e-10)


# ----------------------------------------------------------------------------- group lasso


def group_instance():
    g = torch.Generator().manual_seed(1)
    m, N = 40, 60
    A = torch.randn(m, N, generator=g, dtype=torch.float64) / m**0.5
    groups = torch.arange(N) // 5  # 12 groups of 5
    x = torch.zeros(N, dtype=torch.float64)
    x[5:10] = torch.randn(5, generator=g, dtype=torch.float64)
    x[30:35] = torch.randn(5, generator=g, dtype=torch.float64)
    y = A @ x + 0.01 * torch.randn(m, generator=g, dtype=torch.float64)
    lam = 0.2 * float(S.group_lambda_max(A, y, groups))
    return A, x, y, groups, lam


def test_group_lasso_zeroes_whole_groups_and_is_optimal():
    A, x, y, groups, lam = group_instance()
    for accelerated in (True, False):
        r = S.group_lasso(A, y, lam=lam, groups=groups, accelerated=accelerated)
        assert r.converged
        blocks = r.x.view(12, 5) != 0
        assert (blocks.all(1) | ~blocks.any(1)).all()  # every group all zero or all non-zero
        assert blocks.any(1).nonzero().flatten().tolist() == [1, 6]  # the planted groups
        # the optimality condition by hand
        c = A.T @ (y - A @ r.x)
        for gi in range(12):
            cg, xg = c[5 * gi : 5 * gi + 5], r.x[5 * gi : 5 * gi + 5]
            if (xg == 0).all():
                assert float(cg.norm()) <= lam + 1e-6
            else:
                assert float((cg - lam * xg / xg.norm()).norm()) <= 1e-6
        assert float(S.group_lasso_optimality_gap(A, y, r.x, lam, groups)) <= 1e-6
    assert float(S.group_lasso_optimality_gap(A, y, torch.zeros(60, dtype=torch.float64), lam, groups)) > 0.1


def test_group_lasso_lambda_max_warm_start_and_singletons():
    A, x, y, groups, lam = group_instance()
    gmax = float(S.group_lambda_max(A, y, groups))
    assert gmax == pytest.approx(max(float((A[:, 5 * g : 5 * g + 5].T @ y).norm()) for g in range(12)))
    assert torch.equal(S.group_lasso(A, y, lam=gmax, groups=groups).x, torch.zeros(60, dtype=torch.float64))
    assert (S.group_lasso(A, y, lam=0.99 * gmax, groups=groups).x != 0).any()
    sol = S.group_lasso(A, y, lam=lam, groups=groups).x
    again = S.group_lasso(A, y, lam=lam, groups=groups, x0=sol)
    assert again.converged and again.iterations <= 2
    # groups as a list of index blocks and with weights sqrt(|g|) = sqrt(5) == lam * sqrt(5)
    blocks = [torch.arange(5 * g, 5 * g + 5) for g in range(12)]
    weighted = S.group_lasso(A, y, lam=lam / 5**0.5, groups=blocks, weights=[5**0.5] * 12)
    assert torch.allclose(weighted.x, sol, atol=1e-8)
    # singleton groups: the lasso
    A2, _, y2, lam2 = lasso_instance()
    gl = S.group_lasso(A2, y2, lam=lam2, groups=torch.arange(100))
    assert torch.allclose(gl.x, S.fista(A2, y2, lam=lam2).x, atol=1e-8)
    assert float(S.group_lasso_objective(A2, y2, gl.x, lam2, torch.arange(100))) == pytest.approx(
        float(S.lasso_objective(A2, y2, gl.x, lam2)), rel=1e-12
    )


# ----------------------------------------------------------------------------- bad inputs


def _bad_calls():
    A, _, y, _ = lasso_instance()
    nanA = A.clone()
    nanA[3, 4] = float("nan")
    infy = y.clone()
    infy[0] = float("inf")
    groups = torch.arange(100) // 10
    return [
        (lambda: S.ista(A[0], y, lam=0.1), ValueError, r"A must be a matrix \(m, N\)"),
        (lambda: S.ista(A, y[:39], lam=0.1), ValueError, r"y must have length m = 40"),
        (lambda: S.fista(A, y, lam=0.1, x0=torch.zeros(99)), ValueError, r"x0 must have length N = 100"),
        (lambda: S.ista(nanA, y, lam=0.1), ValueError, r"A contains 1 NaN or infinite"),
        (lambda: S.iht(A, infy, k=3), ValueError, r"y contains 1 NaN or infinite"),
        (lambda: S.fista(A, y, lam=-0.1), ValueError, r"lam must be a finite number in \[0.0, inf\]"),
        (lambda: S.fista(A, y, lam=float("inf")), ValueError, "lam must be a finite number"),
        (
            lambda: S.ista(A, torch.stack([y, y]), lam=torch.tensor([0.1, 0.2, 0.3])),
            ValueError,
            r"batch shapes of A, y and lam do not broadcast: A and y \(2,\), lam \(3,\)",
        ),
        (lambda: S.iht(A, y, k=0), ValueError, r"k must be an integer in \[1, 100\], got 0"),
        (lambda: S.iht(A, y, k=101), ValueError, r"k must be an integer in \[1, 100\], got 101"),
        (lambda: S.iht(A, y, k=3, step_size="armijo"), ValueError, "step_size must be one of 'normalized'"),
        (lambda: S.iht(A, y, k=3, step_size=-1.0), ValueError, "step_size must be a finite number"),
        (lambda: S.ista(A, y, lam=0.1, steps=0), ValueError, r"steps must be an integer in \[1, inf\]"),
        (lambda: S.ista(A, y, lam=0.1, tol=-1.0), ValueError, "tol must be a finite number"),
        (lambda: S.ista(A.tolist(), y, lam=0.1), TypeError, "A must be a torch.Tensor or numpy.ndarray"),
        (lambda: S.group_lasso(A, y, lam=0.1, groups=groups[:50]), ValueError, "groups must be a 1-D tensor of 100"),
        (lambda: S.group_lasso(A, y, lam=0.1, groups=[torch.arange(50)]), ValueError, "cover every index"),
        (
            lambda: S.group_lasso(A, y, lam=0.1, groups=groups, weights=[1.0] * 3),
            ValueError,
            r"weights must have one entry per group \(G = 10\)",
        ),
        (lambda: S.group_lasso(A, y, lam=0.1, groups=groups, weights=[0.0] * 10), ValueError, "weights must be"),
        (lambda: S.debias(A, y, torch.ones(100, dtype=torch.bool)), ValueError, "at most m = 40 entries"),
        (lambda: S.debias(A, y, torch.tensor([0, 100])), ValueError, r"support indices must be in \[0, 99\]"),
        (lambda: S.debias(A, y, torch.ones(99, dtype=torch.bool)), ValueError, "boolean mask of length N = 100"),
        (lambda: S.lipschitz(A, method="lanczos"), ValueError, "method must be one of 'svd', 'power'"),
        (lambda: S.lasso_optimality_gap(A, y, torch.zeros(5), 0.1), ValueError, "x must have length N = 100"),
    ]


def test_bad_inputs_raise_errors_naming_the_parameter():
    for call, error, match in _bad_calls():
        with pytest.raises(error, match=match):
            call()


def test_numpy_inputs_are_accepted():
    A, _, y, lam = lasso_instance()
    r = S.ista(A.numpy(), y.numpy(), lam=lam)
    assert torch.is_tensor(r.x) and torch.allclose(r.x, S.ista(A, y, lam=lam).x)


def test_least_squares_is_minimum_norm_and_bitwise_repeatable():
    g = torch.Generator().manual_seed(7)
    M = torch.randn(30, 6, generator=g, dtype=torch.float64)
    b = torch.randn(30, generator=g, dtype=torch.float64)
    ref = np.linalg.lstsq(M.numpy(), b.numpy(), rcond=None)[0]
    runs = []
    for i in range(5):
        _ = [
            torch.empty(1000 * i + 7) for _ in range(3)
        ]  # shift allocations: lstsq's CPU driver is alignment-sensitive
        runs.append(S.least_squares(M.clone(), b.clone()))
    assert all(torch.equal(r, runs[0]) for r in runs)
    assert np.allclose(runs[0].numpy(), ref, atol=1e-12)
    # rank-deficient: two equal columns share the weight (minimum norm), like numpy
    D = torch.cat([M[:, :2], M[:, :1]], dim=1)
    ref = np.linalg.lstsq(D.numpy(), b.numpy(), rcond=None)[0]
    got = S.least_squares(D, b)
    assert np.allclose(got.numpy(), ref, atol=1e-10) and abs(got[0].item() - got[2].item()) < 1e-10
    B = torch.stack([b, 2 * b], dim=1)
    assert torch.allclose(S.least_squares(M, B)[:, 1], 2 * runs[0], atol=1e-12)
