"""Tests of sparselab.factorization.butterfly: Kronecker-sparse supports and products, butterfly and Monarch factorisations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sparselab import factorization as BF

pytestmark = pytest.mark.usefixtures("one_thread")

KRON_SHAPES = [(1, 1, 1, 1), (1, 2, 2, 4), (2, 3, 5, 3), (3, 1, 4, 2), (4, 2, 2, 1)]
SIZES = [2, 4, 8, 16, 64, 256]


def rel(A, B) -> float:
    return float(torch.linalg.matrix_norm(A - B) / torch.linalg.matrix_norm(A))


# ----------------------------------------------------------------------------------------------------------------
# Kronecker-sparse factors


@pytest.mark.parametrize("a,b,c,d", KRON_SHAPES)
def test_kronecker_support_shape_nnz_and_kron_definition(a, b, c, d):
    S = BF.kronecker_support(a, b, c, d)
    assert S.dtype == torch.bool and tuple(S.shape) == (a * b * d, a * c * d)
    assert int(S.sum()) == a * b * c * d
    ref = np.kron(np.kron(np.eye(a), np.ones((b, c))), np.eye(d)).astype(bool)
    assert np.array_equal(S.numpy(), ref)


@pytest.mark.parametrize("a,b,c,d", KRON_SHAPES)
def test_kronecker_dense_apply_and_gather_agree(a, b, c, d):
    gen = torch.Generator().manual_seed(a * 100 + b * 10 + c + d)
    V = torch.randn(a, d, b, c, generator=gen, dtype=torch.float64)
    M = BF.kronecker_dense(V)
    S = BF.kronecker_support(a, b, c, d)
    assert not bool(M[~S].any())  # zero off the support
    # The documented index map: M[i*b*d + r*d + k, i*c*d + s*d + k] = V[i, k, r, s].
    i, k, r, s = (min(a, 2) - 1, d - 1, b - 1, 0)
    assert M[i * b * d + r * d + k, i * c * d + s * d + k] == V[i, k, r, s]
    x = torch.randn(7, 3, a * c * d, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(BF.kronecker_apply(V, x), x @ M.T, rtol=0, atol=1e-12)
    assert torch.equal(BF.kronecker_from_dense(M, a, b, c, d), V)
    # Gathering a dense matrix and expanding again is the projection onto the support.
    D = torch.randn(a * b * d, a * c * d, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(BF.kronecker_dense(BF.kronecker_from_dense(D, a, b, c, d)), D * S)


def test_kronecker_apply_large_blocks_use_the_same_map():
    """Blocks above the broadcast threshold (Monarch-sized) take the batched-matmul path: same result."""
    V = torch.randn(2, 3, 8, 5, dtype=torch.float64)
    x = torch.randn(4, 2 * 5 * 3, dtype=torch.float64)
    torch.testing.assert_close(BF.kronecker_apply(V, x), x @ BF.kronecker_dense(V).T, rtol=0, atol=1e-12)


def test_kronecker_errors_name_the_parameter():
    with pytest.raises(ValueError, match="c must be an integer in"):
        BF.kronecker_support(1, 2, 0, 2)
    with pytest.raises(ValueError, match=r"values must have shape \(a, d, b, c\)"):
        BF.kronecker_apply(torch.zeros(2, 2, 2), torch.zeros(4))
    with pytest.raises(ValueError, match="x must have last dimension a\\*c\\*d = 8"):
        BF.kronecker_apply(torch.zeros(1, 4, 2, 2), torch.zeros(3, 6))
    with pytest.raises(ValueError, match="M must be a matrix of shape"):
        BF.kronecker_from_dense(torch.zeros(3, 3), 1, 2, 2, 2)


# ----------------------------------------------------------------------------------------------------------------
# Butterfly supports and products


@pytest.mark.parametrize("N", SIZES)
def test_butterfly_supports_shapes_and_nnz(N):
    supports = BF.butterfly_supports(N)
    L = int(math.log2(N))
    assert len(supports) == L
    for ell, S in enumerate(supports, start=1):
        assert tuple(S.shape) == (N, N)
        assert int(S.sum()) == 2 * N  # 2 non-zeros per row and per column
        assert torch.equal(S.sum(0), torch.full((N,), 2)) and torch.equal(S.sum(1), torch.full((N,), 2))
        # Row j is connected to j and to j with bit (L - ell) flipped.
        j = torch.arange(N)
        partner = j ^ (N >> ell)
        assert bool(S[j, j].all()) and bool(S[j, partner].all())
    assert BF.butterfly_nnz(N) == sum(int(S.sum()) for S in supports) == 2 * N * L
    assert BF.butterfly_shapes(N) == [(2 ** (ell - 1), 2, 2, N >> ell) for ell in range(1, L + 1)]


@pytest.mark.parametrize("N", [2, 8, 32, 128])
def test_butterfly_apply_equals_dense_product_of_the_factors(N):
    factors = BF.random_butterfly(N, seed=N)
    dense_factors = [BF.kronecker_dense(f) for f in factors]
    product = dense_factors[0]
    for D in dense_factors[1:]:
        product = product @ D
    torch.testing.assert_close(BF.butterfly_dense(factors), product, rtol=0, atol=1e-12)
    x = torch.randn(2, 5, N, dtype=torch.float64)
    torch.testing.assert_close(BF.butterfly_apply(factors, x), x @ product.T, rtol=0, atol=1e-12)
    for S, D in zip(BF.butterfly_supports(N), dense_factors):
        assert not bool(D[~S].any())


@pytest.mark.parametrize("batch", [1, 4])
def test_butterfly_apply_gradients_match_dense(batch):
    """One vector goes through autograd; several through the level Function with its own backward."""
    N = 16
    factors = [f.clone().requires_grad_(True) for f in BF.random_butterfly(N, seed=3)]
    x = torch.randn(batch, N, dtype=torch.float64, requires_grad=True)
    w = torch.randn(batch, N, dtype=torch.float64)
    (BF.butterfly_apply(factors, x) * w).sum().backward()
    grads = [f.grad.clone() for f in factors]
    gx = x.grad.clone()
    for f in factors:
        f.grad = None
    x.grad = None
    (x @ BF.butterfly_dense(factors).T * w).sum().backward()
    for g, f in zip(grads, factors):
        torch.testing.assert_close(g, f.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(gx, x.grad, rtol=0, atol=1e-12)


def test_butterfly_apply_gradcheck_and_no_double_backward():
    factors = [f.clone().requires_grad_(True) for f in BF.random_butterfly(8, seed=4)]
    x = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, *f: BF.butterfly_apply(list(f), x), (x, *factors))
    (g,) = torch.autograd.grad(BF.butterfly_apply(factors, x).square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):  # second order is refused, not wrong
        g.sum().backward()


def test_orthogonal_random_butterfly_is_orthogonal_and_gaussian_preserves_norm_on_average():
    B = BF.butterfly_dense(BF.random_butterfly(64, seed=1, kind="orthogonal"))
    torch.testing.assert_close(B @ B.T, torch.eye(64, dtype=torch.float64), rtol=0, atol=1e-12)
    gains = [float(BF.butterfly_dense(BF.random_butterfly(64, seed=s)).pow(2).sum() / 64) for s in range(20)]
    assert 0.5 < np.mean(gains) < 2.0  # E||Bx||^2 = ||x||^2 for unit x


def test_bit_reversal_is_an_involution_with_the_right_values():
    perm = BF.bit_reversal_permutation(8)
    assert perm.tolist() == [0, 4, 2, 6, 1, 5, 3, 7]
    for N in SIZES:
        p = BF.bit_reversal_permutation(N)
        assert torch.equal(p[p], torch.arange(N))


def test_dft_and_hadamard_matrices():
    F = BF.dft_matrix(8)
    x = torch.randn(8, dtype=torch.float64)
    torch.testing.assert_close(F @ x.to(F.dtype), torch.fft.fft(x), rtol=0, atol=1e-12)
    Fn = BF.dft_matrix(16, normalized=True)
    torch.testing.assert_close(Fn @ Fn.mH, torch.eye(16, dtype=Fn.dtype), rtol=0, atol=1e-12)
    H = BF.hadamard_matrix(16)
    assert set(H.unique().tolist()) == {-1.0, 1.0}
    torch.testing.assert_close(H @ H.T, 16 * torch.eye(16, dtype=torch.float64))


@pytest.mark.parametrize("N", [3, 6, 12, 1000])
def test_non_powers_of_two_raise_clear_errors(N):
    with pytest.raises(ValueError, match=f"N must be a power of two >= 2, got {N}"):
        BF.butterfly_supports(N)
    with pytest.raises(ValueError, match=r"A.shape\[0\] must be a power of two >= 2"):
        BF.butterfly_factorize(torch.eye(N, dtype=torch.float64))
    with pytest.raises(ValueError, match="N must be a power of two"):
        BF.random_butterfly(N)
    with pytest.raises(ValueError, match="N must be"):
        BF.hadamard_matrix(N)


def test_factor_list_errors():
    factors = BF.random_butterfly(8)
    with pytest.raises(ValueError, match=r"factors\[1\] \(level 2 of 3\) must have shape \(2, 2, 2, 2\)"):
        BF.butterfly_apply([factors[0], factors[0], factors[2]], torch.zeros(8))
    with pytest.raises(ValueError, match="x must have last dimension N = 8"):
        BF.butterfly_apply(factors, torch.zeros(3, 16))
    with pytest.raises(TypeError, match="non-empty list"):
        BF.butterfly_apply([], torch.zeros(2))


# ----------------------------------------------------------------------------------------------------------------
# The hierarchical factorisation


@pytest.mark.parametrize("order", BF.ORDERS)
@pytest.mark.parametrize("N", SIZES)
def test_dft_with_bit_reversal_is_factorised_exactly(N, order):
    F = BF.dft_matrix(N)
    result = BF.butterfly_factorize(F, order=order, perm="bit_reversal")
    assert result.relative_error < 1e-10
    torch.testing.assert_close(result.to_dense(), F, rtol=0, atol=1e-10 * math.sqrt(N))
    assert all(f.is_complex() for f in result.factors)
    assert result.nnz == 2 * N * int(math.log2(N))
    x = torch.randn(3, N, dtype=torch.complex128)
    torch.testing.assert_close(result.apply(x), torch.fft.fft(x), rtol=0, atol=1e-10 * N)


@pytest.mark.parametrize("order", BF.ORDERS)
@pytest.mark.parametrize("N", SIZES)
def test_hadamard_is_factorised_exactly_without_permutation(N, order):
    H = BF.hadamard_matrix(N)
    result = BF.butterfly_factorize(H, order=order)
    assert result.perm is None and result.relative_error < 1e-10
    torch.testing.assert_close(result.to_dense(), H, rtol=0, atol=1e-10)
    assert all(f.dtype == torch.float64 for f in result.factors)
    for S, f in zip(BF.butterfly_supports(N), result.factors):
        assert not bool(BF.kronecker_dense(f)[~S].any())


def test_dft_without_permutation_is_not_a_butterfly():
    """The column permutation matters: the plain DFT (N >= 4) is not exactly a butterfly product."""
    assert BF.butterfly_factorize(BF.dft_matrix(16)).relative_error > 0.1


@pytest.mark.parametrize("order", BF.ORDERS)
def test_random_butterfly_products_are_recovered(order):
    B = BF.butterfly_dense(BF.random_butterfly(128, seed=7))
    result = BF.butterfly_factorize(B, order=order)
    assert result.relative_error < 1e-10
    perm = torch.randperm(128, generator=torch.Generator().manual_seed(1))
    A = B[:, torch.argsort(perm)]  # A[:, perm] = B
    assert BF.butterfly_factorize(A, order=order, perm=perm).relative_error < 1e-10


def test_factorisation_balances_the_factors():
    """The singular value is split evenly, so the factors of a scaled Hadamard have equal norms."""
    result = BF.butterfly_factorize(BF.hadamard_matrix(64) * 8.0, order="balanced")
    norms = torch.tensor([float(torch.linalg.vector_norm(f)) for f in result.factors])
    assert float(norms.max() / norms.min()) < 1 + 1e-8


def test_error_is_within_the_best_two_factor_error_and_grows_with_noise():
    """One split is optimal for its two-factor problem, so the full error is at least that; noise raises it."""
    B = BF.butterfly_dense(BF.random_butterfly(64, seed=2))
    gen = torch.Generator().manual_seed(0)
    errors = []
    for sigma in (1e-6, 1e-3, 1e-1):
        noise = torch.randn(64, 64, generator=gen, dtype=torch.float64)
        A = B + sigma * noise * (torch.linalg.matrix_norm(B) / torch.linalg.matrix_norm(noise))
        res = BF.butterfly_factorize(A)
        errors.append(res.relative_error)
        # The noise part off any butterfly-product structure cannot be fitted, the rest is: error <= noise level (x 2).
        assert res.relative_error <= 2 * sigma
        m = BF.monarch_project(A)  # the first (balanced) split, alone, is optimal
        assert m.relative_error <= res.relative_error + 1e-12
    assert errors[0] < errors[1] < errors[2]


def test_rank_one_blocks_match_svd():
    blocks = torch.randn(5, 3, 4, 7, dtype=torch.complex128)
    u, v = BF.rank_one_blocks(blocks)
    U, S, Vh = torch.linalg.svd(blocks)
    best = S[..., :1, None] * U[..., :, :1] @ Vh[..., :1, :]
    torch.testing.assert_close(u[..., :, None] * v.conj()[..., None, :], best, rtol=0, atol=1e-12)
    tall = blocks.mT.contiguous()
    u, v = BF.rank_one_blocks(tall)
    U, S, Vh = torch.linalg.svd(tall)
    best = S[..., :1, None] * U[..., :, :1] @ Vh[..., :1, :]
    torch.testing.assert_close(u[..., :, None] * v.conj()[..., None, :], best, rtol=0, atol=1e-12)
    zero_u, zero_v = BF.rank_one_blocks(torch.zeros(2, 3, 3, dtype=torch.float64))
    assert not bool(zero_u.any()) and not bool(zero_v.any())


def test_factorize_argument_errors():
    with pytest.raises(ValueError, match="order must be one of"):
        BF.butterfly_factorize(torch.eye(4), order="random")
    with pytest.raises(ValueError, match="perm must be one of"):
        BF.butterfly_factorize(torch.eye(4), perm="reverse")
    with pytest.raises(ValueError, match=r"perm must be None, 'bit_reversal' or a permutation of range\(4\)"):
        BF.butterfly_factorize(torch.eye(4), perm=torch.tensor([0, 0, 1, 2]))
    with pytest.raises(ValueError, match="A must be a square matrix"):
        BF.butterfly_factorize(torch.zeros(4, 8))
    with pytest.raises(ValueError, match=r"A contains \d+ NaN"):
        BF.butterfly_factorize(torch.full((4, 4), float("nan")))


# ----------------------------------------------------------------------------------------------------------------
# Monarch


def test_monarch_projection_is_the_optimal_blockwise_rank_one_fit():
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(36, 36, generator=gen, dtype=torch.float64)
    res = BF.monarch_project(A)
    assert tuple(res.left.shape) == (1, 6, 6, 6) and tuple(res.right.shape) == (6, 1, 6, 6)
    assert res.nnz == 36 * (6 + 6)
    # Optimal error: in the (k, s) blocks A[(., k), (s, .)], everything but the top singular value is lost.
    blocks = A.reshape(6, 6, 6, 6).permute(1, 2, 0, 3)
    S = torch.linalg.svdvals(blocks)
    optimal = float(S[..., 1:].pow(2).sum().sqrt())
    assert res.error == pytest.approx(optimal, rel=1e-10)
    x = torch.randn(4, 36, dtype=torch.float64)
    torch.testing.assert_close(res.apply(x), x @ res.to_dense().T, rtol=0, atol=1e-12)
    left_support = BF.kronecker_support(1, 6, 6, 6)
    right_support = BF.kronecker_support(6, 6, 6, 1)
    assert not bool(BF.kronecker_dense(res.left)[~left_support].any())
    assert not bool(BF.kronecker_dense(res.right)[~right_support].any())


def test_monarch_recovers_monarch_matrices_and_rectangular_block_counts():
    gen = torch.Generator().manual_seed(1)
    left = torch.randn(1, 4, 6, 6, generator=gen, dtype=torch.float64)  # N = 24 = 6 * 4
    right = torch.randn(6, 1, 4, 4, generator=gen, dtype=torch.float64)
    M = BF.monarch_dense(left, right)
    assert BF.monarch_project(M, blocks=6).relative_error < 1e-12
    assert BF.monarch_shapes(24, blocks=6) == ((1, 6, 6, 4), (6, 4, 4, 1))


def test_monarch_errors():
    with pytest.raises(ValueError, match="not a perfect square; pass blocks=m"):
        BF.monarch_project(torch.eye(24, dtype=torch.float64))
    with pytest.raises(ValueError, match="blocks must divide N = 24"):
        BF.monarch_project(torch.eye(24, dtype=torch.float64), blocks=5)
    with pytest.raises(ValueError, match="blocks must be an integer in"):
        BF.monarch_project(torch.eye(16, dtype=torch.float64), blocks=0)


@pytest.mark.parametrize("N,m", [(1, 1), (7, 1), (12, 3), (16, 4), (24, 4), (32, 4), (36, 6), (4096, 64)])
def test_monarch_blocks_is_the_largest_divisor_up_to_the_square_root(N, m):
    assert BF.monarch_blocks(N) == m
