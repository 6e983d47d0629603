r"""Cost of a model: forward FLOPs, parameter counts, and physically removing dead CNN channels.

FLOPs
    :func:`count_flops` runs one forward pass under
    :class:`torch.utils.flop_counter.FlopCounterMode` and returns its total. PyTorch
    counts a multiply-add as **2 FLOPs** and counts only matrix products and
    convolutions (bias additions, activations, pooling and masks are free):

    * linear layer, batch :math:`N`: :math:`2\,N\,D_\text{in}\,D_\text{out}`;
    * 2-D convolution with output size :math:`H \times W`:
      :math:`2\,N\,C_\text{in}\,C_\text{out}\,k_h\,k_w\,H\,W`.

    These are *dense-kernel* FLOPs: a masked weight (``torch.nn.utils.prune`` or
    :class:`sparselab.SparseLinear`) still runs a dense matrix product, so unstructured
    sparsity does not lower the count. Structured sparsity does once the zero
    channels are physically removed, which is what :func:`shrink_channels` does.

Parameters
    :func:`count_parameters` counts the network's weights and biases. With
    ``nonzero=True`` it counts the non-zero entries of the *effective* tensors: for a
    module pruned with ``torch.nn.utils.prune`` that is
    :math:`W_\text{orig} \odot M` (recomputed from ``weight_orig`` and ``weight_mask``,
    so it is right even when the optimizer changed ``weight_orig`` after the last
    forward), and for a :class:`sparselab.SparseLinear` the weight times its exported mask.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from sparselab import pruning
from sparselab._validation import check_module
from sparselab.nn import DigitsCNN, SparseLinear

__all__ = ["count_flops", "count_parameters", "effective_tensor", "channel_keep_masks", "shrink_channels"]

# Parameters of SparseLinear that parametrise its mask, not the network function's weights.
_MASK_PARAMETERS = ("scores", "threshold")


def count_flops(model: nn.Module, example_input) -> int:
    r"""Forward FLOPs of one call ``model(example_input)``, as counted by PyTorch.

    A multiply-add counts as 2 FLOPs; only matrix products and convolutions are
    counted: :math:`2 N D_\text{in} D_\text{out}` per linear layer and
    :math:`2 N C_\text{in} C_\text{out} k_h k_w H_\text{out} W_\text{out}` per
    convolution, for a batch of :math:`N` (see the module docstring). Masks do not
    lower the count (dense kernels). The forward runs under :func:`torch.no_grad` in
    the model's current train/eval mode.

    Parameters
    ----------
    model : torch.nn.Module
    example_input : torch.Tensor or tuple of torch.Tensor
        The input of the counted call (a tuple is unpacked as positional arguments);
        the count scales linearly with its batch size.

    Returns
    -------
    int
        Total FLOPs of the forward pass.
    """
    check_module(model, "model")
    args = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
    if not args or not all(torch.is_tensor(a) for a in args):
        raise TypeError(
            f"example_input must be a torch.Tensor or a non-empty tuple of tensors, got {type(example_input).__name__}"
        )
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(*args)
    return int(counter.get_total_flops())


def effective_tensor(module: nn.Module, name: str = "weight") -> torch.Tensor | None:
    r"""The tensor ``module.<name>`` as the forward pass uses it, detached (``None`` when absent, e.g. no bias).

    :func:`sparselab.pruning.effective_weight`: :math:`W_\text{orig} \odot M` when a
    ``torch.nn.utils.prune`` mask is attached (recomputed rather than read from the
    attribute the pre-hook last wrote), and for a ``SparseLinear`` weight also its own mask.
    """
    check_module(module, "module")
    if getattr(module, name, None) is None and not pruning.is_masked(module, name):
        return None
    return pruning.effective_weight(module, name)


def _network_tensors(module: nn.Module):
    """(name, effective tensor) for the weights and biases owned directly by ``module``."""
    for pname, p in module._parameters.items():
        if p is None:
            continue
        if isinstance(module, SparseLinear) and pname in _MASK_PARAMETERS:
            continue
        base = pname[: -len("_orig")] if pname.endswith("_orig") else pname
        yield base, effective_tensor(module, base)


def count_parameters(model: nn.Module, *, nonzero: bool = False) -> int:
    r"""Number of weights and biases of ``model``, or of their non-zero entries.

    .. math::

        P = \sum_{\text{tensors } T} |T| \quad\text{or, with } \texttt{nonzero}, \quad
        P_{\ne 0} = \sum_T \#\{i : T_i^\text{eff} \ne 0\}.

    For ``nn.Linear(D_in, D_out)``, :math:`|W| + |b| = D_\text{in} D_\text{out} + D_\text{out}`;
    for ``nn.Conv2d``, :math:`C_\text{out} C_\text{in} k_h k_w + C_\text{out}`.

    A pruned module (``torch.nn.utils.prune``) contributes its ``weight_orig`` once
    (its size) and, with ``nonzero``, the non-zeros of :math:`W_\text{orig} \odot M`.
    The mask parameters of :class:`sparselab.SparseLinear` (``scores``, ``threshold``)
    are not network weights and are not counted; its weight counts through its mask.
    Buffers are never counted.

    Parameters
    ----------
    model : torch.nn.Module
    nonzero : bool
        Count only non-zero entries of the effective tensors.
    """
    check_module(model, "model")
    if not isinstance(nonzero, bool):
        raise TypeError(f"nonzero must be True or False, got {nonzero!r}")
    total = 0
    for module in model.modules():
        for _, tensor in _network_tensors(module):
            total += int(torch.count_nonzero(tensor)) if nonzero else tensor.numel()
    return total


def _zero_per_channel(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Boolean per index along ``dim``: every entry of that slice is zero."""
    t = t.movedim(dim, 0)
    return (t.reshape(t.shape[0], -1) == 0).all(dim=1)


def channel_keep_masks(model: DigitsCNN) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Which channels of ``conv1`` and ``conv2`` :func:`shrink_channels` keeps.

    A channel is removable when removing it cannot change the output, exactly:

    * *dead*: its (effective) kernel **and** bias are zero, so its activation is
      :math:`\operatorname{relu}(0) = 0` everywhere. A zero kernel with a non-zero
      bias :math:`b` is **not** removable: :math:`\operatorname{relu}(b)` is a
      constant map that flows on (and with zero padding its effect on the next
      convolution differs at the border, so it cannot be folded into a bias);
    * *unread*: every weight that reads it is zero — the ``conv2`` input-channel slice
      :math:`K_2[:, c]` for a ``conv1`` channel, the 16 ``fc`` columns
      :math:`16j..16j+15` for a ``conv2`` channel.

    A ``conv2`` channel counts as dead when its kernel is zero on the *kept*
    ``conv1`` channels (the removed ones are zero or unread), and a ``conv1`` channel
    as unread when only removed ``conv2`` channels read it, so the rule is iterated to
    a fixed point. If every channel of a layer is removable, channel 0 is kept (a
    convolution needs one channel; keeping a removable channel is exact).

    Returns
    -------
    keep1, keep2 : torch.BoolTensor
        Of lengths :math:`c_1` and :math:`c_2`.
    """
    if not isinstance(model, DigitsCNN):
        raise TypeError(f"model must be a sparselab.nn.DigitsCNN, got {type(model).__name__}")
    c1, c2 = model.conv1.out_channels, model.conv2.out_channels
    w1, w2, wf = (effective_tensor(m) for m in (model.conv1, model.conv2, model.fc))
    b1, b2 = effective_tensor(model.conv1, "bias"), effective_tensor(model.conv2, "bias")
    zero_b1 = torch.ones(c1, dtype=torch.bool, device=w1.device) if b1 is None else b1 == 0
    zero_b2 = torch.ones(c2, dtype=torch.bool, device=w2.device) if b2 is None else b2 == 0
    dead1 = _zero_per_channel(w1, 0) & zero_b1
    fc_blocks = wf.reshape(wf.shape[0], c2, -1)  # (classes, c2, 16): channel-major flatten
    unread2 = _zero_per_channel(fc_blocks, 1)
    keep1 = torch.ones(c1, dtype=torch.bool, device=w1.device)
    keep2 = torch.ones(c2, dtype=torch.bool, device=w2.device)
    while True:
        dead2 = _zero_per_channel(w2[:, keep1], 0) & zero_b2
        new2 = ~dead2 & ~unread2
        if not new2.any():
            new2[0] = True
        unread1 = _zero_per_channel(w2[new2], 1)
        new1 = ~dead1 & ~unread1
        if not new1.any():
            new1[0] = True
        if torch.equal(new1, keep1) and torch.equal(new2, keep2):
            return keep1.cpu(), keep2.cpu()
        keep1, keep2 = new1, new2


def shrink_channels(model: DigitsCNN) -> DigitsCNN:
    r"""A new, physically smaller :class:`DigitsCNN` computing the same function.

    Channels found removable by :func:`channel_keep_masks` (zero kernel *and* zero
    bias, or never read) are dropped: a ``conv1`` output channel together with the
    matching ``conv2`` input channel, a ``conv2`` output channel together with its 16
    ``fc`` input columns. With :math:`k_1, k_2` channels kept and :math:`C` classes the
    result has

    .. math::

        9 k_1 + k_1 + 9 k_1 k_2 + k_2 + 16 k_2 C + C

    parameters and :math:`2 N \cdot 64 \cdot 9 (k_1 + k_1 k_2) + 2 N \cdot 16 k_2 C`
    forward FLOPs for a batch of :math:`N`.

    The new model holds the *effective* weights (``torch.nn.utils.prune`` masks are
    applied and not carried over), is on the same device and dtype, in the same
    train/eval mode, and ``model`` is left untouched.
    """
    keep1, keep2 = channel_keep_masks(model)
    conv1, conv2, fc = model.conv1, model.conv2, model.fc
    w1, w2, wf = (effective_tensor(m) for m in (conv1, conv2, fc))
    b1, b2, bf = (effective_tensor(m, "bias") for m in (conv1, conv2, fc))
    keep1, keep2 = keep1.to(w1.device), keep2.to(w2.device)
    k1, k2 = int(keep1.sum()), int(keep2.sum())
    small = DigitsCNN(channels=(k1, k2), n_classes=model.n_classes, device=w1.device, dtype=w1.dtype)
    with torch.no_grad():
        small.conv1.weight.copy_(w1[keep1])
        small.conv2.weight.copy_(w2[keep2][:, keep1])
        small.fc.weight.copy_(wf.reshape(wf.shape[0], len(keep2), -1)[:, keep2].reshape(wf.shape[0], -1))
        for layer, bias in (
            (small.conv1, None if b1 is None else b1[keep1]),
            (small.conv2, None if b2 is None else b2[keep2]),
            (small.fc, bf),
        ):
            if bias is None:
                layer.bias.zero_()
            else:
                layer.bias.copy_(bias)
    return small.train(model.training)
