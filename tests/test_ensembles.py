"""Tests of sparselab.sensing.ensembles: measurement matrices, the convolution matrix, sparse signals and measurements."""

import math
import warnings

import numpy as np
import pytest
import scipy.fft
import torch
import torch.nn.functional as F

from sparselab.sensing import ensembles as E

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- dense ensembles


@pytest.mark.parametrize("make", [E.gaussian, E.bernoulli, E.partial_dct, E.partial_fourier])
def test_ensembles_shape_dtype_and_seeded_determinism(make):
    A = make(20, 50, seed=3)
    assert A.shape == (20, 50) and A.dtype == torch.float64
    assert torch.equal(A, make(20, 50, seed=3))
    assert not torch.equal(A, make(20, 50, seed=4))
    if make in (E.gaussian, E.bernoulli):
        assert make(60, 50, seed=0).shape == (60, 50)  # tall designs are allowed for the i.i.d. ensembles
    assert make(20, 50, seed=3, dtype=torch.float32).dtype == torch.float32


def test_gaussian_entries_have_variance_one_over_m_and_unit_columns_on_average():
    A = E.gaussian(100, 400, seed=0)
    norms = torch.linalg.vector_norm(A, dim=0)
    assert abs(norms.mean().item() - 1) < 0.05
    assert abs(A.var().item() * 100 - 1) < 0.02
    assert abs(A.mean().item()) < 0.005


def test_bernoulli_entries_are_plus_minus_one_over_sqrt_m():
    A = E.bernoulli(16, 40, seed=1)
    assert torch.allclose(A.abs(), torch.full_like(A, 0.25))
    assert torch.allclose(torch.linalg.vector_norm(A, dim=0), torch.ones(40, dtype=torch.float64))
    assert 0.4 < (A > 0).double().mean().item() < 0.6


def test_dct_matrix_matches_scipy_and_is_orthogonal():
    D = E.dct_matrix(12)
    x = np.random.default_rng(0).standard_normal(12)
    assert np.allclose(D.numpy() @ x, scipy.fft.dct(x, norm="ortho"))
    assert torch.allclose(D @ D.T, torch.eye(12, dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize("N", [1, 2, 7, 12])
def test_real_fourier_matrix_is_orthogonal_and_spans_the_dft(N):
    Fr = E.real_fourier_matrix(N)
    assert Fr.shape == (N, N)
    assert torch.allclose(Fr @ Fr.T, torch.eye(N, dtype=torch.float64), atol=1e-12)
    # the energy of every frequency of the DFT is preserved: |DFT x|^2 at f and N - f is split over cos and sin
    x = torch.randn(N, dtype=torch.float64)
    assert torch.allclose((Fr @ x).norm(), torch.fft.fft(x, norm="ortho").abs().norm())
    if N >= 3:
        n = torch.arange(N, dtype=torch.float64)
        assert torch.allclose(Fr[1], math.sqrt(2 / N) * torch.cos(2 * math.pi * n / N))


@pytest.mark.parametrize("make, basis", [(E.partial_dct, E.dct_matrix), (E.partial_fourier, E.real_fourier_matrix)])
def test_partial_transforms_are_scaled_random_rows_of_an_orthonormal_basis(make, basis):
    m, N = 10, 32
    A, rows = make(m, N, seed=2, return_rows=True)
    assert rows.numel() == m and rows.unique().numel() == m and torch.equal(rows, rows.sort().values)
    assert torch.allclose(A, basis(N)[rows] * math.sqrt(N / m))
    assert torch.allclose(A @ A.T, (N / m) * torch.eye(m, dtype=torch.float64), atol=1e-12)
    assert abs((A**2).sum(0).mean().item() - 1) < 1e-12  # unit columns on average, exactly
    assert torch.equal(make(N, N, seed=0, return_rows=True)[1], torch.arange(N))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: E.partial_dct(6, 5), r"m must be an integer in \[1, 5\]"),
        (lambda: E.gaussian(0, 5), r"m must be an integer in \[1, inf\]"),
        (lambda: E.bernoulli(2, 0), r"N must be an integer in \[1, inf\]"),
        (lambda: E.partial_dct(2, 5, seed=-1), r"seed must be an integer in \[0, inf\]"),
        (lambda: E.partial_fourier(2.5, 5), "m must be an integer"),
        (lambda: E.gaussian(2, 5, dtype=torch.int64), "dtype must be a real floating"),
    ],
)
def test_ensembles_reject_bad_parameters(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


# ----------------------------------------------------------------------------- convolution


@pytest.mark.parametrize(
    "k, padding, stride",
    [
        (3, 0, 1),
        (3, 0, 2),
        (5, "same", 1),
        (3, "same", 1),
        (3, 1, 2),
        (4, 2, 2),
        (4, "same", 1),
        (1, 0, 3),
    ],
)
def test_conv1d_matrix_equals_conv1d(k, padding, stride):
    g = torch.Generator().manual_seed(k)
    c_out, c_in, L = 4, 3, 11
    weight = torch.randn(c_out, c_in, k, generator=g, dtype=torch.float64)
    x = torch.randn(c_in, L, generator=g, dtype=torch.float64)
    M = E.conv1d_matrix(weight, L, padding=padding, stride=stride)
    with warnings.catch_warnings():  # torch warns that even kernels with padding="same" copy the input
        warnings.simplefilter("ignore", UserWarning)
        ref = F.conv1d(x[None], weight, padding=padding, stride=stride)[0]
    assert M.shape == (c_out * ref.shape[1], c_in * L)
    assert ref.shape[1] == E.conv1d_output_length(L, k, padding=padding, stride=stride)
    assert torch.allclose(M @ x.flatten(), ref.flatten(), atol=1e-12)


@pytest.mark.parametrize("padding, stride", [(1, 1), ("same", 1), (2, 2), (0, 1)])
def test_conv1d_matrix_circular_equals_circular_padding(padding, stride):
    g = torch.Generator().manual_seed(1)
    weight = torch.randn(2, 3, 3, generator=g, dtype=torch.float64)
    x = torch.randn(3, 8, generator=g, dtype=torch.float64)
    p = 1 if padding == "same" else padding
    ref = F.conv1d(F.pad(x[None], (p, p), mode="circular"), weight, stride=stride)[0]
    M = E.conv1d_matrix(weight, 8, padding=padding, stride=stride, padding_mode="circular")
    assert torch.allclose(M @ x.flatten(), ref.flatten(), atol=1e-12)


def test_conv1d_circular_same_blocks_are_circulant():
    weight = torch.randn(2, 2, 3, dtype=torch.float64)
    M = E.conv1d_matrix(weight, 6, padding="same", padding_mode="circular")
    block = M[:6, 6:12]  # output channel 0, input channel 1
    for r in range(1, 6):
        assert torch.equal(block[r], torch.roll(block[0], r))


def test_conv1d_column_blocks_are_input_channels_so_filter_pruning_is_column_selection():
    g = torch.Generator().manual_seed(0)
    c_out, c_in, k, L = 3, 4, 3, 9
    weight = torch.randn(c_out, c_in, k, generator=g, dtype=torch.float64)
    x = torch.randn(c_in, L, generator=g, dtype=torch.float64)
    M = E.conv1d_matrix(weight, L, padding="same")
    blocks = E.conv1d_column_blocks(c_in, L)
    assert [b.tolist() for b in blocks] == [list(range(c * L, (c + 1) * L)) for c in range(c_in)]
    groups = E.conv1d_column_groups(c_in, L)
    for c, b in enumerate(blocks):
        assert torch.equal(groups[b], torch.full((L,), c))
    for c in range(c_in):
        pruned = weight.clone()
        pruned[:, c] = 0  # remove input channel c's filters
        ref = F.conv1d(x[None], pruned, padding="same")[0].flatten()
        keep = torch.cat([b for j, b in enumerate(blocks) if j != c])
        assert torch.allclose(M[:, keep] @ x.flatten()[keep], ref, atol=1e-12)
        zeroed = M.clone()
        zeroed[:, blocks[c]] = 0
        assert torch.allclose(zeroed @ x.flatten(), ref, atol=1e-12)
    assert torch.equal(M[:, blocks[1]], E.conv1d_matrix(weight[:, 1:2], L, padding="same"))


def test_conv1d_matrix_keeps_dtype_and_rejects_bad_inputs():
    w = torch.randn(2, 1, 3)
    assert E.conv1d_matrix(w, 5).dtype == torch.float32
    with pytest.raises(ValueError, match=r"weight must have shape \(C_out, C_in, k\)"):
        E.conv1d_matrix(torch.randn(2, 3), 5)
    with pytest.raises(ValueError, match="padding='same' needs stride=1"):
        E.conv1d_matrix(w, 5, padding="same", stride=2)
    with pytest.raises(ValueError, match="padding must be one of"):
        E.conv1d_matrix(w, 5, padding="full")
    with pytest.raises(ValueError, match=r"padding must be an integer in \[0, inf\]"):
        E.conv1d_matrix(w, 5, padding=-1)
    with pytest.raises(ValueError, match=r"stride must be an integer in \[1, inf\]"):
        E.conv1d_matrix(w, 5, stride=0)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        E.conv1d_matrix(w, 5, padding_mode="reflect")
    with pytest.raises(ValueError, match="longer than the padded input"):
        E.conv1d_matrix(torch.randn(1, 1, 7), 5)
    with pytest.raises(TypeError, match="weight must be a floating tensor"):
        E.conv1d_matrix(torch.ones(1, 1, 3, dtype=torch.long), 5)
    with pytest.raises(ValueError, match=r"in_channels must be an integer in \[1, inf\]"):
        E.conv1d_column_blocks(0, 4)


# ----------------------------------------------------------------------------- signals


@pytest.mark.parametrize("distribution", ["gaussian", "rademacher"])
def test_sparse_signal_has_exact_support(distribution):
    x, support = E.sparse_signal(50, 7, seed=4, distribution=distribution)
    assert x.shape == (50,) and x.dtype == torch.float64
    assert torch.equal(x.nonzero().flatten(), support) and support.numel() == 7
    if distribution == "rademacher":
        assert set(x[support].tolist()) <= {-1.0, 1.0}
    again, support2 = E.sparse_signal(50, 7, seed=4, distribution=distribution)
    assert torch.equal(again, x) and torch.equal(support2, support)
    assert E.sparse_signal(5, 0)[1].numel() == 0 and (E.sparse_signal(5, 5)[0] != 0).all()


def test_sparse_signal_block_structure():
    x, support = E.sparse_signal(40, 12, seed=1, blocks=4)
    assert support.numel() == 12 and torch.equal(x.nonzero().flatten(), support)
    chunks = support.view(3, 4)
    assert (chunks[:, 0] % 4 == 0).all() and torch.equal(chunks - chunks[:, :1], torch.arange(4).expand(3, 4))
    active = x.view(10, 4) != 0
    assert (active.all(1) | ~active.any(1)).all() and int(active.all(1).sum()) == 3
    # the chosen blocks vary with the seed and cover every block over many seeds
    seen = set()
    for seed in range(30):
        seen |= set((E.sparse_signal(40, 12, seed=seed, blocks=4)[1] // 4).tolist())
    assert seen == set(range(10))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(N=10, k=11), r"k must be an integer in \[0, 10\]"),
        (dict(N=10, k=4, blocks=3), "blocks must divide N"),
        (dict(N=12, k=4, blocks=3), "k must be a multiple of blocks=3"),
        (dict(N=12, k=3, blocks=0), r"blocks must be an integer in \[1, 12\]"),
        (dict(N=10, k=3, distribution="laplace"), "distribution must be one of"),
    ],
)
def test_sparse_signal_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        E.sparse_signal(**kwargs)


def test_measure_adds_seeded_gaussian_noise_of_the_given_level():
    A = E.gaussian(50, 400, seed=0)
    x, _ = E.sparse_signal(400, 10, seed=0)
    assert torch.allclose(E.measure(A, x), A @ x)
    y = E.measure(A, x, noise=0.1, seed=5)
    assert torch.equal(y, E.measure(A, x, noise=0.1, seed=5))
    assert not torch.equal(y, E.measure(A, x, noise=0.1, seed=6))
    big = E.gaussian(10, 10, seed=1)
    X = torch.zeros(10, 500, dtype=torch.float64)
    e = E.measure(big, X, noise=0.3, seed=0)
    assert e.shape == (10, 500) and abs(e.std().item() - 0.3) < 0.01
    assert np.allclose(E.measure(A.numpy(), x.numpy()).numpy(), (A @ x).numpy())
    with pytest.raises(ValueError, match=r"noise must be a finite number in \[0.0, inf\]"):
        E.measure(A, x, noise=-1)
    with pytest.raises(ValueError, match=r"x must have shape \(N,\) or \(N, B\) with N = A.shape\[1\] = 400"):
        E.measure(A, x[:-1])
    with pytest.raises(ValueError, match="A must be a non-empty 2-D matrix"):
        E.measure(x, x)
