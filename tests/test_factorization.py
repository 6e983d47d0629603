"""Tests of sparselab.factorization: fixed-support matrix factorisation, the LU example, sparse ReLU fits."""

import math

import numpy as np
import pytest
import torch

from sparselab import factorization as F

pytestmark = pytest.mark.usefixtures("one_thread")


def gaussian(m, n, seed=0):
    return torch.randn(m, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def block_supports():
    """Two disjoint blocks plus an uncovered part: class {0,1} on rows 0-3 x cols 0-4, class {2} on rows 4-6 x cols 5-7."""
    I = torch.zeros(8, 3, dtype=torch.bool)
    J = torch.zeros(9, 3, dtype=torch.bool)
    I[0:4, 0] = I[0:4, 1] = True
    J[0:5, 0] = J[0:5, 1] = True
    I[4:7, 2] = True
    J[5:8, 2] = True
    return I, J


def assert_on_support(res, I, J):
    assert torch.count_nonzero(res.X[~I]) == 0
    assert torch.count_nonzero(res.Y[~J]) == 0


# ----------------------------------------------------------------------------- supports


def test_rank_one_supports_and_classes_by_hand():
    I, J = block_supports()
    S = F.rank_one_supports(I, J)
    assert S[0] == ((0, 1, 2, 3), (0, 1, 2, 3, 4)) and S[1] == S[0]
    assert S[2] == ((4, 5, 6), (5, 6, 7))
    classes = F.equivalence_classes(I, J)
    assert classes == [
        F.SupportClass(columns=(0, 1), rows=(0, 1, 2, 3), cols=(0, 1, 2, 3, 4)),
        F.SupportClass(columns=(2,), rows=(4, 5, 6), cols=(5, 6, 7)),
    ]
    # an empty rank-one support (no column) is skipped
    J2 = J.clone()
    J2[:, 2] = False
    assert [c.columns for c in F.equivalence_classes(I, J2)] == [(0, 1)]
    assert F.is_tractable(I, J2)


def test_is_tractable_true_false_and_lu():
    I, J = block_supports()
    ok, why = F.is_tractable(I, J, explain=True)
    assert ok is True and "2 equivalence classes" in why
    I2 = I.clone()
    I2[0, 2] = True  # column 2 now meets rows 0-3, but columns 5-7 are still disjoint
    assert F.is_tractable(I2, J)
    J2 = J.clone()
    J2[0, 2] = True  # now S_2 meets S_0 at (0, 0) without being identical
    ok, why = F.is_tractable(I2, J2, explain=True)
    assert ok is False and "columns 0 and 2" in why and "rows [0]" in why
    A, IL, JL = F.lu_counterexample()
    assert torch.equal(A, torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64))
    assert torch.equal(IL, torch.tensor([[True, False], [True, True]])) and torch.equal(JL, IL)
    ok, why = F.is_tractable(IL, JL, explain=True)
    assert ok is False and "columns 0 and 1" in why
    # numpy 0/1 masks are accepted
    assert F.is_tractable(I.numpy().astype(np.int64), J.numpy().astype(np.float32))


def test_random_and_tractable_supports():
    I, J = F.random_supports(12, 10, 6, 0.3, seed=1)
    assert I.shape == (12, 6) and J.shape == (10, 6) and I.dtype == torch.bool
    assert bool(I.any(0).all()) and bool(J.any(0).all())
    I0, J0 = F.random_supports(12, 10, 6, 0.3, seed=1)
    assert torch.equal(I, I0) and torch.equal(J, J0)
    assert not F.is_tractable(*F.random_supports(12, 12, 6, 0.4, seed=4))
    I, J = F.tractable_supports(11, 9, [2, 1, 3, 1], seed=3)
    assert I.shape == (11, 7) and J.shape == (9, 7)
    assert F.is_tractable(I, J)
    classes = F.equivalence_classes(I, J)
    assert sorted(len(c.columns) for c in classes) == [1, 1, 2, 3]
    covered = torch.zeros(11, 9, dtype=torch.int64)  # the rectangles tile the grid exactly once
    for c in classes:
        covered[np.ix_(c.rows, c.cols)] += 1
    assert bool((covered == 1).all())
    assert F.tractable_supports(5, 5, 3, seed=0)[0].shape == (5, 3)


# ----------------------------------------------------------------------------- exact solver


@pytest.mark.parametrize("k", [1, 3, 5])
def test_exact_full_support_is_eckart_young(k):
    A = gaussian(7, 5, seed=k)
    I = torch.ones(7, k, dtype=torch.bool)
    J = torch.ones(5, k, dtype=torch.bool)
    res = F.fsmf_exact(A, I, J)
    s = torch.linalg.svdvals(A)
    best = float(torch.sqrt((s[k:] ** 2).sum()))
    assert res.method == "exact"
    assert abs(res.error - best) < 1e-12
    assert abs(res.relative_error - best / float(torch.linalg.norm(A))) < 1e-12
    assert abs(float(torch.linalg.norm(A - res.product())) - res.error) < 1e-12
    assert int(torch.linalg.matrix_rank(res.product())) == min(k, 5)
    # balanced split: the columns of X and Y have equal norms (sqrt(sigma_i) each)
    assert torch.allclose(res.X.norm(dim=0), res.Y.norm(dim=0), atol=1e-12)
    assert res.history["step"] == [0] and abs(res.history["error"][0] - res.error) < 1e-12


def test_exact_block_supports_equals_per_block_svd():
    A = gaussian(8, 9, seed=2)
    I, J = block_supports()
    res = F.fsmf_exact(A, I, J)
    s1 = torch.linalg.svdvals(A[0:4, 0:5])
    s2 = torch.linalg.svdvals(A[4:7, 5:8])
    covered = torch.zeros(8, 9, dtype=torch.bool)
    covered[0:4, 0:5] = covered[4:7, 5:8] = True
    expected = math.sqrt(float((A[~covered] ** 2).sum()) + float((s1[2:] ** 2).sum()) + float((s2[1:] ** 2).sum()))
    assert abs(res.error - expected) < 1e-12
    assert_on_support(res, I, J)
    # the product is the truncated SVD block by block and zero elsewhere
    P = res.product()
    assert torch.count_nonzero(P[~covered]) == 0
    U, s, Vh = torch.linalg.svd(A[4:7, 5:8])
    assert torch.allclose(P[4:7, 5:8], s[0] * torch.outer(U[:, 0], Vh[0]), atol=1e-12)
    # deterministic, sign-normalised
    again = F.fsmf_exact(A.numpy(), I.numpy().astype(int), J.numpy().astype(int))
    assert torch.equal(again.X, res.X) and torch.equal(again.Y, res.Y)


def test_exact_more_columns_than_block_rank():
    """A class with k = 3 columns on a 2 x 4 block: rank 2 is exact, the third column stays zero."""
    A = gaussian(2, 4, seed=5)
    I = torch.ones(2, 3, dtype=torch.bool)
    J = torch.ones(4, 3, dtype=torch.bool)
    res = F.fsmf_exact(A, I, J)
    assert res.error < 1e-12
    assert torch.count_nonzero(res.X[:, 2]) == 0 and torch.count_nonzero(res.Y[:, 2]) == 0


def test_exact_rejects_non_tractable_naming_pair():
    A, I, J = F.lu_counterexample()
    with pytest.raises(ValueError, match=r"I and J .*columns 0 and 1.*\(t, t'\) = \(0, 1\)"):
        F.fsmf_exact(A, I, J)


# ----------------------------------------------------------------------------- local solvers


@pytest.mark.parametrize("classes,seed", [([2, 1, 3, 1], 0), ([1, 1, 2], 1), ([3], 2)])
def test_als_and_gd_reach_exact_optimum_on_tractable_supports(classes, seed):
    A = gaussian(10, 8, seed=seed)
    I, J = F.tractable_supports(10, 8, classes, seed=seed)
    best = F.fsmf_exact(A, I, J)
    for start in range(3):
        als = F.fsmf_als(A, I, J, seed=start, steps=500)
        assert als.method == "als"
        assert abs(als.error - best.error) <= 1e-6 * best.error
        assert_on_support(als, I, J)
        gd = F.fsmf_gd(A, I, J, seed=start, steps=2000)
        assert gd.method == "gd"
        assert abs(gd.error - best.error) <= 1e-6 * best.error
        assert_on_support(gd, I, J)


def test_als_rank_deficient_class_uses_pinv_and_is_optimal():
    """Class of 3 columns on a single row: every Y-row problem is rank deficient (min-norm pinv path)."""
    A = gaussian(5, 6, seed=7)
    I = torch.zeros(5, 4, dtype=torch.bool)
    J = torch.zeros(6, 4, dtype=torch.bool)
    I[0, 0:3] = True
    J[:, 0:3] = True
    I[1:5, 3] = True
    J[:, 3] = True
    best = F.fsmf_exact(A, I, J)
    res = F.fsmf_als(A, I, J, seed=0, steps=100)
    assert abs(res.error - best.error) <= 1e-9 * best.error
    assert torch.isfinite(res.X).all() and torch.isfinite(res.Y).all()
    assert_on_support(res, I, J)


def test_als_history_monotone_deterministic_and_warm_start():
    A = gaussian(12, 12, seed=3)
    I, J = F.random_supports(12, 12, 6, 0.4, seed=4)
    a = F.fsmf_als(A, I, J, seed=5, steps=50)
    b = F.fsmf_als(A, I, J, seed=5, steps=50)
    assert torch.equal(a.X, b.X) and torch.equal(a.Y, b.Y) and a.history["error"] == b.history["error"]
    h = a.history
    assert set(h) == {"step", "error", "norm", "seconds"}
    assert h["step"] == list(range(len(h["step"])))
    assert all(e2 <= e1 * (1 + 1e-12) for e1, e2 in zip(h["error"], h["error"][1:]))
    assert abs(h["error"][-1] - a.error) < 1e-10
    assert abs(h["norm"][-1] - math.sqrt(float((a.X**2).sum() + (a.Y**2).sum()))) < 1e-10
    assert_on_support(a, I, J)
    # a warm start from a's factors continues from a's error
    c = F.fsmf_als(A, I, J, X0=a.X, Y0=a.Y, steps=1)
    assert abs(c.history["error"][0] - a.error) < 1e-10 and c.error <= a.error * (1 + 1e-12)
    assert F.fsmf_als(A, I, J, seed=6, steps=50).history["error"][0] != h["error"][0]


def test_als_spread_on_non_tractable_realizable_target():
    """Realizable A = X* Y*^T on a non-tractable support: some starts reach 0, others stall far above."""
    m = n = 12
    I, J = F.random_supports(m, n, 6, 0.4, seed=4)
    g = torch.Generator().manual_seed(4)
    A = (torch.randn(m, 6, generator=g, dtype=torch.float64) * I) @ (
        torch.randn(n, 6, generator=g, dtype=torch.float64) * J
    ).T
    errs = [F.fsmf_als(A, I, J, seed=s, steps=300).relative_error for s in range(12)]
    assert min(errs) < 1e-8
    assert max(errs) > 1e-2


def test_gd_fixed_lr_and_record_every():
    A = gaussian(6, 5, seed=1)
    I, J = F.tractable_supports(6, 5, [1, 2], seed=1)
    res = F.fsmf_gd(A, I, J, steps=100, lr=0.05, record_every=10, seed=2)
    assert res.history["step"] == list(range(0, 101, 10))
    assert res.history["error"][-1] < res.history["error"][0]
    assert abs(res.history["error"][-1] - res.error) < 1e-10
    with pytest.raises(FloatingPointError, match="lr"):
        F.fsmf_gd(A * 1e3, I, J, steps=50, lr=10.0)


# ----------------------------------------------------------------------------- the LU example


@pytest.mark.parametrize("eps", [1.0, 0.1, 1e-3])
def test_lu_path_error_is_eps_and_norm_grows(eps):
    A, I, J = F.lu_counterexample()
    X, Y = F.lu_path(eps)
    assert torch.count_nonzero(X[~I]) == 0 and torch.count_nonzero(Y[~J]) == 0
    assert abs(float(torch.linalg.norm(A - X @ Y.T)) - eps) < 1e-12 * max(1.0, 1 / eps)
    norm2 = float((X**2).sum() + (Y**2).sum())
    assert abs(norm2 - (4 + 2 * eps**2) / eps) < 1e-9 * norm2


def test_lu_path_norm_diverges():
    norms = [float((torch.cat([X, Y]) ** 2).sum()) for X, Y in map(F.lu_path, [1e-1, 1e-2, 1e-3, 1e-4])]
    assert all(b > 9 * a for a, b in zip(norms, norms[1:]))


def test_gd_on_lu_error_decreases_norm_increases():
    A, I, J = F.lu_counterexample()
    res = F.fsmf_gd(A, I, J, steps=4000, seed=0, record_every=400)
    err, nrm = res.history["error"], res.history["norm"]
    assert res.history["step"] == list(range(0, 4001, 400))
    assert all(e2 < e1 for e1, e2 in zip(err, err[1:]))
    assert all(n2 > n1 for n1, n2 in zip(nrm[1:], nrm[2:]))
    assert err[-1] < 0.1 * err[0] and err[-1] > 0  # never exact: the infimum 0 is not attained
    assert nrm[-1] > 2.5 * nrm[0]
    # GD follows the minimal-norm path of lu_path: ||X||^2 + ||Y||^2 ~ 4 / error
    assert 3.9 < nrm[-1] ** 2 * err[-1] < 4.1


# ----------------------------------------------------------------------------- sparse ReLU


def test_fit_sparse_relu_loss_decreases_weights_finite():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 5, generator=g, dtype=torch.float64)
    y = torch.relu(x[:, 0] - x[:, 1]) - 0.5 * torch.relu(x[:, 2])
    mask = torch.rand(8, 5, generator=g) < 0.5
    mask[:, 0] = True
    fit = F.fit_sparse_relu(x, y, mask, steps=1500, lr=0.05, seed=1, record_every=50)
    h = fit.history
    assert h["step"][0] == 0 and h["step"][-1] == 1500 and h["step"][1] == 50
    assert h["loss"][-1] < 0.3 * h["loss"][0]
    assert abs(fit.loss - h["loss"][-1]) < 1e-15
    assert torch.isfinite(fit.W).all() and torch.isfinite(fit.v).all() and h["norm"][-1] < 100
    assert torch.count_nonzero(fit.W[~mask]) == 0
    pred = fit.predict(x)
    assert abs(0.5 * float(((pred - y) ** 2).mean()) - fit.loss) < 1e-12
    again = F.fit_sparse_relu(x.numpy(), y.numpy()[:, None], mask.numpy(), steps=1500, lr=0.05, seed=1, record_every=50)
    assert torch.equal(again.W, fit.W)


# ----------------------------------------------------------------------------- validation


def test_bad_inputs_raise_naming_parameter():
    A = gaussian(4, 3)
    I = torch.ones(4, 2, dtype=torch.bool)
    J = torch.ones(3, 2, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"I must have shape \(m, r\) = \(4, r\)"):
        F.fsmf_als(A, torch.ones(5, 2, dtype=torch.bool), J)
    with pytest.raises(ValueError, match=r"J must have shape \(3, 2\)"):
        F.fsmf_gd(A, I, torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="I must be a boolean or 0/1 mask"):
        F.fsmf_exact(A, torch.full((4, 2), 2.0), J)
    with pytest.raises(TypeError, match="J must be a boolean"):
        F.fsmf_exact(A, I, [[1, 1]] * 3)
    with pytest.raises(ValueError, match="A must be a non-empty 2-D"):
        F.fsmf_als(torch.ones(4), I, J)
    with pytest.raises(ValueError, match=r"A contains 12 NaN"):
        F.fsmf_als(torch.full((4, 3), float("nan")), I, J)
    with pytest.raises(ValueError, match="steps"):
        F.fsmf_als(A, I, J, steps=0)
    with pytest.raises(ValueError, match="tol"):
        F.fsmf_als(A, I, J, tol=1.0)
    with pytest.raises(ValueError, match="init_scale"):
        F.fsmf_gd(A, I, J, init_scale=0.0)
    with pytest.raises(ValueError, match="lr"):
        F.fsmf_gd(A, I, J, lr=-1.0)
    with pytest.raises(ValueError, match="record_every"):
        F.fsmf_gd(A, I, J, record_every=0)
    with pytest.raises(ValueError, match=r"X0 must have the shape of I"):
        F.fsmf_als(A, I, J, X0=torch.zeros(3, 2))
    with pytest.raises(ValueError, match="eps"):
        F.lu_path(0.0)
    with pytest.raises(ValueError, match="density"):
        F.random_supports(3, 3, 2, 0.0)
    with pytest.raises(ValueError, match="classes"):
        F.tractable_supports(2, 2, 5)
    with pytest.raises(ValueError, match=r"classes\[1\]"):
        F.tractable_supports(4, 4, [1, 0])
    with pytest.raises(TypeError, match="explain"):
        F.is_tractable(I, J, explain=1)
    x = torch.randn(10, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="targets must have shape"):
        F.fit_sparse_relu(x, torch.zeros(9), torch.ones(4, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"mask must have shape \(hidden, d\) with d = inputs.shape\[1\] = 3"):
        F.fit_sparse_relu(x, torch.zeros(10), torch.ones(4, 2, dtype=torch.bool))
