"""Tests of sparselab.flops: FLOP and parameter counts against hand formulas, exact channel shrinking."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from sparselab.flops import channel_keep_masks, count_flops, count_parameters, effective_tensor, shrink_channels
from sparselab.nn import MLP, DigitsCNN


def cnn_params(c1, c2, n_classes):
    return (9 * c1 + c1) + (9 * c1 * c2 + c2) + (16 * c2 * n_classes + n_classes)


def cnn_flops(c1, c2, n_classes, batch):
    return 2 * batch * (1 * c1 * 9 * 64 + c1 * c2 * 9 * 64 + 16 * c2 * n_classes)


@pytest.mark.parametrize("mask", [None, "hard", "soft", "sigmoid"])
@pytest.mark.parametrize("batch", [1, 5])
def test_count_flops_mlp_is_two_in_out_batch_per_layer(mask, batch):
    kwargs = {} if mask is None else {"mask": mask, "density": 0.25}
    model = MLP(64, [32, 16], 10, **kwargs)
    # dense kernels: a mask does not lower the count
    assert count_flops(model, torch.rand(batch, 64)) == 2 * batch * (64 * 32 + 32 * 16 + 16 * 10)


@pytest.mark.parametrize("channels,n_classes,batch", [((16, 32), 10, 3), ((3, 5), 2, 1)])
def test_count_flops_cnn_matches_the_conv_formula(channels, n_classes, batch):
    model = DigitsCNN(channels, n_classes)
    assert count_flops(model, torch.rand(batch, 1, 8, 8)) == cnn_flops(*channels, n_classes, batch)


class _MatMul(nn.Module):
    def forward(self, a, b):
        return torch.relu(a) @ b


def test_count_flops_unpacks_a_tuple_and_restores_grad_mode():
    flops = count_flops(_MatMul(), (torch.rand(2, 3), torch.rand(3, 5)))
    assert flops == 2 * 2 * 3 * 5  # relu is free
    assert torch.is_grad_enabled()


@pytest.mark.parametrize(
    "args,error,name",
    [
        (("not a model", torch.rand(1, 3)), TypeError, "model"),
        ((nn.Linear(3, 2), [[1.0, 2.0, 3.0]]), TypeError, "example_input"),
        ((nn.Linear(3, 2), ()), TypeError, "example_input"),
    ],
)
def test_count_flops_validation(args, error, name):
    with pytest.raises(error, match=name):
        count_flops(*args)


def test_count_parameters_dense_formulas():
    assert count_parameters(MLP(64, [32, 16], 10)) == (64 * 32 + 32) + (32 * 16 + 16) + (16 * 10 + 10)
    assert count_parameters(DigitsCNN((16, 32), 10)) == cnn_params(16, 32, 10) == 9930
    assert count_parameters(nn.Linear(5, 3, bias=False)) == 15


def test_count_parameters_nonzero_counts_zeros_written_in_place():
    layer = nn.Linear(4, 3)
    with torch.no_grad():
        layer.weight[0] = 0.0
        layer.bias[2] = 0.0
    assert count_parameters(layer) == 15
    assert count_parameters(layer, nonzero=True) == 15 - 4 - 1


@pytest.mark.parametrize("mask", ["hard", "soft", "sigmoid"])
def test_count_parameters_sparse_linear_excludes_mask_parameters(mask):
    model = MLP(20, 10, 3, mask=mask, density=0.3)
    total = (20 * 10 + 10) + (10 * 3 + 3)
    assert count_parameters(model) == total  # scores / threshold are not network weights
    # hard / sigmoid export exactly k = round(0.3 * 200) = 60; soft keeps at most k (here exactly k: no ties)
    assert count_parameters(model, nonzero=True) == 60 + 10 + 10 * 3 + 3


def test_count_parameters_respects_prune_masks_even_when_stale():
    layer = nn.Linear(6, 4)
    mask = torch.zeros(4, 6)
    mask[:, :2] = 1
    prune.custom_from_mask(layer, "weight", mask)
    assert count_parameters(layer) == 28  # weight_orig counted once, its mask buffer not at all
    assert count_parameters(layer, nonzero=True) == 8 + 4
    with torch.no_grad():  # an optimizer step after the last forward: layer.weight is stale
        layer.weight_orig[0, 0] = 0.0
    assert count_parameters(layer, nonzero=True) == 7 + 4
    assert torch.equal(effective_tensor(layer), layer.weight_orig.detach() * mask)


def _zero_channels(model, conv1=(), conv2=(), keep_bias=()):
    """Zero conv1/conv2 output channels (weights and bias); channels in keep_bias keep a non-zero bias."""
    with torch.no_grad():
        for c in conv1:
            model.conv1.weight[c] = 0
            if ("conv1", c) not in keep_bias:
                model.conv1.bias[c] = 0
        for c in conv2:
            model.conv2.weight[c] = 0
            if ("conv2", c) not in keep_bias:
                model.conv2.bias[c] = 0


def _check_shrunk(model, small, k1, k2, n_classes=10, batch=4):
    x = torch.rand(batch, 1, 8, 8)
    assert small is not model and isinstance(small, DigitsCNN)
    assert small.channels == (k1, k2)
    assert count_parameters(small) == cnn_params(k1, k2, n_classes)
    assert count_flops(small, x) == cnn_flops(k1, k2, n_classes, batch)
    with torch.no_grad():
        assert torch.allclose(small(x), model(x), rtol=0, atol=1e-6)


def test_shrink_channels_removes_dead_channels_exactly():
    model = DigitsCNN((8, 12), 10)
    _zero_channels(model, conv1=(1, 5), conv2=(0, 3, 11))
    before = (count_parameters(model), count_flops(model, torch.rand(4, 1, 8, 8)))
    small = shrink_channels(model)
    keep1, keep2 = channel_keep_masks(model)
    assert keep1.tolist() == [c not in (1, 5) for c in range(8)]
    assert keep2.tolist() == [c not in (0, 3, 11) for c in range(12)]
    _check_shrunk(model, small, 6, 9)
    # the saving is exactly the formula difference
    assert before[0] - count_parameters(small) == cnn_params(8, 12, 10) - cnn_params(6, 9, 10)
    assert before[1] - count_flops(small, torch.rand(4, 1, 8, 8)) == cnn_flops(8, 12, 10, 4) - cnn_flops(6, 9, 10, 4)
    assert model.channels == (8, 12)  # the original is untouched


def test_shrink_channels_keeps_zero_kernel_with_nonzero_bias():
    model = DigitsCNN((4, 5), 10)
    _zero_channels(model, conv1=(0, 2), conv2=(1, 4), keep_bias={("conv1", 2), ("conv2", 4)})
    with torch.no_grad():
        model.conv1.bias[2] = 0.7  # relu(0.7) is a constant that flows into conv2 (border effects)
        model.conv2.bias[4] = 0.3
    keep1, keep2 = channel_keep_masks(model)
    assert keep1.tolist() == [False, True, True, True]
    assert keep2.tolist() == [True, False, True, True, True]
    _check_shrunk(model, shrink_channels(model), 3, 4)


def test_shrink_channels_removes_unread_channels():
    model = DigitsCNN((4, 5), 3)
    with torch.no_grad():
        model.conv2.weight[:, 1] = 0  # nothing reads conv1 channel 1 (its bias stays non-zero)
        model.fc.weight[:, 16 * 2 : 16 * 3] = 0  # nothing reads conv2 channel 2
    keep1, keep2 = channel_keep_masks(model)
    assert keep1.tolist() == [True, False, True, True]
    assert keep2.tolist() == [True, True, False, True, True]
    _check_shrunk(model, shrink_channels(model), 3, 4, n_classes=3)


def test_shrink_channels_propagates_through_removed_channels():
    model = DigitsCNN((3, 4), 10)
    _zero_channels(model, conv1=(0,))
    with torch.no_grad():
        # conv2 channel 3 reads only the dead conv1 channel 0 and has no bias: it is dead too
        model.conv2.weight[3, 1:] = 0
        model.conv2.bias[3] = 0
    keep1, keep2 = channel_keep_masks(model)
    assert keep1.tolist() == [False, True, True] and keep2.tolist() == [True, True, True, False]
    _check_shrunk(model, shrink_channels(model), 2, 3)


def test_shrink_channels_keeps_one_channel_when_all_are_dead():
    model = DigitsCNN((3, 2), 10)
    _zero_channels(model, conv1=(0, 1, 2))
    small = shrink_channels(model)
    _check_shrunk(model, small, 1, 2)
    assert torch.equal(small.conv1.weight, torch.zeros(1, 1, 3, 3))


def test_shrink_channels_nothing_to_remove_is_a_copy():
    model = DigitsCNN((4, 6), 10)
    small = shrink_channels(model)
    _check_shrunk(model, small, 4, 6)
    with torch.no_grad():
        small.conv1.weight.zero_()
    assert bool(model.conv1.weight.ne(0).any())  # separate tensors


def test_shrink_channels_uses_prune_masks():
    model = DigitsCNN((6, 8), 10)
    m1 = torch.ones_like(model.conv1.weight)
    m1[[2, 4]] = 0
    b1 = torch.ones(6)
    b1[[2, 4]] = 0
    m2 = torch.ones_like(model.conv2.weight)
    m2[5] = 0
    b2 = torch.ones(8)
    b2[5] = 0
    prune.custom_from_mask(model.conv1, "weight", m1)
    prune.custom_from_mask(model.conv1, "bias", b1)
    prune.custom_from_mask(model.conv2, "weight", m2)
    prune.custom_from_mask(model.conv2, "bias", b2)
    assert count_parameters(model) == cnn_params(6, 8, 10)
    assert count_parameters(model, nonzero=True) == cnn_params(6, 8, 10) - (2 * 9 + 2) - (6 * 9 + 1)
    small = shrink_channels(model)
    assert not any(hasattr(m, "weight_orig") for m in small.modules())
    _check_shrunk(model, small, 4, 7)


def test_shrink_channels_keeps_mode_dtype_and_rejects_other_models():
    model = DigitsCNN((3, 3), 10, dtype=torch.float64).eval()
    small = shrink_channels(model)
    assert small.conv1.weight.dtype == torch.float64 and not small.training
    with pytest.raises(TypeError, match="DigitsCNN"):
        shrink_channels(MLP(64, 8, 10))
