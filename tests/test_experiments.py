"""Tests of sparselab.chapters.learned_masks (runs, sweeps, summaries) and sparselab.chapters.params (notebook parameters)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sparselab.chapters import learned_masks as ex
from sparselab.chapters.params import LEARNED_MASKS, Param, Parameters, check_parameters
from sparselab.masks import keep_count

TINY = dict(
    data=dict(n_train=128, n_test=64, in_features=8, hidden_features=8, density=0.25),
    model=dict(hidden_features=8),
    train=dict(epochs=3, batch_size=32, device="cpu"),
)


# ----------------------------------------------------------------------------- run_one
@pytest.mark.parametrize("target", ["linear", "nonlinear"])
@pytest.mark.parametrize("method", list(ex.METHODS))
def test_run_one_row_has_every_column_and_exact_nnz(target, method):
    row = ex.run_one(target=target, **ex.METHODS[method], sparsity=0.75, seed=0, **TINY)
    assert list(row) == list(ex.ROW_COLUMNS)
    k = keep_count(8 * 8, 0.25)
    assert row["k"] == k == 16
    if method == "soft":
        assert 1 <= row["nnz"] <= k  # at most k survive a soft threshold
    else:
        assert row["nnz"] == k  # top-k masks keep exactly k
    assert row["target"] == target and row["method"] == method and row["seed"] == 0
    assert row["sparsity"] == 0.75 and row["density"] == 0.25
    assert row["epochs"] == 3
    for name in ("train_loss", "test_mse", "flip_rate", "precision", "recall", "f1", "init_overlap", "seconds"):
        assert math.isfinite(row[name]), name
    assert 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1 and 0 <= row["f1"] <= 1
    assert isinstance(row["total_flips"], int) and row["total_flips"] >= 0
    if method == "soft":
        assert math.isfinite(row["threshold"]) and math.isfinite(row["budget_threshold"])
    else:
        assert math.isnan(row["threshold"]) and math.isnan(row["budget_threshold"])


def test_run_one_without_ste_never_flips():
    row = ex.run_one(target="nonlinear", mask="hard", straight_through=False, sparsity=0.75, seed=1, **TINY)
    assert row["total_flips"] == 0 and row["flip_rate"] == 0.0
    assert row["init_overlap"] == 1.0
    assert math.isnan(row["late_flip_share"])
    assert row["method"] == "hard, no STE" and row["straight_through"] is False


def test_run_one_is_deterministic_and_seed_dependent():
    a = ex.run_one(target="nonlinear", mask="hard", sparsity=0.75, seed=3, **TINY)
    b = ex.run_one(target="nonlinear", mask="hard", sparsity=0.75, seed=3, **TINY)
    c = ex.run_one(target="nonlinear", mask="hard", sparsity=0.75, seed=4, **TINY)
    for row in (a, b, c):
        row.pop("seconds")
    assert pd.Series(a).equals(pd.Series(b))  # NaN == NaN here, unlike dict equality
    assert a["test_mse"] != c["test_mse"]


def test_run_one_keep_returns_history_model_and_data():
    row = ex.run_one(target="linear", mask="sigmoid", density=0.5, seed=0, keep=True, **TINY)
    assert len(row["history"].test_mse) == 3
    assert row["history"].test_mse[-1] == row["test_mse"]
    assert not row["model"].training
    assert row["model"].sparse.nnz == row["nnz"] == 32
    pred = ex.predict(row["model"], row["data"])
    assert pred.shape == row["data"].y_test.shape
    assert float(((pred - row["data"].y_test) ** 2).mean()) == pytest.approx(row["test_mse"], rel=1e-5)


def test_run_one_dense_keeps_everything():
    row = ex.run_one(target="linear", mask="hard", sparsity=0.0, seed=0, **TINY)
    assert row["nnz"] == row["k"] == 64 and row["density"] == 1.0
    # the dense layer uses every input feature: recall 1, precision = planted fraction of the features
    assert row["recall"] == 1.0 and row["precision"] == pytest.approx(keep_count(8, 0.25) / 8)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(target="quadratic"), ValueError, "target"),
        (dict(target="linear", mask="topk"), ValueError, "mask"),
        (dict(target="linear", sparsity=1.0), ValueError, "sparsity"),
        (dict(target="linear", density=0.5, sparsity=0.5), ValueError, "either density or sparsity"),
        (dict(target="linear", seed=-1), ValueError, "seed"),
        (dict(target="linear", straight_through="yes"), TypeError, "straight_through"),
        (dict(target="linear", data=dict(seed=1)), ValueError, "seed"),
        (dict(target="linear", data=dict(n_trian=10)), ValueError, "n_trian"),
        (dict(target="linear", model=dict(density=0.5)), ValueError, "teacher"),
        (dict(target="linear", train=dict(epochs=0)), ValueError, "epochs"),
        (dict(target="linear", train=dict(epoch=3)), ValueError, "epoch"),
        (dict(target="linear", train=[("epochs", 3)]), TypeError, "train"),
    ],
)
def test_run_one_validates_arguments_up_front(kwargs, error, match):
    with pytest.raises(error, match=match):
        ex.run_one(**kwargs)


# ----------------------------------------------------------------------------- grid and sweep
def test_grid_is_a_cartesian_product_with_methods_expanded():
    g = ex.grid(methods=["hard+STE", "soft"], target="linear", sparsity=[0.5, 0.9], seed=[0, 1, 2])
    assert len(g) == 2 * 2 * 3
    assert g[0] == {"mask": "hard", "straight_through": True, "target": "linear", "sparsity": 0.5, "seed": 0}
    assert g[-1] == {"mask": "soft", "straight_through": False, "target": "linear", "sparsity": 0.9, "seed": 2}
    assert ex.grid(target=["linear"], data=dict(density=0.5)) == [{"target": "linear", "data": {"density": 0.5}}]
    with pytest.raises(ValueError, match="methods"):
        ex.grid(methods=["hard"], target="linear")
    with pytest.raises(ValueError, match="empty"):
        ex.grid(target="linear", seed=[])


def test_sweep_returns_one_row_per_entry_in_order():
    g = ex.grid(methods=["hard+STE", "hard, no STE"], target=["linear", "nonlinear"], sparsity=0.5, seed=[0, 1])
    frame = ex.sweep(g, progress=False, **TINY)
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == len(g) == 8
    assert list(frame.columns) == list(ex.ROW_COLUMNS)
    assert frame["method"].tolist() == ["hard+STE"] * 4 + ["hard, no STE"] * 4
    assert frame["target"].tolist() == ["linear", "linear", "nonlinear", "nonlinear"] * 2
    assert frame["seed"].tolist() == [0, 1] * 4
    assert (frame["nnz"] == 32).all()


def test_sweep_merges_nested_options_and_matches_run_one():
    frame = ex.sweep(
        [{"target": "linear", "sparsity": 0.5, "seed": 0, "data": {"density": 0.5}}], progress=False, **TINY
    )
    row = ex.run_one(
        target="linear",
        sparsity=0.5,
        seed=0,
        data={**TINY["data"], "density": 0.5},
        model=TINY["model"],
        train=TINY["train"],
    )
    assert frame.loc[0, "test_mse"] == row["test_mse"]
    assert frame.loc[0, "precision"] == row["precision"]


def test_sweep_checks_every_entry_before_running():
    grid = [{"target": "linear", "sparsity": 0.5}, {"target": "linear", "sparsty": 0.5}]
    with pytest.raises(ValueError, match=r"grid\[1\].*sparsty"):
        ex.sweep(grid, progress=False, **TINY)
    with pytest.raises(ValueError, match="target"):
        ex.sweep([{"sparsity": 0.5}], progress=False, **TINY)
    with pytest.raises(TypeError, match="grid"):
        ex.sweep({"target": "linear"}, progress=False)


# ----------------------------------------------------------------------------- summaries
def test_summarise_matches_a_hand_computed_t_interval():
    values = [1.0, 2.0, 4.0]
    frame = pd.DataFrame({"method": ["a"] * 3 + ["b"], "test_mse": values + [7.0]})
    summary = ex.summarise(frame, "method", "test_mse")
    a = summary[summary["method"] == "a"].iloc[0]
    mean = 7.0 / 3.0
    sd = math.sqrt(((1 - mean) ** 2 + (2 - mean) ** 2 + (4 - mean) ** 2) / 2)
    half = 4.302652729911275 * sd / math.sqrt(3)  # t_{0.975, 2}
    assert a["n"] == 3
    assert a["mean"] == pytest.approx(mean)
    assert a["sd"] == pytest.approx(sd)
    assert a["half_width"] == pytest.approx(half)
    assert a["low"] == pytest.approx(mean - half) and a["high"] == pytest.approx(mean + half)
    assert stats.t.ppf(0.975, 2) == pytest.approx(4.302652729911275) == ex.t_quantile(3)
    b = summary[summary["method"] == "b"].iloc[0]
    assert b["n"] == 1 and b["mean"] == 7.0 and math.isnan(b["half_width"])  # one run: no interval


def test_summarise_ci_level_groups_and_several_values():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"g": ["x"] * 5 + ["y"] * 5, "s": [0.5] * 10, "v": rng.normal(size=10), "w": rng.normal(size=10)}
    )
    s90 = ex.summarise(frame, ["g", "s"], "v", ci=0.9)
    s95 = ex.summarise(frame, ["g", "s"], "v", ci=0.95)
    assert (s90["half_width"] < s95["half_width"]).all()
    assert list(s90.columns) == ["g", "s", "n", "mean", "sd", "half_width", "low", "high"]
    both = ex.summarise(frame, "g", ["v", "w"])
    assert both["metric"].tolist() == ["v", "v", "w", "w"]
    assert ex.lookup(both, "mean", g="y", metric="w") == pytest.approx(frame["w"][5:].mean())
    with pytest.raises(ValueError, match="ci"):
        ex.summarise(frame, "g", "v", ci=1.5)
    with pytest.raises(ValueError, match="nope"):
        ex.summarise(frame, "nope", "v")


def test_lookup_and_interval_table():
    frame = pd.DataFrame(
        {"method": ["a", "a", "b", "b"], "sparsity": [0.9, 0.9, 0.9, 0.9], "test_mse": [1.0, 3.0, 2.0, 2.0]}
    )
    summary = ex.summarise(frame, ["method", "sparsity"], "test_mse")
    assert ex.lookup(summary, method="a", sparsity=1 - 0.1) == 2.0  # 1 - 0.1 is not exactly 0.9
    assert isinstance(ex.lookup(summary, method="a", sparsity=0.9), float)
    with pytest.raises(ValueError, match="0 rows"):
        ex.lookup(summary, method="c", sparsity=0.9)
    with pytest.raises(ValueError, match="2 rows"):
        ex.lookup(summary, sparsity=0.9)
    table = ex.interval_table(summary, index="sparsity", columns="method", digits=2)
    assert table.loc[0.9, "b"] == "2.00 [2.00, 2.00]"
    assert table.loc[0.9, "a"].startswith("2.00 [")


# ----------------------------------------------------------------------------- notebook parameters
SPEC = {
    "epochs": (int, 1, None),
    "lr": (float, 0.0, 1.0),
    "name": Param(str, choices=("a", "b")),
    "flag": Param(bool),
    "sparsities": Param(list, item=Param(float, 0.0, 1.0, high_inclusive=False)),
}
GOOD = {"epochs": 5, "lr": 1, "name": "a", "flag": False, "sparsities": [0, 0.5, 0.99]}


def test_check_parameters_accepts_and_converts():
    p = check_parameters(GOOD, SPEC)
    assert isinstance(p, Parameters) and p == {**GOOD, "lr": 1.0, "sparsities": [0.0, 0.5, 0.99]}
    assert isinstance(p["lr"], float) and all(isinstance(s, float) for s in p.sparsities)
    assert p.epochs == 5
    with pytest.raises(AttributeError, match="nothing"):
        p.nothing


@pytest.mark.parametrize(
    "name, value, error, words",
    [
        ("epochs", "many", TypeError, ["'epochs'", "'many'", "int"]),
        ("epochs", 2.0, TypeError, ["'epochs'", "int"]),
        ("epochs", True, TypeError, ["'epochs'", "True", "bool"]),
        ("lr", True, TypeError, ["'lr'", "bool"]),
        ("lr", "0.1", TypeError, ["'lr'", "float"]),
        ("flag", 1, TypeError, ["'flag'", "bool"]),
        ("epochs", 0, ValueError, ["'epochs'", "[1, inf]", "0"]),
        ("lr", 1.5, ValueError, ["'lr'", "[0.0, 1.0]", "1.5"]),
        ("lr", float("nan"), ValueError, ["'lr'"]),
        ("name", "c", ValueError, ["'name'", "'a'", "'b'"]),
        ("sparsities", [0.5, 1.0], ValueError, ["'sparsities[1]'", "[0.0, 1.0)", "1.0"]),
        ("sparsities", [0.5, "x"], TypeError, ["'sparsities[1]'", "'x'"]),
        ("sparsities", [0.5, False], TypeError, ["'sparsities[1]'", "bool"]),
        ("sparsities", "[0, 0.5]", TypeError, ["'sparsities'", "list", "-y"]),
        ("sparsities", 0.5, TypeError, ["'sparsities'", "list"]),
    ],
)
def test_check_parameters_errors_name_the_parameter(name, value, error, words):
    with pytest.raises(error) as info:
        check_parameters({**GOOD, name: value}, SPEC)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_check_parameters_unknown_and_missing_names():
    with pytest.raises(ValueError, match="unknown parameter.*'epoch'"):
        check_parameters({**GOOD, "epoch": 3}, SPEC)
    with pytest.raises(ValueError, match="missing parameter.*'flag'"):
        check_parameters({k: v for k, v in GOOD.items() if k != "flag"}, SPEC)


def test_learned_masks_spec():
    values = dict(
        n_train=1000,
        n_test=1000,
        in_features=32,
        hidden_features=32,
        noise=0.05,
        nonlinear_density=0.1,
        linear_density=0.25,
        sparsity=0.9,
        epochs=30,
        lr=0.01,
        batch_size=128,
        temperature_end=0.01,
        device="auto",
        bf16=False,
        threads=None,
        seed=0,
        seeds=[0, 1, 2],
        sparsities=[0.0, 0.5, 0.99],
        sweep_methods=["hard+STE", "hard, no STE"],
    )
    assert set(values) == set(LEARNED_MASKS)
    assert check_parameters(values, LEARNED_MASKS)["threads"] is None
    for name, bad, error in [
        ("seeds", [0, 0], ValueError),
        ("seeds", [], ValueError),
        ("seeds", [-1], ValueError),
        ("sparsities", [0.5, 1], ValueError),
        ("device", "tpu", ValueError),
        ("sweep_methods", ["hard"], ValueError),
        ("bf16", 0, TypeError),
        ("nonlinear_density", 0, ValueError),
        ("threads", 0, ValueError),
    ]:
        with pytest.raises(error, match=name):
            check_parameters({**values, name: bad}, LEARNED_MASKS)
