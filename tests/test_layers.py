"""Tests of sparselab.nn: SparseLinear as a drop-in nn.Linear, exact nnz, gradients, cache, SparseMLP."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import DENSITIES, SHAPES, reference_topk
from torch import nn

from sparselab import SparseLinear, SparseMLP, sparse_layers
from sparselab import masks as M

KINDS = ["hard", "soft", "sigmoid"]


# --------------------------------------------------------------------------- exact survivor counts
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("kind", KINDS)
def test_nnz_is_round_density_numel(shape, density, kind):
    out_features, in_features = shape
    k = round(density * out_features * in_features)
    if k == 0:
        with pytest.raises(ValueError, match="density"):
            SparseLinear(in_features, out_features, density=density, mask=kind)
        return
    layer = SparseLinear(in_features, out_features, density=density, mask=kind)
    assert layer.k == k
    assert layer.mask().shape == (out_features, in_features)
    assert layer.mask().dtype == torch.bool
    assert layer.nnz == k
    scores = layer.weight.abs() if kind == "soft" else layer.scores  # soft exports the top-k magnitudes
    assert torch.equal(layer.mask(), reference_topk(scores, k))
    assert layer.density == pytest.approx(k / (out_features * in_features))
    assert layer.sparsity == pytest.approx(1 - k / (out_features * in_features))
    # in evaluation the effective weight keeps exactly the exported mask (the weights are continuous: no ties)
    layer.eval()
    assert torch.equal(layer.effective_weight() != 0, layer.mask())


# --------------------------------------------------------------------------- straight-through gradient
def test_layer_straight_through_gradient_equals_G_times_W():
    layer = SparseLinear(5, 4, density=0.4, mask="hard", dtype=torch.float64)
    C = torch.randn(4, 5, dtype=torch.float64)
    (C * layer.effective_weight()).sum().backward()  # G = C
    mask = reference_topk(layer.scores, layer.k).double()
    assert torch.equal(layer.scores.grad, C * layer.weight.detach())
    assert torch.equal(layer.weight.grad, C)  # dense weight gradient by default
    layer.zero_grad(set_to_none=True)
    layer.dense_weight_grad = False
    (C * layer.effective_weight()).sum().backward()
    assert torch.equal(layer.scores.grad, C * layer.weight.detach())
    assert torch.equal(layer.weight.grad, C * mask)


def test_layer_straight_through_gradient_through_forward():
    layer = SparseLinear(5, 4, density=0.4, mask="hard", dtype=torch.float64, dense_weight_grad=False)
    x = torch.randn(9, 5, dtype=torch.float64)
    R = torch.randn(9, 4, dtype=torch.float64)
    (layer(x) * R).sum().backward()
    G = R.T @ x  # dL/dW_eff for L = sum(R * (x W_eff^T + b))
    mask = reference_topk(layer.scores, layer.k).double()
    assert torch.allclose(layer.scores.grad, G * layer.weight.detach(), rtol=1e-12, atol=1e-12)
    assert torch.allclose(layer.weight.grad, G * mask, rtol=1e-12, atol=1e-12)
    assert torch.equal(layer.weight.grad[~mask.bool()], torch.zeros(int((~mask.bool()).sum()), dtype=torch.float64))
    assert torch.allclose(layer.bias.grad, R.sum(0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("optimizer", [torch.optim.Adam, torch.optim.SGD])
def test_without_straight_through_scores_and_mask_never_move(optimizer):
    layer = SparseLinear(6, 5, density=0.3, mask="hard", straight_through=False)
    scores0, mask0, weight0 = layer.scores.detach().clone(), layer.mask(), layer.weight.detach().clone()
    opt = optimizer(layer.parameters(), lr=0.1)
    x = torch.randn(16, 6)
    for _ in range(3):
        opt.zero_grad()
        layer(x).pow(2).sum().backward()
        assert layer.scores.grad is None
        opt.step()
    assert torch.equal(layer.scores, scores0)
    assert torch.equal(layer.mask(), mask0)
    # only the surviving weights were trained
    changed = layer.weight.detach() != weight0
    assert not bool(changed[~mask0].any())
    assert bool(changed[mask0].all())


# --------------------------------------------------------------------------- drop-in for nn.Linear
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("training", [True, False])
def test_dense_layer_matches_nn_linear(kind, training):
    ref = nn.Linear(7, 3)
    layer = SparseLinear(7, 3, density=1.0, mask=kind)
    with torch.no_grad():
        layer.weight.copy_(ref.weight)
        layer.bias.copy_(ref.bias)
    layer.train(training)
    x = torch.randn(11, 7)
    assert torch.equal(layer(x), ref(x))
    assert layer.nnz == 21


def test_bias_false():
    layer = SparseLinear(6, 4, bias=False, density=0.5)
    assert layer.bias is None
    assert {name for name, _ in layer.named_parameters()} == {"weight", "scores"}
    x = torch.randn(3, 6)
    expected = x @ (layer.weight * reference_topk(layer.scores, layer.k)).T
    assert torch.allclose(layer(x), expected, rtol=1e-6, atol=1e-6)
    assert torch.equal(layer(x), F.linear(x, layer.weight * layer.mask()))


@pytest.mark.parametrize("kind", KINDS)
def test_dtype_float64_is_honoured(kind):
    layer = SparseLinear(5, 3, density=0.5, mask=kind, dtype=torch.float64)
    for name, p in list(layer.named_parameters()) + list(layer.named_buffers()):
        assert p.dtype == torch.float64, name
    y = layer(torch.randn(4, 5, dtype=torch.float64))
    assert y.dtype == torch.float64 and y.shape == (4, 3)


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu"), "meta"], ids=str)
def test_device_is_honoured(device):
    layer = SparseLinear(5, 3, density=0.5, device=device)
    expected = torch.device(device).type
    for name, p in list(layer.named_parameters()) + list(layer.named_buffers()):
        assert p.device.type == expected, name


@pytest.mark.parametrize(
    "kind,names",
    [
        ("hard", {"weight", "scores", "bias"}),
        ("sigmoid", {"weight", "scores", "bias"}),
        ("soft", {"weight", "threshold", "bias"}),
    ],
)
def test_parameter_names(kind, names):
    layer = SparseLinear(4, 3, density=0.5, mask=kind)
    assert {name for name, _ in layer.named_parameters()} == names
    assert layer.weight.shape == (3, 4)
    assert layer.bias.shape == (3,)
    if kind == "soft":
        assert layer.threshold.shape == () and float(layer.threshold.detach()) == -5.0  # the logit s0
        assert float(layer.tau()) == pytest.approx(1 / (1 + math.exp(5.0)))
        assert layer.scores is None
    else:
        assert layer.scores.shape == (3, 4)
        assert layer.threshold is None


@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_round_trip(kind):
    torch.manual_seed(1)
    src = SparseLinear(9, 6, density=0.3, mask=kind, temperature=0.3)
    with torch.no_grad():  # move the parameters away from their initial values
        for p in src.parameters():
            p.add_(0.1 * torch.randn_like(p))
        if kind == "soft":
            src.threshold.fill_(0.05)
    torch.manual_seed(2)
    dst = SparseLinear(9, 6, density=0.3, mask=kind)
    x = torch.randn(5, 9)
    stale = dst.mask()  # fill dst's cache before loading
    dst.load_state_dict(src.state_dict())
    assert set(dst.state_dict()) == set(src.state_dict())
    for name, t in src.state_dict().items():
        assert torch.equal(dst.state_dict()[name], t), name
    assert torch.equal(dst.mask(), src.mask())
    assert not torch.equal(stale, dst.mask())
    for mode in (True, False):
        src.train(mode)
        dst.train(mode)
        assert torch.equal(dst(x), src(x))


@pytest.mark.parametrize(
    "shape", [(1, 7), (7, 1), (3, 5), (5, 7), (64, 33), (128, 256)], ids=lambda s: f"{s[0]}x{s[1]}"
)
@pytest.mark.parametrize("sparsity,density", [(0.9, 0.1), (0.5, 0.5), (0.95, 0.05), (0.99, 0.01), (0.7, 0.3)])
def test_sparsity_is_one_minus_density(shape, sparsity, density):
    out_features, in_features = shape
    k = round(density * out_features * in_features)
    if k == 0:
        for kwargs in ({"density": density}, {"sparsity": sparsity}):
            with pytest.raises(ValueError, match="density"):
                SparseLinear(in_features, out_features, **kwargs)
        return
    by_density = SparseLinear(in_features, out_features, density=density)
    by_sparsity = SparseLinear(in_features, out_features, sparsity=sparsity)
    assert by_sparsity.k == by_density.k == k
    assert by_sparsity.nnz == by_density.nnz == k
    assert by_sparsity.target_density == pytest.approx(density, abs=1e-12)


def test_density_and_sparsity_together_raise():
    with pytest.raises(ValueError, match="density.*sparsity"):
        SparseLinear(4, 4, density=0.5, sparsity=0.5)


def test_default_is_dense():
    layer = SparseLinear(4, 5)
    assert layer.k == 20 and layer.nnz == 20


@pytest.mark.parametrize("bad", ["bogus", "Hard", "", None])
def test_unknown_mask_kind_raises(bad):
    with pytest.raises(ValueError, match="mask"):
        SparseLinear(4, 4, mask=bad)


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, float("nan"), "0.5", True])
def test_bad_density_raises(bad):
    with pytest.raises((TypeError, ValueError), match="density"):
        SparseLinear(4, 4, density=bad)


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, "0.5", True])
def test_bad_sparsity_raises(bad):
    with pytest.raises((TypeError, ValueError), match="sparsity"):
        SparseLinear(4, 4, sparsity=bad)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"in_features": 0}, "in_features"),
        ({"out_features": 0}, "out_features"),
        ({"in_features": 2.0}, "in_features"),
        ({"temperature": 0.0}, "temperature"),
    ],
)
def test_bad_sizes_raise(kwargs, name):
    args = {"in_features": 4, "out_features": 3, **kwargs}
    with pytest.raises((TypeError, ValueError), match=name):
        SparseLinear(**args)


# --------------------------------------------------------------------------- sigmoid layer
def test_sigmoid_layer_eval_forward_is_exact_topk():
    layer = SparseLinear(8, 6, density=0.25, mask="sigmoid", temperature=0.7).eval()
    x = torch.randn(10, 8)
    expected = F.linear(x, layer.weight * M.topk_mask(layer.scores, layer.k), layer.bias)
    assert torch.equal(layer(x), expected)
    assert int((layer.effective_weight() != 0).sum()) == layer.k


def test_sigmoid_layer_train_forward_uses_relaxed_mask_at_its_temperature():
    layer = SparseLinear(8, 6, density=0.25, mask="sigmoid").train()
    layer.set_temperature(0.25)
    assert float(layer.temperature) == 0.25
    x = torch.randn(10, 8)
    expected = F.linear(x, M.sigmoid_mask(layer.weight, layer.scores, layer.k, 0.25), layer.bias)
    assert torch.equal(layer(x), expected)
    # the relaxed weight is dense: the masked-out weights still contribute
    assert int((layer.effective_weight() != 0).sum()) > layer.k
    with pytest.raises(ValueError, match="temperature"):
        layer.set_temperature(0.0)


# --------------------------------------------------------------------------- mask cache
def test_mask_cache_follows_in_place_score_changes():
    layer = SparseLinear(10, 4, density=0.3)
    before = layer.mask()
    x = torch.randn(3, 10)
    layer(x)  # populate the cache through forward too
    with torch.no_grad():
        layer.scores.mul_(-1)
    after = layer.mask()
    assert torch.equal(after, reference_topk(layer.scores, layer.k))
    assert not torch.equal(after, before)
    assert torch.equal(layer(x), F.linear(x, layer.weight * after, layer.bias))


def test_mask_cache_follows_optimizer_steps():
    layer = SparseLinear(10, 4, density=0.3)
    opt = torch.optim.SGD(layer.parameters(), lr=10.0)
    x = torch.randn(8, 10)
    masks = [layer.mask()]
    for _ in range(3):
        opt.zero_grad()
        layer(x).pow(2).sum().backward()
        opt.step()
        assert torch.equal(layer.mask(), reference_topk(layer.scores, layer.k))
        masks.append(layer.mask())
    assert any(not torch.equal(a, b) for a, b in zip(masks, masks[1:]))


def test_invalidate_mask_after_writes_through_data():
    # Writes through ``scores.data`` bypass the version counter the cache is keyed on; the layer
    # documents ``invalidate_mask()`` for them.
    layer = SparseLinear(10, 4, density=0.3)
    before = layer.mask()
    layer.scores.data.mul_(-1)
    layer.invalidate_mask()
    after = layer.mask()
    assert torch.equal(after, reference_topk(layer.scores, layer.k))
    assert not torch.equal(after, before)
    x = torch.randn(3, 10)
    assert torch.equal(layer(x), F.linear(x, layer.weight * after, layer.bias))
    layer.invalidate_mask()  # harmless when nothing changed
    assert torch.equal(layer.mask(), after)


def test_mask_cache_follows_load_state_dict_with_assign():
    layer = SparseLinear(10, 4, density=0.3)
    before = layer.mask()
    state = {k: v.clone() for k, v in layer.state_dict().items()}
    state["scores"] = -state["scores"]
    layer.load_state_dict(state, assign=True)
    assert torch.equal(layer.mask(), reference_topk(layer.scores, layer.k))
    assert not torch.equal(layer.mask(), before)


def test_mask_is_a_copy():
    layer = SparseLinear(10, 4, density=0.3)
    m = layer.mask()
    m.fill_(False)
    assert layer.nnz == layer.k


# --------------------------------------------------------------------------- SparseMLP
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch,out", [(1, 1), (13, 3)])
def test_sparse_mlp_shape_and_structure(kind, batch, out):
    model = SparseMLP(12, 20, out, density=0.2, mask=kind)
    y = model(torch.randn(batch, 12))
    assert y.shape == (batch, out)
    layers = sparse_layers(model)
    assert len(layers) == 1
    name, layer = layers[0]
    assert name == "sparse" and layer is model.sparse
    assert (layer.in_features, layer.out_features, layer.mask_kind, layer.k) == (12, 20, kind, 48)
    assert sum(isinstance(m, SparseLinear) for m in model.modules()) == 1
    assert isinstance(model.out, nn.Linear) and model.out.weight.shape == (out, 20)


def test_sparse_mlp_forward_is_linear_relu_linear():
    model = SparseMLP(6, 8, 2, density=0.5).eval()
    x = torch.randn(4, 6)
    hidden = torch.relu(F.linear(x, model.sparse.weight * model.sparse.mask(), model.sparse.bias))
    assert torch.equal(model(x), F.linear(hidden, model.out.weight, model.out.bias))


def test_sparse_mlp_dtype():
    model = SparseMLP(6, 8, 2, density=0.5, dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in model.parameters())
    assert model(torch.randn(3, 6, dtype=torch.float64)).dtype == torch.float64


def test_sigmoid_temperature_round_trips_through_state_dict_and_drives_the_forward():
    torch.manual_seed(0)
    src = SparseLinear(6, 4, density=0.5, mask="sigmoid")
    src.set_temperature(0.05)
    dst = SparseLinear(6, 4, density=0.5, mask="sigmoid")
    assert float(dst.temperature) == 1.0
    dst.load_state_dict(src.state_dict())
    assert float(dst.temperature) == pytest.approx(0.05)
    x = torch.randn(3, 6)
    assert torch.equal(dst(x), src(x))  # training mode: the relaxed mask at T = 0.05 in both
    expected = F.linear(x, src.weight * M.sigmoid_mask(torch.ones_like(src.weight), src.scores, src.k, 0.05), src.bias)
    assert torch.allclose(dst(x), expected, atol=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        dst.set_temperature(0.0)


@pytest.mark.parametrize("mask", ["hard", "soft", "sigmoid"])
def test_forward_rejects_wrong_input_width_naming_in_features(mask):
    layer = SparseLinear(6, 4, density=0.5, mask=mask)
    with pytest.raises(ValueError, match="in_features=6"):
        layer(torch.randn(3, 5))
    assert layer(torch.randn(2, 7, 6)).shape == (2, 7, 4)  # leading batch dimensions are free, as in nn.Linear


# --------------------------------------------------------------------------- the soft mask learns its threshold
def _soft_layer(density=0.25, seed=0, **kw):
    torch.manual_seed(seed)
    return SparseLinear(12, 10, density=density, mask="soft", dtype=torch.float64, **kw)


def test_soft_layer_density_in_training_follows_the_learned_threshold():
    layer = _soft_layer()
    mags = layer.weight.detach().abs()
    for s in (-5.0, -3.0, -2.0, -1.0):
        with torch.no_grad():
            layer.threshold.fill_(s)
        tau = 1 / (1 + math.exp(-s))
        expected = int((mags > tau).sum())
        assert int((layer.effective_weight() != 0).sum()) == expected  # no budget in training
        assert layer.training_density() == expected / 120
    densities = []
    for s in (-6.0, -3.0, -2.0, -1.5):
        with torch.no_grad():
            layer.threshold.fill_(s)
        densities.append(layer.training_density())
    assert densities == sorted(densities, reverse=True) and densities[0] > densities[-1]


def test_soft_layer_threshold_receives_a_gradient_and_moves():
    layer = _soft_layer(threshold_init=-2.0)
    x = torch.randn(32, 12, dtype=torch.float64)
    y = torch.randn(32, 10, dtype=torch.float64)
    s0 = float(layer.threshold)
    opt = torch.optim.SGD([layer.threshold], lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        ((layer(x) - y) ** 2).mean().backward()
        assert layer.threshold.grad is not None and float(layer.threshold.grad) != 0.0
        opt.step()
    assert float(layer.threshold) != s0


@pytest.mark.parametrize("s", [-8.0, -2.0, 0.0, 4.0])
def test_soft_layer_export_keeps_exactly_k_whatever_the_threshold(s):
    layer = _soft_layer(density=0.3)
    with torch.no_grad():
        layer.threshold.fill_(s)
    assert layer.k == 36
    assert int(layer.mask().sum()) == 36 and layer.nnz == 36
    assert torch.equal(layer.mask(), reference_topk(layer.weight.abs(), 36))
    layer.eval()
    w = layer.effective_weight()
    assert torch.equal(w != 0, layer.mask())
    floor = float(torch.sort(layer.weight.detach().abs().flatten(), descending=True).values[36])
    shrink = min(float(layer.tau()), floor)
    assert torch.allclose(w, layer.mask() * (torch.sign(layer.weight) * (layer.weight.abs() - shrink)), atol=1e-15)


def test_soft_layer_export_ties_go_to_the_lower_flat_index():
    layer = SparseLinear(3, 2, density=0.5, mask="soft", bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, -1.0, 1.0], [1.0, -1.0, 0.2]]))
    assert torch.equal(layer.mask(), torch.tensor([[False, True, True], [True, False, False]]))


def test_soft_layer_state_dict_round_trip_keeps_threshold_and_export():
    layer = _soft_layer(threshold_init=-1.3)
    with torch.no_grad():
        layer.threshold.add_(0.4)
    other = _soft_layer(seed=9)
    other.load_state_dict(layer.state_dict())
    assert float(other.threshold) == float(layer.threshold) and float(other.tau()) == float(layer.tau())
    assert torch.equal(other.mask(), layer.mask())
    x = torch.randn(5, 12, dtype=torch.float64)
    for training in (True, False):
        layer.train(training)
        other.train(training)
        assert torch.equal(other(x), layer(x))


def test_tau_and_nonbinary_fraction_name_the_mask_kind_they_need():
    with pytest.raises(ValueError, match="mask='soft'"):
        SparseLinear(4, 3, density=0.5, mask="hard").tau()
    with pytest.raises(ValueError, match="mask='sigmoid'"):
        SparseLinear(4, 3, density=0.5, mask="soft").nonbinary_fraction()
    layer = SparseLinear(20, 10, density=0.3, mask="sigmoid", temperature=1e-5)
    assert layer.nonbinary_fraction() == 0.0
    layer.set_temperature(10.0)
    assert layer.nonbinary_fraction() > 0.9
