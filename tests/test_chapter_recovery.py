"""Tests of sparselab.chapters.recovery: the grids of the chapter "Exact recovery of planted sparse
networks by iterative hard thresholding" (pages book/recovery.ipynb and book/recovery_beyond.ipynb).

Everything runs at tiny sizes (inputs of dimension 6, a few hundred samples, IMP for a few epochs), so
the module takes a few seconds. The tests check the frames' shapes and columns, the skipping rules,
the success flags against the PSNR threshold, determinism (timings and memory aside), the conditions'
constructions and that bad arguments raise errors naming the argument.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from sparselab.chapters import recovery as rx
from sparselab.recovery import iht, imp_baseline, planted_network

IHT = dict(steps=15, refine_steps=10, chunk=8)
IMP = dict(epochs=3, lr=0.03, alpha=0.75)
MEASURED = ["time_s", "peak_bytes"]  # wall-clock and memory: never identical between runs


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sweep():
    return rx.recovery_sweep(
        [1, 2],
        [2, 5, 20],
        in_features=6,
        n_train=200,
        n_test=100,
        seeds=[0, 1],
        iht_options=IHT,
        imp_options=IMP,
        progress=False,
    )


# ----------------------------------------------------------------------------- phase diagrams


def test_recovery_sweep_rows_columns_and_skipped_cells(sweep):
    assert list(sweep.columns) == list(rx.SWEEP_COLUMNS)
    # nnz = 20 > width * in_features for width 1 (6) and 2 (12): two of the six cells are skipped
    cells = {(1, 2), (1, 5), (2, 2), (2, 5)}
    assert set(zip(sweep["width"], sweep["nnz"])) == cells
    assert len(sweep) == len(cells) * 2 * 2  # seeds x methods
    assert all(sorted(methods) == ["IHT", "IMP"] for _, methods in sweep.groupby(["width", "nnz", "seed"])["method"])
    assert (sweep["fit_width"] == sweep["width"]).all()
    assert (sweep["n_train"] == 200).all()
    assert sweep["peak_bytes"].ge(0).all() and sweep["time_s"].gt(0).all()
    assert sweep[["precision", "recall"]].stack().between(0, 1).all()


def meets_criterion(frame, min_f1=1.0, max_rel_error=1e-3):
    """The chapter's one success criterion, recomputed from a frame's continuous metrics."""
    return (frame["support_f1"] >= min_f1) & (frame["rel_error_test"] <= max_rel_error)


def test_recovery_sweep_success_is_the_one_criterion(sweep):
    assert sweep["success"].dtype == bool
    assert (sweep["success"] == meets_criterion(sweep)).all()
    # a narrow planted network is recovered exactly by IHT: round-off PSNR, full support
    narrow = sweep[(sweep["method"] == "IHT") & (sweep["width"] == 1)]
    assert narrow["success"].all()
    assert (narrow["recall"] == 1).all() and (narrow["rel_error_test"] < 1e-8).all()
    # IMP (float64 gradient descent, a few epochs here) does not reach the error threshold
    imp = sweep[sweep["method"] == "IMP"]
    assert not imp["success"].any() and (imp["rel_error_test"] > 1e-3).all()


def test_recovery_sweep_is_deterministic(sweep):
    again = rx.recovery_sweep(
        [1, 2],
        [2, 5, 20],
        in_features=6,
        n_train=200,
        n_test=100,
        seeds=[0, 1],
        iht_options=IHT,
        imp_options=IMP,
        progress=False,
    )
    pd.testing.assert_frame_equal(sweep.drop(columns=MEASURED), again.drop(columns=MEASURED))


def test_recovery_sweep_width_factor_and_threshold():
    frame = rx.recovery_sweep(
        [2],
        [4],
        in_features=6,
        n_train=200,
        n_test=100,
        seeds=[3],
        methods=["IHT"],
        width_factor=3,
        iht_options=IHT,
        max_rel_error=0.5,
        progress=False,
    )
    assert len(frame) == 1 and frame["fit_width"].item() == 6 and frame["method"].item() == "IHT"
    assert frame["success"].item() == bool(meets_criterion(frame, max_rel_error=0.5).item())


def test_samples_sweep_grid():
    frame = rx.samples_sweep(
        [30, 150],
        [2, 4, 13],
        width=2,
        in_features=6,
        n_test=100,
        seeds=[0],
        methods=["IHT"],
        iht_options=IHT,
        progress=False,
    )
    assert list(frame.columns) == list(rx.SWEEP_COLUMNS)
    assert len(frame) == 2 * 2  # nnz = 13 > 2 * 6 is skipped
    assert set(frame["n_train"]) == {30, 150} and set(frame["nnz"]) == {2, 4}
    assert (frame["width"] == 2).all()
    assert (frame["success"] == meets_criterion(frame)).all()


# ----------------------------------------------------------------------------- cost


def test_cost_scaling_rows_and_columns():
    frame = rx.cost_scaling(
        [2, 5, 50],
        [1, 3],
        fixed_width=4,
        fixed_nnz=5,
        in_features=6,
        n_train=300,
        planted_width=2,
        planted_nnz=4,
        iht_options=dict(steps=2, chunk=2),
        imp_options=dict(epochs=1),
        progress=False,
    )
    assert list(frame.columns) == list(rx.COST_COLUMNS)
    # nnz sweep at width 4: 50 > 4 * 6 is skipped; width sweep at nnz 5: width 1 (6 weights) fits
    points = [("nnz", 2, 4), ("nnz", 5, 4), ("width", 5, 1), ("width", 5, 3)]
    assert list(zip(frame["sweep"], frame["nnz"], frame["width"]))[::2] == points
    assert list(frame["method"]) == ["IHT", "IMP"] * len(points)
    assert (frame["n_train"] == 300).all()
    assert frame["peak_bytes"].map(lambda v: isinstance(v, (int, np.integer)) and v >= 0).all()
    assert frame["time_s"].gt(0).all()


# ----------------------------------------------------------------------------- classification


def test_classification_digits():
    frame = rx.classification([10, 40, 1000], width=4, seeds=[0], iht_options=IHT, imp_options=IMP, progress=False)
    assert list(frame.columns) == list(rx.CLASSIFICATION_COLUMNS)
    # 1000 > 64 * 4 is skipped: 2 tasks x 2 budgets x 2 methods
    assert len(frame) == 8
    assert set(frame["task"]) == set(rx.CLASSIFICATION_TASKS)
    assert frame[["accuracy_test", "accuracy_train"]].stack().between(0, 1).all()
    binary = frame[(frame["task"] == "digits 0 vs 1") & (frame["method"] == "IHT")]
    assert (binary["accuracy_test"] > 0.9).all()  # 0 and 1 are easy to tell apart
    ten = frame[(frame["task"] == "digits 10-class") & (frame["method"] == "IHT")]
    assert (ten["accuracy_test"] > 0.2).all()  # well above chance (0.1)


def test_classification_reads_mnist_when_given(tmp_path):
    g = np.random.default_rng(0)
    path = tmp_path / "mnist.npz"
    np.savez(
        path,
        x_train=g.integers(0, 256, (60, 6, 6), dtype=np.uint8),
        y_train=np.arange(60) % 10,
        x_test=g.integers(0, 256, (20, 6, 6), dtype=np.uint8),
        y_test=np.arange(20) % 10,
    )
    frame = rx.classification(
        [8],
        width=2,
        seeds=[0],
        methods=["IHT"],
        tasks=["digits 0 vs 1"],
        iht_options=IHT,
        mnist_path=str(path),
        mnist_limit_train=None,
        progress=False,
    )
    assert list(frame["task"]) == ["digits 0 vs 1", "MNIST 0 vs 1", "MNIST 10-class"]


# ----------------------------------------------------------------------------- INR


def test_inr_experiment_frame_and_reconstructions():
    frame, images, target = rx.inr_experiment(
        [4, 16, 10_000],
        size=8,
        n_frequencies=4,
        scale=1.0,
        width=4,
        seeds=[0, 1],
        iht_options=IHT,
        imp_options=IMP,
        progress=False,
    )
    assert list(frame.columns) == list(rx.INR_COLUMNS)
    assert len(frame) == 2 * 2 * 2  # 10 000 > 4 * 8 skipped; seeds x budgets x methods
    assert target.shape == (8, 8) and 0 <= target.min() and target.max() <= 1
    assert set(images) == {(m, s) for m in ("IHT", "IMP") for s in (4, 16)}
    assert all(image.shape == (8, 8) and np.isfinite(image).all() for image in images.values())
    assert frame[["psnr_train", "psnr_test"]].stack().map(math.isfinite).all()


# ----------------------------------------------------------------------------- width and assumptions


def test_width_mismatch_rows():
    frame = rx.width_mismatch(
        [1, 3],
        width=2,
        nnz=4,
        in_features=6,
        n_train=200,
        n_test=100,
        seeds=[0, 1],
        restarts=2,
        iht_options=IHT,
        progress=False,
    )
    assert list(frame.columns) == list(rx.WIDTH_COLUMNS)
    assert len(frame) == 2 * 2 * len(rx.WIDTH_VARIANTS)
    assert list(frame["variant"].unique()) == list(rx.WIDTH_VARIANTS)
    assert (frame["width"] == 2 * frame["width_factor"]).all()
    assert (frame["active_neurons"] <= frame["width"]).all()
    assert (frame["success"] == meets_criterion(frame)).all()


def test_assumption_failures_rows_and_reference():
    frame = rx.assumption_failures(
        width=2,
        nnz=4,
        in_features=6,
        n_train=300,
        n_test=100,
        seeds=[0],
        few_samples=5,
        iht_options=IHT,
        progress=False,
    )
    assert list(frame.columns) == list(rx.ASSUMPTION_COLUMNS)
    assert list(frame["condition"]) == list(rx.CONDITIONS)
    rows = frame.set_index("condition")
    assert rows.loc["Gaussian inputs", "success"]  # the guarantee's setting, a narrow network
    assert not rows.loc["few samples", "success"]  # 5 samples for 4 non-zeros among 24 weights
    assert not rows.loc["label noise", "success"]  # noise makes an exact fit impossible
    assert (frame["success"] == meets_criterion(frame)).all()


def test_dead_neuron_condition_is_never_active():
    pn = rx._condition_network(
        "dead neuron",
        seed=0,
        in_features=6,
        width=3,
        nnz=8,
        n_train=500,
        n_test=50,
        few_samples=5,
        noise=0.0,
        correlation=0.0,
        perturbation=0.05,
    )
    assert (pn.X_train >= 0).all()
    assert (pn.first_layer[0] <= 0).all() and (pn.first_layer[0] != 0).any()
    assert (torch.relu(pn.X_train @ pn.first_layer[0]) == 0).all()
    assert torch.allclose(pn.y_train, pn.predict(pn.X_train))  # targets follow the modified network


def test_near_parallel_condition_copies_the_support():
    pn = rx._condition_network(
        "near-parallel neurons",
        seed=1,
        in_features=6,
        width=3,
        nnz=8,
        n_train=50,
        n_test=50,
        few_samples=5,
        noise=0.0,
        correlation=0.0,
        perturbation=0.05,
    )
    u0, u1 = pn.first_layer[0], pn.first_layer[1]
    assert torch.equal(u0 != 0, u1 != 0)
    assert 0 < float((u1 - u0).norm()) < 0.5 * float(u0.norm())
    assert torch.allclose(pn.y_test, pn.predict(pn.X_test))


# ----------------------------------------------------------------------------- helpers


def test_geometric_rate_and_loglog_slope():
    assert rx.geometric_rate([0.5**t for t in range(10)]) == pytest.approx(0.5)
    # values at or below the floor are left out of the fit
    assert rx.geometric_rate([1.0, 0.1, 0.01, 1e-15]) == pytest.approx(0.1)
    assert math.isnan(rx.geometric_rate([1.0]))
    x = np.array([1.0, 2.0, 4.0, 8.0])
    assert rx.loglog_slope(x, 3 * x**2) == pytest.approx(2.0)
    assert rx.loglog_slope(x, np.ones(4)) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(rx.loglog_slope([1.0], [2.0]))
    with pytest.raises(ValueError, match="same length"):
        rx.loglog_slope([1.0, 2.0], [1.0])


def test_align_to_planted_undoes_a_permutation():
    g = torch.Generator().manual_seed(0)
    planted = torch.randn(3, 5, 1, generator=g) * (torch.rand(3, 5, 1, generator=g) > 0.5)
    planted[:, 0] = 1.0 + torch.arange(3.0)[:, None]  # distinct, non-empty neurons
    recovered = torch.zeros(5, 5, 1)
    recovered[[4, 0, 2]] = planted  # planted neuron j sits in row [4, 0, 2][j]
    assert torch.equal(rx.align_to_planted(planted, recovered), planted.double())


def test_imp_fused_matches_the_network():
    pn = planted_network(in_features=4, width=2, nnz=4, n_train=64, n_test=8, seed=0)
    model = imp_baseline(pn.X_train, pn.y_train, nnz=3, width=3, epochs=2)
    fused = rx.imp_fused(model)
    assert fused.shape == (3, 4, 1)
    assert int((fused != 0).sum()) <= 3
    fit = iht(pn.X_train, pn.y_train, nnz=4, width=2, steps=5)
    assert fit.fused_dense().shape == (2, 4, 1)


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "call, kind, words",
    [
        (lambda: rx.recovery_sweep([0], [1], progress=False), ValueError, ["widths[0]"]),
        (lambda: rx.recovery_sweep([1], [1, 1], progress=False), ValueError, ["nnzs", "repeat"]),
        (lambda: rx.recovery_sweep("12", [1], progress=False), TypeError, ["widths"]),
        (lambda: rx.recovery_sweep([1], [50], in_features=6, progress=False), ValueError, ["nnz <= width"]),
        (lambda: rx.recovery_sweep([1], [1], methods=["SGD"], progress=False), ValueError, ["methods[0]", "IHT"]),
        (
            lambda: rx.recovery_sweep([1], [1], iht_options={"step": 3}, progress=False),
            ValueError,
            ["iht_options", "step"],
        ),
        (lambda: rx.recovery_sweep([1], [1], iht_options={"mode": "fast"}, progress=False), ValueError, ["mode"]),
        (lambda: rx.recovery_sweep([1], [1], max_rel_error=0, progress=False), ValueError, ["max_rel_error"]),
        (lambda: rx.recovery_sweep([1], [1], min_f1=1.5, progress=False), ValueError, ["min_f1"]),
        (lambda: rx.recovery_sweep([1], [1], progress="yes"), TypeError, ["progress"]),
        (lambda: rx.samples_sweep([0], [1], progress=False), ValueError, ["n_trains[0]"]),
        (lambda: rx.cost_scaling([1], [1], planted_nnz=500, progress=False), ValueError, ["planted_nnz"]),
        (lambda: rx.classification([1], tasks=["MNIST"], progress=False), ValueError, ["tasks[0]"]),
        (lambda: rx.classification([1], mnist_limit_train=0, progress=False), ValueError, ["mnist_limit_train"]),
        (lambda: rx.inr_experiment([1], image="lena", progress=False), ValueError, ["image"]),
        (lambda: rx.inr_experiment([1], holdout=0.0, progress=False), ValueError, ["holdout"]),
        (lambda: rx.inr_experiment([10**6], width=1, n_frequencies=1, progress=False), ValueError, ["nnzs"]),
        (lambda: rx.width_mismatch([1], variants=["lazy"], progress=False), ValueError, ["variants[0]"]),
        (lambda: rx.width_mismatch([1], iht_options={"restarts": 2}, progress=False), ValueError, ["restarts"]),
        (lambda: rx.width_mismatch([1], width=1, nnz=50, in_features=6, progress=False), ValueError, ["nnz"]),
        (lambda: rx.assumption_failures(["sunny"], progress=False), ValueError, ["conditions[0]"]),
        (lambda: rx.assumption_failures(width=1, nnz=2, progress=False), ValueError, ["near-parallel", "width"]),
        (lambda: rx.assumption_failures(correlation=1.0, progress=False), ValueError, ["correlation"]),
    ],
)
def test_bad_arguments_raise_naming_them(call, kind, words):
    with pytest.raises(kind) as info:
        call()
    for word in words:
        assert word in str(info.value), str(info.value)


def test_exact_recovery_is_support_f1_one_and_held_out_error_at_most_1e_3():
    from sparselab.recovery import SUCCESS_REL_ERROR, SUCCESS_SUPPORT_F1, exact_recovery

    assert SUCCESS_SUPPORT_F1 == 1.0 and SUCCESS_REL_ERROR == 1e-3
    assert exact_recovery(1.0, 1e-3) and exact_recovery(1.0, 1e-16)
    assert not exact_recovery(1.0, 1.0001e-3)  # 60 dB missed
    assert not exact_recovery(0.99, 1e-16)  # a near-perfect fit by another network
    assert not exact_recovery(float("nan"), 1e-16) and not exact_recovery(1.0, float("nan"))
    assert exact_recovery(0.9, 0.01, min_f1=0.9, max_rel_error=0.01)
    with pytest.raises(ValueError, match="min_f1"):
        exact_recovery(1.0, 0.0, min_f1=0.0)
    with pytest.raises(ValueError, match="max_rel_error"):
        exact_recovery(1.0, 0.0, max_rel_error=-1.0)


@pytest.mark.parametrize("page", ["recovery", "recovery_beyond"])
def test_paper_scale_parameters_are_valid_and_documented(page):
    """book/params/<page>-paper.yaml, one for each of the chapter's two pages, names its paper, states its run time
    on 2 cores, holds only that page's parameters, and passes the page's checks."""
    import re

    from conftest import paper_parameters

    from sparselab.chapters.params import RecoveryBeyondParams, RecoveryParams

    cls = {"recovery": RecoveryParams, "recovery_beyond": RecoveryBeyondParams}[page]
    text, defaults, overrides = paper_parameters(page)
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert text.startswith("# ") and re.search(r"\(20\d\d\)", comments[0]), "the first line names a source paper"
    assert f"book/{page}.ipynb" in comments[0], "the first line names the page"
    assert re.search(r"^# expected run time on 2 cores: ~\d+ (min|h)\b", text, re.MULTILINE)
    assert set(overrides) <= set(defaults), f"unknown parameters: {sorted(set(overrides) - set(defaults))}"
    params = cls(**{**defaults, **overrides})
    assert params.in_features == 100 and params.n_train == 50_000  # the paper's planted networks
    assert all(getattr(params, k) == v for k, v in overrides.items())
