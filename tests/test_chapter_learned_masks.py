"""Tests of sparselab.chapters.learned_masks (runs, sweeps); summaries: test_chapter_stats.py; the notebook parameters: test_chapter_params.py."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sparselab.chapters import learned_masks as ex
from sparselab.masks import keep_count

TINY = dict(
    data=dict(n_train=128, n_test=64, in_features=8, width=8, density=0.25),
    model=dict(width=8),
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
    assert row["nnz"] == k  # every mask exports exactly k
    assert row["target"] == target and row["method"] == method and row["seed"] == 0
    assert row["sparsity"] == 0.75 and row["density"] == 0.25
    assert row["epochs"] == 3
    for name in ("train_loss", "test_mse", "flip_rate", "precision", "recall", "f1", "init_overlap", "seconds"):
        assert math.isfinite(row[name]), name
    assert 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1 and 0 <= row["f1"] <= 1
    assert isinstance(row["total_flips"], int) and row["total_flips"] >= 0
    if method == "soft":
        assert 0.0 < row["tau"] < 1.0 and 0.0 < row["training_density"] <= 1.0
    else:
        assert math.isnan(row["tau"]) and math.isnan(row["training_density"])
    if method == "sigmoid":
        assert 0.0 <= row["nonbinary"] <= 1.0
    else:
        assert math.isnan(row["nonbinary"])


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


def test_paper_parameters_are_valid_and_at_a_larger_scale():
    from conftest import paper_parameters

    from sparselab.chapters.params import LearnedMasksParams

    text, defaults, paper = paper_parameters("learned_masks")
    assert set(paper) == set(defaults)  # every parameter, no unknown name
    P = LearnedMasksParams(**paper)
    assert len(set(P.seeds)) >= 10 and max(P.sparsities) == 0.99
    assert P.n_train >= 10 * defaults["n_train"] and P.epochs > defaults["epochs"]
    assert "expected run time on 2 cores" in text
