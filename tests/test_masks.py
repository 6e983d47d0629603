"""Tests of sparselab.masks: exact top-k counts, tie breaking, STE gradients, soft and sigmoid masks."""

from __future__ import annotations

import math
import re

import pytest
import torch
from conftest import DENSITIES, SHAPES, reference_topk, tie_free_scores

from sparselab import masks as M
from sparselab.thresholding import soft_threshold


# --------------------------------------------------------------------------- keep_count / topk_mask counts
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("density", DENSITIES)
def test_topk_mask_keeps_exactly_round_density_numel(shape, density):
    n = shape[0] * shape[1]
    expected_k = round(density * n)
    if expected_k == 0:
        with pytest.raises(ValueError, match="density"):
            M.keep_count(n, density)
        return
    k = M.keep_count(n, density)
    assert k == expected_k
    scores = torch.randn(shape, generator=torch.Generator().manual_seed(n))
    mask = M.topk_mask(scores, k)
    assert mask.dtype == torch.bool
    assert mask.shape == scores.shape
    assert int(mask.sum()) == k
    # Whatever the values (random floats may tie), the mask equals the stable-sort reference.
    assert torch.equal(mask, reference_topk(scores, k))


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (3, 5), (64, 33), (4, 5, 6)], ids=str)
@pytest.mark.parametrize("frac", [0.01, 0.3, 0.5, 0.99, 1.0])
def test_topk_mask_equals_reference_on_tie_free_scores(shape, frac):
    scores = tie_free_scores(shape, seed=sum(shape))
    n = scores.numel()
    k = max(1, round(frac * n))
    mask = M.topk_mask(scores, k)
    assert int(mask.sum()) == k
    assert torch.equal(mask, reference_topk(scores, k))
    # tie-free: the survivors are exactly the entries >= the k-th largest value
    kth = torch.sort(scores.flatten(), descending=True).values[k - 1]
    assert torch.equal(mask, scores >= kth)


def test_topk_mask_on_hand_example():
    scores = torch.tensor([[0.3, -1.0, 2.0], [5.0, 0.0, -0.2]])
    expected = torch.tensor([[True, False, True], [True, False, False]])
    assert torch.equal(M.topk_mask(scores, 3), expected)


@pytest.mark.parametrize("k", [1, 5, 17, 63, 64])
def test_topk_mask_all_equal_scores_keeps_lowest_flat_indices(k):
    scores = torch.zeros(8, 8)
    mask = M.topk_mask(scores, k)
    expected = torch.zeros(64, dtype=torch.bool)
    expected[:k] = True
    assert int(mask.sum()) == k
    assert torch.equal(mask.flatten(), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64])
@pytest.mark.parametrize("high", [2, 3, 5])
@pytest.mark.parametrize("k", [1, 7, 20, 33, 50, 99])
def test_topk_mask_with_many_ties_is_exact_and_deterministic(dtype, high, k):
    g = torch.Generator().manual_seed(100 * high + k)
    scores = torch.randint(0, high, (10, 10), generator=g).to(dtype)
    first = M.topk_mask(scores, k)
    second = M.topk_mask(scores.clone(), k)
    assert int(first.sum()) == k
    assert torch.equal(first, second)
    assert torch.equal(first, reference_topk(scores, k))
    # Every strictly larger score is kept, every strictly smaller one dropped, and among the
    # entries tied at the threshold value the kept ones precede (in flat order) the dropped ones.
    flat, fmask = scores.flatten(), first.flatten()
    tau = flat[fmask].min()
    assert bool(fmask[flat > tau].all()) and not bool(fmask[flat < tau].any())
    tied = (flat == tau).nonzero().squeeze(1)
    kept_tied = fmask[tied]
    n_kept = int(kept_tied.sum())
    assert bool(kept_tied[:n_kept].all()) and not bool(kept_tied[n_kept:].any())


def test_topk_mask_rejects_bad_k():
    scores = torch.randn(3, 4)
    for k in (0, -1, 13):
        with pytest.raises(ValueError, match="k must be in"):
            M.topk_mask(scores, k)


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, float("nan"), "0.5", True, None])
def test_keep_count_rejects_bad_density(bad):
    with pytest.raises((TypeError, ValueError), match="density"):
        M.keep_count(10, bad)


@pytest.mark.parametrize("numel", [1, 2, 3, 4, 7, 10, 33, 1000])
def test_keep_count_error_states_a_minimum_density_that_works(numel):
    too_low = 0.2 / numel  # round(0.2) == 0
    with pytest.raises(ValueError, match="density") as info:
        M.keep_count(numel, too_low)
    found = re.search(r"at least ([0-9.eE+-]+)", str(info.value))
    assert found, str(info.value)
    minimum = float(found.group(1))
    assert M.keep_count(numel, minimum) >= 1  # the advertised minimum must itself be accepted


@pytest.mark.parametrize("numel,density", [(150, 0.07), (75, 0.14), (90, 0.35), (110, 0.55), (15, 0.1), (25, 0.1)])
def test_keep_count_is_python_round_of_the_product(numel, density):
    # k = round(density * numel) exactly as written, binary noise included (0.07 * 150 = 10.500000000000002 -> 11)
    assert M.keep_count(numel, density) == round(density * numel)


def test_keep_count_uses_round_half_to_even():
    # 0.5 * 5 = 2.5 -> 2 and 0.5 * 7 = 3.5 -> 4 under Python's round
    assert M.keep_count(5, 0.5) == 2
    assert M.keep_count(7, 0.5) == 4
    assert M.keep_count(1000, 1e-3) == 1
    with pytest.raises(ValueError, match="density"):
        M.keep_count(1000, 4e-4)


# --------------------------------------------------------------------------- large tensors
# On CPU, tensors of 8 * 8192 entries and more take a sampled-bracket path to the threshold;
# the mask must stay exact there, ties included.
def _large_scores(kind, n, g):
    if kind == "randn":
        return torch.randn(n, generator=g)
    if kind == "ties":
        return torch.randint(0, 4, (n,), generator=g).float()
    if kind == "mostly_zero":  # 1% distinct positives among zeros
        return torch.where(torch.rand(n, generator=g) < 0.01, 1 + torch.rand(n, generator=g), torch.zeros(n))
    if kind == "heavy_f64":
        return torch.randn(n, generator=g, dtype=torch.float64) ** 7
    raise AssertionError(kind)


@pytest.mark.parametrize("shape", [(65536,), (256, 257), (64, 32, 50)], ids=str)
@pytest.mark.parametrize("kind", ["randn", "ties", "mostly_zero", "heavy_f64"])
def test_topk_mask_exact_on_large_tensors(shape, kind):
    n = math.prod(shape)
    g = torch.Generator().manual_seed(n)
    scores = _large_scores(kind, n, g).view(shape)
    for k in (1, 2, 7, n // 100, n // 2, n - n // 100, n - 2, n - 1):
        mask = M.topk_mask(scores, k)
        assert int(mask.sum()) == k, k
        assert torch.equal(mask, reference_topk(scores, k)), k


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32])
@pytest.mark.parametrize(
    "k_of_n",
    [lambda n: 1, lambda n: 2, lambda n: n // 2, lambda n: n - 2, lambda n: n - 1],
    ids=["1", "2", "half", "n-2", "n-1"],
)
def test_topk_mask_exact_on_large_integer_scores(dtype, k_of_n):
    n = 65536
    scores = torch.randint(0, 5, (256, 256), generator=torch.Generator().manual_seed(1)).to(dtype)
    k = k_of_n(n)
    mask = M.topk_mask(scores, k)
    assert int(mask.sum()) == k
    assert torch.equal(mask, reference_topk(scores, k))


@pytest.mark.parametrize("path", ["numpy", "torch"])
@pytest.mark.parametrize("kind", ["randn", "ties", "mostly_zero"])
def test_topk_mask_both_selection_paths_are_exact(monkeypatch, path, kind):
    # The CPU path selects with NumPy; the accelerator path (kthvalue + cumsum tie-break, no host sync)
    # is forced here on CPU so that it is tested too.
    if path == "torch":
        monkeypatch.setattr(M, "_numpy_ok", lambda flat: False)
    g = torch.Generator().manual_seed(7)
    for n in (16, 131, 4096):
        scores = _large_scores(kind, n, g)
        for k in sorted({1, 2, 3, n // 7, n // 3, n // 2, n - n // 5, n - 3, n - 1}):
            mask = M.topk_mask(scores, k)
            assert torch.equal(mask, reference_topk(scores, k)), (n, k)
            assert float(M.topk_threshold(scores, k)) == float(torch.sort(scores, descending=True).values[k - 1])


# --------------------------------------------------------------------------- straight-through estimator
def _ste_setup(straight_through, dtype=torch.float64):
    g = torch.Generator().manual_seed(3)
    weight = torch.randn(6, 5, generator=g, dtype=dtype, requires_grad=True)
    scores = torch.randn(6, 5, generator=g, dtype=dtype, requires_grad=True)
    C = torch.randn(6, 5, generator=g, dtype=dtype)
    k = 11
    w_eff = M.hard_mask(weight, scores, k, straight_through=straight_through)
    return weight, scores, C, k, w_eff


def test_hard_mask_forward_is_weight_times_topk():
    weight, scores, C, k, w_eff = _ste_setup(True)
    mask = reference_topk(scores, k)
    assert torch.equal(w_eff, weight.detach() * mask)
    assert int((w_eff != 0).sum()) == k


def test_straight_through_gradients_are_G_times_W_and_dense_G():
    weight, scores, C, k, w_eff = _ste_setup(True)
    (C * w_eff).sum().backward()  # L = sum(C * W_eff)  =>  G = dL/dW_eff = C
    assert torch.equal(scores.grad, C * weight.detach())
    assert torch.equal(weight.grad, C)  # dense: pruned weights keep learning


def test_straight_through_with_masked_weight_gradient_gives_G_times_M():
    weight, scores, C, k, _ = _ste_setup(True)
    w_eff = M.hard_mask(weight, scores, k, dense_weight_grad=False)
    (C * w_eff).sum().backward()
    mask = reference_topk(scores, k).to(weight.dtype)
    assert torch.equal(scores.grad, C * weight.detach())
    assert torch.equal(weight.grad, C * mask)


def test_hard_mask_accepts_precomputed_mask():
    weight, scores, C, k, _ = _ste_setup(True)
    mask = reference_topk(scores, k)
    assert torch.equal(M.hard_mask(weight, scores, k, mask=mask), M.hard_mask(weight, scores, k))


def test_hard_mask_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="scores must have the shape of weight"):
        M.hard_mask(torch.randn(3, 4), torch.randn(4, 3), 2)


def test_without_straight_through_scores_get_no_gradient():
    weight, scores, C, k, w_eff = _ste_setup(False)
    (C * w_eff).sum().backward()
    mask = reference_topk(scores, k).to(weight.dtype)
    assert scores.grad is None
    assert torch.equal(weight.grad, C * mask)


# --------------------------------------------------------------------------- soft thresholding
def test_soft_threshold_matches_hand_computation():
    w = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    expected = torch.tensor([-2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0])
    assert torch.equal(soft_threshold(w, 1.0), expected)
    assert torch.equal(soft_threshold(w, 0.25), torch.tensor([-2.75, -0.75, -0.25, 0.0, 0.25, 0.75, 2.75]))
    assert torch.equal(soft_threshold(w, 0.0), w)


def test_soft_threshold_gradients_by_hand():
    w = torch.tensor([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0], dtype=torch.float64)
    tau = torch.tensor(1.0, dtype=torch.float64)
    jac_w, jac_tau = torch.autograd.functional.jacobian(soft_threshold, (w, tau))
    # d/dtau: -sign(W) on survivors (|W| > tau), 0 elsewhere
    assert torch.equal(jac_tau, torch.tensor([1.0, 0, 0, 0, 0, 0, -1.0], dtype=torch.float64))
    # d/dW: identity on survivors, 0 on the zeroed entries
    assert torch.equal(jac_w, torch.diag(torch.tensor([1.0, 0, 0, 0, 0, 0, 1.0], dtype=torch.float64)))


def _distinct_magnitudes(n, seed):
    g = torch.Generator().manual_seed(seed)
    mags = (torch.randperm(n, generator=g) + 1).double() / n  # distinct, in (0, 1]
    signs = torch.where(torch.rand(n, generator=g, dtype=torch.float64) < 0.5, -1.0, 1.0)
    return (signs * mags).view(-1)


@pytest.mark.parametrize("tau", [0.0, 0.1, 0.37, 0.9, 1.5])
def test_soft_mask_in_training_is_the_soft_threshold_at_tau_with_no_budget(tau):
    w = _distinct_magnitudes(20, seed=3).view(4, 5)
    t = torch.tensor(tau, dtype=torch.float64, requires_grad=True)
    out = M.soft_mask(w, t)
    assert torch.equal(out, soft_threshold(w, tau))
    survivors = w.abs() > tau
    assert int((out != 0).sum()) == int(survivors.sum())  # the density is set by tau alone
    assert M.soft_density(w, tau) == int(survivors.sum()) / 20
    out.sum().backward()  # d/dtau sum S_tau(W) = -sum_{|W| > tau} sign(W)
    assert float(t.grad) == pytest.approx(float(-torch.sign(w)[survivors].sum()))


def test_soft_mask_threshold_gets_a_nonzero_gradient_from_a_loss():
    g = torch.Generator().manual_seed(0)
    W = torch.randn(6, 7, generator=g, dtype=torch.float64)
    target = torch.randn(6, 7, generator=g, dtype=torch.float64)
    t = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
    ((M.soft_mask(W, t) - target) ** 2).sum().backward()
    survivors = W.abs() > 0.2
    expected = (2 * (soft_threshold(W, 0.2) - target) * -torch.sign(W))[survivors].sum()
    assert float(t.grad) != 0.0
    assert float(t.grad) == pytest.approx(float(expected), rel=1e-12)


@pytest.mark.parametrize("k", [1, 4, 10, 19, 20])
@pytest.mark.parametrize("where", ["below", "above"])
def test_soft_mask_export_keeps_exactly_k_largest_magnitudes(k, where):
    w = _distinct_magnitudes(20, seed=k).view(4, 5)
    mags = torch.sort(w.abs().flatten(), descending=True).values
    floor = float(mags[k]) if k < 20 else 0.0  # |W|_(k+1)
    tau = 0.5 * floor if where == "below" else floor + 0.5 * (1.0 - floor) + 1e-3
    out = M.soft_mask(w, torch.tensor(tau, dtype=torch.float64), k)
    keep = reference_topk(w.abs(), k)
    assert int((out != 0).sum()) == k  # distinct magnitudes: exactly k survive whatever tau
    assert torch.equal(out != 0, keep)
    shrink = min(tau, floor)  # the learned tau, capped by the budget's floor
    assert torch.equal(out, keep.double() * soft_threshold(w, shrink))


def test_soft_mask_export_breaks_ties_to_the_lower_index_and_shrinks_tied_entries():
    w = torch.tensor([[1.0, -1.0, 1.0], [0.5, -0.5, 0.2]])
    assert torch.equal(M.topk_mask(w.abs(), 2), torch.tensor([[True, True, False], [False, False, False]]))
    assert torch.equal(M.soft_mask(w, torch.tensor(0.0), 2), torch.tensor([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]]))
    assert torch.equal(M.soft_mask(w, torch.tensor(0.25), 2), torch.tensor([[0.75, -0.75, 0.0], [0.0, 0.0, 0.0]]))
    # tau above the floor |W|_(3) = 1.0: the two kept entries tie with the floor and are shrunk to 0
    assert torch.equal(M.soft_mask(w, torch.tensor(2.0), 2), torch.zeros_like(w))


def test_soft_mask_export_at_full_density_does_not_shrink():
    w = _distinct_magnitudes(12, seed=1).view(3, 4)
    for tau in (0.0, 0.3):
        assert torch.equal(M.soft_mask(w, torch.tensor(tau, dtype=torch.float64), 12), w)


@pytest.mark.parametrize("k", [0, -1, 13])
def test_soft_mask_rejects_a_budget_outside_1_to_n(k):
    with pytest.raises(ValueError, match=r"k must be in \[1, 12\]"):
        M.soft_mask(torch.randn(3, 4), torch.tensor(0.1), k)


def test_str_threshold_is_the_sigmoid_of_the_logit():
    s = torch.tensor([-5.0, 0.0, 3.0], dtype=torch.float64, requires_grad=True)
    tau = M.str_threshold(s)
    assert torch.allclose(tau, 1 / (1 + torch.exp(-s.detach())), rtol=1e-15)
    tau.sum().backward()
    assert torch.allclose(s.grad, tau.detach() * (1 - tau.detach()), rtol=1e-15)


def test_soft_density_surrogate_tends_to_the_density_as_beta_shrinks():
    g = torch.Generator().manual_seed(2)
    W = torch.randn(40, 50, generator=g, dtype=torch.float64)
    tau = torch.tensor(0.8, dtype=torch.float64)
    exact = M.soft_density(W, tau)
    gaps = [abs(float(M.soft_density_surrogate(W, tau, beta)) - exact) for beta in (0.2, 0.05, 0.005, 1e-5)]
    assert gaps == sorted(gaps, reverse=True)
    assert gaps[-1] < 1e-3


@pytest.mark.parametrize("target,direction", [(0.05, "up"), (0.9, "down")])
def test_soft_density_penalty_moves_tau_towards_the_target_density(target, direction):
    g = torch.Generator().manual_seed(4)
    W = torch.randn(30, 30, generator=g, dtype=torch.float64)
    t = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)  # density ~0.62 for a standard normal
    penalty = M.soft_density_penalty(W, t, target, strength=2.0, beta=0.05)
    rho = M.soft_density_surrogate(W, t.detach(), 0.05)
    assert float(penalty) == pytest.approx(2.0 * float(((rho - target) / target) ** 2), rel=1e-12)
    penalty.backward()
    # gradient descent on tau raises it while the layer is denser than the target, lowers it while sparser
    assert (float(t.grad) < 0) if direction == "up" else (float(t.grad) > 0)


@pytest.mark.parametrize("bad", [{"target": 0.0}, {"target": 1.5}, {"strength": -1.0}, {"beta": 0.0}])
def test_soft_density_penalty_rejects_bad_parameters(bad):
    args = {"target": 0.1, "strength": 1.0, "beta": 0.05, **bad}
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        M.soft_density_penalty(torch.randn(4, 4), torch.tensor(0.1), args.pop("target"), **args)


# --------------------------------------------------------------------------- sigmoid relaxation
@pytest.mark.parametrize("shape,k", [((10, 10), 10), ((10, 10), 50), ((7, 3), 1), ((7, 3), 20), ((5, 40), 37)])
def test_sigmoid_mask_collapses_to_topk(shape, k):
    scores = tie_free_scores(shape, seed=k, dtype=torch.float64)
    hard = M.topk_mask(scores, k)
    ones = torch.ones(shape, dtype=torch.float64)
    diffs = []
    for T in (1.0, 0.1, 0.01, 1e-3):
        relaxed = M.sigmoid_mask(ones, scores, k, T)
        assert relaxed.shape == shape
        assert bool(((relaxed >= 0) & (relaxed <= 1)).all())
        assert torch.equal(relaxed > 0.5, hard)  # the entries above 1/2 are exactly the top-k
        diffs.append(float((relaxed - hard.double()).abs().max()))
    assert all(a > b for a, b in zip(diffs, diffs[1:])), diffs
    assert diffs[-1] < 1e-3


def test_sigmoid_mask_hand_computation():
    scores = torch.tensor([0.0, 3.0, 1.0, 2.0], dtype=torch.float64)
    weight = torch.tensor([2.0, -1.0, 0.5, 4.0], dtype=torch.float64)
    # k = 2: kept scores {3, 2}, midpoint between 2nd (2) and 3rd (1) largest = 1.5
    sd = math.sqrt(sum((s - 1.5) ** 2 for s in (0, 3, 1, 2)) / 3)  # unbiased std of the scores
    T = 0.5
    expected = torch.tensor(
        [w / (1 + math.exp(-(s - 1.5) / (T * sd))) for w, s in zip(weight.tolist(), scores.tolist())],
        dtype=torch.float64,
    )
    assert torch.allclose(M.sigmoid_mask(weight, scores, 2, T), expected, rtol=1e-12, atol=0)


def test_sigmoid_mask_with_every_entry_kept_is_identity():
    w = torch.randn(3, 4)
    assert torch.equal(M.sigmoid_mask(w, torch.randn(3, 4), 12, 0.5), w)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_sigmoid_mask_rejects_bad_temperature(bad):
    with pytest.raises(ValueError, match="temperature"):
        M.sigmoid_mask(torch.ones(2, 2), torch.randn(2, 2), 2, bad)


# --------------------------------------------------------------------------- temperature schedule
@pytest.mark.parametrize("epochs", [2, 3, 10, 57])
@pytest.mark.parametrize("start,end", [(1.0, 0.01), (5.0, 0.5), (2.0, 1e-4)])
def test_temperature_schedule_endpoints_and_monotone(epochs, start, end):
    temps = [M.temperature_schedule(e, epochs, start, end) for e in range(epochs)]
    assert temps[0] == pytest.approx(start, rel=1e-12)
    assert temps[-1] == pytest.approx(end, rel=1e-12)
    assert all(a > b for a, b in zip(temps, temps[1:]))
    # geometric: consecutive ratios are all (end/start)^(1/(E-1))
    ratio = (end / start) ** (1 / (epochs - 1))
    for a, b in zip(temps, temps[1:]):
        assert b / a == pytest.approx(ratio, rel=1e-9)


def test_temperature_schedule_midpoint_is_geometric_mean():
    assert M.temperature_schedule(1, 3, 1.0, 0.01) == pytest.approx(0.1, rel=1e-12)


@pytest.mark.parametrize(
    "epoch,epochs,name",
    [(-1, 5, "epoch"), (5, 5, "epoch"), (7, 5, "epoch"), (1.5, 5, "epoch"), (0, 0, "epochs"), (0, 2.0, "epochs")],
)
def test_temperature_schedule_rejects_bad_epochs(epoch, epochs, name):
    with pytest.raises((TypeError, ValueError), match=name):
        M.temperature_schedule(epoch, epochs)


@pytest.mark.parametrize("start,end,name", [(0.0, 0.01, "start"), (-1.0, 0.01, "start"), (1.0, 0.0, "end")])
def test_temperature_schedule_rejects_bad_temperatures(start, end, name):
    with pytest.raises(ValueError, match=name):
        M.temperature_schedule(0, 5, start, end)


@pytest.mark.parametrize("k", [None, 9])
def test_soft_mask_dense_weight_gradient_routes_G_to_pruned_weights_only(k):
    g = torch.Generator().manual_seed(11)
    W0 = torch.randn(5, 6, generator=g, dtype=torch.float64)
    C = torch.randn(5, 6, generator=g, dtype=torch.float64)
    grads = {}
    for dense in (True, False):
        W = W0.clone().requires_grad_(True)
        tau = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
        out = M.soft_mask(W, tau, k, dense_weight_grad=dense)
        (C * out).sum().backward()
        grads[dense] = (out.detach(), W.grad.clone(), tau.grad)
    value_dense, grad_dense, tau_dense = grads[True]
    value_exact, grad_exact, tau_exact = grads[False]
    assert torch.equal(value_dense, value_exact)  # the forward value does not change
    kept = value_exact != 0
    if k is not None:
        assert int(kept.sum()) == k
    assert torch.equal(grad_exact, C * kept)  # exact prox derivative: 1 on kept, 0 on pruned
    assert torch.equal(grad_dense, C)  # straight through: G everywhere
    assert float(tau_dense) == float(tau_exact)  # the threshold's gradient does not depend on the estimator


@pytest.mark.parametrize("dense", [True, False])
def test_soft_mask_in_training_matches_autograd_of_soft_threshold(dense):
    g = torch.Generator().manual_seed(5)
    W0 = torch.randn(7, 9, generator=g, dtype=torch.float64)
    C = torch.randn(7, 9, generator=g, dtype=torch.float64)
    W1 = W0.clone().requires_grad_(True)
    t1 = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    out1 = M.soft_mask(W1, t1, dense_weight_grad=dense)
    (C * out1).sum().backward()
    W2 = W0.clone().requires_grad_(True)
    t2 = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    out2 = soft_threshold(W2, t2)
    (C * out2).sum().backward()
    assert torch.allclose(out1, out2, rtol=0, atol=1e-15)
    assert torch.allclose(t1.grad, t2.grad, rtol=1e-12, atol=1e-12)
    assert float(t1.grad) != 0.0
    expected_w = C if dense else W2.grad
    assert torch.allclose(W1.grad, expected_w, rtol=0, atol=1e-15)


@pytest.mark.parametrize("temperature,binary", [(1e-4, True), (0.5, False)])
def test_nonbinary_fraction_of_the_sigmoid_relaxation(temperature, binary):
    scores = tie_free_scores((20, 30), seed=1, dtype=torch.float64)
    values = M.sigmoid_mask_values(scores, 60, temperature)
    w = torch.randn(20, 30, dtype=torch.float64)
    assert torch.equal(M.sigmoid_mask(w, scores, 60, temperature), w * values)
    frac = M.nonbinary_fraction(values)
    expected = float(((values > 0.01) & (values < 0.99)).sum()) / 600
    assert frac == expected
    assert (frac == 0.0) if binary else (frac > 0.5)


def test_nonbinary_fraction_counts_open_interval_only():
    values = torch.tensor([0.0, 0.01, 0.02, 0.5, 0.98, 0.99, 1.0, 0.995])
    assert M.nonbinary_fraction(values) == 3 / 8
    assert M.nonbinary_fraction(values, low=0.1, high=0.9) == 1 / 8
    with pytest.raises(ValueError, match="high"):
        M.nonbinary_fraction(values, low=0.5, high=0.2)


def test_sigmoid_mask_same_on_numpy_and_torch_selection_paths(monkeypatch):
    g = torch.Generator().manual_seed(4)
    W = torch.randn(9, 13, generator=g)
    S = torch.randn(9, 13, generator=g)
    for k in (1, 5, 58, 116):
        via_numpy = M.sigmoid_mask(W, S, k, 0.1)
        with monkeypatch.context() as m:
            m.setattr(M, "_numpy_ok", lambda flat: False)
            via_torch = M.sigmoid_mask(W, S, k, 0.1)
        assert torch.equal(via_numpy, via_torch), k
        assert int((via_numpy / W > 0.5).sum()) == k


def test_random_support_covers_every_row_and_counts_exactly():
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        s = M.random_support(6, 9, 10, g)
        assert s.shape == (6, 9) and s.dtype == torch.bool and int(s.sum()) == 10 and bool(s.any(1).all())
    g = torch.Generator().manual_seed(0)
    s = M.random_support(6, 9, 4, g)  # fewer entries than rows: no covering, still exactly nnz
    assert int(s.sum()) == 4
    a = M.random_support(5, 5, 7, torch.Generator().manual_seed(3))
    b = M.random_support(5, 5, 7, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="nnz"):
        M.random_support(2, 2, 5, torch.Generator())
