"""Tests of sparselab.chapters.thresholding: the grids of the chapter "Hard vs soft thresholding, compressed
sensing, and why sparse models generalise" (its pages book/thresholding.ipynb, book/phase_transitions.ipynb and
book/generalisation.ipynb).

Everything runs at tiny sizes (signals of length 40-60, a few hundred solver steps), so the module takes a
few seconds. The tests check the frames' rows and columns, values in range, determinism, the behaviour the
chapter reports (the lasso's bias, exact recovery well inside the success region, group lasso's advantage,
the irrepresentable construction, A-optimal design's smaller trace, the Rademacher bound) and that bad
arguments raise errors naming the argument.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from sparselab.chapters import thresholding as sx
from sparselab.sensing import irrepresentable

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- helpers


def test_derive_seed_is_deterministic_and_separates_cells():
    assert sx.derive_seed(0, 1, 2) == sx.derive_seed(0, 1, 2)
    seeds = {sx.derive_seed(s, i) for s in range(3) for i in range(3)}
    assert len(seeds) == 9 and all(0 <= s < 2**31 for s in seeds)


def test_universal_lambda():
    assert sx.universal_lambda(0.1, 100) == pytest.approx(0.1 * math.sqrt(2 * math.log(100)))
    assert sx.universal_lambda(0.0, 100) == 0.0


def test_conv_rows_unit_columns_and_errors():
    A = sx.conv_rows(30, 60, channels=3, kernel=5, seed=0)
    assert A.shape == (30, 60) and A.dtype == torch.float64
    norms = A.norm(dim=0)
    assert torch.all(((norms - 1).abs() < 1e-12) | (norms == 0))
    assert torch.equal(A, sx.conv_rows(30, 60, channels=3, kernel=5, seed=0))
    with pytest.raises(ValueError, match="conv_channels"):
        sx.conv_rows(30, 61, channels=3)
    with pytest.raises(ValueError, match="m must be"):
        sx.conv_rows(61, 60, channels=3)


def test_correlated_design_irrepresentable_is_r_sqrt_k_in_the_population():
    support, signs = torch.tensor([0, 3, 5, 7]), torch.tensor([1.0, -1.0, 1.0, 1.0])
    X = sx.correlated_design(20000, 12, support, signs, 0.4, seed=0)
    assert torch.allclose(X.norm(dim=0), torch.ones(12, dtype=torch.float64))
    # population value r sqrt(k) = 0.8; a large sample is close to it
    assert irrepresentable(X, support, signs) == pytest.approx(0.8, abs=0.05)
    X0 = sx.correlated_design(20000, 12, support, signs, 0.0, seed=0)
    assert irrepresentable(X0, support, signs) < 0.1
    with pytest.raises(ValueError, match="correlation"):
        sx.correlated_design(10, 12, support, signs, 1.0, seed=0)


def test_sparse_linear_rademacher_and_margin_bound():
    assert sx.sparse_linear_rademacher(4, 64, 200) == pytest.approx(math.sqrt(2 * 4 * math.log(128) / 200))
    assert sx.sparse_linear_rademacher(1, 64, 200) < sx.sparse_linear_rademacher(16, 64, 200)
    margins = np.full(100, 0.5)
    # margins <= rho count as margin errors: at rho = 0.5 all of them, at 0.25 none (a union over 2 margins)
    bound, rho = sx.margin_bound(margins, 0.01, delta=0.05, rho_grid=[0.5, 0.25])
    conf = 3 * math.sqrt(math.log(2 * 2 / 0.05) / 200)
    assert rho == 0.25 and bound == pytest.approx(2 * 0.01 / 0.25 + conf)
    bound, rho = sx.margin_bound(margins, 0.01, delta=0.05, rho_grid=[0.5])
    assert bound == pytest.approx(1.0 + 2 * 0.01 / 0.5 + 3 * math.sqrt(math.log(2 / 0.05) / 200))
    with pytest.raises(ValueError, match="delta"):
        sx.margin_bound(margins, 0.1, delta=1.5)
    with pytest.raises(ValueError, match="rho_grid"):
        sx.margin_bound(margins, 0.1, rho_grid=[0.0])


# ----------------------------------------------------------------------------- shrinkage


def test_shrinkage_instance_lasso_is_biased_debiasing_and_iht_are_not():
    frame, info = sx.shrinkage_instance(N=60, m=40, k=5, noise=0.0, lam=0.1, seed=0)
    assert list(frame.columns) == list(sx.SHRINKAGE_INSTANCE_COLUMNS) and len(frame) == 60
    on = frame[frame["true"] != 0]
    assert len(on) == 5
    # noise-free: IHT recovers x exactly; the debiased lasso up to a tiny coefficient (-0.0013) that the lasso
    # drops; the lasso shrinks every surviving coefficient
    assert info["rel_error_IHT"] < 1e-8 and info["rel_error_debiased lasso"] < 1e-2
    kept = on[on["lasso"] != 0]
    assert len(kept) > 0 and (kept["lasso"].abs() < kept["true"].abs()).all()
    assert info["rel_error_lasso"] > 0.01
    again, _ = sx.shrinkage_instance(N=60, m=40, k=5, noise=0.0, lam=0.1, seed=0)
    pd.testing.assert_frame_equal(frame, again)


def test_shrinkage_sweep_rows_and_ranges():
    frame = sx.shrinkage_sweep(
        [0.05, 0.3], [3, 5], N=60, m=40, k=5, noise=0.01, steps=200, seeds=[0, 1], progress=False
    )
    assert list(frame.columns) == list(sx.SHRINKAGE_COLUMNS)
    assert len(frame) == 2 * (2 * 2 + 2)  # seeds x (2 lambdas x {lasso, debiased} + 2 ks)
    assert set(frame["method"]) == {"lasso", "debiased lasso", "IHT"}
    assert frame[["precision", "recall"]].stack().between(0, 1).all() and (frame["rel_error"] >= 0).all()
    iht = frame[frame["method"] == "IHT"]
    assert (iht["support_size"] <= iht["value"]).all()
    # a larger lambda gives a sparser lasso, with a larger error
    lasso = frame[frame["method"] == "lasso"].groupby("value")[["support_size", "rel_error"]].mean()
    assert lasso.loc[0.3, "support_size"] <= lasso.loc[0.05, "support_size"]
    assert lasso.loc[0.3, "rel_error"] > lasso.loc[0.05, "rel_error"]
    with pytest.raises(ValueError, match=r"ks\[0\]"):
        sx.shrinkage_sweep([0.1], [41], N=60, m=40, k=5, progress=False)
    with pytest.raises(ValueError, match=r"lam_ratios\[0\]"):
        sx.shrinkage_sweep([0.0], [3], N=60, m=40, k=5, progress=False)


# ----------------------------------------------------------------------------- phase transitions


@pytest.mark.parametrize("ensemble", sx.ENSEMBLES)
def test_phase_transition_rows_success_and_determinism(ensemble):
    kwargs = dict(N=60, ensemble=ensemble, seeds=[0, 1], steps=300, progress=False)
    frame = sx.phase_transition([0.4, 0.8], [0.05, 0.9], **kwargs)
    assert list(frame.columns) == list(sx.PHASE_COLUMNS)
    assert len(frame) == 2 * 2 * 2 * 2  # deltas x rhos x seeds x methods
    assert frame["success"].dtype == bool
    assert (frame["success"] == (frame["rel_error"] <= 1e-3)).all()
    assert set(frame["m"]) == {24, 48} and (frame["k"] <= frame["m"]).all()
    if ensemble == "gaussian":
        # deep inside the success region (delta 0.8, rho 0.05) both methods recover exactly
        easy = frame[(frame["delta"] == 0.8) & (frame["rho"] == 0.05)]
        assert easy["success"].all()
    # far outside it (rho 0.9) nothing does
    assert not frame.loc[frame["rho"] == 0.9, "success"].any()
    again = sx.phase_transition([0.4, 0.8], [0.05, 0.9], **kwargs)
    # deterministic, up to round-off in the least squares of failed runs (a singular A_S amplifies it)
    pd.testing.assert_frame_equal(frame.drop(columns="rel_error"), again.drop(columns="rel_error"))
    ok = frame["success"].to_numpy()
    np.testing.assert_allclose(frame["rel_error"][ok], again["rel_error"][ok], atol=1e-9)


def test_phase_transition_bad_parameters():
    with pytest.raises(ValueError, match="ensemble"):
        sx.phase_transition([0.5], [0.1], ensemble="fourier", progress=False)
    with pytest.raises(ValueError, match=r"deltas\[0\]"):
        sx.phase_transition([1.5], [0.1], progress=False)
    with pytest.raises(ValueError, match=r"methods\[0\]"):
        sx.phase_transition([0.5], [0.1], methods=["omp"], progress=False)
    with pytest.raises(ValueError, match="conv_channels"):
        sx.phase_transition([0.5], [0.1], N=61, ensemble="conv1d", progress=False)
    with pytest.raises(TypeError, match="progress"):
        sx.phase_transition([0.5], [0.1], progress=1)


# ----------------------------------------------------------------------------- noise, groups, correlation


def test_noise_robustness_error_grows_with_noise_and_oracle_is_the_floor():
    frame = sx.noise_robustness([0.0, 0.1], N=60, m=40, k=4, steps=300, seeds=[0, 1], progress=False)
    assert list(frame.columns) == list(sx.NOISE_COLUMNS) and len(frame) == 2 * 2 * 4
    means = frame.groupby(["method", "noise"])["rel_error"].mean()
    assert means["oracle", 0.0] < 1e-10 and means["IHT", 0.0] < 1e-6
    for method in ("lasso", "debiased lasso", "IHT"):
        assert means[method, 0.1] > means[method, 0.0]
    assert means["oracle", 0.1] <= means["lasso", 0.1]
    with pytest.raises(ValueError, match=r"noises\[1\]"):
        sx.noise_robustness([0.0, -1.0], progress=False)


def test_group_sweep_group_lasso_needs_fewer_measurements():
    frame = sx.group_sweep([25, 45], N=50, group_size=5, active_groups=3, steps=400, seeds=[0, 1], progress=False)
    assert list(frame.columns) == list(sx.GROUP_COLUMNS) and len(frame) == 2 * 2 * 2
    success = frame.groupby(["method", "m"])["success"].mean()
    assert success["group lasso", 45] == 1.0
    assert success["group lasso", 25] >= success["lasso", 25]
    assert frame[["block_recall", "block_precision"]].stack().between(0, 1).all()
    with pytest.raises(ValueError, match="group_size"):
        sx.group_sweep([20], N=50, group_size=7, progress=False)
    with pytest.raises(ValueError, match="active_groups"):
        sx.group_sweep([20], N=50, group_size=5, active_groups=11, progress=False)


def test_correlation_sweep_irrepresentable_grows_and_recovery_fails_above_one():
    frame = sx.correlation_sweep(
        [0.0, 0.9], n=50, N=40, k=4, noise=0.0, n_lams=12, steps=300, seeds=[0, 1], progress=False
    )
    assert list(frame.columns) == list(sx.CORRELATION_COLUMNS) and len(frame) == 4
    by = frame.groupby("correlation").mean(numeric_only=True)
    assert by.loc[0.0, "irrepresentable"] < 1 < by.loc[0.9, "irrepresentable"]
    assert by.loc[0.9, "coherence"] > by.loc[0.0, "coherence"]
    assert by.loc[0.0, "lasso_sign_recovery"] == 1.0
    assert by.loc[0.9, "lasso_sign_recovery"] == 0.0  # irrepresentable > 1: no lambda gives the signs
    assert frame[["coherence", "lasso_best_recall", "lasso_best_precision"]].stack().between(0, 1).all()
    with pytest.raises(ValueError, match=r"correlations\[0\]"):
        sx.correlation_sweep([1.0], progress=False)


# ----------------------------------------------------------------------------- selection and generalisation


def test_selection_comparison_a_optimal_has_the_smallest_trace():
    frame = sx.selection_comparison([8, 16], rows=80, d=8, noise_draws=20, seeds=[0, 1], progress=False)
    assert list(frame.columns) == list(sx.SELECTION_COLUMNS) and len(frame) == 2 * 2 * 3
    for _, cell in frame.groupby(["k", "seed"]):
        trace = cell.set_index("method")["trace"]
        assert trace["A-optimal"] <= trace["largest norm"] and trace["A-optimal"] <= trace["random"]
    largest = frame[frame["method"] == "largest norm"]
    assert (largest["overlap_with_largest_norm"] == 1.0).all()
    assert frame["overlap_with_largest_norm"].between(0, 1).all() and (frame["mse"] > 0).all()
    pd.testing.assert_frame_equal(
        frame, sx.selection_comparison([8, 16], rows=80, d=8, noise_draws=20, seeds=[0, 1], progress=False)
    )
    with pytest.raises(ValueError, match=r"ks\[0\]"):
        sx.selection_comparison([4], rows=80, d=8, progress=False)


def test_generalisation_rows_bounds_and_errors():
    frame = sx.generalisation([2, 8], seeds=[0], steps=100, progress=False)
    assert list(frame.columns) == list(sx.GENERALISATION_COLUMNS)
    assert len(frame) == 1 + 3 * 2
    assert frame[["train_error", "test_error"]].stack().between(0, 1).all()
    assert np.allclose(frame["gap"], frame["test_error"] - frame["train_error"])
    assert (frame["d"] == 65).all() and frame.loc[frame["method"] == "dense", "k"].item() == 65
    assert (frame["nnz"] <= frame["k"]).all() and frame["single_class"].dtype == bool
    assert not frame.loc[frame["method"] == "dense", "single_class"].item()
    # the Rademacher term grows like sqrt(k)
    rad = frame.set_index(["method", "k"])["rademacher"]
    assert rad["pruned", 8] == pytest.approx(2 * rad["pruned", 2])
    assert (frame["bound"] >= frame["test_error"]).all()  # a valid bound (vacuous at this n, but above the error)
    # the dense least-squares classifier separates 3 from 8 well
    assert frame.loc[frame["method"] == "dense", "test_error"].item() < 0.1
    with pytest.raises(ValueError, match="classes"):
        sx.generalisation([2], classes=[1, 2, 3], progress=False)
    with pytest.raises(ValueError, match=r"ks\[0\]"):
        sx.generalisation([0], progress=False)


@pytest.mark.parametrize(
    "page, cls",
    [
        ("thresholding", "ThresholdingParams"),
        ("phase_transitions", "PhaseTransitionsParams"),
        ("generalisation", "GeneralisationParams"),
    ],
)
def test_paper_scale_parameters_are_valid_and_documented(page, cls):
    """book/params/<page>-paper.yaml of each of the chapter's pages names its papers, states its run time on 2
    cores, and passes the page's checks."""
    import re

    from conftest import paper_parameters

    from sparselab.chapters import params as chapter_params

    text, defaults, overrides = paper_parameters(page)
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert text.startswith("# ") and re.search(r"\(20\d\d\)", comments[0]), "the first line names a source paper"
    assert re.search(r"^# expected run time on 2 cores: ~\d+ min", text, re.MULTILINE)
    assert set(overrides) <= set(defaults), f"unknown parameters: {sorted(set(overrides) - set(defaults))}"
    params = getattr(chapter_params, cls)(**{**defaults, **overrides})
    assert all(getattr(params, k) == v for k, v in overrides.items())
    seeds = [name for name in params.asdict() if name.endswith("seeds")]
    assert seeds and all(len(getattr(params, name)) >= 10 for name in seeds), "at least 10 seeds of every kind"
