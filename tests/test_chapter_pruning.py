"""Tests of sparselab.chapters.pruning: every recipe of the chapter "Pruning schedules, lottery tickets and
dynamic sparsity" at its exact density and cost, the lottery-ticket control, the comparison grid,
the gradient-norm log and the structured-pruning sweep of the CNN.

Everything runs on tiny data (128 training points, 8 features, one hidden layer of 8) so the whole
module takes a few seconds; nothing here is timed.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

import sparselab.training
from sparselab import pruning
from sparselab.chapters import pruning as C
from sparselab.masks import keep_count

TINY_REG = dict(n_train=128, n_test=64, in_features=8, width=8)
SPARSITY = 0.9
DENSITY = 0.1
# Per task: the run_method settings and the steps per epoch they give. update_every=2 so that the gradual
# schedule and the SET/RigL updates fit into the few steps of these runs.
OPTIONS = {
    "regression": C.MethodConfig(widths=(8,), epochs=3, batch_size=32, update_every=2, imp_rounds=2),  # 128/32 = 4
    "digits": C.MethodConfig(widths=(8,), epochs=2, batch_size=128, update_every=2, imp_rounds=2),  # ceil(1347/128)
}
STEPS_PER_EPOCH = {"regression": 4, "digits": 11}
HIDDEN_WEIGHTS = {"regression": 8 * 8, "digits": 64 * 8}  # fc1 is the only pruned layer


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def datasets():
    return {"regression": C.make_data("regression", seed=0, **TINY_REG), "digits": C.make_data("digits", seed=0)}


@pytest.fixture(scope="module")
def imp_runs(datasets):
    """The IMP run of each task (keep=True), whose masks IMP-reinit re-initialises."""
    return {
        task: C.run_method("IMP", OPTIONS[task], task=task, sparsity=SPARSITY, seed=0, data=data, keep=True)
        for task, data in datasets.items()
    }


def without_seconds(row: dict) -> dict:
    return {c: row[c] for c in C.ROW_COLUMNS if c != "seconds"}


def expected_cost(method: str, task: str) -> tuple[int, int]:
    """(steps, epochs) of a recipe: E epochs, 2E for one-shot, (S + 1)E for IMP."""
    epochs = OPTIONS[task].epochs
    factor = {"one-shot": 2, "IMP": OPTIONS[task].imp_rounds + 1}.get(method, 1)
    return factor * epochs * STEPS_PER_EPOCH[task], factor * epochs


def independent_error(model, data) -> float:
    """Test MSE (regression) or misclassification rate (digits) of ``model``, recomputed from scratch."""
    model.eval()
    with torch.no_grad():
        pred = model(data.X_test).double()
    if data.task == "regression":
        return float(((pred - data.y_test.double()) ** 2).mean())
    return int((pred.argmax(1) != data.y_test).sum()) / len(data.y_test)


# ----------------------------------------------------------------------------- run_method: every recipe
@pytest.mark.parametrize("task", C.TASKS)
@pytest.mark.parametrize("method", C.METHODS)
def test_every_method_reaches_exact_density_at_its_cost(task, method, datasets, imp_runs):
    data = datasets[task]
    if method == "IMP":
        row = imp_runs[task]
    else:
        row = C.run_method(
            method,
            OPTIONS[task],
            task=task,
            sparsity=0.0 if method == "dense" else SPARSITY,
            seed=0,
            data=data,
            keep=True,
            imp_mask=imp_runs[task]["masks"] if method == "IMP-reinit" else None,
        )
    assert list(row)[: len(C.ROW_COLUMNS)] == list(C.ROW_COLUMNS)
    assert row["task"] == task and row["method"] == method and row["seed"] == 0
    n = HIDDEN_WEIGHTS[task]
    density = 1.0 if method == "dense" else DENSITY
    assert row["sparsity"] == (0.0 if method == "dense" else SPARSITY)
    assert row["density"] == keep_count(n, density) / n  # exact, e.g. 6/64 and 51/512
    model = row["model"]
    assert int(pruning.current_mask(model.fc1).sum()) == keep_count(n, density)
    assert bool(pruning.current_mask(model.out).all())  # the output layer stays dense
    steps, epochs = expected_cost(method, task)
    assert row["steps"] == steps and row["epochs"] == epochs
    assert len(row["histories"]) == {"one-shot": 2, "IMP": OPTIONS[task].imp_rounds + 1}.get(method, 1)
    assert row["train_loss"] == row["histories"][-1].train_loss[-1]
    if method in ("SET", "RigL"):
        # end_step = 3T/4 = 9 (regression) or 16 (digits); an update every 2 steps before it
        total = OPTIONS[task].epochs * STEPS_PER_EPOCH[task]
        assert row["updates"] == len(range(2, (3 * total) // 4, 2))


@pytest.mark.parametrize("task", C.TASKS)
@pytest.mark.parametrize("method", ["dense", "one-shot", "sigmoid", "random"])
def test_test_error_matches_an_independent_recomputation(task, method, datasets):
    data = datasets[task]
    row = C.run_method(
        method,
        OPTIONS[task],
        task=task,
        sparsity=0.0 if method == "dense" else SPARSITY,
        seed=0,
        data=data,
        keep=True,
    )
    expected = independent_error(row["model"], data)
    if task == "regression":
        assert row["test_error"] == pytest.approx(expected, rel=1e-6)
    else:
        wrong = round(expected * len(data.y_test))
        assert row["test_error"] == pytest.approx(expected, abs=1e-6)
        assert row["test_error"] * len(data.y_test) == pytest.approx(wrong, abs=1e-3)  # a count of mistakes
    assert 0 < row["test_error"] < (2.0 if task == "regression" else 1.0)


def test_imp_row_holds_its_schedule(imp_runs):
    row = imp_runs["regression"]
    S, n = OPTIONS["regression"].imp_rounds, HIDDEN_WEIGHTS["regression"]
    assert row["alpha"] == pytest.approx(1 - DENSITY ** (1 / S))
    assert row["target_densities"][0] == 1.0 and row["target_densities"][-1] == DENSITY
    assert row["densities"] == [keep_count(n, (1 - row["alpha"]) ** r) / n for r in range(S)] + [row["density"]]
    assert row["densities"] == [1.0, 20 / 64, 6 / 64]
    assert torch.equal(row["masks"]["fc1"], pruning.current_mask(row["model"].fc1))
    assert set(row["masks"]) == {"fc1"}


# Short runs: the gradual schedule's last update must still fall inside the run.
@pytest.mark.parametrize("epochs, update_every", [(3, 10), (1, 1)])
def test_gradual_reaches_density_with_few_steps(epochs, update_every, datasets):
    row = C.run_method(
        "gradual",
        C.MethodConfig(widths=(8,), epochs=epochs, batch_size=32, update_every=update_every),
        task="regression",
        sparsity=SPARSITY,
        data=datasets["regression"],
    )
    assert row["density"] == keep_count(64, DENSITY) / 64


# A one-step run: SET/RigL get end_step >= 1.
@pytest.mark.parametrize("method", ["SET", "RigL"])
def test_dynamic_sparse_training_runs_with_a_single_step(method, datasets):
    config = C.MethodConfig(widths=(8,), epochs=1, batch_size=128)  # 128 points, batch 128: one step
    row = C.run_method(method, config, task="regression", sparsity=SPARSITY, data=datasets["regression"])
    assert row["density"] == keep_count(64, DENSITY) / 64 and row["steps"] == 1


# ----------------------------------------------------------------------------- lottery-ticket control, random masks
class InitRecorder:
    """Callback: the raw weights of fc1 and out at the start of every train call."""

    def __init__(self):
        self.starts = []

    def on_train_begin(self, model, optimizer):
        self.starts.append(
            {
                name: getattr(getattr(model, name), "weight_orig", getattr(model, name).weight).detach().clone()
                for name in ("fc1", "out")
            }
        )


def test_imp_reinit_uses_the_imp_mask_with_a_fresh_initialisation(datasets):
    data, opts = datasets["regression"], OPTIONS["regression"]
    imp_rec, reinit_rec = InitRecorder(), InitRecorder()
    imp = C.run_method(
        "IMP", opts, task="regression", sparsity=SPARSITY, seed=0, data=data, keep=True, callbacks=[imp_rec]
    )
    reinit = C.run_method(
        "IMP-reinit",
        opts,
        task="regression",
        sparsity=SPARSITY,
        seed=0,
        data=data,
        keep=True,
        imp_mask=imp["masks"],
        callbacks=[reinit_rec],
    )
    # exactly the IMP mask
    assert torch.equal(pruning.current_mask(reinit["model"].fc1), pruning.current_mask(imp["model"].fc1))
    assert torch.equal(pruning.current_mask(reinit["model"].fc1), imp["masks"]["fc1"])
    assert reinit["density"] == imp["density"] == 6 / 64
    # IMP starts every round from the seed's initialisation (rewinding to step 0) ...
    init = C.make_model(data, (8,), seed=0)
    assert len(imp_rec.starts) == opts.imp_rounds + 1
    for start in imp_rec.starts:
        assert torch.equal(start["fc1"], init.fc1.weight.detach()) and torch.equal(start["out"], init.out.weight)
    # ... IMP-reinit from a different one
    fresh = C.make_model(data, (8,), seed=1000)
    assert len(reinit_rec.starts) == 1
    assert torch.equal(reinit_rec.starts[0]["fc1"], fresh.fc1.weight.detach())
    assert not torch.equal(reinit_rec.starts[0]["fc1"], imp_rec.starts[0]["fc1"])
    assert not torch.equal(reinit_rec.starts[0]["out"], imp_rec.starts[0]["out"])
    assert reinit["test_error"] != imp["test_error"]


def test_random_masks_have_exact_per_layer_counts_and_depend_on_the_seed(datasets):
    data = datasets["regression"]
    model = C.make_model(data, (8, 6))
    layers = model.hidden_layers
    assert layers == ["fc1", "fc2"]
    # density 0.3: per layer round(19.2) = 19 of 64 and round(14.4) = 14 of 48 (33 in all, where one global
    # count would keep round(33.6) = 34)
    a = C.random_masks(model, 0.3, layers=layers, seed=0)
    assert set(a) == {"fc1", "fc2"}
    assert [int(a[name].sum()) for name in layers] == [19, 14]
    assert a["fc1"].shape == (8, 8) and a["fc2"].shape == (6, 8) and a["fc1"].dtype == torch.bool
    b = C.random_masks(model, 0.3, layers=layers, seed=0)
    c = C.random_masks(model, 0.3, layers=layers, seed=1)
    assert all(torch.equal(a[name], b[name]) for name in layers)
    assert not torch.equal(a["fc1"], c["fc1"]) and not torch.equal(a["fc2"], c["fc2"])
    assert [int(c[name].sum()) for name in layers] == [19, 14]
    # the masks do not depend on the weights, only on the seed
    other = C.make_model(data, (8, 6), seed=5)
    d = C.random_masks(other, 0.3, layers=layers, seed=0)
    assert all(torch.equal(a[name], d[name]) for name in layers)

    rows = {
        seed: C.run_method(
            "random",
            C.MethodConfig(widths=(8, 6), epochs=2, batch_size=64),
            task="regression",
            sparsity=0.7,
            seed=seed,
            data=data,
            keep=True,
        )
        for seed in (0, 1)
    }
    for seed, row in rows.items():
        expected = C.random_masks(C.make_model(data, (8, 6), seed=seed), 0.3, layers=layers, seed=seed)
        for name in layers:
            assert torch.equal(pruning.current_mask(getattr(row["model"], name)), expected[name])
        assert row["density"] == 33 / 112
        assert [int(pruning.current_mask(getattr(row["model"], name)).sum()) for name in layers] == [19, 14]
    assert not torch.equal(pruning.current_mask(rows[0]["model"].fc1), pruning.current_mask(rows[1]["model"].fc1))


# ----------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_rows_and_another_seed_differs(datasets):
    data, opts = datasets["regression"], OPTIONS["regression"]
    imp_mask = C.run_method("IMP", opts, task="regression", sparsity=SPARSITY, seed=0, data=data, keep=True)["masks"]
    for method in ("one-shot", "gradual", "IMP", "IMP-reinit", "random", "hard", "soft", "sigmoid", "SET", "RigL"):

        def run(seed):
            return C.run_method(
                method,
                opts,
                task="regression",
                sparsity=SPARSITY,
                seed=seed,
                data=data,  # noqa
                imp_mask=imp_mask,
            )

        a, b, c = run(0), run(0), run(1)
        assert without_seconds(a) == without_seconds(b), method
        assert c["seed"] == 1 and c["test_error"] != a["test_error"], method


# ----------------------------------------------------------------------------- compare
COMPARE_OPTIONS = dict(data={"regression": TINY_REG}, progress=False)
COMPARE_CONFIG = C.MethodConfig(widths=(8,), epochs=2, batch_size=32)


def test_compare_grid_rows_order_and_imp_schedules():
    methods = ("random", "IMP-reinit", "IMP", "dense")  # any order in, METHODS order out
    config = dataclasses.replace(COMPARE_CONFIG, imp_rounds=3)
    frame, schedules = C.compare(
        config, tasks=("regression",), methods=methods, sparsities=(0.9, 0.8), seeds=(1, 0), **COMPARE_OPTIONS
    )
    assert list(frame.columns) == list(C.ROW_COLUMNS)
    assert len(frame) == 2 + 3 * 2 * 2  # dense once per seed, then method x sparsity x seed
    assert frame["method"].tolist() == ["dense"] * 2 + ["IMP"] * 4 + ["IMP-reinit"] * 4 + ["random"] * 4
    dense = frame[frame["method"] == "dense"]
    assert dense["seed"].tolist() == [0, 1] and (dense["sparsity"] == 0.0).all() and (dense["density"] == 1.0).all()
    sparse = frame[frame["method"] != "dense"]
    assert sparse["sparsity"].tolist() == [0.8, 0.8, 0.9, 0.9] * 3 and sparse["seed"].tolist() == [0, 1] * 6
    assert (frame["task"] == "regression").all()
    E, spe = 2, 4
    assert frame["steps"].tolist() == [E * spe] * 2 + [4 * E * spe] * 4 + [E * spe] * 8
    assert frame["epochs"].tolist() == [E] * 2 + [4 * E] * 4 + [E] * 8
    for s in (0.8, 0.9):
        expected = keep_count(64, round(1 - s, 12)) / 64
        assert (sparse.loc[sparse["sparsity"] == s, "density"] == expected).all()

    assert set(schedules) == {("regression", s, seed) for s in (0.8, 0.9) for seed in (0, 1)}
    for (_task, s, seed), (densities, targets, alpha) in schedules.items():
        d = round(1 - s, 12)
        assert alpha == pytest.approx(1 - d ** (1 / 3))
        assert len(densities) == len(targets) == 4
        assert targets[-1] == d
        assert densities[:3] == [keep_count(64, (1 - alpha) ** r) / 64 for r in range(3)]
        assert densities[-1] == keep_count(64, d) / 64
        imp_row = frame[(frame["method"] == "IMP") & (frame["sparsity"] == s) & (frame["seed"] == seed)]
        assert imp_row["density"].item() == densities[-1]
    assert schedules[("regression", 0.8, 0)][0] == [1.0, 37 / 64, 22 / 64, 13 / 64]
    assert schedules[("regression", 0.9, 0)][0] == [1.0, 30 / 64, 14 / 64, 6 / 64]

    # a compare row is the run_method row of the same inputs (IMP-reinit with the IMP mask of its group)
    data = C.make_data("regression", seed=1, **TINY_REG)
    opts = dict(task="regression", sparsity=0.9, seed=1, data=data)
    imp = C.run_method("IMP", config, keep=True, **opts)
    reinit = C.run_method("IMP-reinit", config, imp_mask=imp["masks"], **opts)
    got = frame[(frame["method"] == "IMP-reinit") & (frame["sparsity"] == 0.9) & (frame["seed"] == 1)]
    assert got.drop(columns="seconds").iloc[0].to_dict() == without_seconds(reinit)


def test_compare_results_do_not_depend_on_workers():
    grid = dict(
        tasks=("regression",),
        methods=("IMP", "IMP-reinit"),
        sparsities=(0.9,),
        seeds=(0,),
        **COMPARE_OPTIONS,
    )
    config = dataclasses.replace(COMPARE_CONFIG, imp_rounds=2)
    serial, serial_schedules = C.compare(config, workers=1, **grid)
    parallel, parallel_schedules = C.compare(config, workers=2, **grid)
    assert serial["method"].tolist() == ["IMP", "IMP-reinit"]
    pd.testing.assert_frame_equal(serial.drop(columns="seconds"), parallel.drop(columns="seconds"), check_exact=True)
    assert serial_schedules == parallel_schedules
    assert list(serial_schedules) == [("regression", 0.9, 0)]


# ----------------------------------------------------------------------------- GradientNormLog
def manual_gradient_norms(model, data, layers) -> tuple[float, float]:
    """||G * M|| and ||G * (1 - M)|| over ``layers`` of the MLP, with G the gradient of the full training MSE
    with respect to each layer's effective weight, from a plain forward pass on a copy."""
    model = copy.deepcopy(model)
    leaves, masks = {}, {}
    h = data.X_train
    for name in model.hidden_layers + ["out"]:
        layer = getattr(model, name)
        if pruning.is_masked(layer):
            mask = layer.weight_mask.detach().bool()
            w = (layer.weight_orig * layer.weight_mask).detach().requires_grad_(True)
        else:
            mask = torch.ones_like(layer.weight, dtype=torch.bool)
            w = layer.weight.detach().clone().requires_grad_(True)
        leaves[name], masks[name] = w, mask
        h = F.linear(h, w, layer.bias.detach())
        if name != "out":
            h = torch.relu(h)
    loss = ((h - data.y_train) ** 2).mean()
    grads = dict(zip(leaves, torch.autograd.grad(loss, list(leaves.values()))))
    active = math.sqrt(sum(float((grads[n] * masks[n]).pow(2).sum()) for n in layers))
    pruned = math.sqrt(sum(float((grads[n] * ~masks[n]).pow(2).sum()) for n in layers))
    return active, pruned


@pytest.mark.parametrize("layers", [["fc1"], None])
def test_gradient_norm_log_on_a_fixed_mask_run(layers, datasets):
    data = datasets["regression"]
    log = C.GradientNormLog(data, layers=layers)
    row = C.run_method(
        "random",
        C.MethodConfig(widths=(8,), epochs=3, batch_size=32),
        task="regression",
        sparsity=SPARSITY,
        seed=0,
        data=data,
        callbacks=[log],
        keep=True,
    )
    assert log.epoch == [0, 1, 2]
    assert len(log.active) == len(log.pruned) == 3
    frame = log.to_frame()
    assert list(frame.columns) == ["epoch", "active", "pruned"] and frame["epoch"].tolist() == [0, 1, 2]
    assert all(p > 0 for p in log.pruned)
    active, pruned = manual_gradient_norms(row["model"], data, ["fc1", "out"] if layers is None else layers)
    assert log.active[-1] == pytest.approx(active, rel=1e-5)
    assert log.pruned[-1] == pytest.approx(pruned, rel=1e-5)
    assert 0 < active


def test_gradient_norm_log_sees_only_the_finetuning_of_one_shot_and_nothing_pruned_when_dense(datasets):
    data = datasets["regression"]
    one_shot, dense = C.GradientNormLog(data, layers=["fc1"]), C.GradientNormLog(data, layers=["fc1"])
    config = C.MethodConfig(widths=(8,), epochs=2, batch_size=32)
    C.run_method("one-shot", config, task="regression", sparsity=SPARSITY, data=data, callbacks=[one_shot])
    C.run_method("dense", config, task="regression", sparsity=0.0, data=data, callbacks=[dense])
    assert one_shot.epoch == [0, 1] and all(p > 0 for p in one_shot.pruned)  # the fine-tuning call only
    assert dense.epoch == [0, 1] and dense.pruned == [0.0, 0.0] and all(a > 0 for a in dense.active)


# ----------------------------------------------------------------------------- structured_sweep
SWEEP_STRUCTURES = ("unstructured", "channels", "input channels", "2:4")
CNN_CLASSES = 10


def cnn_params(c1: int, c2: int) -> int:
    return (c1 * 1 * 9 + c1) + (c2 * c1 * 9 + c2) + (16 * c2 * CNN_CLASSES + CNN_CLASSES)


def cnn_flops(c1: int, c2: int) -> int:
    """One example: both 3x3 convolutions at 8x8 (padding 1, the pool comes after conv2), then fc."""
    return 2 * 1 * c1 * 9 * 64 + 2 * c1 * c2 * 9 * 64 + 2 * (16 * c2) * CNN_CLASSES


@pytest.fixture(scope="module")
def sweep():
    return C.structured_sweep(structures=SWEEP_STRUCTURES, seeds=(0,), epochs=1, finetune_epochs=1, progress=False)


def test_structured_sweep_rows(sweep):
    assert list(zip(sweep["structure"], sweep["density"])) == (
        [("dense", 1.0)]
        + [(s, d) for s in ("unstructured", "channels", "input channels") for d in (0.5, 0.25, 0.125)]
        + [("2:4", 0.5)]
    )  # N:M only at its own density n/m
    assert (sweep["seed"] == 0).all()
    assert (sweep["measured_density"] == sweep["density"]).all()
    assert (sweep["shrink_max_diff"] < 1e-4).all()
    n_test = 450  # ceil(0.25 * 1797)
    mistakes = sweep["test_error"] * n_test
    assert ((mistakes - mistakes.round()).abs() < 1e-3).all() and sweep["test_error"].between(0, 1).all()


def test_structured_sweep_counts_match_the_closed_form(sweep):
    dense = sweep.iloc[0]
    assert dense["channels"] == (8, 16)
    assert dense["params"] == dense["nonzero_params"] == cnn_params(8, 16) == 3818
    assert dense["flops"] == dense["executed_flops"] == cnn_flops(8, 16) == 161792
    for _, row in sweep.iterrows():
        c1, c2 = row["channels"]
        assert row["params"] == cnn_params(c1, c2), row["structure"]
        assert row["flops"] == cnn_flops(c1, c2), row["structure"]
        assert row["executed_flops"] == dense["executed_flops"]  # masks run dense kernels
    conv2 = 16 * 8 * 9
    for _, row in sweep[sweep["structure"] == "channels"].iterrows():
        kept = keep_count(16, row["density"])
        assert row["channels"] == (8, kept) and kept < 16
        # the pruned output channels lose their kernels and biases
        assert row["nonzero_params"] == 3818 - (16 - kept) * (8 * 9 + 1)
    for _, row in sweep[sweep["structure"] == "input channels"].iterrows():
        kept = keep_count(8, row["density"])
        assert row["channels"] == (kept, 16) and kept < 8  # the conv1 channels conv2 no longer reads
        assert row["nonzero_params"] == 3818 - (8 - kept) * 16 * 9
    for structure in ("unstructured", "2:4"):
        for _, row in sweep[sweep["structure"] == structure].iterrows():
            assert row["channels"] == (8, 16)
            assert (row["params"], row["flops"]) == (3818, 161792)  # nothing to shrink
            assert row["nonzero_params"] == 3818 - conv2 + keep_count(conv2, row["density"])


# ----------------------------------------------------------------------------- argument checks
@pytest.fixture
def no_training(monkeypatch):
    """Any training (or comparison group) fails the test: argument errors must come first."""

    def boom(*args, **kwargs):
        raise AssertionError("trained before the arguments were checked")

    monkeypatch.setattr(C, "train", boom)
    monkeypatch.setattr(sparselab.training, "train", boom)
    monkeypatch.setattr(C, "_run_group", boom, raising=False)


RUN = dict(task="regression", sparsity=SPARSITY, config=C.MethodConfig(widths=(8,), epochs=2))
BAD_RUNS = [
    (dict(method="bogus"), ValueError, r"^method must be one of"),
    (dict(task="bogus"), ValueError, r"^task must be one of"),
    (dict(sparsity=1.0), ValueError, r"^sparsity must be"),
    (dict(sparsity=-0.1), ValueError, r"^sparsity must be"),
    (dict(sparsity=float("nan")), ValueError, r"^sparsity must be"),
    (dict(sparsity="0.9"), TypeError, r"^sparsity must be"),
    (dict(sparsity=0.0), ValueError, r"^sparsity must be in \(0, 1\) for method 'IMP'"),
    (dict(method="IMP-reinit"), ValueError, r"imp_mask"),
    (dict(config={"epochs": 2}), TypeError, r"^config must be a MethodConfig, got \{'epochs': 2\} of type dict"),
]


@pytest.mark.parametrize("bad, error, match", BAD_RUNS)
def test_run_method_rejects_bad_arguments_before_training(bad, error, match, no_training, datasets):
    kwargs = {"method": "IMP", **RUN, "data": datasets["regression"], **bad}
    with pytest.raises(error, match=match):
        C.run_method(**kwargs)


# ----------------------------------------------------------------------------- MethodConfig
def test_method_config_defaults_and_conversions():
    default = C.MethodConfig()
    assert dataclasses.asdict(default) == dict(
        widths=(32,),
        epochs=20,
        lr=0.01,
        batch_size=128,
        imp_rounds=4,
        rewind_step=0,
        update_every=10,
        drop_fraction=0.3,
        device="cpu",
    )
    config = C.MethodConfig(widths=[8, 8], lr=1, drop_fraction=1)  # repeated widths are fine; ints for floats
    assert config.widths == (8, 8) and isinstance(config.widths, tuple)
    assert isinstance(config.lr, float) and config.lr == 1.0 and isinstance(config.drop_fraction, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 3
    assert dataclasses.replace(config, epochs=3).epochs == 3
    train_config = config.train_config(seed=7)
    assert (train_config.epochs, train_config.lr, train_config.batch_size, train_config.seed) == (20, 1.0, 128, 7)
    assert train_config.device == "cpu" and train_config.progress is False and train_config.track_flips is False


BAD_CONFIGS = [
    (dict(widths=()), ValueError, r"^widths must hold at least one value, got \[\]"),
    (dict(widths=8), TypeError, r"^widths must be a list of integers, got 8"),
    (dict(widths=(8, 0)), ValueError, r"^widths\[1\] must be an integer in \[1, inf\], got 0"),
    (dict(epochs=0), ValueError, r"^epochs must be an integer in \[1, inf\], got 0"),
    (dict(epochs=2.0), TypeError, r"^epochs must be an integer, got 2.0 of type float"),
    (dict(lr=0.0), ValueError, r"^lr must be a finite number in \(0.0, inf\], got 0.0"),
    (dict(lr="0.1"), TypeError, r"^lr must be a real number, got '0.1' of type str"),
    (dict(batch_size=0), ValueError, r"^batch_size must be an integer in \[1, inf\], got 0"),
    (dict(imp_rounds=0), ValueError, r"^imp_rounds must be an integer in \[1, inf\], got 0"),
    (dict(rewind_step=-1), ValueError, r"^rewind_step must be an integer in \[0, inf\], got -1"),
    (dict(update_every=1.5), TypeError, r"^update_every must be an integer, got 1.5 of type float"),
    (dict(drop_fraction=0.0), ValueError, r"^drop_fraction must be a finite number in \(0.0, 1.0\], got 0.0"),
    (dict(drop_fraction=True), TypeError, r"^drop_fraction must be a real number, got True of type bool"),
    (dict(device=0), TypeError, r"^device must be a string, got 0 of type int"),
]


@pytest.mark.parametrize("bad, error, match", BAD_CONFIGS)
def test_method_config_rejects_bad_settings(bad, error, match):
    with pytest.raises(error, match=match):
        C.MethodConfig(**bad)


GRID = dict(tasks=("regression",), methods=("dense", "IMP"), sparsities=(0.9,), seeds=(0,), progress=False)
BAD_GRIDS = [
    (dict(methods=("bogus",)), ValueError, r"^methods must be one of"),
    (dict(methods=("IMP-reinit",)), ValueError, r"^methods lists 'IMP-reinit' but not 'IMP'"),
    (dict(methods=("dense", "random", "IMP-reinit")), ValueError, r"^methods lists 'IMP-reinit' but not 'IMP'"),
    (dict(tasks=("bogus",)), ValueError, r"^tasks must be one of"),
    (dict(sparsities=(0.0,)), ValueError, r"^sparsities\[i\] must be"),
    (dict(sparsities=(0.9, 1.0)), ValueError, r"^sparsities\[i\] must be"),
    (dict(sparsities=("0.9",)), TypeError, r"^sparsities\[i\] must be"),
    (dict(workers=0), ValueError, r"^workers must be"),
    (dict(workers=1.5), TypeError, r"^workers must be"),
    (dict(workers=True), TypeError, r"^workers must be"),
    (dict(data={"digit": {}}), ValueError, r"^data has options for unknown task"),
]


@pytest.mark.parametrize("bad, error, match", BAD_GRIDS)
def test_compare_rejects_bad_arguments_before_training(bad, error, match, no_training):
    with pytest.raises(error, match=match):
        C.compare(**{**GRID, **bad})


def test_compare_run_options_are_checked_before_training(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("trained before the arguments were checked")

    monkeypatch.setattr(C, "train", boom)
    with pytest.raises(TypeError, match=r"^config must be a MethodConfig"):
        C.compare(dict(epochs=2), **{**GRID, "methods": ("dense",)}, data={"regression": TINY_REG})
    with pytest.raises(TypeError, match="unexpected keyword argument 'epochs'"):
        C.compare(**{**GRID, "methods": ("dense",)}, data={"regression": TINY_REG}, epochs=2)


BAD_SWEEPS = [
    (dict(structures=("bogus",)), ValueError, r"^structures must be one of"),
    (dict(structures=("unstructured", "rows")), ValueError, r"^structures must be one of"),
    (dict(densities=(0.0,)), ValueError, r"^densities\[i\] must be"),
    (dict(densities=(0.5, 1.0)), ValueError, r"^densities\[i\] must be"),
    (dict(densities=("half",)), TypeError, r"^densities\[i\] must be"),
    (dict(epochs=0), ValueError, r"^epochs must be"),
    (dict(finetune_epochs=0), ValueError, r"^finetune_epochs must be"),
]


@pytest.mark.parametrize("bad, error, match", BAD_SWEEPS)
def test_structured_sweep_rejects_bad_arguments_before_training(bad, error, match, no_training):
    with pytest.raises(error, match=match):
        C.structured_sweep(**{"seeds": (0,), "progress": False, **bad})


# ----------------------------------------------------------------------------- equal compute
@pytest.mark.parametrize("task", C.TASKS)
@pytest.mark.parametrize("method", [m for m in C.METHODS if m != "IMP-reinit"])
def test_equal_compute_budget_gives_every_method_the_steps_of_imp(task, method, datasets):
    config = OPTIONS[task]  # E epochs, S = 2 rounds: IMP takes (S + 1) E epochs
    total_epochs = (config.imp_rounds + 1) * config.epochs
    row = C.run_method(
        method,
        config,
        task=task,
        sparsity=0.0 if method == "dense" else SPARSITY,
        seed=0,
        data=datasets[task],
        keep=True,
        budget="compute",
    )
    assert row["budget"] == "compute"
    assert row["epochs"] == total_epochs
    assert row["steps"] == total_epochs * STEPS_PER_EPOCH[task]  # counted from the histories, not assumed
    assert sum(len(h.epoch) for h in row["histories"]) == total_epochs
    n = HIDDEN_WEIGHTS[task]
    assert row["density"] == keep_count(n, 1.0 if method == "dense" else DENSITY) / n
    if method == "one-shot":  # floor(T/2) dense epochs, then ceil(T/2) of fine-tuning
        assert [len(h.epoch) for h in row["histories"]] == [total_epochs // 2, total_epochs - total_epochs // 2]
    if method in ("SET", "RigL"):  # the updates stretch with the run: every 2 steps up to 3T/4
        total = total_epochs * STEPS_PER_EPOCH[task]
        assert row["updates"] == len(range(2, (3 * total) // 4, 2))


def test_equal_compute_imp_is_the_equal_sparsity_imp_and_longer_runs_differ(datasets):
    data, config = datasets["regression"], OPTIONS["regression"]
    opts = dict(task="regression", sparsity=SPARSITY, seed=0, data=data)
    assert without_seconds(C.run_method("IMP", config, budget="compute", **opts)) == {
        **without_seconds(C.run_method("IMP", config, **opts)),
        "budget": "compute",
    }
    short, long = C.run_method("gradual", config, **opts), C.run_method("gradual", config, budget="compute", **opts)
    assert (short["budget"], short["steps"], long["steps"]) == ("sparsity", 12, 36)
    assert short["test_error"] != long["test_error"]


def test_budget_epochs():
    config = C.MethodConfig(epochs=3, imp_rounds=4)  # T = 15 epochs
    assert C.budget_epochs("IMP", config) == C.budget_epochs("IMP", config, "compute") == (3,) * 5
    assert C.budget_epochs("one-shot", config) == (3, 3)
    assert C.budget_epochs("one-shot", config, "compute") == (7, 8)
    assert C.budget_epochs("RigL", config) == (3,) and C.budget_epochs("RigL", config, "compute") == (15,)
    assert C.budget_epochs("IMP-reinit", config) == (3,)
    with pytest.raises(ValueError, match="'IMP-reinit' has no equal-compute run"):
        C.budget_epochs("IMP-reinit", config, "compute")
    with pytest.raises(ValueError, match="^budget must be one of"):
        C.budget_epochs("IMP", config, "time")


def test_compare_with_the_compute_budget_rejects_imp_reinit_before_training(no_training):
    with pytest.raises(ValueError, match="'IMP-reinit', which has no equal-compute run"):
        C.compare(**{**GRID, "methods": ("IMP", "IMP-reinit")}, budget="compute")
    with pytest.raises(ValueError, match="^budget must be one of"):
        C.compare(**GRID, budget="steps")


def test_compare_compute_budget_rows():
    frame, _ = C.compare(
        COMPARE_CONFIG,
        tasks=("regression",),
        methods=("dense", "one-shot", "IMP"),
        sparsities=(0.9,),
        seeds=(0,),
        budget="compute",
        **COMPARE_OPTIONS,
    )
    # E = 2, S = 4: every recipe 10 epochs of 4 steps
    assert frame["method"].tolist() == ["dense", "one-shot", "IMP"]
    assert (frame["budget"] == "compute").all() and frame["steps"].tolist() == [40, 40, 40]
    assert (frame["seconds"] > 0).all()


# ----------------------------------------------------------------------------- paired comparisons
def test_versus_reference_pairs_by_seed():
    frame = pd.DataFrame(
        {
            "task": ["t"] * 9,
            "method": ["IMP"] * 3 + ["SET"] * 3 + ["RigL"] * 3,
            "seed": [0, 1, 2] * 3,
            "test_error": [1.0, 2.0, 3.0, 1.5, 2.5, 3.6, 1.1, 1.9, 3.05],
        }
    )
    got = C.versus_reference(frame.sample(frac=1.0, random_state=0), "IMP", by="task")
    assert got["method"].tolist() == ["SET", "RigL"] and (got["reference"] == "IMP").all()
    set_row, rigl_row = got.iloc[0], got.iloc[1]
    # SET - IMP = (0.5, 0.5, 0.6): mean 0.5333, sd 0.0577, t_{2,0.975} = 4.303 -> half-width 0.1434
    assert set_row["n"] == 3 and set_row["mean"] == pytest.approx(1.6 / 3)
    assert set_row["half_width"] == pytest.approx(4.302652729911275 * 0.05773502691896258 / math.sqrt(3))
    assert set_row["verdict"] == "higher"
    # RigL - IMP = (0.1, -0.1, 0.05): the interval covers zero
    assert rigl_row["mean"] == pytest.approx(0.05 / 3) and rigl_row["verdict"] == "indistinguishable"
    # a different reference per group
    per_group = C.versus_reference(frame, {("t",): "SET"}, by="task")
    assert per_group["method"].tolist() == ["IMP", "RigL"]
    assert per_group.iloc[0]["mean"] == pytest.approx(-1.6 / 3) and per_group.iloc[0]["verdict"] == "lower"
    with pytest.raises(ValueError, match="reference method 'gradual' has no run"):
        C.versus_reference(frame, "gradual", by="task")
    with pytest.raises(ValueError, match=r"column\(s\) \['sparsity'\] not in the frame"):
        C.versus_reference(frame, "IMP")


def test_paper_parameters_are_valid_and_at_paper_scale():
    from conftest import paper_parameters

    from sparselab.chapters.params import PruningParams

    text, defaults, paper = paper_parameters("pruning")
    assert set(paper) == set(defaults)  # every parameter, no unknown name
    P = PruningParams(**paper)
    assert len(set(P.seeds)) >= 10 and len(set(P.compute_seeds)) >= 10
    assert max(P.sparsities) == 0.99 and P.compute_epochs == P.epochs
    assert "expected run time on 2 cores" in text
