"""Tests of ButterflyLinear and MonarchLinear: drop-in square nn.Linear layers with structured weights."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.func import functional_call

from sparselab import factorization as BF
from sparselab.nn import ButterflyLinear, MonarchLinear

pytestmark = pytest.mark.usefixtures("one_thread")

F64 = torch.float64
ORDERS = ["balanced", "left_to_right", "right_to_left"]


def dense_forward(layer, x):
    """The nn.Linear equivalent: x W^T + b with W = dense_weight()."""
    W = layer.dense_weight()
    return x @ W.T + (0 if layer.bias is None else layer.bias)


def monarch_sizes():
    # (N, blocks, m, n): default sqrt(N) and explicit non-square splits
    return [
        (4, None, 2, 2),
        (16, None, 4, 4),
        (64, None, 8, 8),
        (8, 2, 2, 4),
        (12, 3, 3, 4),
        (12, 4, 4, 3),
        (7, 7, 7, 1),
    ]


# --------------------------------------------------------------------------- forward == x W^T + b
@pytest.mark.parametrize("N", [2, 4, 16, 64])
@pytest.mark.parametrize("init", ["orthogonal", "gaussian", "identity"])
@pytest.mark.parametrize("permutation", [None, "bit_reversal"])
@pytest.mark.parametrize("bias", [True, False])
def test_butterfly_forward_equals_dense(N, init, permutation, bias):
    layer = ButterflyLinear(N, bias=bias, dtype=F64, init=init, permutation=permutation, seed=3)
    x = torch.randn(7, N, dtype=F64)
    y = layer(x)
    assert y.shape == (7, N) and y.dtype == F64
    torch.testing.assert_close(y, dense_forward(layer, x), rtol=0, atol=1e-12)
    # the same as a real nn.Linear carrying the dense weight
    lin = nn.Linear(N, N, bias=bias, dtype=F64)
    with torch.no_grad():
        lin.weight.copy_(layer.dense_weight())
        if bias:
            lin.bias.copy_(layer.bias)
    torch.testing.assert_close(y, lin(x), rtol=0, atol=1e-12)


def test_butterfly_dense_weight_is_product_of_butterfly_factors_with_permutation():
    N = 16
    perm = torch.randperm(N, generator=torch.Generator().manual_seed(5))
    layer = ButterflyLinear(N, dtype=F64, init="gaussian", permutation=perm, seed=0)
    assert layer.permutation == "custom" and torch.equal(layer.perm, perm)
    factors = layer.factors()
    assert [tuple(f.shape) for f in factors] == [(1, 8, 2, 2), (2, 4, 2, 2), (4, 2, 2, 2), (8, 1, 2, 2)]
    assert all(f.data_ptr() == layer.twiddle[l].data_ptr() for l, f in enumerate(factors))  # views, not copies
    # each factor is Kronecker-sparse with 2N non-zeros on I ⊗ 1_{2x2} ⊗ I
    dense_factors = [BF.kronecker_dense(f) for f in factors]
    for D, S in zip(dense_factors, BF.butterfly_supports(N)):
        assert int((D != 0).sum()) == 2 * N
        assert not bool(D[~S].any())
    B = torch.linalg.multi_dot(dense_factors)
    P = torch.eye(N, dtype=F64)[perm]  # (P x)_j = x_{perm[j]}
    torch.testing.assert_close(layer.dense_weight(), B @ P, rtol=0, atol=1e-12)
    x = torch.randn(3, N, dtype=F64)
    torch.testing.assert_close(layer(x), x[:, perm] @ B.T + layer.bias, rtol=0, atol=1e-12)


@pytest.mark.parametrize("N, blocks, m, n", monarch_sizes())
@pytest.mark.parametrize("init", ["orthogonal", "gaussian", "identity"])
def test_monarch_forward_equals_dense(N, blocks, m, n, init):
    layer = MonarchLinear(N, dtype=F64, blocks=blocks, init=init, seed=2)
    assert (layer.blocks, layer.block_size) == (m, n)
    assert layer.left.shape == (n, m, m) and layer.right.shape == (m, n, n)
    x = torch.randn(5, N, dtype=F64)
    torch.testing.assert_close(layer(x), dense_forward(layer, x), rtol=0, atol=1e-12)
    # W = X Y with supp X = 1_{m x m} ⊗ I_n and supp Y = I_m ⊗ 1_{n x n}
    X = BF.kronecker_dense(layer.left.unsqueeze(0))
    Y = BF.kronecker_dense(layer.right.unsqueeze(1))
    assert not bool(X[~BF.kronecker_support(1, m, m, n)].any())
    assert not bool(Y[~BF.kronecker_support(m, n, n, 1)].any())
    torch.testing.assert_close(layer.dense_weight(), X @ Y, rtol=0, atol=1e-12)
    r, s, k, i = m - 1, 0, n - 1, m - 1  # spot-check the documented index maps
    assert X[r * n + k, s * n + k] == layer.left[k, r, s]
    assert Y[i * n + 0, i * n + n - 1] == layer.right[i, 0, n - 1]


# --------------------------------------------------------------------------- initialisations
@pytest.mark.parametrize("permutation", [None, "bit_reversal"])
def test_butterfly_orthogonal_and_identity_inits(permutation):
    N = 32
    W = ButterflyLinear(N, dtype=F64, init="orthogonal", permutation=permutation, seed=0).dense_weight().detach()
    torch.testing.assert_close(W @ W.T, torch.eye(N, dtype=F64), rtol=0, atol=1e-12)
    blocks = ButterflyLinear(N, dtype=F64, seed=0).twiddle.detach()
    dets = torch.linalg.det(blocks)
    assert torch.allclose(dets.abs(), torch.ones_like(dets), atol=1e-12)
    assert bool((dets > 0).any()) and bool((dets < 0).any())  # both rotations and reflections
    I = ButterflyLinear(N, dtype=F64, init="identity").dense_weight()
    assert torch.equal(I, torch.eye(N, dtype=F64))


def test_butterfly_gaussian_init_variance_preserves_norm():
    N = 1024
    layer = ButterflyLinear(N, dtype=F64, init="gaussian", bias=False, seed=0)
    tw = layer.twiddle.detach()
    assert tw.shape == (10, 512, 2, 2)
    assert tw.var().item() == pytest.approx(0.5, rel=0.03)  # 20480 N(0, 1/2) samples
    assert tw.mean().item() == pytest.approx(0.0, abs=0.02)
    # E||W x||^2 = ||x||^2: average over many independent layers on a fixed unit vector
    x = torch.randn(64, dtype=F64)
    x /= x.norm()
    ratios = [
        ButterflyLinear(64, dtype=F64, init="gaussian", bias=False, seed=s)(x).norm().item() ** 2 for s in range(400)
    ]
    assert sum(ratios) / len(ratios) == pytest.approx(1.0, abs=0.25)


def test_monarch_inits():
    W = MonarchLinear(12, blocks=3, dtype=F64, seed=0).dense_weight().detach()
    torch.testing.assert_close(W @ W.T, torch.eye(12, dtype=F64), rtol=0, atol=1e-12)
    assert torch.equal(MonarchLinear(16, dtype=F64, init="identity").dense_weight(), torch.eye(16, dtype=F64))
    g = MonarchLinear(256, blocks=8, dtype=F64, init="gaussian", seed=0)  # m = 8, n = 32
    assert g.left.detach().var().item() == pytest.approx(1 / 8, rel=0.05)
    assert g.right.detach().var().item() == pytest.approx(1 / 32, rel=0.05)


@pytest.mark.parametrize("cls", [ButterflyLinear, MonarchLinear])
def test_seeding_and_reset_parameters(cls):
    a = cls(16, seed=7)
    b = cls(16, seed=7)
    c = cls(16, seed=8)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    with torch.no_grad():
        for p in a.parameters():
            p.zero_()
    a.reset_parameters()  # seeded: the same values again
    assert all(torch.equal(v, sb[k]) for k, v in a.state_dict().items())
    # seed=None draws from the global RNG, like nn.Linear
    torch.manual_seed(123)
    d = cls(16)
    torch.manual_seed(123)
    e = cls(16)
    assert all(torch.equal(v, e.state_dict()[k]) for k, v in d.state_dict().items())
    state = torch.random.get_rng_state()
    d.reset_parameters()
    assert not torch.equal(state, torch.random.get_rng_state())
    assert not torch.equal(d.bias, e.bias)
    bound = 1 / math.sqrt(16)
    assert float(d.bias.detach().abs().max()) <= bound


# --------------------------------------------------------------------------- gradients
def test_butterfly_gradients_match_dense_equivalent():
    N = 16
    layer = ButterflyLinear(N, dtype=F64, init="gaussian", permutation="bit_reversal", seed=1)
    x = torch.randn(4, 3, N, dtype=F64, requires_grad=True)
    C = torch.randn(4, 3, N, dtype=F64)

    (layer(x) * C).sum().backward()
    gx, gtw, gb = x.grad.clone(), layer.twiddle.grad.clone(), layer.bias.grad.clone()
    x.grad = None
    layer.zero_grad(set_to_none=True)

    (dense_forward(layer, x) * C).sum().backward()
    torch.testing.assert_close(gx, x.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(gtw, layer.twiddle.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(gb, layer.bias.grad, rtol=0, atol=1e-12)
    # the input gradient is C W (nn.Linear), the bias gradient the sum of C
    torch.testing.assert_close(gx, C @ layer.dense_weight().detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(gb, C.sum((0, 1)), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "cls, kwargs",
    [(ButterflyLinear, {"permutation": "bit_reversal"}), (ButterflyLinear, {}), (MonarchLinear, {"blocks": 2})],
)
def test_gradcheck(cls, kwargs):
    layer = cls(8, dtype=F64, init="gaussian", seed=0, **kwargs)
    names = [n for n, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for _, p in layer.named_parameters())
    x = torch.randn(3, 8, dtype=F64, requires_grad=True)

    def f(x, *ps):
        return functional_call(layer, dict(zip(names, ps)), (x,))

    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-8)


def test_monarch_gradients_match_dense_equivalent():
    layer = MonarchLinear(12, blocks=3, dtype=F64, init="gaussian", seed=1)
    x = torch.randn(5, 12, dtype=F64, requires_grad=True)
    C = torch.randn(5, 12, dtype=F64)
    (layer(x) * C).sum().backward()
    grads = [x.grad.clone(), layer.left.grad.clone(), layer.right.grad.clone()]
    x.grad = None
    layer.zero_grad(set_to_none=True)
    (dense_forward(layer, x) * C).sum().backward()
    for g, h in zip(grads, [x.grad, layer.left.grad, layer.right.grad]):
        torch.testing.assert_close(g, h, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- from_dense / from_linear
@pytest.mark.parametrize("order", ORDERS)
def test_from_dense_hadamard_is_exact(order):
    N = 64
    H = BF.hadamard_matrix(N, normalized=True)
    b = torch.randn(N, dtype=F64)
    layer = ButterflyLinear.from_dense(H, b, order=order)
    assert layer.init_error < 1e-12 and layer.init_relative_error < 1e-13
    torch.testing.assert_close(layer.dense_weight(), H, rtol=0, atol=1e-13)
    x = torch.randn(10, N, dtype=F64)
    torch.testing.assert_close(layer(x), x @ H.T + b, rtol=0, atol=1e-12)
    assert torch.equal(layer.bias.detach(), b)
    assert "from_dense" in repr(layer)


@pytest.mark.parametrize("order", ORDERS)
def test_from_dense_recovers_permuted_butterfly(order):
    source = ButterflyLinear(32, dtype=F64, init="gaussian", permutation="bit_reversal", seed=4)
    W = source.dense_weight().detach()
    layer = ButterflyLinear.from_dense(W, permutation="bit_reversal", order=order)
    assert layer.init_relative_error < 1e-12
    assert torch.equal(layer.perm, BF.bit_reversal_permutation(32))
    torch.testing.assert_close(layer.dense_weight(), W, rtol=0, atol=1e-11)
    # without the permutation the same matrix is not a butterfly
    assert ButterflyLinear.from_dense(W, order=order).init_relative_error > 0.1


@pytest.mark.parametrize("order", ORDERS)
def test_from_dense_random_matches_butterfly_factorize(order):
    N = 32
    A = torch.randn(N, N, dtype=F64, generator=torch.Generator().manual_seed(0))
    res = BF.butterfly_factorize(A, order=order)
    layer = ButterflyLinear.from_dense(A, order=order)
    assert layer.init_error == pytest.approx(res.error, rel=1e-10)
    assert layer.init_relative_error == pytest.approx(res.relative_error, rel=1e-10)
    assert layer.init_error == pytest.approx(float(torch.linalg.norm(A - layer.dense_weight().detach())), rel=1e-10)
    assert 0.5 < layer.init_relative_error < 1.0  # 2NL = 320 of 1024 numbers: a rough fit
    torch.testing.assert_close(layer.dense_weight(), res.to_dense(), rtol=0, atol=1e-12)
    assert layer.bias is None


def test_from_linear_copies_and_keeps_dtype():
    H = BF.hadamard_matrix(16, normalized=True)
    lin = nn.Linear(16, 16, dtype=torch.float32)
    with torch.no_grad():
        lin.weight.copy_(H)
    layer = ButterflyLinear.from_linear(lin)
    assert layer.twiddle.dtype == torch.float32 and torch.equal(layer.bias, lin.bias)
    assert layer.init_relative_error < 1e-6
    x = torch.randn(4, 16)
    torch.testing.assert_close(layer(x), lin(x), rtol=1e-5, atol=1e-5)
    mon = MonarchLinear.from_linear(nn.Linear(16, 16, bias=False, dtype=F64))
    assert mon.bias is None and 0 < mon.init_relative_error < 1
    with pytest.raises(TypeError, match="linear"):
        ButterflyLinear.from_linear(nn.Conv1d(4, 4, 1))


@pytest.mark.parametrize("N, blocks, m, n", monarch_sizes())
def test_monarch_from_dense(N, blocks, m, n):
    source = MonarchLinear(N, blocks=blocks, dtype=F64, init="gaussian", seed=1)
    W = source.dense_weight().detach()
    exact = MonarchLinear.from_dense(W, blocks=blocks)
    assert exact.init_relative_error < 1e-12
    torch.testing.assert_close(exact.dense_weight(), W, rtol=0, atol=1e-12)
    A = torch.randn(N, N, dtype=F64, generator=torch.Generator().manual_seed(N))
    res = BF.monarch_project(A, blocks=blocks)
    layer = MonarchLinear.from_dense(A, torch.zeros(N, dtype=F64), blocks=blocks)
    assert layer.init_error == pytest.approx(res.error, rel=1e-10)
    assert layer.init_error == pytest.approx(float(torch.linalg.norm(A - layer.dense_weight().detach())), rel=1e-10)
    assert torch.equal(layer.bias.detach(), torch.zeros(N, dtype=F64))


# --------------------------------------------------------------------------- errors
def test_butterfly_size_errors():
    with pytest.raises(ValueError, match=r"in_features must be a power of two >= 2.*got 12; pad to 16.*MonarchLinear"):
        ButterflyLinear(12)
    with pytest.raises(ValueError, match="in_features.*got 1; pad to 2"):
        ButterflyLinear(1)
    with pytest.raises(ValueError, match="in_features.*got 0"):
        ButterflyLinear(0)
    with pytest.raises(TypeError, match="in_features"):
        ButterflyLinear(16.0)
    with pytest.raises(ValueError, match="out_features must equal in_features=16.*got out_features=32"):
        ButterflyLinear(16, 32)
    with pytest.raises(ValueError, match="init"):
        ButterflyLinear(16, init="xavier")
    with pytest.raises(ValueError, match="permutation"):
        ButterflyLinear(16, permutation="reverse")
    with pytest.raises(ValueError, match="permutation"):
        ButterflyLinear(4, permutation=torch.tensor([0, 1, 1, 2]))
    with pytest.raises(TypeError, match="permutation"):
        ButterflyLinear(4, permutation=torch.tensor([0.0, 1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="seed"):
        ButterflyLinear(16, seed=-1)
    with pytest.raises(ValueError, match="weight must be a square"):
        ButterflyLinear.from_dense(torch.randn(8, 16))
    with pytest.raises(ValueError, match="weight must be N x N with N a power of two.*MonarchLinear"):
        ButterflyLinear.from_dense(torch.randn(12, 12))
    with pytest.raises(ValueError, match="order"):
        ButterflyLinear.from_dense(torch.randn(8, 8), order="random")
    with pytest.raises(ValueError, match="bias must have shape"):
        ButterflyLinear.from_dense(torch.randn(8, 8), torch.zeros(4))
    layer = ButterflyLinear(8)
    with pytest.raises(ValueError, match="in_features=8"):
        layer(torch.randn(3, 16))
    with pytest.raises(ValueError, match="in_features=8"):
        layer(torch.tensor(1.0))


def test_monarch_size_errors():
    with pytest.raises(ValueError, match=r"in_features=12 is not a perfect square.*blocks=3"):
        MonarchLinear(12)
    with pytest.raises(ValueError, match="blocks must divide in_features=12, got blocks=5"):
        MonarchLinear(12, blocks=5)
    with pytest.raises(ValueError, match="blocks"):
        MonarchLinear(12, blocks=13)
    with pytest.raises(ValueError, match="out_features must equal in_features=16"):
        MonarchLinear(16, 8)
    with pytest.raises(ValueError, match="init"):
        MonarchLinear(16, init="lecun")
    with pytest.raises(ValueError, match="weight must be a square"):
        MonarchLinear.from_dense(torch.randn(4, 16))
    with pytest.raises(ValueError, match="in_features=7 is not a perfect square"):
        MonarchLinear.from_dense(torch.randn(7, 7))
    with pytest.raises(ValueError, match="in_features=16"):
        MonarchLinear(16)(torch.randn(2, 15))


# --------------------------------------------------------------------------- parameter counts, shapes, dtypes
@pytest.mark.parametrize("N", [2, 8, 256])
@pytest.mark.parametrize("bias", [True, False])
def test_butterfly_parameter_count(N, bias):
    layer = ButterflyLinear(N, bias=bias)
    L = int(math.log2(N))
    assert layer.levels == L and layer.twiddle.shape == (L, N // 2, 2, 2)
    assert sum(p.numel() for p in layer.parameters()) == 2 * N * L + (N if bias else 0)
    assert layer.twiddle.numel() == BF.butterfly_nnz(N)
    assert [n for n, _ in layer.named_parameters()] == (["twiddle", "bias"] if bias else ["twiddle"])


@pytest.mark.parametrize("N, blocks, m, n", monarch_sizes())
@pytest.mark.parametrize("bias", [True, False])
def test_monarch_parameter_count(N, blocks, m, n, bias):
    layer = MonarchLinear(N, blocks=blocks, bias=bias)
    assert sum(p.numel() for p in layer.parameters()) == N * (m + n) + (N if bias else 0)


@pytest.mark.parametrize("cls", [ButterflyLinear, MonarchLinear])
def test_batched_and_unbatched_inputs(cls):
    layer = cls(16, dtype=F64, init="gaussian", seed=0)
    x = torch.randn(3, 5, 16, dtype=F64)
    y = layer(x)
    assert y.shape == (3, 5, 16)
    torch.testing.assert_close(y, dense_forward(layer, x), rtol=0, atol=1e-12)
    torch.testing.assert_close(layer(x[1, 2]), y[1, 2], rtol=0, atol=1e-13)  # a single vector (N,)
    assert layer(torch.randn(0, 16, dtype=F64)).shape == (0, 16)
    assert layer(x.transpose(0, 1)).shape == (5, 3, 16)  # non-contiguous input


@pytest.mark.parametrize("cls", [ButterflyLinear, MonarchLinear])
def test_float32_and_factory_kwargs(cls):
    ref = cls(64, dtype=F64, init="gaussian", seed=0)
    layer = cls(64, device="cpu", dtype=torch.float32, init="gaussian", seed=0)
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in layer.parameters())
    for (_, p), (_, q) in zip(layer.named_parameters(), ref.named_parameters()):
        assert torch.equal(p, q.float())  # same seed, same values
    x = torch.randn(8, 64)
    y = layer(x)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y.double(), ref(x.double()), rtol=1e-5, atol=1e-5)
    half = cls(16).to(F64)
    assert half(torch.randn(2, 16, dtype=F64)).dtype == F64


# --------------------------------------------------------------------------- state dict, repr, training
def test_state_dict_round_trip():
    a = ButterflyLinear(16, init="gaussian", permutation="bit_reversal", seed=1)
    b = ButterflyLinear(16, permutation="bit_reversal", seed=2)
    assert list(a.state_dict()) == ["twiddle", "bias", "perm"]
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 16)
    assert torch.equal(a(x), b(x))
    assert set(ButterflyLinear(16).state_dict()) == {"twiddle", "bias"}
    m1 = MonarchLinear(12, blocks=3, init="gaussian", seed=1)
    m2 = MonarchLinear(12, blocks=3, seed=2)
    assert list(m1.state_dict()) == ["left", "right", "bias"]
    m2.load_state_dict(m1.state_dict())
    assert torch.equal(m1(x[:, :12]), m2(x[:, :12]))
    with pytest.raises(RuntimeError, match="size mismatch"):
        MonarchLinear(12, blocks=4).load_state_dict(m1.state_dict())


def test_extra_repr():
    r = repr(ButterflyLinear(16, bias=False, permutation="bit_reversal", seed=3))
    assert r == (
        "ButterflyLinear(in_features=16, out_features=16, bias=False, levels=4, "
        "permutation='bit_reversal', init='orthogonal', seed=3)"
    )
    assert repr(MonarchLinear(12, blocks=3, init="gaussian")) == (
        "MonarchLinear(in_features=12, out_features=12, bias=True, blocks=3, block_size=4, init='gaussian')"
    )


@pytest.mark.parametrize(
    "make",
    [lambda: ButterflyLinear(32, seed=0), lambda: MonarchLinear(32, blocks=4, seed=0)],
    ids=["butterfly", "monarch"],
)
def test_training_in_sequential_reduces_loss(make):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 32, generator=g)
    target = torch.sin(x[:, :4].sum(1, keepdim=True))
    model = nn.Sequential(make(), nn.ReLU(), nn.Linear(32, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.5 * losses[0]
    structured = model[0]
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in structured.parameters())
