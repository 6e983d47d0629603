"""Tests of sparselab.nn: MLP layer types and names, DigitsCNN shapes, validation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sparselab import SparseLinear
from sparselab.nn import MLP, DigitsCNN


@pytest.mark.parametrize("hidden,widths", [(32, (32,)), ([32, 16], (32, 16)), ((8, 8, 4), (8, 8, 4))])
def test_dense_mlp_layers(hidden, widths):
    model = MLP(64, hidden, 10)
    assert model.widths == widths
    assert model.hidden_layers == [f"fc{i}" for i in range(1, len(widths) + 1)]
    assert model.output_layer == "out"
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    assert [name for name, _ in linears] == model.hidden_layers + ["out"]
    sizes = [(m.in_features, m.out_features) for _, m in linears]
    assert sizes == list(zip((64,) + widths, widths + (10,)))
    assert not any(isinstance(m, SparseLinear) for m in model.modules())
    assert model(torch.rand(5, 64)).shape == (5, 10)


@pytest.mark.parametrize("mask", ["hard", "soft", "sigmoid"])
def test_sparse_mlp_hidden_layers_are_sparse_and_output_dense(mask):
    model = MLP(64, [32, 16], 10, mask=mask, density=0.25)
    for name in model.hidden_layers:
        layer = getattr(model, name)
        assert type(layer) is SparseLinear
        assert (layer.mask_kind, layer.target_density) == (mask, 0.25)
        assert layer.k == round(0.25 * layer.in_features * layer.out_features)
    assert type(model.out) is nn.Linear
    assert [(n, type(m).__name__) for n, m in model.named_children()] == [
        ("fc1", "SparseLinear"),
        ("fc2", "SparseLinear"),
        ("out", "Linear"),
    ]
    assert model(torch.rand(3, 64)).shape == (3, 10)


def test_sparse_mlp_sparsity_and_sparse_kwargs_reach_the_layers():
    model = MLP(20, 10, 2, mask="hard", sparsity=0.9, straight_through=False)
    assert model.fc1.target_density == pytest.approx(0.1) and model.fc1.k == 20
    assert model.fc1.straight_through is False
    m64 = MLP(4, 3, 2, mask="soft", density=0.5, dtype=torch.float64)
    assert m64.fc1.weight.dtype == m64.out.weight.dtype == torch.float64
    dense64 = MLP(4, 3, 2, dtype=torch.float64)
    assert dense64.fc1.weight.dtype == torch.float64


def test_mlp_computes_relu_network():
    model = MLP(3, [4, 2], 2)
    x = torch.rand(6, 3)
    h = torch.relu(x @ model.fc1.weight.T + model.fc1.bias)
    h = torch.relu(h @ model.fc2.weight.T + model.fc2.bias)
    assert torch.allclose(model(x), h @ model.out.weight.T + model.out.bias)


@pytest.mark.parametrize(
    "kwargs,error,name",
    [
        ({"in_features": 0}, ValueError, "in_features"),
        ({"out_features": 0}, ValueError, "out_features"),
        ({"widths": 0}, ValueError, "widths"),
        ({"widths": []}, ValueError, "widths"),
        ({"widths": [4, 0]}, ValueError, r"widths\[1\]"),
        ({"widths": [4, 2.5]}, TypeError, r"widths\[1\]"),
        ({"widths": "8"}, TypeError, "widths"),
        ({"mask": "lasso"}, ValueError, "mask"),
        ({"density": 0.5}, ValueError, "density"),
        ({"sparsity": 0.5}, ValueError, "sparsity"),
        ({"straight_through": False}, TypeError, "mask"),
        ({"mask": "hard", "density": 1.5}, ValueError, "density"),
        ({"mask": "hard", "sparsity": 1.0}, ValueError, "sparsity"),
        ({"mask": "hard", "density": 0.5, "sparsity": 0.5}, ValueError, "density"),
    ],
)
def test_mlp_validation_names_the_parameter(kwargs, error, name):
    args = {"in_features": 8, "widths": 4, "out_features": 2}
    args.update(kwargs)
    with pytest.raises(error, match=name):
        MLP(args.pop("in_features"), args.pop("widths"), args.pop("out_features"), **args)


@pytest.mark.parametrize("channels,n_classes", [((16, 32), 10), ((3, 5), 2)])
def test_digits_cnn_shapes(channels, n_classes):
    model = DigitsCNN(channels, n_classes)
    c1, c2 = channels
    assert model.channels == channels and model.n_classes == n_classes
    assert (model.conv1.in_channels, model.conv1.out_channels, model.conv1.kernel_size) == (1, c1, (3, 3))
    assert (model.conv2.in_channels, model.conv2.out_channels, model.conv2.padding) == (c1, c2, (1, 1))
    assert (model.fc.in_features, model.fc.out_features) == (c2 * 16, n_classes)
    assert (model.in_features, model.input_shape) == (64, (1, 8, 8))
    assert model(torch.rand(7, 1, 8, 8)).shape == (7, n_classes)


def test_digits_cnn_computes_conv_conv_pool_fc():
    model = DigitsCNN((2, 3), 4)
    x = torch.rand(2, 1, 8, 8)
    z = torch.relu(torch.nn.functional.conv2d(x, model.conv1.weight, model.conv1.bias, padding=1))
    z = torch.relu(torch.nn.functional.conv2d(z, model.conv2.weight, model.conv2.bias, padding=1))
    z = torch.nn.functional.max_pool2d(z, 2).reshape(2, 48)
    assert torch.allclose(model(x), z @ model.fc.weight.T + model.fc.bias)


def test_digits_cnn_is_seeded_by_torch_manual_seed():
    torch.manual_seed(3)
    a = DigitsCNN()
    torch.manual_seed(3)
    b = DigitsCNN()
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb and torch.equal(pa, pb)


@pytest.mark.parametrize(
    "kwargs,error,name",
    [
        ({"channels": (16,)}, ValueError, "channels"),
        ({"channels": (16, 32, 64)}, ValueError, "channels"),
        ({"channels": (0, 4)}, ValueError, r"channels\[0\]"),
        ({"channels": 8}, ValueError, "channels"),
        ({"n_classes": 0}, ValueError, "n_classes"),
    ],
)
def test_digits_cnn_validation_names_the_parameter(kwargs, error, name):
    with pytest.raises(error, match=name):
        DigitsCNN(**kwargs)


def test_digits_cnn_rejects_flat_input():
    with pytest.raises(ValueError, match=r"\(batch, 1, 8, 8\)"):
        DigitsCNN((2, 2))(torch.rand(4, 64))
