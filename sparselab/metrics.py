r"""Metrics: prediction error, and agreement of a found support with a true (planted) one.

**Errors.** :func:`relative_error` is :math:`\lVert \hat y - y\rVert_2 / \lVert y\rVert_2` (always the true
value first, as in scikit-learn's metrics) and :func:`psnr` the peak signal-to-noise ratio
:math:`20\log_{10}\max_i|y_i| - 10\log_{10}\operatorname{MSE}` in decibels; :func:`mse` evaluates a model.

**Support agreement.** A support is the set of non-zero entries (of a boolean mask, or of a weight
tensor). For a found support :math:`\hat S` and a true support :math:`S^\star` with
:math:`t = |\hat S \cap S^\star|` true positives,

.. math::

    \text{precision} = \frac{t}{|\hat S|}, \qquad \text{recall} = \frac{t}{|S^\star|}, \qquad
    F_1 = \frac{2t}{|\hat S| + |S^\star|} .

*The one convention for empty sets* (:func:`precision_recall_f1`, used by every chapter): a found support
that is empty has precision 1 (it claims nothing false), a true support that is empty has recall 1 (there
is nothing to miss), and :math:`F_1 = 1` when both are empty; otherwise the formulas above apply, so an
empty found support against a non-empty true one has recall 0 and :math:`F_1 = 0`.

Hidden neurons of a network can be relabelled without changing its function, so for a first layer the rows
of the found support are first matched to those of the true one (:func:`support_match` with
``match="overlap"``: the assignment of maximum overlap; ``match="weights"``: the assignment that minimises
:math:`\sum_j \lVert \hat w_{\pi(j)} - w^\star_j\rVert^2`, both by the Hungarian algorithm).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from sparselab._validation import check_finite

__all__ = [
    "mse",
    "relative_error",
    "psnr",
    "precision_recall_f1",
    "support_match",
    "feature_support",
    "planted_support_match",
    "mask_flips",
]

MATCHES = (None, "overlap", "weights")


@torch.no_grad()
def mse(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 8192) -> float:
    """Mean squared error of ``model`` on ``(X, y)`` in evaluation mode, in chunks."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=X.device, dtype=torch.float64)
    for i in range(0, len(X), batch_size):
        pred = model(X[i : i + batch_size]).float()
        total += ((pred - y[i : i + batch_size]) ** 2).sum(dtype=torch.float64)
    model.train(was_training)
    return float(total / y.numel())


def feature_support(mask: torch.Tensor) -> torch.Tensor:
    """Input features a layer uses at all: column ``j`` is in the support if any row keeps it."""
    return mask.bool().any(dim=0)


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
        match = support_match(learned, planted, match="overlap")
        match["level"] = "connection (rows matched)"
    return match


def mask_flips(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Number of connections that changed state between two boolean masks (a 0-dim tensor, no sync)."""
    return (before != after).sum()


def _to_numpy(a, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a, dtype=np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _to_float64(a, name: str) -> torch.Tensor:
    t = torch.as_tensor(a.detach() if torch.is_tensor(a) else np.asarray(a)).to(dtype=torch.float64, device="cpu")
    return check_finite(t, name)


def relative_error(y_true, y_pred) -> float:
    r""":math:`\lVert \hat y - y\rVert_2 / \lVert y\rVert_2` over all entries, in float64.

    Parameters
    ----------
    y_true, y_pred : torch.Tensor or numpy.ndarray
        The true values :math:`y` and the estimate :math:`\hat y`, of one shape (any number of
        dimensions; the norm is over every entry).

    Raises
    ------
    ValueError
        When the shapes differ, an entry is not finite, or :math:`y = 0` (the relative error is then
        undefined).
    """
    t, p = _to_float64(y_true, "y_true"), _to_float64(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {tuple(t.shape)} and {tuple(p.shape)}")
    norm = float(t.norm())
    if norm == 0:
        raise ValueError("y_true is all zeros: the relative error is undefined")
    return float((p - t).norm()) / norm


def psnr(y_true, y_pred) -> float:
    r"""Peak signal-to-noise ratio :math:`20\log_{10}\max|y| - 10\log_{10}\operatorname{MSE}` in dB (``inf`` if exact)."""
    t, p = _to_numpy(y_true, "y_true"), _to_numpy(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {t.shape} and {p.shape}")
    peak = np.abs(t).max()
    if peak == 0:
        raise ValueError("y_true is all zeros: PSNR is undefined")
    mse = float(np.mean((t - p) ** 2))
    return math.inf if mse == 0 else 20 * math.log10(peak) - 10 * math.log10(mse)


def precision_recall_f1(true_positives: int, n_found: int, n_true: int) -> tuple[float, float, float]:
    r"""Precision :math:`t/|\hat S|`, recall :math:`t/|S^\star|` and :math:`F_1 = 2t/(|\hat S| + |S^\star|)`.

    The book's one convention for empty sets: precision is 1 when nothing was found, recall is 1 when there
    was nothing to find, and :math:`F_1` is 1 when both are empty.

    Raises
    ------
    ValueError
        When a count is negative or ``true_positives`` exceeds ``n_found`` or ``n_true``.
    """
    t, f, s = int(true_positives), int(n_found), int(n_true)
    if min(t, f, s) < 0 or t > min(f, s):
        raise ValueError(
            f"need 0 <= true_positives <= min(n_found, n_true), got true_positives={t}, n_found={f}, n_true={s}"
        )
    precision = t / f if f else 1.0
    recall = t / s if s else 1.0
    f1 = 2 * t / (f + s) if f + s else 1.0
    return precision, recall, f1


def support_match(found, true, *, match: str | None = None) -> dict:
    r"""Precision, recall and :math:`F_1` of the support of ``found`` against that of ``true``.

    Parameters
    ----------
    found, true : torch.Tensor or numpy.ndarray
        Boolean masks, or weight tensors whose non-zero entries are the support.
    match : None, "overlap" or "weights"
        ``None``: entry by entry (the shapes must be equal). ``"overlap"``: the rows (hidden neurons) of
        ``found`` are first permuted to the assignment of maximum support overlap with the rows of
        ``true``; ``"weights"``: to the assignment that minimises
        :math:`\sum_j \lVert \hat w_{\pi(j)} - w^\star_j\rVert^2` (``found`` and ``true`` are then weights,
        ``(rows, ...)``; rows are padded with zero rows to a common count). With a match the row counts
        may differ (unmatched rows count as false positives or misses) but the other dimensions must agree.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` (:func:`precision_recall_f1`) and ``true_positives``; with
        ``match="overlap"`` also ``row_assignment`` (true row -> found row); with ``match="weights"`` also
        ``weight_error`` :math:`\lVert \hat W_\pi - W^\star\rVert_F / \lVert W^\star\rVert_F` (the absolute
        error when :math:`W^\star = 0`) and ``permutation`` (the found row matched to each true row, -1 for
        a padding row).
    """
    if match not in MATCHES:
        raise ValueError(f"match must be one of {MATCHES}, got {match!r}")
    if match == "weights":
        return _match_weights(found, true)
    learned = (found.detach().cpu() if torch.is_tensor(found) else torch.as_tensor(np.asarray(found))) != 0
    planted = (true.detach().cpu() if torch.is_tensor(true) else torch.as_tensor(np.asarray(true))) != 0
    if learned.shape[1:] != planted.shape[1:] or (match is None and learned.shape != planted.shape):
        raise ValueError(
            f"found support shape {tuple(learned.shape)} does not match true support shape {tuple(planted.shape)}"
        )
    result = {}
    if match == "overlap":
        overlap = (planted.double().reshape(len(planted), -1) @ learned.double().reshape(len(learned), -1).T).numpy()
        p_rows, l_rows = linear_sum_assignment(-overlap)
        tp = int(overlap[p_rows, l_rows].sum())
        result["row_assignment"] = dict(zip(p_rows.tolist(), l_rows.tolist()))
    else:
        tp = int((learned & planted).sum())
    precision, recall, f1 = precision_recall_f1(tp, int(learned.sum()), int(planted.sum()))
    result.update(precision=precision, recall=recall, f1=f1, true_positives=tp)
    return result


def _match_weights(found, true) -> dict:
    P, R = _to_numpy(true, "true"), _to_numpy(found, "found")
    if P.ndim < 2 or R.ndim < 2 or P.shape[1:] != R.shape[1:]:
        raise ValueError(
            f"found and true must be (rows, ...) with the same trailing shape, got {R.shape} and {P.shape}"
        )
    m, p = P.shape[0], R.shape[0]
    size = max(m, p)
    Pf = np.zeros((size, int(np.prod(P.shape[1:]))))
    Rf = np.zeros_like(Pf)
    Pf[:m] = P.reshape(m, -1)
    Rf[:p] = R.reshape(p, -1)
    cost = (Pf**2).sum(1)[:, None] + (Rf**2).sum(1)[None, :] - 2 * Pf @ Rf.T
    rows, cols = linear_sum_assignment(cost)
    R_perm = Rf[cols[np.argsort(rows)]]
    sp, sr = Pf != 0, R_perm != 0
    tp = int((sp & sr).sum())
    precision, recall, f1 = precision_recall_f1(tp, int(sr.sum()), int(sp.sum()))
    norm = np.linalg.norm(Pf)
    perm = cols[np.argsort(rows)][:m]
    perm = np.where(perm < p, perm, -1)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "true_positives": tp,
        "weight_error": float(np.linalg.norm(R_perm - Pf) / norm) if norm else float(np.linalg.norm(R_perm)),
        "permutation": perm,
    }
