r"""Synthetic regression targets with a planted sparse structure.

Inputs are standard Gaussian, :math:`x \sim \mathcal N(0, I_D)`. Two teachers:

``linear``
    :math:`y = W^\star x + \sigma\varepsilon`, with :math:`W^\star \in \mathbb R^{m \times D}`
    (``m = out_features``) holding exactly :math:`k = \operatorname{round}(d\,mD)` non-zeros
    on a uniformly random support (every output gets at least one when :math:`k \ge m`).
``nonlinear``
    :math:`y = V^\star \operatorname{relu}(U^\star x) + \sigma\varepsilon`, a planted sparse
    ReLU network of width ``width`` whose first layer
    :math:`U^\star` holds exactly :math:`k` non-zeros (every neuron gets at least one
    when :math:`k \ge` width) and whose second layer :math:`V^\star` is dense.

Non-zero weights are :math:`\pm\,\mathcal U(0.5, 1.5)`, bounded away from zero so
that the support is identifiable. The teacher's output is rescaled so that the
clean training targets have unit standard deviation, which makes the noise level
:math:`\sigma` a noise-to-signal ratio and a test MSE directly a fraction of the
target variance. Everything is drawn from one seeded generator.

For classification, :func:`load_digits` gives scikit-learn's 8x8 handwritten digits
as a :class:`ClassificationData` (stratified split, pixels scaled to [0, 1]), flat
for an MLP or as ``(n, 1, 8, 8)`` images for a CNN. Both data classes carry a
``task`` constant (``"regression"`` / ``"classification"``) from which training
picks its loss.

:func:`load_mnist` reads MNIST (or any data set in the same format, e.g.
Fashion-MNIST) from files the reader supplies: a directory with the four standard
IDX files, plain or gzipped, or one ``.npz`` archive. Nothing is downloaded.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field, replace
from typing import ClassVar

import torch

from sparselab._validation import check_choice, check_density, check_finite, check_float, check_int
from sparselab.masks import keep_count, random_support

TARGET_KINDS = ("linear", "nonlinear")

__all__ = [
    "TARGET_KINDS",
    "RegressionData",
    "ClassificationData",
    "make_regression",
    "planted_sparse_matrix",
    "load_digits",
]


@dataclass
class RegressionData:
    """Train/test split of a regression problem, with the planted teacher where there is one.

    ``planted_weight`` is the teacher's sparse matrix (:math:`W^\\star` or :math:`U^\\star`),
    ``planted_support`` its non-zero pattern; ``teacher`` holds all teacher tensors.
    ``task`` is the class constant ``"regression"`` (a ``ClassVar``, not a field: training
    picks the mean-squared-error loss from it).
    """

    task: ClassVar[str] = "regression"

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    kind: str = "custom"
    planted_weight: torch.Tensor | None = None
    planted_support: torch.Tensor | None = None
    teacher: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("X_train", "y_train", "X_test", "y_test"):
            check_finite(getattr(self, name), name)
        if self.y_train.ndim == 1:
            self.y_train = self.y_train[:, None]
        if self.y_test.ndim == 1:
            self.y_test = self.y_test[:, None]
        if self.X_train.ndim != 2 or self.X_test.ndim != 2:
            raise ValueError(
                f"X_train and X_test must be 2-D (samples, features), got shapes "
                f"{tuple(self.X_train.shape)} and {tuple(self.X_test.shape)}"
            )
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise ValueError(f"X_train has {self.X_train.shape[1]} features but X_test has {self.X_test.shape[1]}")
        if len(self.X_train) != len(self.y_train) or len(self.X_test) != len(self.y_test):
            raise ValueError(
                f"X and y disagree in length: X_train {len(self.X_train)} vs y_train {len(self.y_train)}, "
                f"X_test {len(self.X_test)} vs y_test {len(self.y_test)}"
            )

    @property
    def in_features(self) -> int:
        return self.X_train.shape[1]

    @property
    def out_features(self) -> int:
        return self.y_train.shape[1]

    def to(self, device) -> RegressionData:
        """A copy with every tensor on ``device`` (moved once, before training)."""
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return replace(
            self,
            X_train=move(self.X_train),
            y_train=move(self.y_train),
            X_test=move(self.X_test),
            y_test=move(self.y_test),
            planted_weight=move(self.planted_weight),
            planted_support=move(self.planted_support),
            teacher={k: move(v) for k, v in self.teacher.items()},
        )


@dataclass
class ClassificationData:
    r"""Train/test split of a classification problem with labels :math:`y_i \in \{0, \dots, C-1\}`.

    Parameters
    ----------
    X_train, X_test : torch.Tensor
        Floating-point inputs of shape ``(n, ...)``: ``(n, D)`` for an MLP, ``(n, 1, H, W)``
        for a CNN. Both splits must have the same per-example shape and only finite values.
    y_train, y_test : torch.Tensor
        Integer labels of shape ``(n,)``, stored as ``int64`` (what
        :func:`torch.nn.functional.cross_entropy` expects), each in ``[0, n_classes)``.
    n_classes : int
        Number of classes :math:`C \ge 2`.
    name : str
        A label for reports (``"digits"``, ``"custom"``, ...).

    Notes
    -----
    ``task`` is the class constant ``"classification"`` (a ``ClassVar``, not a field:
    training picks the cross-entropy loss from it). Validation runs in
    ``__post_init__``, so :meth:`to` and :func:`dataclasses.replace` re-check.
    """

    task: ClassVar[str] = "classification"

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    name: str = "custom"

    def __post_init__(self):
        self.n_classes = check_int(self.n_classes, "n_classes", low=2)
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a string, got {self.name!r} of type {type(self.name).__name__}")
        for name in ("X_train", "X_test"):
            X = check_finite(getattr(self, name), name)
            if not X.is_floating_point():
                raise TypeError(f"{name} must be a floating-point tensor, got dtype {X.dtype}")
            if X.ndim < 2:
                raise ValueError(
                    f"{name} must have at least 2 dimensions (samples, features...), got shape {tuple(X.shape)}"
                )
            if len(X) < 1:
                raise ValueError(f"{name} must hold at least 1 example, got shape {tuple(X.shape)}")
        if self.X_train.shape[1:] != self.X_test.shape[1:]:
            raise ValueError(
                f"X_train and X_test must have the same per-example shape (features), got "
                f"{tuple(self.X_train.shape[1:])} and {tuple(self.X_test.shape[1:])}"
            )
        for name in ("y_train", "y_test"):
            y = check_finite(getattr(self, name), name)
            if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
                raise TypeError(
                    f"{name} must be an integer tensor of class labels in [0, {self.n_classes - 1}], "
                    f"got dtype {y.dtype}"
                )
            if y.ndim != 1:
                raise ValueError(f"{name} must be 1-D (samples,), got shape {tuple(y.shape)}")
            if y.dtype != torch.int64:
                y = y.to(torch.int64)
                setattr(self, name, y)
            if len(y) == 0:
                continue  # the length check below names the mismatch
            low, high = int(y.min()), int(y.max())  # one synchronisation per tensor, up front
            if low < 0 or high >= self.n_classes:
                raise ValueError(
                    f"{name} must hold labels in [0, {self.n_classes - 1}] (n_classes={self.n_classes}), "
                    f"got labels in [{low}, {high}]"
                )
        if len(self.X_train) != len(self.y_train) or len(self.X_test) != len(self.y_test):
            raise ValueError(
                f"X and y disagree in length: X_train {len(self.X_train)} vs y_train {len(self.y_train)}, "
                f"X_test {len(self.X_test)} vs y_test {len(self.y_test)}"
            )

    @property
    def in_features(self) -> int:
        r"""Input values per example, :math:`\prod` of ``X_train.shape[1:]`` (64 for 8x8 digits, flat or image)."""
        return self.X_train[0].numel()

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-example input shape, ``X_train.shape[1:]`` (``(64,)`` or ``(1, 8, 8)`` for digits)."""
        return tuple(self.X_train.shape[1:])

    @property
    def out_features(self) -> int:
        """Number of logits a model must output, ``n_classes``."""
        return self.n_classes

    def to(self, device) -> ClassificationData:
        """A copy with every tensor on ``device`` (moved once, before training)."""
        return replace(
            self,
            X_train=self.X_train.to(device),
            y_train=self.y_train.to(device),
            X_test=self.X_test.to(device),
            y_test=self.y_test.to(device),
        )


def planted_sparse_matrix(
    rows: int, cols: int, density: float, generator: torch.Generator, every_row: bool = False
) -> torch.Tensor:
    """A ``rows x cols`` matrix with exactly ``round(density * rows * cols)`` non-zeros ±U(0.5, 1.5).

    With ``every_row`` each row gets one non-zero first (when there are enough), the
    rest of the support being uniformly random among the remaining entries.
    """
    n = rows * cols
    chosen = random_support(rows, cols, keep_count(n, density), generator, cover_rows=every_row).flatten()
    magnitude = 0.5 + torch.rand(n, generator=generator)
    sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    return (sign * magnitude * chosen).view(rows, cols)


def make_regression(
    kind: str = "nonlinear",
    *,
    n_train: int = 2000,
    n_test: int = 1000,
    in_features: int = 32,
    out_features: int = 1,
    width: int = 32,
    density: float = 0.1,
    noise: float = 0.05,
    seed: int = 0,
    dtype=torch.float32,
) -> RegressionData:
    """Draw a seeded regression problem with a planted sparse teacher (see the module docstring).

    Parameters
    ----------
    kind : ``"linear"`` or ``"nonlinear"``
    n_train, n_test : sample counts (``n_train >= 1``, ``n_test >= 1``)
    in_features, out_features : input dimension :math:`D` and output dimension
    width : width of the nonlinear teacher (its hidden units)
    density : fraction of non-zeros in the planted sparse matrix, in (0, 1]
    noise : noise-to-signal ratio :math:`\\sigma \\ge 0`
    seed : seed of the one generator everything is drawn from
    """
    check_choice(kind, "kind", TARGET_KINDS)
    n_train = check_int(n_train, "n_train", low=1)
    n_test = check_int(n_test, "n_test", low=1)
    in_features = check_int(in_features, "in_features", low=1)
    out_features = check_int(out_features, "out_features", low=1)
    width = check_int(width, "width", low=1)
    density = check_density(density)
    noise = check_float(noise, "noise", low=0.0)
    seed = check_int(seed, "seed", low=0)

    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n_train + n_test, in_features, generator=g, dtype=torch.float64)
    if kind == "linear":
        planted = planted_sparse_matrix(out_features, in_features, density, g, every_row=True).double()
        clean = X @ planted.T
        teacher = {"weight": planted}
    else:
        planted = planted_sparse_matrix(width, in_features, density, g, every_row=True).double()
        readout = torch.randn(out_features, width, generator=g, dtype=torch.float64)
        clean = torch.relu(X @ planted.T) @ readout.T
        clean = clean - clean[:n_train].mean(0)
        teacher = {"weight": planted, "readout": readout}
    scale = clean[:n_train].std(0).clamp_min(1e-12)
    clean = clean / scale
    if kind == "linear":
        planted = planted / scale[:, None]
        teacher["weight"] = planted
    else:
        teacher["readout"] = teacher["readout"] / scale[:, None]
        teacher["offset"] = -(torch.relu(X[:n_train] @ planted.T) @ teacher["readout"].T).mean(0)
    y = clean + noise * torch.randn(clean.shape, generator=g, dtype=torch.float64)
    cast = lambda t: t.to(dtype)  # noqa: E731
    return RegressionData(
        X_train=cast(X[:n_train]),
        y_train=cast(y[:n_train]),
        X_test=cast(X[n_train:]),
        y_test=cast(y[n_train:]),
        kind=kind,
        planted_weight=cast(planted),
        planted_support=planted != 0,
        teacher={k: cast(v) for k, v in teacher.items()},
    )


DIGITS_CLASSES = 10


def check_classes(classes) -> tuple[int, ...] | None:
    """``None``, or ``classes`` as a tuple of at least 2 distinct digits in ``0..9``."""
    if classes is None:
        return None
    if isinstance(classes, (str, bytes)) or not hasattr(classes, "__iter__"):
        raise TypeError(f"classes must be a sequence of at least 2 distinct digits in [0, 9], got {classes!r}")
    classes = tuple(classes)
    for c in classes:
        if isinstance(c, bool) or not isinstance(c, numbers.Integral) or not 0 <= int(c) < DIGITS_CLASSES:
            raise ValueError(f"classes must hold integers in [0, 9], got {classes!r}")
    classes = tuple(int(c) for c in classes)
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct, got {classes!r}")
    if len(classes) < 2:
        raise ValueError(f"classes must name at least 2 digits, got {classes!r}")
    return classes


def load_digits(*, test_fraction: float = 0.25, seed: int = 0, image: bool = False, classes=None) -> ClassificationData:
    r"""The UCI handwritten digits (scikit-learn's ``load_digits``) as a stratified train/test split.

    1797 grey-scale images of :math:`8 \times 8` pixels with integer intensities
    :math:`0, \dots, 16`, ten classes (the digits 0-9, about 180 each). The data ship
    with scikit-learn, so nothing is downloaded. Pixels are scaled to :math:`[0, 1]`,
    :math:`x = p / 16`, and stored as ``float32``.

    The split is stratified (:func:`sklearn.model_selection.train_test_split` with
    ``stratify=y`` and ``random_state=seed``): with :math:`n_c` examples of class
    :math:`c` and :math:`n_\text{test} = \lceil f\,n \rceil` test examples in total,
    class :math:`c` gets :math:`n_\text{test}\,n_c / n` test examples up to rounding
    (within one). The same seed gives the same split.

    Parameters
    ----------
    test_fraction : float
        Fraction :math:`f \in (0, 1)` of the examples held out for testing.
    seed : int
        Seed of the split, in :math:`[0, 2^{32} - 1]`.
    image : bool
        ``False``: ``X`` of shape ``(n, 64)`` (row-major pixels) for an MLP; ``True``:
        ``(n, 1, 8, 8)`` for a CNN.
    classes : sequence of int, optional
        Keep only these digits (at least 2 distinct values in ``0..9``) and relabel
        them in the given order: digit ``classes[i]`` gets label ``i``. ``None`` keeps
        all ten with label = digit.

    Returns
    -------
    ClassificationData
        ``n_classes = len(classes)`` (10 by default); ``name`` is ``"digits"`` or,
        with ``classes``, e.g. ``"digits[0,1]"``.
    """
    test_fraction = check_float(
        test_fraction, "test_fraction", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
    )
    seed = check_int(seed, "seed", low=0, high=2**32 - 1)
    if not isinstance(image, bool):
        raise TypeError(f"image must be True or False, got {image!r}")
    classes = check_classes(classes)

    import numpy as np
    from sklearn.datasets import load_digits as _sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = _sk_load_digits()
    X = np.asarray(bunch.data, dtype=np.float32) / np.float32(16.0)
    y = np.asarray(bunch.target, dtype=np.int64)
    name = "digits"
    n_classes = DIGITS_CLASSES
    if classes is not None:
        keep = np.isin(y, classes)
        relabel = np.full(DIGITS_CLASSES, -1, dtype=np.int64)
        relabel[list(classes)] = np.arange(len(classes))
        X, y = X[keep], relabel[y[keep]]
        name = "digits[" + ",".join(str(c) for c in classes) + "]"
        n_classes = len(classes)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_fraction, random_state=seed, stratify=y)
    shape = (1, 8, 8) if image else (64,)
    as_x = lambda a: torch.from_numpy(np.ascontiguousarray(a)).reshape(len(a), *shape)  # noqa: E731
    as_y = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))  # noqa: E731
    return ClassificationData(
        X_train=as_x(X_train),
        y_train=as_y(y_train),
        X_test=as_x(X_test),
        y_test=as_y(y_test),
        n_classes=n_classes,
        name=name,
    )
