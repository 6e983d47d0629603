"""Tests of the chapter drivers in sparselab.chapters.factorization (tiny sizes)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from sparselab.chapters import factorization as E
from sparselab.pruning import current_mask

pytestmark = pytest.mark.usefixtures("one_thread")


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Bitwise-equal frames except the columns named "seconds"."""
    keep = [c for c in a.columns if c != "seconds"]
    pd.testing.assert_frame_equal(a[keep], b[keep], check_exact=True)


# ----------------------------------------------------------------------------- 1-2. ill-posedness


def test_lu_path_frame_error_is_eps_and_norm_grows():
    eps = [1.0, 0.1, 0.01, 1e-3]
    df = E.lu_path_frame(eps)
    assert list(df.columns) == list(E.LU_PATH_COLUMNS)
    assert len(df) == 4
    np.testing.assert_allclose(df["error"], eps, rtol=1e-9)
    np.testing.assert_allclose(df["norm"] ** 2, [(4 + 2 * e * e) / e for e in eps], rtol=1e-12)
    np.testing.assert_allclose(df["norm"] ** 2, df["norm_x"] ** 2 + df["norm_y"] ** 2, rtol=1e-12)
    assert (np.diff(df["norm"]) > 0).all()
    assert len(E.lu_path_frame()) == 9
    with pytest.raises(ValueError, match="eps_values"):
        E.lu_path_frame([0.1, 0.0])


def test_descent_lu_error_falls_norm_grows_full_bounded():
    df = E.descent_on_supports(steps=400, seeds=(0, 1), record_every=50)
    assert list(df.columns) == list(E.DESCENT_COLUMNS)
    assert set(df["support"]) == {"LU", "full"}
    # steps 0, 50, ..., 400: 9 records per run, 2 supports x 2 seeds
    assert len(df) == 2 * 2 * 9
    for (support, _seed), run in df.groupby(["support", "seed"]):
        run = run.sort_values("step")
        err, norm = run["error"].to_numpy(), run["norm"].to_numpy()
        assert (np.diff(err) <= 1e-12).all()  # Armijo descent: the error never increases
        if support == "LU":
            assert err[-1] < 0.5 * err[0]
            assert norm[-1] > 2 * norm[0]  # the factors blow up
            assert err[-1] * norm[-1] ** 2 > 1.0  # consistent with norm^2 >~ 4/eps
        else:
            assert err[-1] < 1e-8  # the minimiser is attained
            assert norm.max() < 3.0  # with a bounded norm
    _same(df, E.descent_on_supports(steps=400, seeds=(0, 1), record_every=50))
    with pytest.raises(ValueError, match="init_scale"):
        E.descent_on_supports(init_scale=0.0)
    with pytest.raises(ValueError, match="seeds"):
        E.descent_on_supports(seeds=(0, 0))


def test_relu_scalar_training_converges_with_bounded_norm():
    df = E.relu_scalar_training(samples=40, in_features=4, width=6, steps=300, seeds=(0, 1), record_every=30)
    assert list(df.columns) == list(E.RELU_COLUMNS)
    assert len(df) == 2 * 11
    for _, run in df.groupby("seed"):
        loss, norm = run["loss"].to_numpy(), run["norm"].to_numpy()
        assert loss[-1] < 0.5 * loss[0]
        assert loss[-1] > 0  # teacher + noise not representable
        assert np.isfinite(norm).all() and norm.max() < 3 * norm[0]
    _same(df, E.relu_scalar_training(samples=40, in_features=4, width=6, steps=300, seeds=(0, 1), record_every=30))
    with pytest.raises(ValueError, match="density"):
        E.relu_scalar_training(density=0.0)
    with pytest.raises(TypeError, match="width must be an integer, got 2.5"):
        E.relu_scalar_training(width=2.5)


# ----------------------------------------------------------------------------- 4. FSMF from many starts


def test_fsmf_starts_tractable_reaches_exact_general_is_not_tractable():
    from sparselab.factorization import is_tractable, random_supports

    df = E.fsmf_starts(size=8, rank=3, density=0.4, starts=4, steps=300, seed=0)
    assert list(df.columns) == list(E.STARTS_COLUMNS)
    assert len(df) == 2 * 2 * 4 + 1
    exact = df[df["method"] == "exact"]
    assert len(exact) == 1 and exact["support"].item() == "tractable" and exact["start"].item() == -1
    assert exact["gap"].item() == 0.0
    tract = df[df["support"] == "tractable"]
    assert (tract["gap"].abs() <= 1e-6).all()
    gen = df[df["support"] == "general"]
    # The planted general target X* Y*^T is feasible: the optimum is 0 and the gap is the relative error.
    assert (gen["optimal_error"] == 0.0).all() and (gen["gap"] >= 0).all()
    np.testing.assert_array_equal(gen["gap"], gen["relative_error"])
    gauss = E.fsmf_starts(size=8, rank=3, density=0.4, starts=4, steps=300, seed=0, general_target="gaussian")
    gen = gauss[gauss["support"] == "general"]
    assert gen["gap"].min() == 0.0 and (gen["optimal_error"] == gen["error"].min()).all()
    with pytest.raises(ValueError, match="general_target"):
        E.fsmf_starts(general_target="random")
    np.testing.assert_allclose(
        df["gap"], (df["error"] - df["optimal_error"]) / (df["error"] / df["relative_error"]), atol=1e-15
    )
    # the general support used is the first non-tractable draw
    for i in range(1000):
        I, J = random_supports(8, 8, 3, 0.4, seed=i)
        if not is_tractable(I, J):
            break
    assert not is_tractable(I, J)
    _same(df, E.fsmf_starts(size=8, rank=3, density=0.4, starts=4, steps=300, seed=0))
    only = E.fsmf_starts(size=6, rank=2, starts=2, steps=50, methods="als", supports=("general",))
    assert set(only["method"]) == {"als"} and len(only) == 2
    with pytest.raises(ValueError, match="methods"):
        E.fsmf_starts(methods=("lbfgs",))
    with pytest.raises(ValueError, match="supports"):
        E.fsmf_starts(supports=())
    with pytest.raises(ValueError, match="size"):
        E.fsmf_starts(size=1)


def test_class_sizes_partition_rank():
    assert E._class_sizes(6) == [1, 2, 3]
    assert E._class_sizes(5) == [1, 2, 2]
    assert E._class_sizes(1) == [1]
    assert all(sum(E._class_sizes(r)) == r for r in range(1, 20))


# ----------------------------------------------------------------------------- 5-8. butterflies


def test_butterfly_exactness():
    df = E.butterfly_exactness((4, 16, 64), orders=("balanced", "left_to_right"))
    assert list(df.columns) == list(E.EXACTNESS_COLUMNS)
    assert len(df) == 3 * 3 * 2
    assert set(df["matrix"]) == set(E.EXACTNESS_MATRICES)
    exact = df[df["matrix"].isin(["DFT", "Hadamard"])]
    assert (exact["relative_error"] <= 1e-12).all()
    assert (df.loc[df["matrix"] == "DFT (no permutation)", "relative_error"] > 0.1).all()
    assert (df["seconds"] >= 0).all()
    _same(df, E.butterfly_exactness((4, 16, 64), orders=("balanced", "left_to_right")))
    with pytest.raises(ValueError, match="power of two"):
        E.butterfly_exactness((4, 12))
    with pytest.raises(ValueError, match="orders"):
        E.butterfly_exactness((4,), orders=("random",))


def test_butterfly_noise_error_proportional_to_noise():
    df = E.butterfly_noise(32, (0, 1e-3, 1e-1), seeds=(0, 1), orders=("balanced", "right_to_left"))
    assert list(df.columns) == list(E.NOISE_COLUMNS)
    assert len(df) == 3 * 2 * 2
    clean = df[df["noise"] == 0]
    assert (clean["relative_error"] <= 1e-12).all() and clean["ratio"].isna().all()
    noisy = df[df["noise"] > 0]
    assert np.isfinite(noisy["ratio"]).all()
    assert ((noisy["ratio"] > 0.3) & (noisy["ratio"] < 3.0)).all()
    _same(df, E.butterfly_noise(32, (0, 1e-3, 1e-1), seeds=(0, 1), orders=("balanced", "right_to_left")))
    with pytest.raises(ValueError, match="noise_levels"):
        E.butterfly_noise(16, (-0.1,))
    with pytest.raises(ValueError, match="N"):
        E.butterfly_noise(24)


def test_dense_random_is_badly_approximated():
    df = E.dense_random((16, 64), seeds=(0,), orders=("balanced",))
    assert list(df.columns) == list(E.DENSE_RANDOM_COLUMNS)
    assert len(df) == 2
    assert (df["relative_error"] > 0.5).all() and (df["relative_error"] < 1).all()
    assert (df["monarch_relative_error"] > 0.4).all() and (df["monarch_relative_error"] < 1).all()
    assert df["relative_error"].is_monotonic_increasing  # worse for larger N
    _same(df, E.dense_random((16, 64), seeds=(0,), orders=("balanced",)))
    assert len(E.dense_random((8,), seeds=(0, 1))) == 2 * 3  # N = 8: Monarch with 2 blocks


def test_factorization_timing_columns():
    df = E.factorization_timing((8, 32), orders=("balanced",), repeats=2)
    assert list(df.columns) == list(E.FACTORIZATION_TIMING_COLUMNS)
    assert df["N"].tolist() == [8, 32]
    assert (df["seconds"] > 0).all() and (df["relative_error"] <= 1e-12).all()
    with pytest.raises(ValueError, match="repeats"):
        E.factorization_timing((8,), repeats=0)


# ----------------------------------------------------------------------------- 9. product timing, slopes


def test_product_timing_columns():
    df = E.product_timing((16, 64), batches=(1, 3), repeats=1)
    assert list(df.columns) == list(E.PRODUCT_TIMING_COLUMNS)
    assert len(df) == 2 * 4 * 2
    assert set(df["kind"]) == set(E.PRODUCT_KINDS)
    assert (df["seconds"] > 0).all()
    with pytest.raises(ValueError, match="kinds"):
        E.product_timing((16,), kinds=("sparse",))
    with pytest.raises(ValueError, match="batches"):
        E.product_timing((16,), batches=(0,))


def test_loglog_slope_on_synthetic_frame():
    N = np.array([64, 256, 1024, 4096])
    rows = []
    for batch in (1, 64):
        rows += [(n, "dense", batch, 1e-9 * batch * n**2.0) for n in N]
        rows += [(n, "butterfly", batch, 3e-8 * batch * n * np.log2(n)) for n in N]
        rows += [(n, "flat", batch, 5e-6 * (1 + (n == 64))) for n in N]
    frame = pd.DataFrame(rows, columns=["N", "kind", "batch", "seconds"])
    s = E.loglog_slope(frame)
    assert list(s.columns) == list(E.SLOPE_COLUMNS)
    assert len(s) == 6
    get = {(k, b): v for k, b, v in s.itertuples(index=False)}
    assert get[("dense", 1)] == pytest.approx(2.0, abs=1e-12)
    u = np.log(N.astype(float))
    expected = np.polyfit(u, np.log(N * np.log2(N)), 1)[0]
    assert get[("butterfly", 64)] == pytest.approx(expected, abs=1e-12)
    assert get[("butterfly", 1)] < get[("dense", 1)]
    # min_x drops the first point: the flat kind is then exactly flat
    s256 = E.loglog_slope(frame, min_x=256, by="kind")
    assert list(s256.columns) == ["kind", "slope"]
    assert s256.set_index("kind").loc["flat", "slope"] == pytest.approx(0.0, abs=1e-12)
    one = E.loglog_slope(frame, min_x=4096)
    assert one["slope"].isna().all()
    with pytest.raises(ValueError, match="x must be a column"):
        E.loglog_slope(frame, x="size")
    with pytest.raises(ValueError, match="positive"):
        E.loglog_slope(frame.assign(seconds=0.0))
    with pytest.raises(TypeError, match="frame"):
        E.loglog_slope(frame.to_numpy())


# ----------------------------------------------------------------------------- 10-11. structured layers


def test_structured_layer_param_counts_and_shapes():
    expected = {"dense": 256, "butterfly": 2 * 16 * 4, "monarch": 16 * 8, "sparse": 2 * 16 * 4, "low-rank": 2 * 16 * 4}
    x = torch.randn(5, 16, dtype=torch.float64)
    for model, params in expected.items():
        layer, count = E.structured_layer(model, 16, seed=0)
        assert count == params
        weights = sum(p.numel() for name, p in layer.named_parameters() if name != "bias")
        if model == "sparse":
            assert int(current_mask(layer).sum()) == params and weights == 256
        else:
            assert weights == params
        assert layer(x).shape == (5, 16)
    with pytest.raises(ValueError, match="model"):
        E.structured_layer("conv", 16)
    with pytest.raises(ValueError, match="power of two"):
        E.structured_layer("butterfly", 12)


def test_structured_layer_task_butterfly_learns_hadamard():
    kw = dict(N=16, samples=12, test_samples=64, epochs=300, lr=3e-2, batch_size=64, seeds=(0,))
    df = E.structured_layer_task(**kw)
    assert list(df.columns) == list(E.LAYER_TASK_COLUMNS)
    assert df["model"].tolist() == list(E.LAYER_MODELS)
    res = df.set_index("model")
    assert res.loc["butterfly", "params"] == 128 and res.loc["dense", "params"] == 256
    assert res.loc["butterfly", "test_relative_error"] < 1e-2
    assert res.loc["dense", "test_relative_error"] > 0.3  # 12 samples < N = 16: underdetermined
    assert res.loc["butterfly", "test_relative_error"] < res.loc["low-rank", "test_relative_error"]
    _same(df, E.structured_layer_task(**kw))
    dct = E.structured_layer_task(
        N=8, samples=16, test_samples=16, epochs=2, models=("dense",), target="dct", seeds=(0, 1)
    )
    assert len(dct) == 2
    with pytest.raises(ValueError, match="target"):
        E.structured_layer_task(target="dft")
    with pytest.raises(ValueError, match="models"):
        E.structured_layer_task(models=("dense", "dense"))


def test_structured_layer_digits_columns_and_accuracy():
    df = E.structured_layer_digits(models=("butterfly", "low-rank"), epochs=2, seeds=(0,))
    assert list(df.columns) == list(E.LAYER_DIGITS_COLUMNS)
    assert df["model"].tolist() == ["butterfly", "low-rank"]
    assert df["params"].tolist() == [768, 768]
    assert (df["test_accuracy"] > 0.5).all() and (df["train_accuracy"] <= 1).all()
    _same(df, E.structured_layer_digits(models=("butterfly", "low-rank"), epochs=2, seeds=(0,)))
    with pytest.raises(ValueError, match="epochs"):
        E.structured_layer_digits(epochs=0)
    with pytest.raises(TypeError, match="progress"):
        E.structured_layer_digits(progress=1)


def test_progress_bar_runs():
    df = E.descent_on_supports(steps=5, seeds=(0,), progress=True)
    assert len(df) > 0 and math.isfinite(df["error"].iloc[-1])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised when CUDA is missing")
def test_device_argument_is_checked_before_any_work():
    for call in (
        lambda: E.factorization_timing((4,), device="cuda"),
        lambda: E.product_timing((4,), device="cuda"),
        lambda: E.structured_layer_task(N=4, samples=2, test_samples=2, epochs=1, seeds=(0,), device="cuda"),
        lambda: E.structured_layer_digits(epochs=1, seeds=(0,), device="cuda"),
    ):
        with pytest.raises(ValueError, match="device='cuda' was asked for but CUDA is not available"):
            call()
    with pytest.raises(ValueError, match="device must be"):
        E.product_timing((4,), device="tpu")


def test_layer_task_on_explicit_cpu_equals_default():
    kwargs = dict(N=8, samples=4, test_samples=8, epochs=3, seeds=(0,), models=("butterfly", "dense"))
    _same(E.structured_layer_task(**kwargs), E.structured_layer_task(device="cpu", **kwargs))


def test_paper_scale_parameters_are_valid_and_documented():
    """book/params/factorization-paper.yaml names its papers, states its run time on 2 cores, and passes the checks."""
    import re

    from conftest import paper_parameters

    from sparselab.chapters.params import FactorizationParams

    text, defaults, overrides = paper_parameters("factorization")
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert text.startswith("# ") and re.search(r"\(20\d\d\)", comments[0]), "the first line names a source paper"
    assert re.search(r"^# expected run time on 2 cores: ~\d+ min", text, re.MULTILINE)
    assert set(overrides) <= set(defaults), f"unknown parameters: {sorted(set(overrides) - set(defaults))}"
    params = FactorizationParams(**{**defaults, **overrides})
    assert len(params.seeds) >= 10 and all(getattr(params, k) == v for k, v in overrides.items())
