r"""The lifted linear operator of a two-layer ReLU network, streamed in chunks of neurons.

For inputs :math:`X \in \mathbb R^{n \times d}` and generators :math:`h_1, \dots, h_p` (one per neuron),
neuron :math:`j` has the fixed activation pattern :math:`D_j = \operatorname{diag}(\mathbb 1[X h_j \ge 0])`
and the network output is linear in the fused weights :math:`w_j`: :math:`f = \sum_j D_j X w_j = A w` with
:math:`A = [D_1 X, \dots, D_p X]`. :class:`LiftedReLUOperator` applies :math:`A` and :math:`A^\top` chunk by chunk
without forming it, re-drawing each chunk's generators from the seed (see :mod:`sparselab.recovery.lifted`).
"""

from __future__ import annotations

import torch

from sparselab._validation import as_real_tensor, check_finite, check_int

__all__ = [
    "LiftedReLUOperator",
]


# ----------------------------------------------------------------------------- inputs


def as_tensor(value, name: str, *, dtype=None, device=None) -> torch.Tensor:
    """``value`` as a real tensor (booleans allowed) converted to ``dtype`` on ``device``."""
    return as_real_tensor(value, name, allow_bool=True, dtype=dtype, device=device)


def check_xy(X, y, *, dtype, device) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """X as (n, d), y as (n, K); ``squeeze`` tells whether y came as a vector."""
    X = as_tensor(X, "X", dtype=dtype, device=device)
    y = as_tensor(y, "y", dtype=dtype, device=device)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (samples, features), got shape {tuple(X.shape)}")
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D (samples,) or 2-D (samples, outputs), got shape {tuple(y.shape)}")
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same number of samples, got {len(X)} and {len(y)}")
    if len(X) < 1 or X.shape[1] < 1:
        raise ValueError(f"X must have at least one sample and one feature, got shape {tuple(X.shape)}")
    check_finite(X, "X")
    check_finite(y, "y")
    squeeze = y.ndim == 1
    return X, (y[:, None] if squeeze else y), squeeze


def default_dtype(device: torch.device) -> torch.dtype:
    # float64 where it is cheap (CPU): exact recovery is judged at 1e-6 relative error
    return torch.float64 if device.type == "cpu" else torch.float32


# ----------------------------------------------------------------------------- operator


def chunk_generator(seed: int, chunk_index: int, generation: int) -> torch.Generator:
    # one independent stream per (seed, chunk, generation); the constants only spread the seeds apart
    return torch.Generator().manual_seed((seed * 1_000_003 + chunk_index * 7_919 + generation * 104_729) % (2**63))


class LiftedReLUOperator:
    r"""The lifted sensing matrix :math:`A = [D_1 X, \dots, D_p X]`, applied without forming it.

    Coordinates of :math:`W \in \mathbb R^{p \times d \times K}` are addressed by flat
    index :math:`(j d + i) K + k`. Generators: neuron :math:`j` in chunk
    :math:`b = \lfloor j / c \rfloor` uses the Gaussian vector drawn from
    ``(seed, b, generation[b])`` unless an *override* has been set for it (sequential
    mode), stored sparsely.

    Parameters
    ----------
    X : (n, d) tensor (its device and dtype are used throughout)
    width : number of neurons :math:`p`
    out_features : :math:`K`
    seed : seed of the random generators
    chunk : neurons per chunk :math:`c` (memory of a streamed pass is :math:`O(n c K + d c)`)
    """

    def __init__(self, X: torch.Tensor, width: int, *, out_features: int = 1, seed: int = 0, chunk: int = 256):
        self.X = X
        self.XT = X.T.contiguous()  # rows of X^T: gathered to build support columns
        self.n, self.d = X.shape
        self.width = check_int(width, "width", low=1)
        self.K = check_int(out_features, "out_features", low=1)
        self.seed = check_int(seed, "seed", low=0)
        self.chunk = check_int(chunk, "chunk", low=1)
        self.n_chunks = -(-self.width // self.chunk)
        self.generation = [0] * self.n_chunks
        # overrides: sorted neuron ids, and their generators as sparse (row, input, value) triples
        self.override_neurons = torch.zeros(0, dtype=torch.long, device=X.device)
        self.override_rows = torch.zeros(0, dtype=torch.long, device=X.device)
        self.override_inputs = torch.zeros(0, dtype=torch.long, device=X.device)
        self.override_values = torch.zeros(0, dtype=X.dtype, device=X.device)
        self.zero_empty = False  # "naive"/"dead" sequential modes: neurons without an override get h = 0
        self.dead_empty = False  # "dead": ... and the gate 1[X h > 0], so they never fire

    @property
    def shape(self) -> tuple[int, int]:
        return self.n, self.d * self.width * self.K

    # --- generators
    def random_generators(self, b: int) -> torch.Tensor:
        """The Gaussian generators of chunk ``b`` as a ``(d, c_b)`` tensor."""
        j0, j1 = b * self.chunk, min((b + 1) * self.chunk, self.width)
        g = chunk_generator(self.seed, b, self.generation[b])
        return torch.randn(self.d, j1 - j0, generator=g, dtype=torch.float64).to(self.X.device, self.X.dtype)

    def generators(self, neurons: torch.Tensor) -> torch.Tensor:
        """Generators :math:`h_j` of the given neurons as a ``(d, len(neurons))`` tensor."""
        neurons = neurons.to(self.X.device)
        H = torch.zeros(self.d, len(neurons), dtype=self.X.dtype, device=self.X.device)
        if len(neurons) == 0:
            return H
        if not self.zero_empty:
            for b in torch.unique(torch.div(neurons, self.chunk, rounding_mode="floor")).tolist():
                sel = torch.div(neurons, self.chunk, rounding_mode="floor") == b
                H[:, sel] = self.random_generators(b)[:, neurons[sel] - b * self.chunk]
        if len(self.override_neurons):
            pos = torch.searchsorted(self.override_neurons, neurons)
            pos = pos.clamp(max=len(self.override_neurons) - 1)
            has = self.override_neurons[pos] == neurons
            if has.any():
                cols = has.nonzero().flatten()
                H[:, cols] = 0
                dense = self._override_dense()  # (n_overrides, d)
                H[:, cols] = dense[pos[cols]].T
        return H

    def chunk_generators(self, b: int) -> torch.Tensor:
        j0, j1 = b * self.chunk, min((b + 1) * self.chunk, self.width)
        return self.generators(torch.arange(j0, j1, device=self.X.device))

    def _override_dense(self) -> torch.Tensor:
        dense = torch.zeros(len(self.override_neurons), self.d, dtype=self.X.dtype, device=self.X.device)
        dense[self.override_rows, self.override_inputs] = self.override_values
        return dense

    def set_overrides(self, neurons: torch.Tensor, H: torch.Tensor) -> None:
        """Set :math:`h_j` for ``neurons`` (sorted, unique) to the columns of ``H`` (d, a); others revert."""
        order = torch.argsort(neurons)
        neurons, H = neurons[order], H[:, order]
        rows, inputs = (H.T != 0).nonzero(as_tuple=True)
        self.override_neurons = neurons.clone()
        self.override_rows, self.override_inputs = rows, inputs
        self.override_values = H.T[rows, inputs].clone()

    def redraw(self) -> None:
        """Draw fresh random generators for every chunk (used for neurons without an override)."""
        self.generation = [g + 1 for g in self.generation]

    def gates(self, neurons: torch.Tensor) -> torch.Tensor:
        r"""The activation patterns :math:`\mathbb 1[X h_j \ge 0]` of ``neurons``: an ``(n, a)`` bool tensor."""
        pattern = (self.X @ self.generators(neurons)) >= 0
        if self.dead_empty:
            alive = torch.isin(neurons.to(self.X.device), self.override_neurons)
            pattern &= alive[None, :]
        return pattern

    # --- products
    def columns(self, flat: torch.Tensor) -> torch.Tensor:
        r"""The columns :math:`A_{:, e}` for flat indices ``flat``, stored as the rows of an ``(s, n)`` tensor.

        Row layout makes both the gather (rows of :math:`X^\top`) and the masking
        contiguous; it is the one allocation of size :math:`n s`.
        """
        neuron = torch.div(flat, self.d * self.K, rounding_mode="floor")
        inp = torch.div(flat, self.K, rounding_mode="floor") % self.d
        uniq, inverse = torch.unique(neuron, return_inverse=True)
        gates_t = self.gates(uniq).T  # (a, n) view
        rows = self.XT[inp]  # (s, n)
        return rows.mul_(gates_t[inverse])

    def output_index(self, flat: torch.Tensor) -> torch.Tensor:
        return flat % self.K

    def matvec(self, flat: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        r""":math:`A W` for the sparse :math:`W` given by (``flat``, ``values``): an ``(n, K)`` tensor."""
        return apply_columns(self.columns(flat), self.output_index(flat), values, self.K)

    def rmatvec_chunks(self, r: torch.Tensor):
        r"""Yield ``(first_flat_index, block)`` with the block of :math:`A^\top r`, one chunk at a time.

        For neurons :math:`j_0 \le j < j_1` the block is
        :math:`X^\top(\mathbb 1[X H_c \ge 0] \odot r)`, returned flat in coordinate
        order (length :math:`(j_1 - j_0) d K`).
        """
        for b in range(self.n_chunks):
            j0, j1 = b * self.chunk, min((b + 1) * self.chunk, self.width)
            pattern = self.gates(torch.arange(j0, j1, device=self.X.device)).to(self.X.dtype)  # (n, c)
            weighted = (pattern[:, :, None] * r[:, None, :]).reshape(self.n, -1)  # (n, c K)
            block = self.X.T @ weighted  # (d, c K) -> reorder to (c, d, K)
            block = block.view(self.d, j1 - j0, self.K).permute(1, 0, 2).reshape(-1)
            yield j0 * self.d * self.K, block

    def rmatvec(self, r: torch.Tensor) -> torch.Tensor:
        r"""Dense :math:`A^\top r` of length :math:`dpK` (for tests and small problems)."""
        return torch.cat([block for _, block in self.rmatvec_chunks(r)])

    def dense(self) -> torch.Tensor:
        """The explicit matrix :math:`A` for :math:`K = 1` (tests and small problems only)."""
        if self.K != 1:
            raise ValueError("dense() builds A for scalar output only (out_features=1)")
        return self.columns(torch.arange(self.d * self.width, device=self.X.device)).T


def apply_columns(C: torch.Tensor, outputs: torch.Tensor, values: torch.Tensor, K: int) -> torch.Tensor:
    """Y[:, k] = sum over entries e with outputs[e] == k of C[e, :] values[e] (C holds columns as rows)."""
    if K == 1:
        return (values @ C)[:, None]
    coef = torch.zeros(len(values), K, dtype=C.dtype, device=C.device)
    coef[torch.arange(len(values), device=C.device), outputs] = values
    return C.T @ coef


def adjoint_columns(C: torch.Tensor, outputs: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """g[e] = <C[e, :], r[:, outputs[e]]>."""
    if r.shape[1] == 1:
        return C @ r[:, 0]
    return (C @ r)[torch.arange(C.shape[0], device=C.device), outputs]
