"""Tests of sparselab.pruning.schedules: the cubic schedule, gradual/one-shot pruning and iterative magnitude pruning."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sparselab import pruning
from sparselab.data import make_regression
from sparselab.masks import keep_count
from sparselab.pruning import (
    GradualPruning,
    OneShotPruning,
    cubic_sparsity,
    imp_alpha,
    imp_density,
    iterative_magnitude_pruning,
    rewind_weights,
    snapshot_weights,
)
from sparselab.training import TrainConfig, train


# --------------------------------------------------------------------------- fixtures
def tiny_data():
    return make_regression("nonlinear", n_train=64, n_test=32, in_features=8, width=8, seed=0)


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))  # 128 + 16 = 144 prunable weights


N_WEIGHTS = 144
CONFIG = TrainConfig(epochs=2, batch_size=32, lr=1e-2, device="cpu", progress=False)  # 2 steps/epoch, 4 per train


def active(model) -> int:
    return sum(int(pruning.current_mask(m).sum()) for _, m in pruning.prunable_layers(model))


class Recorder:
    """Records, at every train call's start, the weights (weight_orig when masked) and masks of the model."""

    def __init__(self, at_step: int | None = None):
        self.begin = []
        self.at_step = at_step
        self.step_state = None

    def on_train_begin(self, model, optimizer):
        self.begin.append(
            (snapshot_weights(model), {n: pruning.current_mask(m).clone() for n, m in pruning.prunable_layers(model)})
        )

    def on_step_end(self, step, model, optimizer, batch):
        if self.at_step is not None and step == self.at_step and self.step_state is None:
            self.step_state = snapshot_weights(model)


def assert_same_state(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# --------------------------------------------------------------------------- cubic schedule
SCHED = dict(final_sparsity=0.8, initial_sparsity=0.0, start_step=10, n_updates=4, update_every=5)


def test_cubic_sparsity_endpoints():
    assert cubic_sparsity(0, **SCHED) == 0.0
    assert cubic_sparsity(9, **SCHED) == 0.0
    assert cubic_sparsity(10, **SCHED) == 0.0  # s_i at t0
    assert cubic_sparsity(30, **SCHED) == pytest.approx(0.8, abs=1e-15)  # s_f at t0 + n dt
    assert cubic_sparsity(31, **SCHED) == 0.8
    assert cubic_sparsity(10_000, **SCHED) == 0.8
    assert cubic_sparsity(3, final_sparsity=0.5, initial_sparsity=0.2, start_step=5, n_updates=2, update_every=1) == 0.2


def test_cubic_sparsity_hand_computed_midpoints_and_piecewise_constant():
    # t = 20: two of four updates done, s = 0.8 + (0 - 0.8)(1 - 10/20)^3 = 0.8 - 0.1 = 0.7
    assert cubic_sparsity(20, **SCHED) == pytest.approx(0.7, abs=1e-15)
    for t in range(20, 25):
        assert cubic_sparsity(t, **SCHED) == cubic_sparsity(20, **SCHED)
    # t = 15: s = 0.8 - 0.8 * 0.75^3 = 0.4625
    assert cubic_sparsity(17, **SCHED) == pytest.approx(0.4625, abs=1e-15)
    # with s_i = 0.5: t = 20, s = 0.8 - 0.3 * 0.125 = 0.7625
    assert cubic_sparsity(20, **{**SCHED, "initial_sparsity": 0.5}) == pytest.approx(0.7625, abs=1e-15)


def test_cubic_sparsity_monotone_non_decreasing():
    values = [cubic_sparsity(t, **SCHED) for t in range(0, 40)]
    assert all(b >= a for a, b in zip(values, values[1:]))
    assert len(set(values)) == 5  # s_i and one new value per update


def test_cubic_sparsity_one_shot_when_no_updates():
    kw = dict(final_sparsity=0.9, start_step=7, n_updates=0, update_every=1)
    assert cubic_sparsity(6, **kw) == 0.0
    assert cubic_sparsity(7, **kw) == 0.9


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(final_sparsity=1.0), "final_sparsity"),
        (dict(final_sparsity=0.5, initial_sparsity=0.6), "initial_sparsity"),
        (dict(final_sparsity=0.5, update_every=0), "update_every"),
        (dict(final_sparsity=0.5, n_updates=-1), "n_updates"),
        (dict(final_sparsity=0.5, start_step=-1), "start_step"),
    ],
)
def test_cubic_sparsity_bad_arguments(kwargs, name):
    args = {**dict(n_updates=2, update_every=1), **kwargs}
    with pytest.raises(ValueError, match=name):
        cubic_sparsity(5, **args)


# --------------------------------------------------------------------------- IMP densities
def test_imp_density_and_alpha_round_trip():
    assert imp_alpha(0.25, 2) == 0.5
    assert imp_density(2, 0.5) == 0.25
    assert imp_density(0, 0.3) == 1.0
    for d, s in [(0.1, 5), (0.02, 7), (0.5, 1)]:
        assert imp_density(s, imp_alpha(d, s)) == pytest.approx(d, rel=1e-12)
    with pytest.raises(ValueError, match="final_density"):
        imp_alpha(1.0, 3)
    with pytest.raises(ValueError, match="rounds"):
        imp_alpha(0.1, 0)
    with pytest.raises(ValueError, match="alpha"):
        imp_density(1, 0.0)
    with pytest.raises(ValueError, match="round"):
        imp_density(-1, 0.2)


# --------------------------------------------------------------------------- IMP
def test_imp_densities_exact_and_rewind_to_init():
    data = tiny_data()
    model = tiny_model()
    init = snapshot_weights(model)
    rec = Recorder()
    alpha, rounds = 0.2, 3
    res = iterative_magnitude_pruning(model, data, CONFIG, alpha=alpha, rounds=rounds, callbacks=(rec,), progress=False)
    expected = [keep_count(N_WEIGHTS, (1 - alpha) ** r) / N_WEIGHTS for r in range(rounds + 1)]
    assert expected == [1.0, 115 / 144, 92 / 144, 74 / 144]
    assert res.densities == expected
    assert res.target_densities == [(1 - alpha) ** r for r in range(rounds + 1)]
    assert active(model) == 74
    assert sum(int(m.sum()) for m in res.masks.values()) == 74
    assert res.total_steps == 4 * (rounds + 1)
    assert len(res.histories) == rounds + 1 and len(res.test_metric) == rounds + 1
    assert res.metric == "test_mse" and all(math.isfinite(v) for v in res.test_metric)
    assert res.test_metric == [h.test_mse[-1] for h in res.histories]
    # the rewind point is the initialisation, and every retraining starts from it exactly (biases too)
    assert_same_state(res.rewind_state, init)
    for r in range(1, rounds + 1):
        assert_same_state(rec.begin[r][0], init)
    # masks are nested: a pruned weight never returns
    for r in range(1, rounds + 1):
        prev, cur = rec.begin[r - 1][1], rec.begin[r][1]
        for name in cur:
            assert not bool((cur[name] & ~prev[name]).any())
    # rewind_weights puts the initial (unmasked) weights back and keeps the masks
    masks_before = {n: pruning.current_mask(m).clone() for n, m in pruning.prunable_layers(model)}
    rewind_weights(model, res.rewind_state)
    assert torch.equal(model[0].weight_orig, init["0.weight"])
    assert torch.equal(model[2].bias, init["2.bias"])
    for n, m in pruning.prunable_layers(model):
        assert torch.equal(pruning.current_mask(m), masks_before[n])


def test_imp_final_density_layer_scope_and_late_rewinding():
    data = tiny_data()
    model = tiny_model(1)
    rec = Recorder(at_step=3)
    res = iterative_magnitude_pruning(
        model,
        data,
        CONFIG,
        final_density=0.25,
        rounds=2,
        rewind_step=3,
        scope="layer",
        callbacks=(rec,),
        progress=False,
    )
    assert res.alpha == pytest.approx(0.5)
    assert res.target_densities == [1.0, 0.5, 0.25]
    # layer scope: every layer keeps exactly keep_count(numel, d)
    assert int(pruning.current_mask(model[0]).sum()) == keep_count(128, 0.25) == 32
    assert int(pruning.current_mask(model[2]).sum()) == keep_count(16, 0.25) == 4
    assert res.densities[-1] == 36 / 144
    # the snapshot is the state after 3 optimizer steps of the dense training
    assert_same_state(res.rewind_state, rec.step_state)
    assert_same_state(rec.begin[1][0], rec.step_state)
    assert_same_state(rec.begin[2][0], rec.step_state)
    assert res.total_steps == 12


def test_imp_prunes_only_named_layers():
    model = tiny_model()
    res = iterative_magnitude_pruning(model, tiny_data(), CONFIG, alpha=0.5, rounds=1, layers=["0"], progress=False)
    assert list(res.masks) == ["0"]
    assert int(pruning.current_mask(model[0]).sum()) == 64
    assert not pruning.is_masked(model[2])
    assert res.densities == [1.0, 0.5]


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(final_density=0.1, alpha=0.2), "final_density"),
        (dict(), "alpha"),
        (dict(alpha=1.0), "alpha"),
        (dict(alpha=0.2, rewind_step=9), "rewind_step"),
        (dict(alpha=0.2, scope="tensor"), "scope"),
        (dict(alpha=0.2, layers=["nope"]), "layers"),
        (dict(final_density=1.0), "final_density"),
    ],
)
def test_imp_bad_arguments(kwargs, name):
    model = tiny_model()
    before = snapshot_weights(model)
    with pytest.raises(ValueError, match=name):
        iterative_magnitude_pruning(model, tiny_data(), CONFIG, rounds=2, progress=False, **kwargs)
    assert_same_state(snapshot_weights(model), before)  # nothing ran
    assert not pruning.is_masked(model[0])


# --------------------------------------------------------------------------- gradual pruning
def test_gradual_pruning_follows_the_cubic_schedule_and_ends_exact():
    model = tiny_model()
    cb = GradualPruning(0.3, start_step=2, end_step=6, update_every=2)
    train(model, tiny_data(), TrainConfig(epochs=4, batch_size=32, device="cpu", progress=False), callbacks=(cb,))
    assert [s for s, _, _ in cb.log] == [2, 4, 6]
    targets = [t for _, t, _ in cb.log]
    for step, target, _ in cb.log[:-1]:
        assert target == pytest.approx(
            1 - cubic_sparsity(step, final_sparsity=0.7, start_step=2, n_updates=2, update_every=2), abs=1e-12
        )
    assert targets[0] == 1.0  # s_i = 0 at t0: nothing pruned yet
    assert targets[1] == pytest.approx(1 - (0.7 - 0.7 * 0.125), abs=1e-12)  # 0.3875
    assert targets[-1] == 0.3
    measured = [d for _, _, d in cb.log]
    assert measured == [1.0, keep_count(144, targets[1]) / 144, keep_count(144, 0.3) / 144]
    assert active(model) == keep_count(144, 0.3) == 43
    assert pruning.model_density(model) <= 43 / 144


def test_gradual_pruning_layer_scope_exact_per_layer():
    model = tiny_model()
    cb = GradualPruning(0.25, start_step=1, end_step=4, update_every=1, scope="layer", layers=["0"])
    train(model, tiny_data(), TrainConfig(epochs=3, batch_size=32, device="cpu", progress=False), callbacks=(cb,))
    assert [s for s, _, _ in cb.log] == [1, 2, 3, 4]
    assert int(pruning.current_mask(model[0]).sum()) == 32
    assert not pruning.is_masked(model[2])
    assert cb.log[-1] == (4, 0.25, 0.25)


def test_one_shot_pruning_at_initialisation_and_later():
    model = tiny_model()
    cb = OneShotPruning(0.1, at_step=0)
    cb.on_train_begin(model, None)
    assert active(model) == keep_count(144, 0.1) == 14
    assert cb.log == [(0, 0.1, 14 / 144)]
    # magnitude: the survivors are the 14 largest |w| over both layers
    w = torch.cat([model[0].weight_orig.detach().abs().flatten(), model[2].weight_orig.detach().abs().flatten()])
    m = torch.cat([pruning.current_mask(model[0]).flatten(), pruning.current_mask(model[2]).flatten()])
    assert float(w[m].min()) >= float(w[~m].max())

    model = tiny_model()
    cb = OneShotPruning(0.5, at_step=3)
    train(model, tiny_data(), CONFIG, callbacks=(cb,))
    assert cb.log == [(3, 0.5, 0.5)]
    assert active(model) == 72


def test_gradual_pruning_structured_rows_exact():
    model = tiny_model()
    cb = GradualPruning(0.25, start_step=0, end_step=2, update_every=1, scope="layer", structure="row", layers=["0"])
    train(model, tiny_data(), CONFIG, callbacks=(cb,))
    mask = pruning.current_mask(model[0])
    rows = mask.all(dim=1)
    assert int(rows.sum()) == keep_count(16, 0.25) == 4
    assert torch.equal(mask, rows[:, None].expand_as(mask))
    assert [s for s, _, _ in cb.log] == [0, 1, 2]
    assert cb.log[-1][1:] == (0.25, 0.25)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(final_density=0.0), "final_density"),
        (dict(final_density=0.5, initial_density=0.4), "initial_density"),
        (dict(final_density=0.5, end_step=7), "end_step"),
        (dict(final_density=0.5, end_step=1), "end_step"),
        (dict(final_density=0.5, update_every=0), "update_every"),
        (dict(final_density=0.5, scope="tensor"), "scope"),
        (dict(final_density=0.5, structure="diagonal"), "structure"),
        (dict(final_density=0.5, layers="0"), "layers"),
        (dict(final_density=0.5, structure="row"), "scope"),
        (dict(final_density=0.5, structure="nm"), "nm"),
        (dict(final_density=0.5, scope="layer", structure="block", blok=(2, 2)), "structure option"),
    ],
)
def test_gradual_pruning_bad_arguments(kwargs, name):
    args = {**dict(start_step=2, end_step=6, update_every=2), **kwargs}
    with pytest.raises(ValueError, match=name):
        GradualPruning(**args)
