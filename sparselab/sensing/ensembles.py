r"""Measurement ensembles for compressed sensing, and the matrix of a 1-D convolution layer.

Every ensemble returns an :math:`m \times N` float tensor :math:`A` (``float64`` by
default) for the model :math:`y = A x + e` with :math:`x \in \mathbb R^N`
(:math:`\delta = m / N` is the undersampling ratio). Randomness comes from a
``torch.Generator`` seeded with ``seed`` on the CPU, so a seed gives the same matrix
on every device; the result is then moved to ``device``.

**Gaussian** (:func:`gaussian`): :math:`A_{ij} \sim \mathcal N(0, 1/m)` i.i.d., so
:math:`\mathbb E\lVert a_j\rVert^2 = 1` for every column :math:`a_j`.

**Bernoulli** (:func:`bernoulli`): :math:`A_{ij} = \pm 1/\sqrt m` with equal
probability; every column has norm exactly 1.

**Partial DCT** (:func:`partial_dct`): :math:`m` distinct rows, drawn uniformly at
random, of the orthonormal DCT-II matrix

.. math::

    D_{kn} = \sqrt{\tfrac{2}{N}}\, c_k \cos\Bigl(\frac{\pi (2n + 1) k}{2N}\Bigr),
    \qquad c_0 = \tfrac{1}{\sqrt 2},\ c_{k>0} = 1,

(``scipy.fft.dct(x, norm="ortho") == D @ x``), scaled by :math:`\sqrt{N/m}`: the rows
are orthogonal with squared norm :math:`N/m`, :math:`A A^\top = (N/m) I_m`, and the
columns have unit norm on average.

**Partial Fourier** (:func:`partial_fourier`): the same construction with the *real*
orthonormal Fourier basis of :math:`\mathbb R^N`: the constant row
:math:`1/\sqrt N`, the pairs :math:`\sqrt{2/N}\cos(2\pi f n/N)` and
:math:`\sqrt{2/N}\sin(2\pi f n/N)` for :math:`1 \le f < N/2`, and for even
:math:`N` the alternating row :math:`(-1)^n/\sqrt N`. These are the real and
imaginary parts of the rows of the unitary DFT (a conjugate pair of complex rows
spans the same space as one cosine/sine pair), so the matrix is real and the
solvers need no complex arithmetic.

**Convolution** (:func:`conv1d_matrix`): a 1-D convolution layer with weight
:math:`W \in \mathbb R^{C_\text{out} \times C_\text{in} \times k}`, stride
:math:`s` and left padding :math:`p` computes (cross-correlation, as
``torch.nn.functional.conv1d``)

.. math::

    z_{o, t} = \sum_{c=1}^{C_\text{in}} \sum_{i=0}^{k-1} W_{o, c, i}\,
    x_{c,\, t s - p + i},

with out-of-range samples read as zero (``padding_mode="zeros"``) or wrapped
modulo the length (``"circular"``). It is linear in :math:`x`, so
:math:`\operatorname{vec}(z) = M \operatorname{vec}(x)` with
:math:`M \in \mathbb R^{C_\text{out} L_\text{out} \times C_\text{in} L}` made of
:math:`C_\text{out} \times C_\text{in}` Toeplitz blocks (circulant blocks for
circular padding and stride 1: a *block-circulant* matrix). ``vec`` is row-major
flattening, so the columns of input channel :math:`c` are the contiguous block
:math:`cL, \dots, (c+1)L - 1` (:func:`conv1d_column_blocks`). Removing input
channel :math:`c` from the layer (pruning every filter slice :math:`W_{:, c, :}`)
is exactly dropping that column block: the convolution with channel :math:`c`'s
filters removed equals :math:`M_{:, \bar B_c} x_{\bar B_c}`. Channel pruning is
therefore *block*-sparse recovery with the groups of
:func:`conv1d_column_groups`.

**Signals** (:func:`sparse_signal`): :math:`k` non-zeros on a uniformly random
support, Gaussian or Rademacher (:math:`\pm 1`) amplitudes; with ``blocks=b`` the
support is a union of :math:`k/b` of the :math:`N/b` aligned blocks of length
:math:`b`. :func:`measure` returns :math:`y = A x + \sigma e` with
:math:`e \sim \mathcal N(0, I)`.
"""

from __future__ import annotations

import math

import torch

from sparselab._validation import as_real_tensor, check_choice, check_float, check_float_dtype, check_int
from sparselab._validation import check_matrix as _as_matrix

__all__ = [
    "DISTRIBUTIONS",
    "PADDING_MODES",
    "gaussian",
    "bernoulli",
    "partial_dct",
    "partial_fourier",
    "dct_matrix",
    "real_fourier_matrix",
    "conv1d_matrix",
    "conv1d_output_length",
    "conv1d_column_blocks",
    "conv1d_column_groups",
    "sparse_signal",
    "measure",
]

DISTRIBUTIONS = ("gaussian", "rademacher")
PADDING_MODES = ("zeros", "circular")


# ----------------------------------------------------------------------------- helpers


def _generator(seed) -> torch.Generator:
    seed = check_int(seed, "seed", 0)
    return torch.Generator().manual_seed(seed)


def _check_shape(m, N, *, at_most_N: bool = True) -> tuple[int, int]:
    N = check_int(N, "N", 1)
    m = check_int(m, "m", 1, N if at_most_N else None)
    return m, N


def _random_rows(m: int, N: int, seed) -> torch.Tensor:
    """``m`` distinct row indices of ``range(N)``, sorted."""
    return torch.randperm(N, generator=_generator(seed))[:m].sort().values


# ----------------------------------------------------------------------------- dense ensembles


def gaussian(m: int, N: int, *, seed: int = 0, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    r"""Gaussian ensemble: an ``(m, N)`` matrix with i.i.d. :math:`\mathcal N(0, 1/m)` entries.

    Parameters
    ----------
    m, N : int
        Number of measurements (rows, :math:`m \ge 1`; :math:`m > N` gives a tall design)
        and signal length (columns).
    seed : int
        Seed of the CPU generator (non-negative).
    dtype, device
        Floating dtype and device of the result.

    Returns
    -------
    torch.Tensor
        Columns have :math:`\mathbb E \lVert a_j \rVert^2 = 1`.
    """
    m, N = _check_shape(m, N, at_most_N=False)
    dtype = check_float_dtype(dtype)
    g = _generator(seed)
    A = torch.randn(m, N, generator=g, dtype=torch.float64) / math.sqrt(m)
    return A.to(device=device, dtype=dtype)


def bernoulli(m: int, N: int, *, seed: int = 0, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    r"""Bernoulli (Rademacher) ensemble: i.i.d. entries :math:`\pm 1/\sqrt m` with probability 1/2 each.

    Parameters and return value as :func:`gaussian`; every column has unit norm exactly.
    """
    m, N = _check_shape(m, N, at_most_N=False)
    dtype = check_float_dtype(dtype)
    g = _generator(seed)
    signs = torch.randint(0, 2, (m, N), generator=g).to(torch.float64) * 2 - 1
    return (signs / math.sqrt(m)).to(device=device, dtype=dtype)


def dct_matrix(N: int, *, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    r"""The orthonormal DCT-II matrix :math:`D` (``D @ x == scipy.fft.dct(x, norm="ortho")``), ``(N, N)``."""
    N = check_int(N, "N", 1)
    dtype = check_float_dtype(dtype)
    k = torch.arange(N, dtype=torch.float64)[:, None]
    n = torch.arange(N, dtype=torch.float64)[None, :]
    D = torch.cos(math.pi * (2 * n + 1) * k / (2 * N)) * math.sqrt(2.0 / N)
    D[0] /= math.sqrt(2.0)
    return D.to(device=device, dtype=dtype)


def real_fourier_matrix(N: int, *, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    r"""The real orthonormal Fourier basis of :math:`\mathbb R^N` as an ``(N, N)`` orthogonal matrix.

    Rows in order of frequency: the constant row, then :math:`\cos` and :math:`\sin` of
    frequency :math:`f = 1, \dots, \lceil N/2 \rceil - 1`, then for even :math:`N` the
    Nyquist row :math:`(-1)^n / \sqrt N`.
    """
    N = check_int(N, "N", 1)
    dtype = check_float_dtype(dtype)
    n = torch.arange(N, dtype=torch.float64)
    rows = [torch.full((N,), 1.0 / math.sqrt(N), dtype=torch.float64)]
    for f in range(1, (N + 1) // 2):
        angle = 2 * math.pi * f * n / N
        rows.append(torch.cos(angle) * math.sqrt(2.0 / N))
        rows.append(torch.sin(angle) * math.sqrt(2.0 / N))
    if N % 2 == 0 and N > 1:
        rows.append((1.0 - 2.0 * (n % 2)) / math.sqrt(N))
    return torch.stack(rows).to(device=device, dtype=dtype)


def partial_dct(
    m: int, N: int, *, seed: int = 0, return_rows: bool = False, dtype: torch.dtype = torch.float64, device=None
):
    r"""``m`` random rows of the orthonormal DCT-II matrix, scaled by :math:`\sqrt{N/m}`.

    Parameters
    ----------
    m, N, seed, dtype, device
        As :func:`gaussian`, with :math:`1 \le m \le N`: the rows are ``m`` distinct
        frequencies drawn uniformly.
    return_rows : bool
        Also return the sorted row (frequency) indices.

    Returns
    -------
    torch.Tensor or (torch.Tensor, torch.LongTensor)
        :math:`A = \sqrt{N/m}\, D_{\Omega,:}` with :math:`A A^\top = (N/m) I_m`.
    """
    m, N = _check_shape(m, N)
    rows = _random_rows(m, N, seed)
    A = dct_matrix(N, dtype=check_float_dtype(dtype))[rows] * math.sqrt(N / m)
    A = A.to(device=device)
    return (A, rows.to(device=A.device)) if return_rows else A


def partial_fourier(
    m: int, N: int, *, seed: int = 0, return_rows: bool = False, dtype: torch.dtype = torch.float64, device=None
):
    r"""``m`` random rows of the real orthonormal Fourier basis (:func:`real_fourier_matrix`), scaled by :math:`\sqrt{N/m}`.

    Real-valued by design (see the module docstring): the cosine and sine rows are the
    real and imaginary parts of the unitary DFT's rows. Parameters and return value as
    :func:`partial_dct`.
    """
    m, N = _check_shape(m, N)
    rows = _random_rows(m, N, seed)
    A = real_fourier_matrix(N, dtype=check_float_dtype(dtype))[rows] * math.sqrt(N / m)
    A = A.to(device=device)
    return (A, rows.to(device=A.device)) if return_rows else A


# ----------------------------------------------------------------------------- convolution


def _resolve_padding(padding, kernel_size: int, stride: int, length: int, padding_mode: str) -> tuple[int, int]:
    """(left, right) padding for ``padding`` in {int >= 0, "same", "valid"}, following torch's conventions."""
    if isinstance(padding, str):
        check_choice(padding, "padding", ("same", "valid"))
        if padding == "valid":
            return 0, 0
        if stride != 1:
            raise ValueError(f"padding='same' needs stride=1 (as in torch.nn.functional.conv1d), got stride={stride}")
        total = kernel_size - 1
        return total // 2, total - total // 2
    p = check_int(padding, "padding", 0)
    if padding_mode == "circular" and p > length:
        raise ValueError(f"padding must be an integer in [0, {length}] (the length) for circular padding, got {p}")
    return p, p


def conv1d_output_length(length: int, kernel_size: int, *, padding=0, stride: int = 1) -> int:
    r"""Output length :math:`\lfloor (L + p_\text{left} + p_\text{right} - k) / s \rfloor + 1` of a 1-D convolution."""
    length = check_int(length, "length", 1)
    kernel_size = check_int(kernel_size, "kernel_size", 1)
    stride = check_int(stride, "stride", 1)
    left, right = _resolve_padding(padding, kernel_size, stride, length, "zeros")
    span = length + left + right - kernel_size
    if span < 0:
        raise ValueError(
            f"kernel_size={kernel_size} is longer than the padded input "
            f"(length {length} + padding {left + right}); no output position"
        )
    return span // stride + 1


def conv1d_matrix(
    weight: torch.Tensor, length: int, *, padding=0, stride: int = 1, padding_mode: str = "zeros"
) -> torch.Tensor:
    r"""The matrix :math:`M` of a 1-D convolution: ``M @ x.flatten() == conv1d(x[None], weight, ...)[0].flatten()``.

    Parameters
    ----------
    weight : torch.Tensor
        Filters of shape ``(C_out, C_in, k)``; the result has its dtype and device.
    length : int
        Input length :math:`L`; the input is ``x`` of shape ``(C_in, L)``.
    padding : int or {"same", "valid"}
        Zeros (or wrapped samples) added on each side, as in ``torch.nn.functional.conv1d``;
        ``"same"`` (stride 1 only) pads :math:`\lfloor (k-1)/2 \rfloor` on the left and the
        rest on the right, as torch does.
    stride : int
        Step :math:`s \ge 1` between output positions.
    padding_mode : {"zeros", "circular"}
        ``"circular"`` wraps around like ``torch.nn.Conv1d(padding_mode="circular")``
        (``F.pad(x, (p, p), mode="circular")`` then an unpadded convolution); with
        ``padding="same"`` and stride 1 the blocks are circulant.

    Returns
    -------
    torch.Tensor
        Dense ``(C_out * L_out, C_in * L)`` matrix, rows grouped by output channel and
        columns by input channel (blocks of :func:`conv1d_column_blocks`).
    """
    if not torch.is_tensor(weight):
        raise TypeError(f"weight must be a torch.Tensor of shape (C_out, C_in, k), got {type(weight).__name__}")
    if weight.ndim != 3 or min(weight.shape) < 1:
        raise ValueError(f"weight must have shape (C_out, C_in, k) with positive sizes, got {tuple(weight.shape)}")
    if not weight.is_floating_point():
        raise TypeError(f"weight must be a floating tensor, got dtype {weight.dtype}")
    length = check_int(length, "length", 1)
    stride = check_int(stride, "stride", 1)
    check_choice(padding_mode, "padding_mode", PADDING_MODES)
    c_out, c_in, k = weight.shape
    left, right = _resolve_padding(padding, k, stride, length, padding_mode)
    span = length + left + right - k
    if span < 0:
        raise ValueError(
            f"the kernel (size {k}) is longer than the padded input "
            f"(length {length} + padding {left + right}); no output position"
        )
    l_out = span // stride + 1
    device = weight.device
    t = torch.arange(l_out, device=device)[:, None]
    i = torch.arange(k, device=device)[None, :]
    j = t * stride - left + i  # (l_out, k) input position of tap i at output t
    if padding_mode == "circular":
        j = j % length
        valid = torch.ones_like(j, dtype=torch.bool)
    else:
        valid = (j >= 0) & (j < length)
    tt, ii = t.expand_as(j)[valid], i.expand_as(j)[valid]
    jj = j[valid]
    o = torch.arange(c_out, device=device)[:, None, None]
    c = torch.arange(c_in, device=device)[None, :, None]
    rows = (o * l_out + tt[None, None, :]).expand(c_out, c_in, -1)
    cols = (c * length + jj[None, None, :]).expand(c_out, c_in, -1)
    vals = weight[:, :, ii]  # (c_out, c_in, n_valid)
    M = torch.zeros(c_out * l_out, c_in * length, dtype=weight.dtype, device=device)
    # accumulate: with circular padding wider than the input one sample can be read by two taps
    M.index_put_((rows.reshape(-1), cols.reshape(-1)), vals.reshape(-1), accumulate=True)
    return M


def conv1d_column_blocks(in_channels: int, length: int) -> list[torch.Tensor]:
    r"""Column indices of :func:`conv1d_matrix` for each input channel: block :math:`c` is :math:`cL, \dots, (c+1)L-1`."""
    in_channels = check_int(in_channels, "in_channels", 1)
    length = check_int(length, "length", 1)
    return [torch.arange(c * length, (c + 1) * length) for c in range(in_channels)]


def conv1d_column_groups(in_channels: int, length: int) -> torch.Tensor:
    """Group id (the input channel) of every column of :func:`conv1d_matrix`, for block-sparse solvers."""
    in_channels = check_int(in_channels, "in_channels", 1)
    length = check_int(length, "length", 1)
    return torch.arange(in_channels).repeat_interleave(length)


# ----------------------------------------------------------------------------- signals


def sparse_signal(
    N: int,
    k: int,
    *,
    seed: int = 0,
    distribution: str = "gaussian",
    blocks: int | None = None,
    dtype: torch.dtype = torch.float64,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""A :math:`k`-sparse signal of length :math:`N` on a uniformly random (block) support.

    Parameters
    ----------
    N : int
        Signal length.
    k : int
        Exact number of non-zeros, :math:`0 \le k \le N`.
    seed : int
        Seed of the CPU generator.
    distribution : {"gaussian", "rademacher"}
        Amplitudes on the support: :math:`\mathcal N(0, 1)` (non-zero almost surely) or
        :math:`\pm 1` with equal probability.
    blocks : int, optional
        Block size :math:`b` for a block-sparse signal: :math:`b` must divide :math:`N` and
        :math:`k`, and the support is :math:`k/b` of the :math:`N/b` aligned blocks
        :math:`\{jb, \dots, jb + b - 1\}`, drawn uniformly.
    dtype, device
        Of the signal.

    Returns
    -------
    x : torch.Tensor
        Shape ``(N,)`` with exactly ``k`` non-zeros.
    support : torch.LongTensor
        Sorted indices of the non-zeros.
    """
    N = check_int(N, "N", 1)
    k = check_int(k, "k", 0, N)
    check_choice(distribution, "distribution", DISTRIBUTIONS)
    dtype = check_float_dtype(dtype)
    g = _generator(seed)
    if blocks is None:
        support = torch.randperm(N, generator=g)[:k].sort().values
    else:
        b = check_int(blocks, "blocks", 1, N)
        if N % b:
            raise ValueError(f"blocks must divide N; got blocks={b} and N={N}")
        if k % b:
            raise ValueError(f"k must be a multiple of blocks={b} for a block-sparse signal, got k={k}")
        chosen = torch.randperm(N // b, generator=g)[: k // b].sort().values
        support = (chosen[:, None] * b + torch.arange(b)[None, :]).reshape(-1)
    if distribution == "gaussian":
        values = torch.randn(k, generator=g, dtype=torch.float64)
        values = torch.where(values == 0, torch.ones_like(values), values)  # exactly k non-zeros, always
    else:
        values = torch.randint(0, 2, (k,), generator=g).to(torch.float64) * 2 - 1
    x = torch.zeros(N, dtype=torch.float64)
    x[support] = values
    return x.to(device=device, dtype=dtype), support.to(device=device)


def measure(A, x, *, noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    r"""Measurements :math:`y = A x + \sigma e`, :math:`e \sim \mathcal N(0, I)` drawn from ``seed``.

    Parameters
    ----------
    A : torch.Tensor or numpy.ndarray
        ``(m, N)`` measurement matrix.
    x : torch.Tensor or numpy.ndarray
        Signal ``(N,)`` or a batch of signals as columns ``(N, B)``.
    noise : float
        Standard deviation :math:`\sigma \ge 0` of each entry of the noise.
    seed : int
        Seed of the noise generator (CPU, so the same on every device).

    Returns
    -------
    torch.Tensor
        ``(m,)`` or ``(m, B)``, with the dtype and device of ``A``.
    """
    A = _as_matrix(A, "A")
    x = as_real_tensor(x, "x")
    if x.ndim not in (1, 2) or x.shape[0] != A.shape[1]:
        raise ValueError(f"x must have shape (N,) or (N, B) with N = A.shape[1] = {A.shape[1]}, got {tuple(x.shape)}")
    noise = check_float(noise, "noise", 0.0)
    seed = check_int(seed, "seed", 0)
    y = A @ x.to(device=A.device, dtype=A.dtype)
    if noise > 0:
        e = torch.randn(tuple(y.shape), generator=_generator(seed), dtype=torch.float64)
        y = y + noise * e.to(device=y.device, dtype=y.dtype)
    return y
