"""Tests of sparselab.recovery: the lifted operator, IHT, the IMP baseline, metrics and memory."""

import math

import numpy as np
import pytest
import torch

from sparselab import metrics
from sparselab import recovery as R
from sparselab._memory import measure_peak_memory
from sparselab.recovery import lifted

pytestmark = pytest.mark.usefixtures("one_thread")


def explicit_A(X, H):
    """A = [D_1 X, ..., D_p X] built column block by column block from explicit generators (d, p)."""
    return torch.cat([((X @ H[:, j]) >= 0).to(X.dtype)[:, None] * X for j in range(H.shape[1])], dim=1)


# ----------------------------------------------------------------------------- teacher


def test_planted_network_has_exact_nnz_and_labels():
    P = R.planted_network(in_features=7, width=4, nnz=11, n_train=30, n_test=20, seed=3)
    assert P.first_layer.shape == (4, 7) and P.nnz == 11
    assert (P.first_layer != 0).any(dim=1).all()  # nnz >= width: every neuron is used
    assert torch.equal(P.second_layer, torch.ones(1, 4, dtype=torch.float64))
    expected = torch.relu(P.X_train @ P.first_layer.T).sum(1)
    assert torch.allclose(P.y_train, expected)
    assert torch.allclose(P.fused[:, :, 0], P.first_layer)
    again = R.planted_network(in_features=7, width=4, nnz=11, n_train=30, n_test=20, seed=3)
    assert torch.equal(again.X_test, P.X_test) and torch.equal(again.first_layer, P.first_layer)


def test_planted_network_vector_output_and_inputs():
    P = R.planted_network(in_features=5, width=3, nnz=6, n_train=40, out_features=2, inputs="nonnegative", seed=0)
    assert P.y_train.shape == (40, 2) and (P.X_train >= 0).all()
    assert set(P.second_layer.unique().tolist()) <= {-1.0, 1.0}
    assert torch.allclose(P.fused, P.first_layer[:, :, None] * P.second_layer.T[:, None, :])
    U = R.planted_network(in_features=5, width=3, nnz=6, n_train=4000, inputs="uniform", seed=0).X_train
    assert U.abs().max() <= math.sqrt(3) and abs(U.var().item() - 1) < 0.05


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(nnz=41), r"nnz must be an integer in \[1, 40\]"),
        (dict(width=0), "width"),
        (dict(signs="mixed"), "signs must be one of"),
        (dict(inputs="laplace"), "inputs must be one of"),
        (dict(correlation=1.0), "correlation"),
    ],
)
def test_planted_network_rejects_bad_parameters(kwargs, match):
    base = dict(in_features=10, width=4, nnz=8)
    base.update(kwargs)
    with pytest.raises(ValueError, match=match):
        R.planted_network(**base)


# ----------------------------------------------------------------------------- operator


@pytest.mark.parametrize("chunk", [1, 3, 256])
def test_matrix_free_products_equal_explicit_A(chunk):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(40, 6, generator=g, dtype=torch.float64)
    op = R.LiftedReLUOperator(X, 7, seed=5, chunk=chunk)
    H = op.generators(torch.arange(7))
    A = explicit_A(X, H)
    assert A.shape == op.shape == (40, 42)
    assert torch.equal(op.dense(), A)
    w = torch.randn(42, generator=g, dtype=torch.float64)
    w[torch.rand(42, generator=g) < 0.7] = 0
    flat = w.nonzero().flatten()
    assert torch.allclose(op.matvec(flat, w[flat])[:, 0], A @ w, atol=1e-12)
    r = torch.randn(40, generator=g, dtype=torch.float64)
    assert torch.allclose(op.rmatvec(r[:, None]), A.T @ r, atol=1e-12)


def test_generators_do_not_depend_on_the_order_they_are_asked_for():
    X = torch.randn(10, 4, dtype=torch.float64)
    op = R.LiftedReLUOperator(X, 9, seed=1, chunk=4)
    H = op.generators(torch.arange(9))
    assert torch.equal(op.generators(torch.tensor([8, 2, 5])), H[:, [8, 2, 5]])
    op.redraw()
    assert not torch.equal(op.generators(torch.arange(9)), H)  # a new generation draws new vectors


def test_matrix_free_products_with_several_outputs_and_overrides():
    g = torch.Generator().manual_seed(1)
    X = torch.randn(30, 5, generator=g, dtype=torch.float64)
    K, p = 3, 4
    op = R.LiftedReLUOperator(X, p, out_features=K, seed=2, chunk=3)
    h = torch.zeros(5, 2, dtype=torch.float64)
    h[1, 0], h[3, 1] = 2.0, -1.0
    op.set_overrides(torch.tensor([3, 1]), h)  # neuron 3 gets e_1-ish, neuron 1 gets -e_3
    H = op.generators(torch.arange(p))
    assert torch.equal(H[:, 3], h[:, 0]) and torch.equal(H[:, 1], h[:, 1])
    A = explicit_A(X, H)  # (n, d p); output k of W (p, d, K) is A @ W[:, :, k].flatten()
    W = torch.randn(p, 5, K, generator=g, dtype=torch.float64)
    W[torch.rand(p, 5, K, generator=g) < 0.6] = 0
    flat = W.flatten().nonzero().flatten()
    expected = torch.stack([A @ W[:, :, k].flatten() for k in range(K)], dim=1)
    assert torch.allclose(op.matvec(flat, W.flatten()[flat]), expected, atol=1e-12)
    r = torch.randn(30, K, generator=g, dtype=torch.float64)
    grad = op.rmatvec(r).view(p, 5, K)
    for k in range(K):
        assert torch.allclose(grad[:, :, k].flatten(), A.T @ r[:, k], atol=1e-12)


def test_hard_threshold_pass_keeps_exactly_s_largest_entries():
    g = torch.Generator().manual_seed(2)
    X = torch.randn(25, 6, generator=g, dtype=torch.float64)
    op = R.LiftedReLUOperator(X, 10, seed=0, chunk=3)
    A = op.dense()
    r = torch.randn(25, 1, generator=g, dtype=torch.float64)
    flat = torch.tensor([0, 7, 33, 59])
    values = torch.tensor([0.5, -2.0, 1.0, 3.0], dtype=torch.float64)
    dense = torch.zeros(60, dtype=torch.float64)
    dense[flat] = values
    mu = 0.3
    target = dense + mu * (A.T @ r[:, 0])
    for s in (1, 5, 17, 60):
        idx, val = lifted._threshold_pass(op, flat, values, r, mu, s)
        assert len(idx) == s == len(torch.unique(idx))
        assert torch.equal(idx, torch.sort(idx).values)
        assert torch.allclose(val, target[idx], atol=1e-12)
        assert target[idx].abs().min() >= torch.sort(target.abs(), descending=True).values[s - 1] - 1e-12


# ----------------------------------------------------------------------------- IHT


def test_iht_recovers_a_planted_network_exactly():
    P = R.planted_network(in_features=20, width=5, nnz=20, n_train=2000, n_test=1000, seed=2)
    fit = R.iht(P.X_train, P.y_train, nnz=20, width=5, steps=40, restarts=4, seed=0)
    pred = fit.predict(P.X_test)
    assert metrics.relative_error(P.y_test, pred) < 1e-6
    support = metrics.support_match(fit.fused_dense(), P.fused, match="weights")
    assert support["precision"] == support["recall"] == 1.0
    assert support["weight_error"] < 1e-6
    perm = torch.as_tensor(support["permutation"])
    assert torch.equal(fit.fused_dense()[perm, :, 0] != 0, P.first_layer != 0)
    assert (fit.fused_dense() != 0).sum() == 20 and fit.active_neurons == 5
    # geometric convergence: the training residual ends at round-off
    assert fit.history["residual"][-1] < 1e-10
    # sequential mode gives a true ReLU network: the un-fused MLP predicts the same
    U, V, consistent = fit.unfused()
    assert consistent.all() and U.shape == (5, 20)
    mlp = fit.as_relu_mlp()
    with torch.no_grad():
        assert torch.allclose(mlp(P.X_test)[:, 0], pred, atol=1e-9)


def test_iht_random_signs_recovered_through_sign_aware_generators():
    P = R.planted_network(in_features=12, width=3, nnz=9, n_train=1500, signs="random", seed=4)
    assert (P.second_layer < 0).any()
    fit = R.iht(P.X_train, P.y_train, nnz=9, width=3, steps=40, restarts=4, seed=0)
    assert metrics.relative_error(P.y_test, fit.predict(P.X_test)) < 1e-6
    m = metrics.support_match(fit.fused_dense(), P.fused, match="weights")
    assert m["recall"] == 1.0 and m["weight_error"] < 1e-6


def test_iht_vector_output_recovers_each_output():
    P = R.planted_network(in_features=10, width=2, nnz=6, n_train=1500, out_features=2, seed=1)
    s = int((P.fused != 0).sum())
    fit = R.iht(P.X_train, P.y_train, nnz=s, width=2, steps=40, restarts=4, seed=0)
    pred = fit.predict(P.X_test)
    assert pred.shape == (1000, 2)
    assert metrics.relative_error(P.y_test, pred) < 1e-6


def test_iht_history_step_size_and_sparsity_every_pass():
    P = R.planted_network(in_features=10, width=3, nnz=9, n_train=500, seed=0)
    fit = R.iht(P.X_train, P.y_train, nnz=9, width=6, steps=5, tol=0.0, mode="convex", seed=1)
    h = fit.history
    assert h["step"] == [0, 1, 2, 3, 4]
    assert h["support_changes"][0] == 9 and all(0 <= c <= 9 for c in h["support_changes"])
    assert all(mu > 0 for mu in h["step_size"]) and h["time_s"] == sorted(h["time_s"])
    assert len(fit.flat) == 9 and len(torch.unique(fit.flat)) == 9
    # convex mode keeps the fixed random generators: the gated model is A_S w on training data
    op = R.LiftedReLUOperator(P.X_train, 6, seed=1)
    assert torch.allclose(fit.predict(P.X_train), op.matvec(fit.flat, fit.values)[:, 0], atol=1e-10)
    assert h["residual"][-1] == pytest.approx(float((fit.predict(P.X_train) - P.y_train).norm() / P.y_train.norm()))


def test_iht_takes_its_step_from_the_shared_normalised_rule(monkeypatch):
    from sparselab.sensing import step_rule

    assert lifted.normalized_iht_step is step_rule.normalized_iht_step
    calls = []

    def counted(*args, **kwargs):
        out = step_rule.normalized_iht_step(*args, **kwargs)
        calls.append((kwargs, out))
        return out

    monkeypatch.setattr(lifted, "normalized_iht_step", counted)
    P = R.planted_network(in_features=12, width=4, nnz=16, n_train=60, seed=2, signs="random")
    fit = R.iht(P.X_train, P.y_train, nnz=16, width=8, steps=6, tol=0.0, seed=0, restarts=2)
    assert len(calls) == 2 * 6  # one step per pass, in each of the two restarts
    for kwargs, _ in calls:
        assert kwargs["scalar"] and (kwargs["c"], kwargs["kappa"], kwargs["max_backtracks"]) == (0.01, 2.0, 20)
    assert [kwargs["check"] for kwargs, _ in calls] == ([True] + [False] * 5) * 2  # validated once per run
    h = fit.history
    assert h["step"] == list(range(6))  # the pass index; mu is "step_size", as in sensing.iht
    best = calls[:6] if h["restart_residuals"][0] <= h["restart_residuals"][1] else calls[6:]
    assert h["step_size"] == [out.step_size for _, out in best]
    assert h["backtracks"] == [out.backtracks for _, out in best] and sum(h["backtracks"]) > 0


def test_iht_is_deterministic_and_accepts_numpy():
    P = R.planted_network(in_features=8, width=3, nnz=8, n_train=300, seed=5)
    a = R.iht(P.X_train.numpy(), P.y_train.numpy(), nnz=8, width=3, steps=6, seed=3)
    b = R.iht(P.X_train, P.y_train, nnz=8, width=3, steps=6, seed=3)
    assert torch.equal(a.flat, b.flat) and torch.equal(a.values, b.values)
    out = a.predict(P.X_test.numpy())
    assert isinstance(out, np.ndarray) and out.shape == (1000,)


def test_iht_restarts_return_the_best_training_residual():
    P = R.planted_network(in_features=20, width=5, nnz=20, n_train=2000, seed=0)
    fit = R.iht(P.X_train, P.y_train, nnz=20, width=5, steps=30, restarts=3, seed=0)
    res = fit.history["restart_residuals"]
    assert 1 <= len(res) <= 3 and fit.history["residual"][-1] == min(res)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(nnz=61), ValueError, r"nnz must be in \[1, 60\]"),
        (dict(nnz=0), ValueError, "nnz"),
        (dict(nnz=3, mode="lasso"), ValueError, "mode must be one of"),
        (dict(nnz=3, empty_neurons="drop"), ValueError, "empty_neurons must be one of"),
        (dict(nnz=3, steps=0), ValueError, "steps"),
        (dict(nnz=3, restarts=0), ValueError, "restarts"),
        (dict(nnz=2.5), TypeError, "nnz must be an integer"),
    ],
)
def test_iht_rejects_bad_parameters(kwargs, error, match):
    X, y = torch.randn(20, 6, dtype=torch.float64), torch.randn(20, dtype=torch.float64)
    with pytest.raises(error, match=match):
        R.iht(X, y, width=10, **kwargs)


def test_iht_rejects_bad_data():
    X, y = torch.randn(20, 6, dtype=torch.float64), torch.randn(20, dtype=torch.float64)
    with pytest.raises(ValueError, match="same number of samples, got 20 and 19"):
        R.iht(X, y[:19], nnz=3)
    Xn = X.clone()
    Xn[3, 2] = float("nan")
    with pytest.raises(ValueError, match=r"X contains 1 NaN"):
        R.iht(Xn, y, nnz=3)
    yn = y.clone()
    yn[0] = float("inf")
    with pytest.raises(ValueError, match=r"y contains \d+ NaN or infinite"):
        R.iht(X, yn, nnz=3)
    with pytest.raises(ValueError, match="X must be 2-D"):
        R.iht(X[:, 0], y, nnz=3)
    with pytest.raises(TypeError, match="X must be a torch.Tensor or numpy.ndarray"):
        R.iht(X.tolist(), y, nnz=3)


# ----------------------------------------------------------------------------- IMP baseline


def test_imp_baseline_reaches_exact_nnz_and_fits():
    P = R.planted_network(in_features=10, width=3, nnz=9, n_train=400, seed=0)
    fit = R.imp_baseline(P.X_train, P.y_train, nnz=9, width=6, alpha=0.5, epochs=200, lr=3e-2, seed=0)
    assert fit.nnz == 9
    from sparselab.pruning import effective_weight

    assert int((effective_weight(fit.model.fc1) != 0).sum()) == 9
    assert fit.model.fc1.bias is None and fit.model.out.bias is None
    assert len(fit.result.densities) == 1 + math.ceil(math.log(9 / 60) / math.log(0.5))
    pred = fit.predict(P.X_test.numpy())
    assert pred.shape == (1000,)
    baseline = metrics.psnr(P.y_test, np.full(1000, P.y_train.mean().item()))
    assert metrics.psnr(P.y_test, pred) > baseline + 3  # learnt something beyond the mean


def test_imp_baseline_classification_and_errors():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(120, 5, generator=g)
    y = (X[:, 0] > 0).long()
    fit = R.imp_baseline(X, y, nnz=4, width=4, epochs=40, task="classification", seed=0)
    assert fit.nnz == 4
    assert fit.predict(X).shape == (120, 2)
    with pytest.raises(ValueError, match=r"nnz must be in \[1, 20\]"):
        R.imp_baseline(X, y, nnz=21, width=4, task="classification")
    with pytest.raises(ValueError, match="alpha"):
        R.imp_baseline(X, y.float(), nnz=4, width=4, alpha=1.0)


# ----------------------------------------------------------------------------- metrics


def test_psnr_and_relative_error_by_hand():
    y = np.array([2.0, -4.0, 1.0, 0.0])
    pred = y + np.array([1.0, -1.0, 1.0, -1.0])  # MSE 1, peak 4
    assert metrics.psnr(y, pred) == pytest.approx(20 * math.log10(4.0))
    assert metrics.psnr(y, y) == math.inf
    assert metrics.relative_error(y, pred) == pytest.approx(2.0 / math.sqrt(21.0))
    with pytest.raises(ValueError, match="same shape"):
        metrics.psnr(y, pred[:3])
    with pytest.raises(ValueError, match="all zeros"):
        metrics.psnr(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        metrics.relative_error(y, np.array([np.nan, 0, 0, 0]))


def test_support_metrics_up_to_a_permutation_of_neurons():
    W = torch.zeros(3, 4, dtype=torch.float64)
    W[0, 1], W[1, 0], W[1, 3], W[2, 2] = 1.0, -2.0, 0.5, 3.0
    permuted = torch.zeros(5, 4, dtype=torch.float64)  # two extra empty neurons
    permuted[[4, 0, 2]] = W
    m = metrics.support_match(permuted, W, match="weights")
    assert m["precision"] == m["recall"] == m["f1"] == 1.0 and m["weight_error"] == 0.0
    assert list(m["permutation"]) == [4, 0, 2]
    wrong = permuted.clone()
    wrong[2, 2] = 0.0
    wrong[2, 0] = 3.0  # one entry moved to a wrong input
    m = metrics.support_match(wrong, W, match="weights")
    assert m["precision"] == pytest.approx(3 / 4) and m["recall"] == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="same trailing shape"):
        metrics.support_match(torch.zeros(3, 5), W, match="weights")


# ----------------------------------------------------------------------------- memory


def test_iht_state_grows_linearly_in_nnz_not_width():
    P = R.planted_network(in_features=16, width=8, nnz=16, n_train=300, seed=0)
    sizes = {}
    for s, p in [(8, 64), (16, 64), (32, 64), (16, 256)]:
        fit = R.iht(P.X_train, P.y_train, nnz=s, width=p, steps=2, mode="convex", seed=0)
        sizes[s, p] = fit.state_bytes
    # flat (8 B) + value (8 B) per entry, plus a 16-double generator and an 8-byte id per active neuron
    for (s, _), b in sizes.items():
        assert b <= s * (8 + 8 + 8 + 16 * 8)


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/clear_refs"), reason="needs Linux /proc")
def test_peak_memory_of_iht_grows_at_most_linearly_in_nnz_at_fixed_width():
    g = torch.Generator().manual_seed(0)
    n, d, width = 6000, 30, 128
    X = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randn(n, generator=g, dtype=torch.float64)
    peaks = {}
    for s in (50, 200, 800):
        _, peak, method = measure_peak_memory(
            R.iht, X, y, nnz=s, width=width, steps=2, refine_steps=2, mode="convex", seed=0
        )
        peaks[s] = peak
    assert method == "rss_hwm"
    # the support's columns A_S are n x s doubles: the peak must grow, but no faster than a few
    # n x s temporaries (8 bytes each) plus a constant
    per_entry = 8 * n
    assert peaks[800] > peaks[50] + 2 * per_entry * 100
    slope = (peaks[800] - peaks[200]) / 600
    assert slope <= 8 * per_entry
    assert peaks[800] <= peaks[50] + 8 * per_entry * 750 + (4 << 20)


def test_measure_peak_memory_sees_a_large_allocation():
    def allocate(m):
        t = torch.ones(m, dtype=torch.float64)
        return float(t.sum())

    result, peak, method = measure_peak_memory(allocate, 4_000_000)
    assert result == 4_000_000.0
    if method == "rss_hwm":
        assert 30e6 <= peak <= 40e6  # 32 MB tensor


def test_dead_empty_neurons_never_fire_and_naive_ones_are_linear():
    g = torch.Generator().manual_seed(3)
    X = torch.randn(50, 4, generator=g, dtype=torch.float64)
    op = R.LiftedReLUOperator(X, 3, seed=0)
    op.set_overrides(torch.tensor([1]), torch.tensor([[1.0], [0.0], [0.0], [0.0]], dtype=torch.float64))
    op.zero_empty = True
    gates = op.gates(torch.arange(3))
    assert gates[:, 0].all() and gates[:, 2].all()  # h = 0 and 1[X h >= 0]: always on, a linear unit
    assert torch.equal(gates[:, 1], X[:, 0] >= 0)
    op.dead_empty = True
    gates = op.gates(torch.arange(3))
    assert not gates[:, 0].any() and not gates[:, 2].any()
    assert torch.equal(op.dense()[:, :4], torch.zeros(50, 4, dtype=torch.float64))
