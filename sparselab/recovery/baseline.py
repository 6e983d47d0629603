r"""Iterative magnitude pruning with rewinding on a bias-free two-layer MLP: the baseline of the recovery chapter.

The same data, the same number of first-layer non-zeros as IHT (:func:`sparselab.recovery.iht`); the network is
trained densely, pruned by global magnitude and rewound, round after round, until exactly ``nnz`` weights remain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from sparselab._validation import check_choice, check_float, check_int
from sparselab.recovery.operator import as_tensor, check_xy

__all__ = [
    "IMPBaseline",
    "imp_baseline",
]


# ----------------------------------------------------------------------------- IMP baseline


@dataclass
class IMPBaseline:
    """A bias-free two-layer MLP pruned by :func:`imp_baseline`; ``nnz`` counts first-layer non-zeros."""

    model: torch.nn.Module
    nnz: int
    width: int
    task: str
    result: object
    squeeze: bool = True

    def predict(self, X):
        is_numpy = isinstance(X, np.ndarray)
        p = next(self.model.parameters())
        Xt = as_tensor(X, "X", dtype=p.dtype, device=p.device)
        with torch.no_grad():
            out = self.model(Xt)
        if self.task == "regression" and self.squeeze:
            out = out[:, 0]
        return out.detach().cpu().numpy() if is_numpy else out


def imp_baseline(
    X,
    y,
    *,
    nnz: int,
    width: int,
    rounds: int | None = None,
    alpha: float = 0.5,
    epochs: int = 300,
    lr: float = 3e-2,
    batch_size: int | None = None,
    task: str = "regression",
    seed: int = 0,
    device="auto",
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
) -> IMPBaseline:
    r"""Iterative magnitude pruning baseline: a dense bias-free MLP :math:`d \to p \to K`.

    Trained with Adam (``epochs`` passes, full batch unless ``batch_size``), then the
    first layer is pruned globally by magnitude, :math:`\alpha` of the surviving weights
    per round, rewound to initialisation and retrained, until exactly ``nnz`` remain
    (:func:`sparselab.pruning.iterative_magnitude_pruning`; the number of rounds is
    :math:`\lceil \log(s/dp) / \log(1-\alpha)\rceil` unless ``rounds`` is given). The
    second layer (one weight per neuron and output) is not pruned. ``task``:
    ``"regression"`` (squared error; ``y`` real) or ``"classification"``
    (cross-entropy; ``y`` integer labels).
    """
    from sparselab.data import ClassificationData, RegressionData
    from sparselab.nn.models import MLP
    from sparselab.pruning.schedules import iterative_magnitude_pruning
    from sparselab.training import TrainConfig, train

    check_choice(task, "task", ("regression", "classification"))
    width = check_int(width, "width", low=1)
    nnz = check_int(nnz, "nnz", low=1)
    alpha = check_float(alpha, "alpha", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    epochs = check_int(epochs, "epochs", low=1)
    lr = check_float(lr, "lr", low=0.0, low_inclusive=False)
    seed = check_int(seed, "seed", low=0)
    if task == "regression":
        Xt, Yt, squeeze = check_xy(X, y, dtype=dtype, device="cpu")
        K = Yt.shape[1]
        data = RegressionData(Xt, Yt, Xt, Yt, kind="custom")
    else:
        Xt = as_tensor(X, "X", dtype=dtype)
        yt = as_tensor(y, "y", dtype=torch.int64)
        if Xt.ndim != 2 or yt.ndim != 1 or len(Xt) != len(yt):
            raise ValueError(f"X must be (n, d) and y (n,) integer labels, got {tuple(Xt.shape)} and {tuple(yt.shape)}")
        K = int(yt.max()) + 1
        squeeze = False
        data = ClassificationData(Xt, yt, Xt, yt, n_classes=max(K, 2))
        K = max(K, 2)
    d = Xt.shape[1]
    if nnz > d * width:
        raise ValueError(f"nnz must be in [1, {d * width}] (in_features * width = {d} * {width}), got {nnz}")
    if rounds is not None:
        rounds = check_int(rounds, "rounds", low=1)
    torch.manual_seed(seed)
    model = MLP(d, [width], K, bias=False, dtype=dtype)
    config = TrainConfig(
        epochs=epochs,
        batch_size=batch_size or len(Xt),
        lr=lr,
        seed=seed,
        device=str(device),
        progress=False,
        track_flips=False,
    )
    density = nnz / (d * width)
    if nnz == d * width:
        result = train(model, data, config)
    else:
        if rounds is None:
            rounds = max(1, math.ceil(math.log(density) / math.log(1 - alpha) - 1e-9))
        result = iterative_magnitude_pruning(
            model, data, config, final_density=density, rounds=rounds, layers=["fc1"], progress=progress
        )
    model = model.cpu()
    return IMPBaseline(model=model, nnz=_first_layer_nnz(model), width=width, task=task, result=result, squeeze=squeeze)


def _first_layer_nnz(model) -> int:
    from sparselab.pruning.modules import effective_weight

    return int((effective_weight(model.fc1) != 0).sum())
