"""Tests of sparselab.pruning.dynamic: SET and RigL keep the density exact, move the mask, regrow at zero."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sparselab import pruning
from sparselab.data import make_regression
from sparselab.masks import keep_count
from sparselab.pruning import (
    SET,
    RigL,
    cosine_drop_fraction,
    drop_count,
    gradient_grow,
    magnitude_drop,
    random_grow,
    random_mask,
)
from sparselab.training import TrainConfig, train


def tiny_data():
    return make_regression("nonlinear", n_train=64, n_test=32, in_features=8, width=8, seed=0)


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))  # 256 + 32 weights


CONFIG = TrainConfig(epochs=3, batch_size=16, lr=1e-2, device="cpu", progress=False)  # 4 steps/epoch, 12 in all


# --------------------------------------------------------------------------- pure functions
def test_cosine_drop_fraction_values():
    assert cosine_drop_fraction(0, 0.3, 100) == pytest.approx(0.3)
    assert cosine_drop_fraction(50, 0.3, 100) == pytest.approx(0.15)
    assert cosine_drop_fraction(25, 0.4, 100) == pytest.approx(0.2 * (1 + math.cos(math.pi / 4)))
    assert cosine_drop_fraction(100, 0.3, 100) == 0.0
    assert cosine_drop_fraction(150, 0.3, 100) == 0.0


def test_drop_count_rounds_and_caps_at_the_inactive():
    assert drop_count(10, 90, 0.3) == 3
    assert drop_count(10, 90, 0.25) == 2  # round half to even: 2.5 -> 2
    assert drop_count(90, 10, 0.3) == 10  # at most the inactive ones can be regrown
    assert drop_count(10, 0, 0.3) == 0


def test_magnitude_drop_and_gradient_grow_hand_case():
    mask = torch.tensor([[True, False, True], [False, True, True]])
    weight = torch.tensor([[0.5, 9.0, -3.0], [9.0, -0.1, 4.0]])
    assert torch.equal(magnitude_drop(mask, weight, 1), torch.tensor([[False, False, False], [False, True, False]]))
    assert torch.equal(magnitude_drop(mask, weight, 2), torch.tensor([[True, False, False], [False, True, False]]))
    grad = torch.tensor([[100.0, -1.0, 100.0], [-4.0, 100.0, 100.0]])
    assert torch.equal(gradient_grow(mask, grad, 1), torch.tensor([[False, False, False], [True, False, False]]))
    assert torch.equal(gradient_grow(mask, grad, 2), ~mask)
    assert not gradient_grow(mask, grad, 0).any()
    with pytest.raises(ValueError, match="n"):
        gradient_grow(mask, grad, 3)  # only 2 inactive


def test_random_grow_and_random_mask_exact_and_seeded():
    mask = random_mask((20, 30), 0.1, torch.Generator().manual_seed(0))
    assert int(mask.sum()) == keep_count(600, 0.1) == 60
    assert torch.equal(mask, random_mask((20, 30), 0.1, torch.Generator().manual_seed(0)))
    grown = random_grow(mask, 25, torch.Generator().manual_seed(1))
    assert int(grown.sum()) == 25 and not bool((grown & mask).any())


# --------------------------------------------------------------------------- RigL on a hand-checkable layer
def test_rigl_update_regrows_top_gradient_inactive_and_resets_state():
    model = nn.Sequential(nn.Linear(3, 2, bias=False))
    layer = model[0]
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, 2.0, -3.0], [1.0, -0.1, 4.0]]))
    mask = torch.tensor([[True, False, True], [False, True, True]])
    pruning.attach_mask(layer, mask)
    param = layer.weight_orig
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    opt.state[param] = {"step": torch.tensor(1.0), "exp_avg": torch.ones(2, 3), "exp_avg_sq": torch.ones(2, 3)}
    cb = RigL(0.5, update_every=1, end_step=10)
    cb.on_train_begin(model, opt)  # the layer already has a mask: kept
    assert torch.equal(pruning.current_mask(layer), mask)
    # W_eff = [[0.5, 0, -3], [0, -0.1, 4]], x = [1, 1, 0]: pred = [0.5, -0.1]; y = [1.5, -4.1]
    # MSE over 2 outputs: G = dL/dW_eff = (2/2) (pred - y)^T x = [[-1, -1, 0], [4, 4, 0]]
    X, y = torch.tensor([[1.0, 1.0, 0.0]]), torch.tensor([[1.5, -4.1]])
    grads = cb._gradients(model, (X, y, "regression"))
    assert torch.allclose(grads["0"], torch.tensor([[-1.0, -1.0, 0.0], [4.0, 4.0, 0.0]]), atol=1e-6)
    dropped, grown = cb.update(1, 0.25, model, (X, y, "regression"))  # round(0.25 * 4) = 1 moves
    assert (dropped, grown) == (1, 1)
    # dropped: smallest active |w| is (1, 1) = -0.1; grown: inactive (0, 1) |G| = 1, (1, 0) |G| = 4 -> (1, 0)
    expected = torch.tensor([[True, False, True], [True, False, True]])
    assert torch.equal(pruning.current_mask(layer), expected)
    assert float(param.detach()[1, 0]) == 0.0
    assert float(opt.state[param]["exp_avg"][1, 0]) == 0.0 and float(opt.state[param]["exp_avg_sq"][1, 0]) == 0.0
    assert int((opt.state[param]["exp_avg"] == 0).sum()) == 1  # only the regrown coordinate was reset
    assert torch.equal(param.detach()[0], torch.tensor([0.5, 2.0, -3.0]))  # others untouched
    assert cb.log == [(1, 1, 1, 4 / 6)]
    # the module computes with the new mask straight away
    assert torch.equal(layer(torch.eye(3)).detach().T, param.detach() * expected)


# --------------------------------------------------------------------------- SET / RigL in training
class Checker:
    """Runs after the dynamic callback: checks counts every step and records mask changes."""

    def __init__(self, dst):
        self.dst = dst
        self.changed = 0
        self.regrown_values = []

    def on_train_begin(self, model, optimizer):
        self.layers = pruning.prunable_layers(model)
        self.masks = {n: pruning.current_mask(m).clone() for n, m in self.layers}

    def on_step_end(self, step, model, optimizer, batch):
        for name, m in self.layers:
            new = pruning.current_mask(m)
            assert int(new.sum()) == keep_count(m.weight_orig.numel(), self.dst.density)
            born = new & ~self.masks[name]
            self.changed += int(born.sum())
            self.regrown_values.append(m.weight_orig.detach()[born].clone())
            # the model computes with the masked weight
            assert not bool(m.weight.detach()[~new].any())
            self.masks[name] = new.clone()


@pytest.mark.parametrize("kind", ["SET", "RigL"])
def test_dynamic_sparse_training_keeps_density_exact_and_moves_mask(kind):
    model = tiny_model()
    if kind == "SET":
        dst = SET(0.25, update_every=2, drop_fraction=0.3, seed=3)
    else:
        dst = RigL(0.25, update_every=2, drop_fraction=0.3, end_step=10, seed=3)
    checker = Checker(dst)
    history = train(model, tiny_data(), CONFIG, callbacks=(dst, checker))
    k0, k2 = keep_count(256, 0.25), keep_count(32, 0.25)
    assert (k0, k2) == (64, 8)
    exact = (k0 + k2) / 288
    steps = [entry[0] for entry in dst.log]
    assert steps == ([2, 4, 6, 8, 10, 12] if kind == "SET" else [2, 4, 6, 8])  # RigL: none from end_step on
    for _step, dropped, regrown, density in dst.log:
        assert dropped == regrown > 0
        assert density == exact
    if kind == "SET":
        assert all(d == round(0.3 * 64) + round(0.3 * 8) for _, d, _, _ in dst.log)  # 19 + 2
    else:
        f = [cosine_drop_fraction(s, 0.3, 10) for s in steps]
        assert [d for _, d, _, _ in dst.log] == [round(fi * 64) + round(fi * 8) for fi in f]
    assert checker.changed == sum(entry[2] for entry in dst.log)
    assert all(not bool(v.any()) for v in checker.regrown_values)  # regrown weights start at zero
    assert dst.counts == {"0": 64, "2": 8}
    assert math.isfinite(history.test_mse[-1])


def test_set_uniform_regrowth_and_only_named_layers():
    model = tiny_model()
    dst = SET(0.5, update_every=4, layers=["0"], regrow_init="uniform", seed=1)
    checker_values = []

    class Grab:
        def on_train_begin(self, model, optimizer):
            self.prev = pruning.current_mask(model[0]).clone()

        def on_step_end(self, step, model, optimizer, batch):
            new = pruning.current_mask(model[0])
            checker_values.append(model[0].weight_orig.detach()[new & ~self.prev].clone())
            self.prev = new.clone()

    train(model, tiny_data(), CONFIG, callbacks=(dst, Grab()))
    assert not pruning.is_masked(model[2])
    assert int(pruning.current_mask(model[0]).sum()) == 128
    born = torch.cat(checker_values)
    assert len(born) == 3 * round(0.3 * 128)
    assert bool((born != 0).all()) and float(born.abs().max()) <= 1 / math.sqrt(8)


def test_existing_mask_is_kept_with_its_count():
    model = tiny_model()
    pruning.prune_model(model, 0.1, scope="layer")
    dst = SET(0.5, update_every=2)
    train(model, tiny_data(), CONFIG, callbacks=(dst,))
    assert dst.counts == {"0": keep_count(256, 0.1), "2": keep_count(32, 0.1)}
    assert int(pruning.current_mask(model[0]).sum()) == 26


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: SET(0.0, update_every=2), "density"),
        (lambda: SET(0.5, update_every=0), "update_every"),
        (lambda: SET(0.5, update_every=2, drop_fraction=0.0), "drop_fraction"),
        (lambda: SET(0.5, update_every=2, drop_fraction=1.5), "drop_fraction"),
        (lambda: SET(0.5, update_every=2, regrow_init="normal"), "regrow_init"),
        (lambda: SET(0.5, update_every=2, end_step=0), "end_step"),
        (lambda: RigL(0.5, update_every=2, end_step=None), "end_step"),
        (lambda: RigL(0.5, update_every=2, end_step=10, layers=[]), "layers"),
    ],
)
def test_bad_arguments(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_unknown_layer_name_is_rejected_before_any_mask():
    model = tiny_model()
    dst = RigL(0.5, update_every=2, end_step=10, layers=["0", "nope"])
    with pytest.raises(ValueError, match="layers"):
        dst.on_train_begin(model, None)
    assert not pruning.is_masked(model[0])
