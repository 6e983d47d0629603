r"""Linear layers with structured weights: thin modules around :mod:`sparselab.factorization`.

``ButterflyLinear`` and ``MonarchLinear`` are drop-ins for a square
:class:`torch.nn.Linear` (:math:`y = x W^\top + b`, :math:`W \in \mathbb R^{N\times N}`)
whose weight is a product of Kronecker-sparse factors, stored compactly and never
formed in the forward pass:

* butterfly (Dao et al. 2019), :math:`N = 2^L`: :math:`W = B_1 B_2 \cdots B_L P`,
  :math:`2NL` parameters and :math:`O(N \log N)` operations per vector;
* Monarch (Dao et al. 2022), :math:`N = mn`: :math:`W = X Y`,
  :math:`N(m + n)` parameters (:math:`2N^{3/2}` for :math:`m = n = \sqrt N`).

``from_dense``/``from_linear`` initialise them from a dense weight with the
hierarchical butterfly factorisation of Le et al. 2024 (arXiv 2411.04506) or the
optimal Monarch projection.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sparselab._validation import check_choice, check_int, check_matrix
from sparselab.factorization import butterfly, monarch

__all__ = ["ButterflyLinear", "MonarchLinear"]


class _SquareStructuredLinear(nn.Module):
    """Shared plumbing of the square structured layers: sizes, bias, input checks, ``from_linear``."""

    _INITS: tuple[str, ...] = ()

    def _setup(self, in_features, out_features, init, seed) -> int:
        self.in_features = check_int(in_features, "in_features", low=1)
        if out_features is None:
            out_features = self.in_features
        out_features = check_int(out_features, "out_features", low=1)
        if out_features != self.in_features:
            raise ValueError(
                f"out_features must equal in_features={self.in_features}: {type(self).__name__} is "
                f"square (N -> N), got out_features={out_features}; compose it with an nn.Linear to "
                "change the width"
            )
        self.out_features = out_features
        self.init = check_choice(init, "init", self._INITS)
        self.seed = None if seed is None else check_int(seed, "seed", low=0)
        self.init_error: float | None = None
        self.init_relative_error: float | None = None
        return self.in_features

    def _make_bias(self, bias, factory) -> None:
        """Register ``bias`` (after the weight factors, so the parameter order is that of ``nn.Linear``)."""
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_features, **factory))
        else:
            self.register_parameter("bias", None)

    def _generator(self) -> torch.Generator | None:
        """A fresh CPU generator seeded with ``seed``, or ``None`` (the global RNG, as ``nn.Linear``)."""
        return None if self.seed is None else torch.Generator().manual_seed(self.seed)

    def _reset_bias(self, g: torch.Generator | None) -> None:
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            b = (2 * torch.rand(self.out_features, generator=g, dtype=torch.float64) - 1) * bound
            with torch.no_grad():
                self.bias.copy_(b)

    def _check_input(self, input: torch.Tensor) -> None:
        if input.dim() < 1 or input.shape[-1] != self.in_features:
            got = "a 0-dim tensor" if input.dim() < 1 else f"{input.shape[-1]} features in its last dimension"
            raise ValueError(f"input has {got}, but this layer has in_features={self.in_features}")

    @staticmethod
    def _check_weight(weight, cls_name: str) -> torch.Tensor:
        W = check_matrix(weight.detach() if torch.is_tensor(weight) else weight, "weight")
        if W.shape[0] != W.shape[1]:
            raise ValueError(f"weight must be a square (N, N) matrix for {cls_name}, got shape {tuple(W.shape)}")
        return W

    def _finish_from_dense(self, W: torch.Tensor, bias) -> None:
        """Copy ``bias`` and record :math:`\\|W - W_\\text{layer}\\|_F` (and relative) as ``init_error``."""
        if bias is not None:
            b = bias.detach() if torch.is_tensor(bias) else torch.as_tensor(bias)
            if b.shape != (self.out_features,):
                raise ValueError(f"bias must have shape ({self.out_features},), got {tuple(b.shape)}")
            with torch.no_grad():
                self.bias.copy_(b)
        with torch.no_grad():
            W64 = W.to(torch.float64)
            err = float(torch.linalg.norm(W64 - self.dense_weight().to(device=W.device, dtype=torch.float64)))
            norm = float(torch.linalg.norm(W64))
        self.init_error = err
        self.init_relative_error = err / norm if norm > 0 else err

    @classmethod
    def from_linear(cls, linear: nn.Linear, **kwargs):
        """:meth:`from_dense` on the weight and bias of a square :class:`torch.nn.Linear`."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear must be a torch.nn.Linear, got {type(linear).__name__}")
        return cls.from_dense(linear.weight.detach(), None if linear.bias is None else linear.bias.detach(), **kwargs)

    def _repr_tail(self) -> str:
        tail = f", init={self.init!r}" + ("" if self.seed is None else f", seed={self.seed}")
        if self.init_error is not None:
            tail = f", init_relative_error={self.init_relative_error:.3g} (from_dense)"
        return tail


class ButterflyLinear(_SquareStructuredLinear):
    r"""Square linear layer whose weight is a butterfly matrix (Dao et al. 2019).

    For :math:`N = 2^L` the weight is

    .. math::

        W = B_1 B_2 \cdots B_L P, \qquad
        \operatorname{supp}(B_\ell) = I_{2^{\ell-1}} \otimes \mathbf 1_{2\times 2} \otimes I_{N/2^\ell},

    each :math:`B_\ell` having :math:`2N` non-zeros (:math:`N/2` blocks :math:`2\times 2`, the "twiddles")
    and :math:`P` an optional fixed column permutation (``perm``, e.g. the bit reversal that makes the DFT
    a butterfly). The forward is :math:`y = B_1(\cdots(B_L\,x_{[\text{perm}]})) + b`, :math:`O(N\log N)`
    per vector, equal to :class:`torch.nn.Linear` with ``weight = dense_weight()``
    (:math:`y = x W^\top + b`); the dense matrix is never formed.

    Parameters
    ----------
    in_features, out_features, bias, device, dtype
        As for :class:`torch.nn.Linear`; ``in_features`` must be a power of two :math:`N \ge 2` and
        ``out_features`` (default ``None``: :math:`N`) equal to it.
    init
        ``"orthogonal"`` (default): every :math:`2\times 2` block a random rotation or reflection, so
        :math:`W` is orthogonal; ``"gaussian"``: i.i.d. :math:`\mathcal N(0, 1/2)` entries, so
        :math:`\mathbb E\|B_\ell x\|^2 = \|x\|^2` (two non-zeros per row) and the product preserves
        :math:`\mathbb E\|x\|^2`; ``"identity"``: :math:`B_\ell = I`. The bias is uniform in
        :math:`\pm 1/\sqrt N` as for :class:`torch.nn.Linear`.
    permutation
        ``None`` (:math:`P = I`), ``"bit_reversal"`` or a permutation of ``0..N-1`` (LongTensor), stored
        as the buffer ``perm``; the forward reads ``x[..., perm]``.
    seed
        Seed of a local :class:`torch.Generator` for the initialisation (``reset_parameters`` then always
        gives the same values); ``None`` draws from the global RNG like :class:`torch.nn.Linear`.

    Notes
    -----
    Parameters are ``twiddle`` of shape :math:`(L, N/2, 2, 2)` (level :math:`\ell` viewed as
    :math:`(2^{\ell-1}, N/2^\ell, 2, 2)`, the compact Kronecker-sparse layout of
    :func:`sparselab.factorization.butterfly_apply`) and ``bias``: :math:`2NL` (+ :math:`N`) numbers instead
    of :math:`N^2`.

    :meth:`from_dense` / :meth:`from_linear` fit the factors to a dense weight with the hierarchical
    butterfly factorisation (Le, Zheng, Riccietti, Gribonval 2024, arXiv 2411.04506): exact when the weight
    is a butterfly matrix (Hadamard; DFT up to the bit-reversal permutation), otherwise a
    quasi-optimal approximation whose Frobenius error is stored in ``init_error``.
    """

    _INITS = ("orthogonal", "gaussian", "identity")

    def __init__(
        self,
        in_features: int,
        out_features: int | None = None,
        bias: bool = True,
        device=None,
        dtype=None,
        *,
        init: str = "orthogonal",
        permutation=None,
        seed: int | None = None,
    ):
        super().__init__()
        N = check_int(in_features, "in_features", low=1)
        if N < 2 or not butterfly.is_power_of_two(N):
            nxt = 2 if N < 2 else 1 << (N - 1).bit_length()
            raise ValueError(
                f"in_features must be a power of two >= 2 (ButterflyLinear needs a power-of-two size), "
                f"got {N}; pad to {nxt} or use MonarchLinear (any N = m*n)"
            )
        factory = {"device": device, "dtype": dtype}
        self._setup(N, out_features, init, seed)
        self.levels = N.bit_length() - 1
        self.twiddle = nn.Parameter(torch.empty(self.levels, N // 2, 2, 2, **factory))
        self._make_bias(bias, factory)
        perm = butterfly.check_permutation(permutation, N, "permutation")
        self.permutation = permutation if isinstance(permutation, str) or permutation is None else "custom"
        self.register_buffer("perm", None if perm is None else perm.to(device=device))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the twiddles (``init``) and the bias; reproducible when ``seed`` is set."""
        g = self._generator()
        shape = (self.levels, self.in_features // 2)
        if self.init == "identity":
            t = torch.eye(2, dtype=torch.float64).expand(*shape, 2, 2)
        else:
            t = butterfly.random_blocks(shape, self.init, g)
        with torch.no_grad():
            self.twiddle.copy_(t)
        self._reset_bias(g)

    def factors(self) -> list[torch.Tensor]:
        r"""The :math:`L` factors as views of ``twiddle``, level :math:`\ell` of shape
        :math:`(2^{\ell-1}, N/2^\ell, 2, 2)` (the input of :func:`sparselab.factorization.butterfly_apply`)."""
        N = self.in_features
        return [self.twiddle[l].view(2**l, N // 2 ** (l + 1), 2, 2) for l in range(self.levels)]

    def dense_weight(self) -> torch.Tensor:
        r"""The :math:`N \times N` weight :math:`W = B_1\cdots B_L P` (``nn.Linear`` convention, differentiable)."""
        B = butterfly.butterfly_dense(self.factors())
        if self.perm is None:
            return B
        return B.index_select(1, torch.argsort(self.perm))  # (B P)[:, perm[j]] = B[:, j]

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input(input)
        x = input if self.perm is None else input.index_select(-1, self.perm)
        y = butterfly.butterfly_apply(self.factors(), x)
        return y if self.bias is None else y + self.bias

    @classmethod
    def from_dense(cls, weight, bias=None, order: str = "balanced", permutation=None) -> ButterflyLinear:
        r"""A layer whose weight is the butterfly factorisation of ``weight`` (:math:`N \times N`, :math:`N = 2^L`).

        :func:`sparselab.factorization.butterfly_factorize` approximates :math:`W P^\top` (the columns
        ``weight[:, perm]``) by :math:`B_1\cdots B_L` with the hierarchical algorithm of Le et al. 2024
        (``order`` of the rank-one splittings: ``"balanced"``, ``"left_to_right"``, ``"right_to_left"``),
        in float64; the layer takes the device and dtype of ``weight``. ``init_error`` holds
        :math:`\|W - W_\text{layer}\|_F` and ``init_relative_error`` the same divided by :math:`\|W\|_F`.
        """
        W = cls._check_weight(weight, cls.__name__)
        N = W.shape[0]
        if N < 2 or not butterfly.is_power_of_two(N):
            raise ValueError(
                f"weight must be N x N with N a power of two >= 2 for ButterflyLinear, got shape "
                f"{tuple(W.shape)}; use MonarchLinear.from_dense for other sizes"
            )
        check_choice(order, "order", ("balanced", "left_to_right", "right_to_left"))
        layer = cls(
            N, bias=bias is not None, device=W.device, dtype=W.dtype, init="identity", permutation=permutation, seed=0
        )
        perm = None if layer.perm is None else layer.perm.cpu()  # butterfly_factorize checks it on the CPU
        res = butterfly.butterfly_factorize(W.to(torch.float64), order=order, perm=perm)
        with torch.no_grad():
            for l, f in enumerate(res.factors):
                layer.twiddle[l].copy_(f.reshape(N // 2, 2, 2))
        layer._finish_from_dense(W, bias)
        return layer

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
            f"levels={self.levels}, permutation={self.permutation!r}" + self._repr_tail()
        )


class MonarchLinear(_SquareStructuredLinear):
    r"""Square linear layer whose weight is a Monarch matrix (Dao et al. 2022).

    For :math:`N = mn` (``blocks`` :math:`= m`, block size :math:`n`) the weight is

    .. math::

        W = X Y, \qquad \operatorname{supp}(X) = \mathbf 1_{m\times m} \otimes I_n, \quad
        \operatorname{supp}(Y) = I_m \otimes \mathbf 1_{n\times n},

    :math:`Y` block-diagonal with :math:`m` dense :math:`n\times n` blocks and :math:`X` an
    :math:`m\times m` grid of diagonal :math:`n\times n` blocks, i.e. (conjugating :math:`X` by the
    perfect shuffle) the :math:`P L P^\top R` of Dao et al. 2022. With entries
    ``X[r*n + k, s*n + k] = left[k, r, s]`` and ``Y[i*n + r, i*n + s] = right[i, r, s]`` the
    parameters are ``left`` :math:`(n, m, m)` and ``right`` :math:`(m, n, n)` (the compact
    Kronecker-sparse layouts :math:`(1, n, m, m)` and :math:`(m, 1, n, n)`): :math:`N(m + n)`
    (+ :math:`N` bias) numbers, :math:`2N^{3/2}` for :math:`m = n = \sqrt N`. The forward is
    :math:`y = X(Yx) + b` (:func:`sparselab.factorization.monarch_apply`), :math:`O(N(m+n))` per vector,
    equal to :class:`torch.nn.Linear` with ``weight = dense_weight()``.

    Parameters
    ----------
    in_features, out_features, bias, device, dtype
        As for :class:`torch.nn.Linear`; ``out_features`` (default ``None``) must equal ``in_features``.
    blocks
        :math:`m`, a divisor of :math:`N`; default :math:`\sqrt N` (then :math:`N` must be a perfect square).
    init
        ``"orthogonal"`` (default): every block Haar-orthogonal, so :math:`W` is orthogonal;
        ``"gaussian"``: entries :math:`\mathcal N(0, 1/m)` in ``left`` and :math:`\mathcal N(0, 1/n)` in
        ``right`` (each row of :math:`X` has :math:`m` non-zeros, of :math:`Y` :math:`n`), which preserves
        :math:`\mathbb E\|x\|^2`; ``"identity"``: :math:`W = I`. Bias uniform in :math:`\pm 1/\sqrt N`.
    seed
        Seed of a local :class:`torch.Generator` for the initialisation; ``None``: the global RNG.

    Notes
    -----
    :meth:`from_dense` / :meth:`from_linear` use :func:`sparselab.factorization.monarch_project`, the
    Frobenius-optimal Monarch approximation (one rank-one SVD per :math:`(k, i)` pair of blocks).
    """

    _INITS = ("orthogonal", "gaussian", "identity")

    def __init__(
        self,
        in_features: int,
        out_features: int | None = None,
        bias: bool = True,
        device=None,
        dtype=None,
        *,
        blocks: int | None = None,
        init: str = "orthogonal",
        seed: int | None = None,
    ):
        super().__init__()
        N = check_int(in_features, "in_features", low=1)
        if blocks is None:
            m = math.isqrt(N)
            if m * m != N:
                raise ValueError(
                    f"in_features={N} is not a perfect square, so MonarchLinear cannot use the default "
                    f"blocks=sqrt(N); pass blocks=m for a divisor m of {N} "
                    f"(e.g. blocks={monarch.monarch_blocks(N)})"
                )
        else:
            m = check_int(blocks, "blocks", low=1, high=N)
            if N % m:
                raise ValueError(
                    f"blocks must divide in_features={N}, got blocks={m} (e.g. blocks={monarch.monarch_blocks(N)})"
                )
        factory = {"device": device, "dtype": dtype}
        self._setup(N, out_features, init, seed)
        self.blocks, self.block_size = m, N // m
        self.left = nn.Parameter(torch.empty(self.block_size, m, m, **factory))
        self.right = nn.Parameter(torch.empty(m, self.block_size, self.block_size, **factory))
        self._make_bias(bias, factory)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw ``left``, ``right`` (``init``) and the bias; reproducible when ``seed`` is set."""
        g = self._generator()
        m, n = self.blocks, self.block_size
        if self.init == "gaussian":
            left = torch.randn(n, m, m, generator=g, dtype=torch.float64) / math.sqrt(m)
            right = torch.randn(m, n, n, generator=g, dtype=torch.float64) / math.sqrt(n)
        elif self.init == "orthogonal":
            left, right = self._haar(n, m, g), self._haar(m, n, g)
        else:
            left = torch.eye(m, dtype=torch.float64).expand(n, m, m)
            right = torch.eye(n, dtype=torch.float64).expand(m, n, n)
        with torch.no_grad():
            self.left.copy_(left)
            self.right.copy_(right)
        self._reset_bias(g)

    @staticmethod
    def _haar(count: int, size: int, g: torch.Generator | None) -> torch.Tensor:
        """``count`` Haar-distributed orthogonal ``size x size`` matrices (QR of a Gaussian, signs fixed)."""
        Q, R = torch.linalg.qr(torch.randn(count, size, size, generator=g, dtype=torch.float64))
        d = torch.diagonal(R, dim1=-2, dim2=-1)
        return Q * torch.where(d < 0, -1.0, 1.0).to(Q.dtype).unsqueeze(-2)

    def dense_weight(self) -> torch.Tensor:
        r"""The :math:`N \times N` weight :math:`W = XY` (``nn.Linear`` convention, differentiable)."""
        return monarch.monarch_dense(self.left.unsqueeze(0), self.right.unsqueeze(1))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input(input)
        y = monarch.monarch_apply(self.left.unsqueeze(0), self.right.unsqueeze(1), input)
        return y if self.bias is None else y + self.bias

    @classmethod
    def from_dense(cls, weight, bias=None, blocks: int | None = None) -> MonarchLinear:
        r"""A layer whose weight is the Frobenius-optimal Monarch approximation of ``weight`` (:math:`N\times N`).

        Computed by :func:`sparselab.factorization.monarch_project` in float64 (the layer takes the device and
        dtype of ``weight``); ``init_error`` holds :math:`\|W - XY\|_F` and ``init_relative_error`` the
        same divided by :math:`\|W\|_F`.
        """
        W = cls._check_weight(weight, cls.__name__)
        layer = cls(
            W.shape[0], bias=bias is not None, device=W.device, dtype=W.dtype, blocks=blocks, init="identity", seed=0
        )
        res = monarch.monarch_project(W.to(torch.float64), blocks=layer.blocks)
        with torch.no_grad():
            layer.left.copy_(res.left.reshape(layer.left.shape))
            layer.right.copy_(res.right.reshape(layer.right.shape))
        layer._finish_from_dense(W, bias)
        return layer

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
            f"blocks={self.blocks}, block_size={self.block_size}" + self._repr_tail()
        )
