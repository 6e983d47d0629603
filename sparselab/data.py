r"""Synthetic regression targets with a planted sparse structure.

Inputs are standard Gaussian, :math:`x \sim \mathcal N(0, I_D)`. Two teachers:

``linear``
    :math:`y = W^\star x + \sigma\varepsilon`, with :math:`W^\star \in \mathbb R^{m \times D}`
    (``m = out_features``) holding exactly :math:`k = \operatorname{round}(d\,mD)` non-zeros
    on a uniformly random support (every output gets at least one when :math:`k \ge m`).
``nonlinear``
    :math:`y = V^\star \operatorname{relu}(U^\star x) + \sigma\varepsilon`, a planted sparse
    ReLU network of width ``hidden_features`` whose first layer
    :math:`U^\star` holds exactly :math:`k` non-zeros (every neuron gets at least one
    when :math:`k \ge` width) and whose second layer :math:`V^\star` is dense.

Non-zero weights are :math:`\pm\,\mathcal U(0.5, 1.5)`, bounded away from zero so
that the support is identifiable. The teacher's output is rescaled so that the
clean training targets have unit standard deviation, which makes the noise level
:math:`\sigma` a noise-to-signal ratio and a test MSE directly a fraction of the
target variance. Everything is drawn from one seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from ._validation import check_choice, check_density, check_finite, check_float, check_int
from .masks import keep_count

TARGET_KINDS = ("linear", "nonlinear")

__all__ = ["TARGET_KINDS", "RegressionData", "make_regression", "planted_sparse_matrix"]


@dataclass
class RegressionData:
    """Train/test split of a regression problem, with the planted teacher where there is one.

    ``planted_weight`` is the teacher's sparse matrix (:math:`W^\\star` or :math:`U^\\star`),
    ``planted_support`` its non-zero pattern; ``teacher`` holds all teacher tensors.
    """

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
            raise ValueError(f"X_train and X_test must be 2-D (samples, features), got shapes "
                             f"{tuple(self.X_train.shape)} and {tuple(self.X_test.shape)}")
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise ValueError(f"X_train has {self.X_train.shape[1]} features but X_test has {self.X_test.shape[1]}")
        if len(self.X_train) != len(self.y_train) or len(self.X_test) != len(self.y_test):
            raise ValueError(f"X and y disagree in length: X_train {len(self.X_train)} vs y_train {len(self.y_train)}, "
                             f"X_test {len(self.X_test)} vs y_test {len(self.y_test)}")

    @property
    def in_features(self) -> int:
        return self.X_train.shape[1]

    @property
    def out_features(self) -> int:
        return self.y_train.shape[1]

    def to(self, device) -> "RegressionData":
        """A copy with every tensor on ``device`` (moved once, before training)."""
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return replace(self, X_train=move(self.X_train), y_train=move(self.y_train),
                       X_test=move(self.X_test), y_test=move(self.y_test),
                       planted_weight=move(self.planted_weight), planted_support=move(self.planted_support),
                       teacher={k: move(v) for k, v in self.teacher.items()})


def planted_sparse_matrix(rows: int, cols: int, density: float, generator: torch.Generator,
                          every_row: bool = False) -> torch.Tensor:
    """A ``rows x cols`` matrix with exactly ``round(density * rows * cols)`` non-zeros ±U(0.5, 1.5).

    With ``every_row`` each row gets one non-zero first (when there are enough), the
    rest of the support being uniformly random among the remaining entries.
    """
    n = rows * cols
    k = keep_count(n, density)
    chosen = torch.zeros(n, dtype=torch.bool)
    if every_row and k >= rows:
        first = torch.randint(cols, (rows,), generator=generator) + torch.arange(rows) * cols
        chosen[first] = True
    remaining = (~chosen).nonzero().squeeze(1)
    extra = k - int(chosen.sum())
    chosen[remaining[torch.randperm(len(remaining), generator=generator)[:extra]]] = True
    magnitude = 0.5 + torch.rand(n, generator=generator)
    sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    return (sign * magnitude * chosen).view(rows, cols)


def make_regression(kind: str = "nonlinear", *, n_train: int = 2000, n_test: int = 1000, in_features: int = 32,
                    out_features: int = 1, hidden_features: int = 32, density: float = 0.1, noise: float = 0.05,
                    seed: int = 0, dtype=torch.float32) -> RegressionData:
    """Draw a seeded regression problem with a planted sparse teacher (see the module docstring).

    Parameters
    ----------
    kind : ``"linear"`` or ``"nonlinear"``
    n_train, n_test : sample counts (``n_train >= 1``, ``n_test >= 1``)
    in_features, out_features : input dimension :math:`D` and output dimension
    hidden_features : width of the nonlinear teacher
    density : fraction of non-zeros in the planted sparse matrix, in (0, 1]
    noise : noise-to-signal ratio :math:`\\sigma \\ge 0`
    seed : seed of the one generator everything is drawn from
    """
    check_choice(kind, "kind", TARGET_KINDS)
    n_train = check_int(n_train, "n_train", low=1)
    n_test = check_int(n_test, "n_test", low=1)
    in_features = check_int(in_features, "in_features", low=1)
    out_features = check_int(out_features, "out_features", low=1)
    hidden_features = check_int(hidden_features, "hidden_features", low=1)
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
        planted = planted_sparse_matrix(hidden_features, in_features, density, g, every_row=True).double()
        readout = torch.randn(out_features, hidden_features, generator=g, dtype=torch.float64)
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
        X_train=cast(X[:n_train]), y_train=cast(y[:n_train]), X_test=cast(X[n_train:]), y_test=cast(y[n_train:]),
        kind=kind, planted_weight=cast(planted), planted_support=planted != 0,
        teacher={k: cast(v) for k, v in teacher.items()})
