r"""Exact recovery of planted sparse ReLU networks by iterative hard thresholding.

After Fridovich-Keil & Pilanci, *A Recovery Guarantee for Sparse Neural Networks*
(arXiv 2509.20323, 2025). A two-layer, bias-free ReLU network with :math:`K` outputs,

.. math::

    f(x)_k = \sum_{j=1}^{p} \operatorname{relu}(x^\top u_j)\, v_{kj},

becomes *linear* in its weights once each neuron's activation pattern is frozen by
a fixed **generator** :math:`h_j \in \mathbb R^d`: with
:math:`D_j = \operatorname{diag}(\mathbb 1[X h_j \ge 0])` and the **fused** weights
:math:`w_{jk} = u_j v_{kj} \in \mathbb R^d`,

.. math::

    Y = A W, \qquad A = [\,D_1 X,\ \dots,\ D_p X\,] \in \mathbb R^{n \times dp},
    \qquad W = \begin{bmatrix} w_{1\cdot} \\ \vdots \\ w_{p\cdot}\end{bmatrix}
    \in \mathbb R^{dp \times K}.

When :math:`h_j \propto \sigma_j u_j` (with :math:`\sigma_j` the sign of
:math:`v_j`) the two models agree: :math:`D_j X w_j = \operatorname{relu}(X u_j)\, v_j`.
A network whose weights have :math:`s` non-zeros gives a fused :math:`W` with at
most :math:`s` non-zeros, so training it is sparse recovery from the linear
measurements :math:`Y`, solved by **iterative hard thresholding** (IHT):

.. math::

    W \leftarrow H_s\bigl(W + \mu\, A^\top (Y - A W)\bigr),

where :math:`H_s` keeps the :math:`s` entries of largest magnitude. The step is the
normalised one of Blumensath & Davies (2010), :func:`sparselab.sensing.normalized_iht_step`:
:math:`\mu = \lVert g_S\rVert^2 / \lVert A g_S\rVert^2` with :math:`g = A^\top(Y - AW)`
restricted to the current support :math:`S`, shrunk, :math:`\mu \leftarrow \mu/(\kappa(1-c))`,
when the support changes and
:math:`\mu > (1-c)\lVert W^+ - W\rVert^2 / \lVert A(W^+ - W)\rVert^2` (:math:`c = 0.01`,
:math:`\kappa = 2`, at most 20 shrinkings per pass). A few
conjugate-gradient steps of least squares on the new support follow
(``refine_steps``; hard-thresholding pursuit when run to convergence).

**Memory.** :math:`A` is never formed. :math:`A^\top r` is streamed over chunks of
``chunk`` neurons, :math:`(A^\top r)_{j} = X^\top (\mathbb 1[X h_j \ge 0] \odot r)`,
which needs :math:`X H_c` (:math:`n \times c`) and gives a :math:`d \times c` block;
the running top-:math:`s` of :math:`W + \mu g` is merged chunk by chunk. Random
generators are re-drawn from the seed when a chunk is visited rather than stored.
What persists between iterations is the :math:`s` (index, value) pairs, the
generators of the active neurons (sparse, :math:`O(s)`) and the :math:`n \times s`
matrix :math:`A_S` of the support's columns, so memory grows linearly in :math:`s`
and does not depend on the width :math:`p` (beyond one chunk).

**Modes.** ``"convex"``: Gaussian generators, fixed (the paper's theory, with random
patterns instead of all of them). ``"sequential"``: after each pass, every active
neuron's generator is re-set to its fused weight, :math:`h_j \leftarrow \sigma_j w_j`
with :math:`\sigma_j = \operatorname{sign}\bigl(\mathbf 1^\top D_j X w_j\bigr)` (the
sign of the neuron's net contribution), which turns the gated model into a true
ReLU network (the authors' sequential convex formulation). Neurons that are empty
(:math:`w_j = 0`) after a pass have no weight to copy: ``empty_neurons="naive"``
copies it anyway (:math:`h_j = 0`, so :math:`D_j = I` and the neuron becomes linear),
``"keep"`` leaves its random generator and ``"redraw"`` draws a fresh one at every
pass, so unused width keeps exploring new patterns. ``"dead"`` is the other literal
reading, a gate :math:`\mathbb 1[X h_j > 0]` that never fires for :math:`h_j = 0`: empty
neurons are switched off for good and the usable width shrinks to the neurons active
after the first pass.

The planted teacher is in :mod:`sparselab.recovery.planted`, the operator in
:mod:`sparselab.recovery.operator`, the iterative-magnitude-pruning baseline in
:mod:`sparselab.recovery.baseline`; PSNR, relative error and support agreement up to a
permutation of neurons are in :mod:`sparselab.metrics`, peak memory in :mod:`sparselab._memory`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from sparselab._validation import check_choice, check_float, check_int
from sparselab.recovery.operator import (
    LiftedReLUOperator,
    adjoint_columns,
    apply_columns,
    as_tensor,
    check_xy,
    default_dtype,
)
from sparselab.sensing.step_rule import normalized_iht_step
from sparselab.training import resolve_device

__all__ = [
    "MODES",
    "EMPTY_NEURONS",
    "RecoveredNetwork",
    "iht",
]

MODES = ("convex", "sequential")
EMPTY_NEURONS = ("redraw", "keep", "naive", "dead")


# ----------------------------------------------------------------------------- IHT


@dataclass
class RecoveredNetwork:
    r"""A sparse two-layer network found by :func:`iht`.

    The fitted model is the gated network
    :math:`\hat f(x)_k = \sum_j \mathbb 1[x^\top h_j \ge 0]\, x^\top w_{jk}`; in sequential
    mode :math:`h_j = \sigma_j w_j` makes it a ReLU network. ``flat`` and ``values``
    hold the :math:`s` non-zeros of :math:`W` (flat index :math:`(jd+i)K+k`);
    ``neurons`` are the active neurons and ``generators`` their :math:`h_j` (columns).
    """

    flat: torch.Tensor
    values: torch.Tensor
    neurons: torch.Tensor
    generators: torch.Tensor
    width: int
    in_features: int
    out_features: int
    nnz: int
    mode: str
    history: dict = field(default_factory=dict)
    squeeze: bool = True
    dtype: torch.dtype = torch.float64

    @property
    def active_neurons(self) -> int:
        return len(self.neurons)

    @property
    def state_bytes(self) -> int:
        """Bytes of the tensors the model keeps: :math:`O(s)` plus the active generators."""
        return sum(t.numel() * t.element_size() for t in (self.flat, self.values, self.neurons, self.generators))

    @property
    def entry_neurons(self) -> torch.Tensor:
        return torch.div(self.flat, self.in_features * self.out_features, rounding_mode="floor")

    @property
    def entry_inputs(self) -> torch.Tensor:
        return torch.div(self.flat, self.out_features, rounding_mode="floor") % self.in_features

    @property
    def entry_outputs(self) -> torch.Tensor:
        return self.flat % self.out_features

    def fused_dense(self) -> torch.Tensor:
        """:math:`W` as a dense ``(p, d, K)`` tensor (small widths only)."""
        W = torch.zeros(
            self.width * self.in_features * self.out_features, dtype=self.values.dtype, device=self.values.device
        )
        W[self.flat] = self.values
        return W.view(self.width, self.in_features, self.out_features)

    def predict(self, X):
        """Outputs for ``X`` (n, d): numpy in, numpy out; a vector when ``y`` was a vector."""
        is_numpy = isinstance(X, np.ndarray)
        Xt = as_tensor(X, "X", dtype=self.values.dtype, device=self.values.device)
        if Xt.ndim != 2 or Xt.shape[1] != self.in_features:
            raise ValueError(f"X must have shape (n, {self.in_features}), got {tuple(Xt.shape)}")
        pos = torch.searchsorted(self.neurons, self.entry_neurons)
        gates_t = (self.generators.T @ Xt.T) >= 0  # (a, n)
        C = Xt.T[self.entry_inputs] * gates_t[pos]  # support columns as rows, (s, n)
        out = apply_columns(C, self.entry_outputs, self.values, self.out_features)
        out = out[:, 0] if self.squeeze else out
        return out.detach().cpu().numpy() if is_numpy else out

    def unfused(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        r"""Un-fuse into a ReLU network: ``(first_layer (q, d), second_layer (K, q), consistent (q,))``.

        One hidden unit per (active neuron, output) pair with :math:`w_{jk} \ne 0`:
        :math:`u = \sigma w_{jk} / \sqrt{\lVert w_{jk}\rVert}`,
        :math:`v_k = \sigma\sqrt{\lVert w_{jk}\rVert}`, where :math:`\sigma = \pm 1` is
        the sign for which :math:`\mathbb 1[x^\top \sigma w_{jk} \ge 0]` is the
        neuron's gate. ``consistent`` marks units whose generator is parallel to
        :math:`\sigma w_{jk}` (then the ReLU unit equals the gated one everywhere);
        in sequential mode all units are; in convex mode the gate is a random
        direction and the un-fused network only approximates the gated one.
        """
        W = torch.zeros(
            len(self.neurons), self.in_features, self.out_features, dtype=self.values.dtype, device=self.values.device
        )
        pos = torch.searchsorted(self.neurons, self.entry_neurons)
        W[pos, self.entry_inputs, self.entry_outputs] = self.values
        firsts, seconds, ok = [], [], []
        for a in range(len(self.neurons)):
            h = self.generators[:, a]
            for k in range(self.out_features):
                w = W[a, :, k]
                norm = w.norm()
                if norm == 0:
                    continue
                cos = float(h @ w) / (float(h.norm() * norm) + 1e-300)
                sigma = 1.0 if cos >= 0 else -1.0
                firsts.append(sigma * w / norm.sqrt())
                v = torch.zeros(self.out_features, dtype=w.dtype, device=w.device)
                v[k] = sigma * norm.sqrt()
                seconds.append(v)
                ok.append(abs(abs(cos) - 1.0) < 1e-9)
        if not firsts:
            return (
                torch.zeros(0, self.in_features, dtype=self.values.dtype),
                torch.zeros(self.out_features, 0, dtype=self.values.dtype),
                torch.zeros(0, dtype=torch.bool),
            )
        return torch.stack(firsts), torch.stack(seconds, 1), torch.tensor(ok)

    def first_layer(self) -> torch.Tensor:
        return self.unfused()[0]

    def second_layer(self) -> torch.Tensor:
        return self.unfused()[1]

    def as_relu_mlp(self) -> torch.nn.Sequential:
        """The un-fused network as ``Linear(d, q, bias=False), ReLU, Linear(q, K, bias=False)``."""
        U, V, _ = self.unfused()
        q = max(U.shape[0], 1)
        first = torch.nn.Linear(self.in_features, q, bias=False, dtype=U.dtype)
        second = torch.nn.Linear(q, self.out_features, bias=False, dtype=U.dtype)
        with torch.no_grad():
            first.weight.zero_()
            second.weight.zero_()
            first.weight[: U.shape[0]] = U.cpu()
            second.weight[:, : U.shape[0]] = V.cpu()
        return torch.nn.Sequential(first, torch.nn.ReLU(), second)


def _topk_merge(buf_idx, buf_val, idx, val, s):
    cand_idx = torch.cat([buf_idx, idx])
    cand_val = torch.cat([buf_val, val])
    if len(cand_val) <= s:
        return cand_idx, cand_val
    keep = torch.topk(cand_val.abs(), s, sorted=False).indices
    return cand_idx[keep], cand_val[keep]


def _threshold_pass(op: LiftedReLUOperator, flat, values, r, mu, s):
    """:math:`H_s(W + \\mu A^\\top r)`, streamed over chunks: sorted flat indices and values."""
    buf_idx = torch.zeros(0, dtype=torch.long, device=r.device)
    buf_val = torch.zeros(0, dtype=r.dtype, device=r.device)
    for start, block in op.rmatvec_chunks(r):
        cand = mu * block
        lo = torch.searchsorted(flat, start)
        hi = torch.searchsorted(flat, start + len(block))
        if hi > lo:
            cand[flat[lo:hi] - start] += values[lo:hi]
        idx = torch.arange(start, start + len(block), device=r.device)
        nz = cand != 0
        buf_idx, buf_val = _topk_merge(buf_idx, buf_val, idx[nz], cand[nz], s)
    order = torch.argsort(buf_idx)
    return buf_idx[order], buf_val[order]


def _cgls(C, outputs, y, x, K, steps):
    """``steps`` iterations of CGLS on min ||A_S x - y|| (A_S given by columns C), from ``x``."""
    r = y - apply_columns(C, outputs, x, K)
    g = adjoint_columns(C, outputs, r)
    p = g.clone()
    gg = g @ g
    for _ in range(steps):
        if gg <= torch.finfo(C.dtype).tiny:
            break
        q = apply_columns(C, outputs, p, K)
        qq = (q * q).sum()
        if qq <= 0:
            break
        alpha = gg / qq
        x = x + alpha * p
        r = r - alpha * q
        g = adjoint_columns(C, outputs, r)
        gg_new = g @ g
        p = g + (gg_new / gg) * p
        gg = gg_new
    return x


def _reset_generators(op: LiftedReLUOperator, flat, values, C, empty_neurons: str) -> None:
    r"""Sequential update: :math:`h_j \leftarrow \sigma_j w_j` for the active neurons."""
    K, d = op.K, op.d
    neuron = torch.div(flat, d * K, rounding_mode="floor")
    inp = torch.div(flat, K, rounding_mode="floor") % d
    out = flat % K
    uniq, inverse = torch.unique(neuron, return_inverse=True)
    # net contribution of each (neuron, output) pair: 1^T D_j X w_jk, from the columns of the current support
    contrib = torch.zeros(len(uniq), K, dtype=values.dtype, device=values.device)
    contrib.index_put_((inverse, out), C.sum(1) * values, accumulate=True)
    W = torch.zeros(len(uniq), K, d, dtype=values.dtype, device=values.device)
    W[inverse, out, inp] = values
    # for several outputs, copy the output with the largest weight norm
    k_star = W.norm(dim=2).argmax(dim=1)
    rows = torch.arange(len(uniq), device=values.device)
    sigma = torch.where(contrib[rows, k_star] >= 0, 1.0, -1.0).to(values.dtype)
    H = (sigma[:, None] * W[rows, k_star]).T  # (d, a)
    op.set_overrides(uniq, H)
    if empty_neurons == "redraw":
        op.redraw()
    op.zero_empty = empty_neurons in ("naive", "dead")
    op.dead_empty = empty_neurons == "dead"


def iht(
    X,
    y,
    *,
    nnz: int,
    width: int | None = None,
    steps: int = 30,
    mode: str = "sequential",
    refine_steps: int = 10,
    empty_neurons: str = "redraw",
    restarts: int = 1,
    seed: int | None = None,
    device="auto",
    dtype: torch.dtype | None = None,
    chunk: int = 256,
    tol: float | None = None,
    progress: bool = False,
) -> RecoveredNetwork:
    r"""Fit a sparse two-layer ReLU network to ``(X, y)`` by normalised IHT on the lifted model.

    Parameters
    ----------
    X : (n, d) array or tensor
    y : (n,) or (n, K) array or tensor (several outputs share the generators)
    nnz : number :math:`s` of non-zero fused weights, in :math:`[1, dpK]`
    width : number :math:`p` of neurons (generators); default ``nnz`` (each non-zero its own neuron)
    steps : IHT passes (each streams :math:`A^\top r` once)
    mode : ``"sequential"`` (generators re-set to the fused weights after each pass from
        the second on) or ``"convex"`` (random generators, fixed)
    refine_steps : CGLS steps of least squares on the support after each pass (0: plain IHT)
    empty_neurons : generators of neurons left empty in sequential mode: ``"redraw"``,
        ``"keep"``, ``"naive"`` or ``"dead"`` (see the module docstring)
    restarts : independent runs from different generator seeds (``seed``, ``seed + 1``, ...);
        the one with the smallest final *training* residual is returned (its
        ``history["restart_residuals"]`` lists all). Sequential IHT is non-convex: a run
        can merge two planted neurons into one and stall; a restart rarely does again.
    seed : seed of the random generators (``None``: 0)
    device : ``"auto"``, ``"cpu"``, ``"cuda"``...; dtype defaults to float64 on CPU, float32 elsewhere
    chunk : neurons per streamed chunk
    tol : stop when :math:`\lVert AW - y\rVert / \lVert y\rVert \le` ``tol``; default
        :math:`500\,\varepsilon` of the dtype (1.1e-13 in float64, 6e-5 in float32), the
        level at which round-off, not the support, limits the fit
    progress : show a tqdm bar over passes

    Returns
    -------
    RecoveredNetwork, whose ``history`` has one entry per pass: ``step`` (the pass index
    0, 1, ..., as in :func:`sparselab.sensing.iht`), ``residual``
    (:math:`\lVert y - AW\rVert/\lVert y\rVert`), ``support_changes`` (entries that
    entered the support), ``step_size`` (:math:`\mu`), ``time_s`` (cumulative), ``backtracks``
    (shrinkings of :math:`\mu`).
    """
    nnz = check_int(nnz, "nnz", low=1)
    steps = check_int(steps, "steps", low=1)
    check_choice(mode, "mode", MODES)
    refine_steps = check_int(refine_steps, "refine_steps", low=0)
    check_choice(empty_neurons, "empty_neurons", EMPTY_NEURONS)
    restarts = check_int(restarts, "restarts", low=1)
    seed = 0 if seed is None else check_int(seed, "seed", low=0)
    chunk = check_int(chunk, "chunk", low=1)
    if tol is not None:
        tol = check_float(tol, "tol", low=0.0)
    dev = resolve_device(device)
    if dtype is None:
        dtype = default_dtype(dev)
    X, Y, squeeze = check_xy(X, y, dtype=dtype, device=dev)
    if tol is None:
        tol = 500 * torch.finfo(dtype).eps
    n, d = X.shape
    K = Y.shape[1]
    width = nnz if width is None else check_int(width, "width", low=1)
    if nnz > d * width * K:
        raise ValueError(
            f"nnz must be in [1, {d * width * K}] (in_features * width * outputs = {d} * {width} * {K}), got {nnz}"
        )
    best, residuals = None, []
    for restart in range(restarts):
        fit = _iht_run(
            X,
            Y,
            squeeze,
            nnz=nnz,
            width=width,
            steps=steps,
            mode=mode,
            refine_steps=refine_steps,
            empty_neurons=empty_neurons,
            seed=seed + restart,
            chunk=chunk,
            tol=tol,
            progress=progress,
        )
        residuals.append(fit.history["residual"][-1])
        if best is None or residuals[-1] < best.history["residual"][-1]:
            best = fit
        if residuals[-1] <= tol:
            break
    best.history["restart_residuals"] = residuals
    return best


def _iht_run(X, Y, squeeze, *, nnz, width, steps, mode, refine_steps, empty_neurons, seed, chunk, tol, progress):
    n, d = X.shape
    K = Y.shape[1]
    dev, dtype = X.device, X.dtype
    op = LiftedReLUOperator(X, width, out_features=K, seed=seed, chunk=chunk)
    y_norm = float(Y.norm()) or 1.0
    flat = torch.zeros(0, dtype=torch.long, device=dev)
    values = torch.zeros(0, dtype=dtype, device=dev)
    C = torch.zeros(0, n, dtype=dtype, device=dev)
    history = {"step": [], "residual": [], "support_changes": [], "step_size": [], "time_s": [], "backtracks": []}
    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="IHT", leave=False)
    rule = dict(c=0.01, kappa=2.0, max_backtracks=20)  # of normalized_iht_step
    for step in range(steps):
        outputs = op.output_index(flat)
        AW = apply_columns(C, outputs, values, K)  # A W, kept: the safeguard needs it after C is freed
        r = Y - AW
        if len(flat) == 0:
            # first pass: the support of H_s(A^T y) and the step that is exact along it
            C_flat, g_S = _threshold_pass(op, flat, values, r, 1.0, nnz)
            C = op.columns(C_flat)
        else:
            C_flat = flat
            g_S = adjoint_columns(C, outputs, r)
        Ag = apply_columns(C, op.output_index(C_flat), g_S, K)
        grad_sq, image_sq = g_S @ g_S, (Ag * Ag).sum()
        del Ag, g_S

        def threshold(mu):
            nonlocal C, C_flat
            new_flat, new_values = _threshold_pass(op, flat, values, r, mu, nnz)
            if not torch.equal(new_flat, C_flat):
                C = None  # free the old columns before building the new ones: one n x s block at a time
                C, C_flat = op.columns(new_flat), new_flat
            return new_flat, new_values

        def support_moved(candidate):  # the first pass has no support to move from
            return len(flat) > 0 and not torch.equal(candidate[0], flat)

        def move_norms(candidate):  # ||dW||^2 and ||A dW||^2 on the columns of the candidate's support
            new_flat, new_values = candidate
            AdW = apply_columns(C, op.output_index(new_flat), new_values, K) - AW
            dW = _merge_sparse(new_flat, new_values, flat, values)
            return float(dW @ dW), float((AdW * AdW).sum())

        mu, (new_flat, new_values), backtracks = normalized_iht_step(
            grad_sq, image_sq, threshold, support_moved, move_norms, scalar=True, check=step == 0, **rule
        )
        AW = r = None  # free them (the closures above refer to them)
        entered = int((~torch.isin(new_flat, flat)).sum()) if len(flat) else len(new_flat)
        flat, values = new_flat, new_values
        outputs = op.output_index(flat)
        if refine_steps:
            values = _cgls(C, outputs, Y, values, K, refine_steps)
        if mode == "sequential" and step >= 1 and step < steps - 1:
            _reset_generators(op, flat, values, C, empty_neurons)
            C = None
            C = op.columns(flat)
            if refine_steps:
                values = _cgls(C, outputs, Y, values, K, refine_steps)
        res = float((Y - apply_columns(C, outputs, values, K)).norm()) / y_norm
        history["step"].append(step)
        history["residual"].append(res)
        history["support_changes"].append(entered)
        history["step_size"].append(mu)
        history["time_s"].append(time.perf_counter() - start)
        history["backtracks"].append(backtracks)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(residual=f"{res:.2e}")
        if res <= tol:
            break
    if bar is not None:
        bar.close()
    if mode == "sequential" and len(flat):
        # finish on generators parallel to the final weights, so the gated model is the ReLU network
        # (the last least-squares update moved w a little away from the h it was fitted with)
        outputs = op.output_index(flat)
        for _ in range(2):
            _reset_generators(op, flat, values, C, empty_neurons)
            C = None
            C = op.columns(flat)
            if refine_steps:
                values = _cgls(C, outputs, Y, values, K, refine_steps)
        history["residual"][-1] = float((Y - apply_columns(C, outputs, values, K)).norm()) / y_norm
    neuron_of = torch.div(flat, d * K, rounding_mode="floor")
    neurons = torch.unique(neuron_of)
    return RecoveredNetwork(
        flat=flat,
        values=values,
        neurons=neurons,
        generators=op.generators(neurons),
        width=width,
        in_features=d,
        out_features=K,
        nnz=nnz,
        mode=mode,
        history=history,
        squeeze=squeeze,
        dtype=dtype,
    )


def _merge_sparse(flat_a, val_a, flat_b, val_b) -> torch.Tensor:
    """Values of (a - b) on the union of two sorted supports."""
    union = torch.unique(torch.cat([flat_a, flat_b]))
    out = torch.zeros(len(union), dtype=val_a.dtype, device=val_a.device)
    out[torch.searchsorted(union, flat_a)] += val_a
    out[torch.searchsorted(union, flat_b)] -= val_b
    return out
