r"""The networks of the chapters: the book's regression model, a (sparse) multi-layer perceptron and a CNN.

``SparseMLP``
    ``Input -> SparseLinear -> ReLU -> Linear -> Output``, the learned-masks chapter's model.
``MLP``
    :math:`f(x) = W_{L+1}\,\operatorname{relu}(W_L \cdots \operatorname{relu}(W_1 x + b_1) \cdots + b_L) + b_{L+1}`,
    hidden layers named ``fc1 ... fcL`` and the output layer ``out``. With ``mask=None``
    every layer is an :class:`torch.nn.Linear`; with a mask kind the hidden layers are
    :class:`sparselab.SparseLinear` (learned masks at a fixed density) and the output
    layer stays dense.
``DigitsCNN``
    For :math:`1 \times 8 \times 8` images:
    ``conv1`` (3x3, padding 1) :math:`\to` ReLU :math:`\to` ``conv2`` (3x3, padding 1)
    :math:`\to` ReLU :math:`\to` 2x2 max-pool :math:`\to` flatten :math:`\to` ``fc``.
    The convolutions keep the :math:`8 \times 8` size, the pool halves it, so ``fc``
    reads :math:`c_2 \cdot 4 \cdot 4` values, channel-major (channel :math:`j` owns the
    columns :math:`16j, \dots, 16j + 15`).

Neither model seeds itself: call :func:`torch.manual_seed` before constructing one.
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from sparselab._validation import check_choice, check_int, resolve_density
from sparselab.masks import MASK_KINDS
from sparselab.nn.layers import SparseLinear

__all__ = ["SparseMLP", "MLP", "DigitsCNN"]


class SparseMLP(nn.Module):
    """``Input -> SparseLinear -> ReLU -> Linear -> Output``, the book's regression model.

    ``width`` is the number of hidden units (the rows of the sparse layer). Keyword arguments other than the
    sizes go to the :class:`SparseLinear` layer.
    """

    def __init__(
        self, in_features: int, width: int, out_features: int = 1, *, device=None, dtype=None, **sparse_kwargs
    ):
        super().__init__()
        self.sparse = SparseLinear(in_features, width, device=device, dtype=dtype, **sparse_kwargs)
        self.out = nn.Linear(
            check_int(width, "width", low=1),
            check_int(out_features, "out_features", low=1),
            device=device,
            dtype=dtype,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.sparse(x)))


def _check_sizes(value, name: str) -> tuple[int, ...]:
    """A positive int or a sequence of positive ints, as a tuple."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return (check_int(value, name, low=1),)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a positive integer or a sequence of positive integers, got {value!r}")
    sizes = tuple(value)
    if not sizes:
        raise ValueError(f"{name} must hold at least one size (a positive integer), got {value!r}")
    return tuple(check_int(v, f"{name}[{i}]", low=1) for i, v in enumerate(sizes))


class MLP(nn.Module):
    r"""Multi-layer perceptron with ReLU activations, optionally with sparse hidden layers.

    .. math::

        h_0 = x, \qquad h_\ell = \operatorname{relu}(W_\ell h_{\ell-1} + b_\ell)\ (\ell = 1..L),
        \qquad f(x) = W_{L+1} h_L + b_{L+1}.

    Parameters
    ----------
    in_features : int
        Input dimension :math:`D \ge 1` (64 for flat digits).
    widths : int or sequence of int
        Width(s) of the :math:`L \ge 1` hidden layers, each :math:`\ge 1`.
    out_features : int
        Number of outputs (logits) :math:`\ge 1`.
    mask : {None, "hard", "soft", "sigmoid"}
        ``None``: every layer is :class:`torch.nn.Linear`. Otherwise the hidden layers
        are :class:`sparselab.SparseLinear` with that mask kind and the output layer
        stays a dense :class:`torch.nn.Linear`.
    density, sparsity : float, optional
        Density :math:`d \in (0, 1]` (or sparsity :math:`1 - d \in [0, 1)`) of every
        sparse hidden layer; at most one, and only with a ``mask``. Default: dense.
    bias : bool
        Whether every layer has a bias (default ``True``). ``bias=False`` gives the
        bias-free network :math:`f(x) = W_{L+1}\operatorname{relu}(\cdots \operatorname{relu}(W_1 x))`
        of the recovery chapter.
    **sparse_kwargs
        Further :class:`sparselab.SparseLinear` options (``straight_through``,
        ``dense_weight_grad``, ``temperature``, ``device``, ``dtype``); only with a
        ``mask``, except ``device`` and ``dtype``, which go to every layer.

    Attributes
    ----------
    hidden_layers : list of str
        Names of the hidden layers, ``["fc1", ..., "fcL"]`` — the layers to prune.
    output_layer : str
        Name of the output layer, ``"out"``.
    in_features, out_features, widths : int, int, tuple of int
        The sizes.
    """

    def __init__(
        self,
        in_features: int,
        widths,
        out_features: int,
        *,
        mask: str | None = None,
        density: float | None = None,
        sparsity: float | None = None,
        bias: bool = True,
        **sparse_kwargs,
    ):
        super().__init__()
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        self.bias = bias
        self.in_features = check_int(in_features, "in_features", low=1)
        self.widths = _check_sizes(widths, "widths")
        self.out_features = check_int(out_features, "out_features", low=1)
        factory = {key: sparse_kwargs.pop(key) for key in ("device", "dtype") if key in sparse_kwargs}
        if mask is None:
            if density is not None or sparsity is not None:
                raise ValueError(
                    f"density/sparsity need a sparse mask: pass mask as one of "
                    f"{', '.join(repr(m) for m in MASK_KINDS)} (got mask=None, density={density!r}, "
                    f"sparsity={sparsity!r})"
                )
            if sparse_kwargs:
                raise TypeError(
                    f"SparseLinear options {sorted(sparse_kwargs)} need a sparse mask: pass mask as one "
                    f"of {', '.join(repr(m) for m in MASK_KINDS)}"
                )
            self.mask_kind = None
            self.target_density = 1.0
        else:
            self.mask_kind = check_choice(mask, "mask", MASK_KINDS)
            self.target_density = resolve_density(density, sparsity)
        self.hidden_layers: list[str] = []
        width = self.in_features
        for i, h in enumerate(self.widths, start=1):
            if self.mask_kind is None:
                layer = nn.Linear(width, h, bias=bias, **factory)
            else:
                layer = SparseLinear(
                    width, h, density=self.target_density, mask=self.mask_kind, bias=bias, **factory, **sparse_kwargs
                )
            self.add_module(f"fc{i}", layer)
            self.hidden_layers.append(f"fc{i}")
            width = h
        self.out = nn.Linear(width, self.out_features, bias=bias, **factory)
        self.output_layer = "out"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.hidden_layers:
            x = torch.relu(getattr(self, name)(x))
        return self.out(x)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, widths={self.widths}, out_features={self.out_features}, "
            f"mask={self.mask_kind!r}" + ("" if self.mask_kind is None else f", density={self.target_density:g}")
        )


class DigitsCNN(nn.Module):
    r"""Two 3x3 convolutions, a 2x2 max-pool and a linear classifier, for :math:`1 \times 8 \times 8` images.

    .. math::

        z_1 = \operatorname{relu}(K_1 * x + b_1) \in \mathbb R^{c_1 \times 8 \times 8},\quad
        z_2 = \operatorname{relu}(K_2 * z_1 + b_2) \in \mathbb R^{c_2 \times 8 \times 8},\quad
        f(x) = W \operatorname{vec}(\operatorname{maxpool}_{2}(z_2)) + b,

    with zero padding 1, so :math:`\operatorname{maxpool}_2(z_2) \in \mathbb R^{c_2 \times 4 \times 4}`
    and :math:`W \in \mathbb R^{C \times 16 c_2}`.

    Parameters
    ----------
    channels : pair of int
        :math:`(c_1, c_2)`, output channels of ``conv1`` and ``conv2``, each :math:`\ge 1`.
    n_classes : int
        Number of logits :math:`C \ge 1`.
    device, dtype
        As for :class:`torch.nn.Conv2d`.

    Attributes
    ----------
    conv1, conv2, fc : the three layers (these names are relied upon, e.g. by
        :func:`sparselab.flops.shrink_channels`).
    input_shape : ``(1, 8, 8)``.
    in_features : 64, the input values per example (matches
        :attr:`sparselab.data.ClassificationData.in_features`).
    """

    input_shape = (1, 8, 8)
    in_features = 64

    def __init__(self, channels=(16, 32), n_classes: int = 10, *, device=None, dtype=None):
        super().__init__()
        sizes = _check_sizes(channels, "channels")
        if len(sizes) != 2:
            raise ValueError(f"channels must be a pair (c1, c2) of positive integers, got {channels!r}")
        self.channels = sizes
        self.n_classes = check_int(n_classes, "n_classes", low=1)
        c1, c2 = sizes
        factory = {"device": device, "dtype": dtype}
        self.conv1 = nn.Conv2d(1, c1, kernel_size=3, padding=1, **factory)
        self.conv2 = nn.Conv2d(c1, c2, kernel_size=3, padding=1, **factory)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(c2 * 4 * 4, self.n_classes, **factory)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"DigitsCNN expects input of shape (batch, 1, 8, 8), got {tuple(x.shape)}; "
                "use sparselab.data.load_digits(image=True)"
            )
        z = torch.relu(self.conv1(x))
        z = torch.relu(self.conv2(z))
        return self.fc(torch.flatten(self.pool(z), 1))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, n_classes={self.n_classes}"
