r"""Metrics: prediction error and agreement of a learned support with a planted one.

Support agreement treats the learned mask :math:`\hat M` and the planted support
:math:`M^\star` as sets of connections:
precision :math:`|\hat M \cap M^\star| / |\hat M|`, recall
:math:`|\hat M \cap M^\star| / |M^\star|`, and :math:`F_1` their harmonic mean.
Hidden neurons of a network can be relabelled without changing the function, so
for a first layer the rows of :math:`\hat M` are first matched to the rows of
:math:`M^\star` by a maximum-overlap assignment (Hungarian algorithm) when
``match_rows=True``.
"""

from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment

__all__ = ["mse", "support_match", "feature_support", "planted_support_match", "mask_flips"]


@torch.no_grad()
def mse(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 8192) -> float:
    """Mean squared error of ``model`` on ``(X, y)`` in evaluation mode, in chunks."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=X.device, dtype=torch.float64)
    for i in range(0, len(X), batch_size):
        pred = model(X[i:i + batch_size]).float()
        total += ((pred - y[i:i + batch_size]) ** 2).sum(dtype=torch.float64)
    model.train(was_training)
    return float(total / y.numel())


def feature_support(mask: torch.Tensor) -> torch.Tensor:
    """Input features a layer uses at all: column ``j`` is in the support if any row keeps it."""
    return mask.bool().any(dim=0)


def support_match(learned: torch.Tensor, planted: torch.Tensor, *, match_rows: bool = False) -> dict:
    """Precision, recall and F1 of ``learned`` against ``planted`` (boolean masks).

    With ``match_rows`` the rows (hidden neurons) of ``learned`` are permuted to best
    overlap those of ``planted`` first; shapes may then differ in the number of rows
    (unmatched rows count as false positives or misses). Returns a dict with
    ``precision``, ``recall``, ``f1``, ``true_positives`` and, with ``match_rows``,
    ``row_assignment`` (planted row -> learned row).
    """
    learned = learned.detach().bool().cpu()
    planted = planted.detach().bool().cpu()
    if learned.shape[1:] != planted.shape[1:] or (not match_rows and learned.shape != planted.shape):
        raise ValueError(f"learned mask shape {tuple(learned.shape)} does not match planted support "
                         f"shape {tuple(planted.shape)}")
    result = {}
    if match_rows:
        overlap = (planted.double().reshape(len(planted), -1) @ learned.double().reshape(len(learned), -1).T).numpy()
        p_rows, l_rows = linear_sum_assignment(-overlap)
        tp = int(overlap[p_rows, l_rows].sum())
        result["row_assignment"] = dict(zip(p_rows.tolist(), l_rows.tolist()))
    else:
        tp = int((learned & planted).sum())
    n_learned, n_planted = int(learned.sum()), int(planted.sum())
    precision = tp / n_learned if n_learned else float("nan")
    recall = tp / n_planted if n_planted else float("nan")
    f1 = 2 * tp / (n_learned + n_planted) if (n_learned + n_planted) else float("nan")
    result.update(precision=precision, recall=recall, f1=f1, true_positives=tp)
    return result


def planted_support_match(learned: torch.Tensor, data) -> dict:
    """Agreement of a first-layer mask with the planted support of ``data`` (a ``RegressionData``).

    ``nonlinear`` teacher: connection level, rows (hidden neurons) matched first.
    ``linear`` teacher: its matrix is ``(out_features, in_features)`` while the first
    layer is ``(hidden, in_features)``, so the comparison is at feature level — the
    input columns used at all (:func:`feature_support` of both). The result of
    :func:`support_match` gets a ``level`` entry naming which.
    """
    planted = data.planted_support
    if data.kind == "linear":
        match = support_match(feature_support(learned), feature_support(planted))
        match["level"] = "feature"
    else:
        match = support_match(learned, planted, match_rows=True)
        match["level"] = "connection (rows matched)"
    return match


def mask_flips(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Number of connections that changed state between two boolean masks (a 0-dim tensor, no sync)."""
    return (before != after).sum()

