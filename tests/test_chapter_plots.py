"""Tests of sparselab.chapters.plots: figure structure, opaque facecolours, the agreement map's counts, atomic saving."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from scipy import stats  # noqa: E402

from sparselab import SparseLinear  # noqa: E402
from sparselab.chapters import plots  # noqa: E402
from sparselab.training import History  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _history(n=5, scale=1.0, zeros_from=2):
    return History(
        epoch=list(range(n)),
        train_loss=[scale / (e + 1) for e in range(n)],
        test_mse=[1.2 * scale / (e + 1) for e in range(n)],
        mask_flips=[0] * n,
        flip_rate=[0.1 / (e + 1) if e < zeros_from else 0.0 for e in range(n)],
        temperature=[1.0] * n,
        seconds=[0.01] * n,
    )


def _assert_opaque(fig):
    assert fig.get_facecolor()[3] == 1.0
    assert fig.patch.get_alpha() in (None, 1.0)
    for ax in fig.axes:
        assert ax.get_facecolor()[3] == 1.0
        assert ax.patch.get_alpha() in (None, 1.0)


@pytest.fixture
def transparent_rc():
    """Global settings that would give transparent backgrounds: the plots must not rely on them."""
    with matplotlib.rc_context({"figure.facecolor": "none", "axes.facecolor": "none", "savefig.facecolor": "none"}):
        yield


# ---------------------------------------------------------------------------- style
def test_use_style_is_idempotent_and_context_restores():
    before = dict(matplotlib.rcParams)
    with plots.context():
        plots.use_style()
        first = dict(matplotlib.rcParams)
        plots.use_style()
        assert dict(matplotlib.rcParams) == first
        assert matplotlib.colors.to_rgba(matplotlib.rcParams["figure.facecolor"])[3] == 1.0
        assert matplotlib.colors.to_rgba(matplotlib.rcParams["axes.facecolor"])[3] == 1.0
        cycle = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]
        assert [matplotlib.colors.to_hex(c) for c in cycle[:3]] == [c.lower() for c in plots.PALETTE[:3]]
    assert dict(matplotlib.rcParams) == before


def test_plot_functions_do_not_change_global_rcparams():
    before = dict(matplotlib.rcParams)
    plots.loss_curve(_history())
    assert dict(matplotlib.rcParams) == before


# ---------------------------------------------------------------------------- curves
def test_loss_curve_single_history(transparent_rc):
    fig = plots.loss_curve(_history())
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 2
    assert [line.get_linestyle() for line in lines] == ["-", "--"]
    np.testing.assert_allclose(lines[0].get_ydata(), _history().train_loss)
    np.testing.assert_allclose(lines[1].get_ydata(), _history().test_mse)
    assert ax.get_yscale() == "log"
    _assert_opaque(fig)


def test_loss_curve_dict_of_histories_and_given_axes(transparent_rc):
    fig, ax = plt.subplots()
    returned = plots.loss_curve({"hard": _history(), "soft": _history(scale=2.0).to_dict()}, ax=ax, logy=False)
    assert returned is fig
    assert len(fig.axes) == 1
    lines = ax.get_lines()
    assert len(lines) == 4
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["hard: train loss", "hard: test MSE", "soft: train loss", "soft: test MSE"]
    assert ax.get_yscale() == "linear"
    _assert_opaque(fig)


def test_flip_rate_shows_zeros(transparent_rc):
    fig = plots.flip_rate({"a": _history(zeros_from=2), "b": _history(zeros_from=5)})
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_yscale() == "symlog"
    first = ax.get_lines()[0]
    assert np.count_nonzero(np.asarray(first.get_ydata()) == 0) == 3
    lo, hi = ax.get_ylim()
    assert lo <= 0 < hi  # the zero epochs lie inside the axes
    _assert_opaque(fig)


def test_flip_rate_all_zero_history():
    fig = plots.flip_rate(_history(zeros_from=0))
    assert fig.axes[0].get_yscale() == "symlog"


# ---------------------------------------------------------------------------- heatmaps
def _agreement_codes(fig):
    return np.asarray(fig.axes[3].images[0].get_array())


def test_weight_heatmaps_agreement_counts_by_hand(transparent_rc):
    mask = torch.tensor([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=torch.bool)
    planted = torch.tensor([[1, 0, 0, 0], [0, 1, 0, 1], [0, 0, 1, 1]], dtype=torch.bool)
    weight = torch.arange(12, dtype=torch.float32).view(3, 4) - 5
    # by hand: TP (0,0) (1,1) (2,3) = 3; FP (0,1) (1,2) = 2; missed (1,3) (2,2) = 2; neither 5
    fig = plots.weight_heatmaps((weight, mask), planted, match_rows=False)
    assert len(fig.axes) == 5  # four panels and the weights' colour bar
    codes = _agreement_codes(fig)
    c = plots.AGREEMENT_CODES
    assert int((codes == c["true positive"]).sum()) == 3
    assert int((codes == c["false positive"]).sum()) == 2
    assert int((codes == c["missed"]).sum()) == 2
    assert int((codes == c["neither"]).sum()) == 5
    assert codes[1, 3] == c["missed"] and codes[0, 1] == c["false positive"]
    title = fig._suptitle.get_text()
    assert "nnz = 5" in title and "precision = 0.60" in title and "recall = 0.60" in title
    _assert_opaque(fig)


def test_weight_heatmaps_matches_permuted_rows():
    planted = torch.tensor([[1, 0, 0, 1, 0], [0, 1, 1, 0, 0]], dtype=torch.bool)
    # learned: 3 rows; planted row 0 sits in learned row 2, planted row 1 in learned row 0, row 1 is extra
    learned = torch.tensor([[0, 1, 1, 0, 0], [0, 0, 0, 0, 1], [1, 0, 0, 1, 0]], dtype=torch.bool)
    weight = torch.randn(3, 5)
    fig = plots.weight_heatmaps((weight, learned), planted, match_rows=True)
    shown_mask = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_array_equal(shown_mask, learned[[2, 0, 1]].int().numpy())  # matched rows first
    shown_planted = np.asarray(fig.axes[2].images[0].get_array())
    np.testing.assert_array_equal(shown_planted[:2], planted.int().numpy())
    assert not shown_planted[2].any()  # no planted row for the extra learned row
    codes = _agreement_codes(fig)
    c = plots.AGREEMENT_CODES
    assert int((codes == c["true positive"]).sum()) == 4
    assert int((codes == c["false positive"]).sum()) == 1  # the extra learned row's connection
    assert int((codes == c["missed"]).sum()) == 0
    # the weights follow the same row order, pruned entries are masked out
    shown_weight = fig.axes[1].images[0].get_array()
    np.testing.assert_array_equal(np.ma.getmaskarray(shown_weight), ~learned[[2, 0, 1]].numpy())
    np.testing.assert_allclose(shown_weight[0, 0], weight[2, 0].item())


def test_weight_heatmaps_sparse_linear_without_planted(transparent_rc):
    torch.manual_seed(0)
    layer = SparseLinear(10, 6, density=0.3)
    fig = plots.weight_heatmaps(layer)
    assert len(fig.axes) == 3  # two panels and the colour bar
    assert f"nnz = {layer.nnz} of 60" in fig._suptitle.get_text()
    np.testing.assert_array_equal(np.asarray(fig.axes[0].images[0].get_array()), layer.mask().int().numpy())
    assert layer.training  # the mode is restored
    _assert_opaque(fig)


def test_weight_heatmaps_max_rows_and_bad_shape():
    mask = torch.rand(20, 6) < 0.5
    fig = plots.weight_heatmaps((torch.randn(20, 6), mask), max_rows=5)
    assert fig.axes[0].images[0].get_array().shape == (5, 6)
    assert f"nnz = {int(mask.sum())} of 120" in fig._suptitle.get_text()  # metrics use every row
    with pytest.raises(ValueError, match="columns"):
        plots.weight_heatmaps((torch.randn(20, 6), mask), torch.ones(3, 4, dtype=torch.bool))


# ---------------------------------------------------------------------------- predictions
def test_predictions_tensor_column_and_metrics(transparent_rc):
    y = torch.linspace(-1, 1, 50)[:, None]
    pred = y + 0.1
    fig = plots.predictions(y, pred, label="test")
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    r2 = 1 - float(((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    text = ax.get_legend().get_texts()[0].get_text()
    assert text.startswith("test:") and f"R² = {r2:.3f}" in text and "MSE = 0.01" in text
    offsets = ax.collections[0].get_offsets()
    assert offsets.shape == (50, 2)
    _assert_opaque(fig)


def test_predictions_numpy_many_points_and_shape_check():
    rng = np.random.default_rng(0)
    y = rng.normal(size=5000)
    fig = plots.predictions(y, y, ax=None)
    scatter = fig.axes[0].collections[0]
    assert scatter.get_alpha() < 0.2
    assert "R² = 1.000" in fig.axes[0].get_legend().get_texts()[0].get_text()
    with pytest.raises(ValueError, match="one shape"):
        plots.predictions(y, y[:10])


# ---------------------------------------------------------------------------- sweeps
def _sweep_frame(seeds):
    rows = []
    for target in ("linear", "nonlinear"):
        for sparsity in (0.5, 0.8, 0.9):
            for seed in range(seeds):
                rows.append(
                    {
                        "target": target,
                        "sparsity": sparsity,
                        "seed": seed,
                        "mask": "hard",
                        "test_mse": 0.1 + sparsity + 0.01 * seed + (target == "linear"),
                    }
                )
    return pd.DataFrame(rows)


def test_metric_vs_sparsity_single_seed(transparent_rc):
    fig = plots.metric_vs_sparsity(_sweep_frame(seeds=1))
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_xlabel() == "sparsity (1 - density)"
    assert len(ax.get_lines()) == 2  # one line per target, no interval with one run
    assert ax.get_yscale() == "log"
    _assert_opaque(fig)


def test_metric_vs_sparsity_t_interval():
    frame = pd.DataFrame({"sparsity": [0.5, 0.5, 0.5, 0.9], "test_mse": [1.0, 2.0, 4.0, 3.0]})
    fig = plots.metric_vs_sparsity(frame, hue=None, logy=False)
    ax = fig.axes[0]
    values = np.array([1.0, 2.0, 4.0])
    half = stats.t.ppf(0.975, 2) * values.std(ddof=1) / math.sqrt(3)
    segments = [s for c in ax.collections for s in c.get_segments()]
    assert len(segments) == 1  # only the point with several runs has an interval
    (x0, lo), (x1, hi) = segments[0]
    assert x0 == x1 == pytest.approx(0.5)
    assert lo == pytest.approx(values.mean() - half) and hi == pytest.approx(values.mean() + half)
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [values.mean(), 3.0])


def test_metric_vs_sparsity_style_density_and_missing_column():
    frame = _sweep_frame(seeds=3).assign(density=lambda f: 1 - f["sparsity"]).drop(columns="sparsity")
    fig = plots.metric_vs_sparsity(frame, style="mask")  # sparsity derived from density
    assert len(fig.axes) == 1
    np.testing.assert_allclose(sorted(set(np.round(fig.axes[0].get_lines()[0].get_xdata(), 1))), [0.5, 0.8, 0.9])
    with pytest.raises(KeyError, match="nope"):
        plots.metric_vs_sparsity(frame, hue="nope")


# ---------------------------------------------------------------------------- save
def test_save_writes_png_atomically(tmp_path):
    fig = plots.loss_curve(_history())
    target = tmp_path / "nested" / "dir" / "loss.png"
    path = plots.save(fig, target)
    assert path == target
    assert target.read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in target.parent.iterdir()] == ["loss.png"]


def test_save_failure_leaves_no_temporary_file(tmp_path, monkeypatch):
    fig = plots.loss_curve(_history())

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        plots.save(fig, tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- pruning recipes
def _recipe_frame():
    """Two tasks, a dense row per seed, three sparse recipes at two sparsities, three seeds; known values."""
    rows = []
    steps = {"dense": 100, "IMP": 500, "random": 100, "RigL": 100}
    for t, task in enumerate(("regression", "digits")):
        for seed in range(3):
            rows.append(
                {
                    "task": task,
                    "method": "dense",
                    "sparsity": 0.0,
                    "seed": seed,
                    "test_error": 0.1 + 0.01 * seed + t,
                    "steps": 100,
                }
            )
            for m, method in enumerate(("IMP", "random", "RigL")):
                for sparsity in (0.8, 0.9):
                    rows.append(
                        {
                            "task": task,
                            "method": method,
                            "sparsity": sparsity,
                            "seed": seed,
                            "test_error": 0.2 + m * 0.1 + sparsity + 0.02 * seed**2 + t,
                            "steps": steps[method],
                        }
                    )
    return pd.DataFrame(rows)


def _labelled(ax) -> dict:
    """The axes' lines by label, without matplotlib's unlabelled helpers (error-bar caps)."""
    return {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}


def _half_width(values, level=0.95):
    values = np.asarray(values, dtype=float)
    return stats.t.ppf((1 + level) / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))


def test_method_styles_are_distinct():
    methods = ["dense", "one-shot", "gradual", "IMP", "IMP-reinit", "random", "hard", "soft", "sigmoid", "SET", "RigL"]
    pairs = {(plots.METHOD_STYLES[m]["color"], plots.METHOD_STYLES[m]["marker"]) for m in methods}
    assert len(pairs) == len(methods)
    assert len({plots.METHOD_STYLES[m]["color"] for m in methods}) == len(methods)


def test_method_comparison_plots_means_and_t_intervals(transparent_rc):
    frame = _recipe_frame()
    fig = plots.method_comparison(frame, task="digits", dodge=False, ylabel="test error rate")
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    lines = _labelled(ax)
    assert set(lines) == {"IMP", "random", "RigL", "dense (mean and 95% interval)"}
    digits = frame[frame["task"] == "digits"]
    for method in ("IMP", "random", "RigL"):
        runs = digits[digits["method"] == method]
        means = runs.groupby("sparsity")["test_error"].mean()
        np.testing.assert_allclose(lines[method].get_xdata(), 1 - means.index.to_numpy())
        np.testing.assert_allclose(lines[method].get_ydata(), means.to_numpy())
        assert lines[method].get_color() == plots.METHOD_STYLES[method]["color"]
    dense = digits.loc[digits["method"] == "dense", "test_error"]
    np.testing.assert_allclose(lines["dense (mean and 95% interval)"].get_ydata(), dense.mean())
    # one bar per (method, sparsity), upper end at mean + t_{n-1} s / sqrt(n)
    segments = [s for c in ax.collections for s in getattr(c, "get_segments", lambda: [])()]
    assert len(segments) == 6
    imp = digits[(digits["method"] == "IMP") & (digits["sparsity"] == 0.9)]["test_error"]
    tops = sorted(float(seg[1][1]) for seg in segments)
    assert any(top == pytest.approx(imp.mean() + _half_width(imp)) for top in tops)
    assert ax.get_xscale() == "log" and ax.xaxis_inverted()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.8", "0.9"]
    assert ax.get_ylabel() == "test error rate" and ax.get_yscale() == "log"
    assert "3 runs per point" in ax.get_title()
    _assert_opaque(fig)


def test_interval_level_is_a_fraction_in_every_figure():
    frame = _recipe_frame()
    fig = plots.method_comparison(frame, task="digits", dodge=False, level=0.9)
    ax = fig.axes[0]
    assert "dense (mean and 90% interval)" in _labelled(ax) and ax.get_title().startswith("mean ± 90% t-interval")
    digits = frame[frame["task"] == "digits"]
    imp = digits[(digits["method"] == "IMP") & (digits["sparsity"] == 0.9)]["test_error"]
    tops = [float(s[1][1]) for c in ax.collections for s in getattr(c, "get_segments", lambda: [])()]
    assert any(top == pytest.approx(imp.mean() + _half_width(imp, 0.9)) for top in tops)
    none = plots.method_comparison(frame, task="digits", level=None).axes[0]
    assert none.get_title().startswith("mean,") and "dense" in _labelled(none)
    sweep = pd.DataFrame({"sparsity": [0.5, 0.5, 0.5], "test_mse": [1.0, 2.0, 4.0]})
    calls = [
        lambda level: plots.method_comparison(frame, task="digits", level=level),
        lambda level: plots.cost_vs_error(frame, task="digits", sparsity=0.9, level=level),
        lambda level: plots.metric_vs_sparsity(sweep, hue=None, level=level),
        lambda level: plots.structured_tradeoff(_structured_frame(), level=level),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="level must be .*fraction"):
            call(95)  # a percentage, the old convention of the figures
    with pytest.raises(TypeError, match="ci"):
        plots.method_comparison(frame, task="digits", ci=0.95)  # one keyword: level
    plt.close("all")


def test_method_comparison_selects_methods_dodges_and_checks_task():
    frame = _recipe_frame()
    fig = plots.method_comparison(frame, task="regression", methods=["IMP", "random"], legend=False)
    ax = fig.axes[0]
    imp, random = _labelled(ax)["IMP"], _labelled(ax)["random"]
    assert np.all(imp.get_xdata() < random.get_xdata())  # dodged apart, in the order given
    np.testing.assert_allclose(imp.get_xdata() * random.get_xdata(), (1 - np.array([0.8, 0.9])) ** 2)
    assert ax.get_legend() is None
    with pytest.raises(ValueError, match="several tasks"):
        plots.method_comparison(frame)
    with pytest.raises(ValueError, match="no sparse runs"):
        plots.method_comparison(frame, task="digits", methods=["SET"])
    with pytest.raises(ValueError, match=r"column\(s\) \[.test_mse.\] not in the frame"):
        plots.method_comparison(frame, task="digits", y="test_mse")


def test_cost_vs_error_one_point_per_recipe(transparent_rc):
    frame = _recipe_frame()
    fig = plots.cost_vs_error(frame, task="regression", sparsity=0.9)
    ax = fig.axes[0]
    points = _labelled(ax)
    assert set(points) == {"dense (sparsity 0)", "IMP", "random", "RigL"}
    regression = frame[frame["task"] == "regression"]
    for method in ("IMP", "random", "RigL"):
        runs = regression[(regression["method"] == method) & (regression["sparsity"] == 0.9)]["test_error"]
        np.testing.assert_allclose(points[method].get_ydata(), [runs.mean()])
    # two cost categories: 100 steps (dense, random, RigL spread apart) and 500 (IMP, 5x)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["100\n(1×)", "500\n(5×)"]
    assert float(points["IMP"].get_xdata()[0]) == 1.0
    cheap = sorted(float(points[m].get_xdata()[0]) for m in ("dense (sparsity 0)", "random", "RigL"))
    np.testing.assert_allclose(cheap, [-0.375, 0.0, 0.375])
    assert ax.get_xlabel() == "optimizer steps in all (training cost)"
    segments = [s for c in ax.collections for s in c.get_segments()]
    assert len(segments) == 4  # one interval per point
    with pytest.raises(ValueError, match="no run at sparsity"):
        plots.cost_vs_error(frame, task="regression", sparsity=0.95)
    _assert_opaque(fig)


def test_imp_schedule_measured_against_geometric(transparent_rc):
    alpha8, alpha9 = 1 - 0.2**0.5, 1 - 0.1**0.5
    schedules = {
        ("regression", 0.8, 0): ([1.0, 0.45, 0.2], [1.0, 1 - alpha8, 0.2], alpha8),
        ("regression", 0.8, 1): ([1.0, 0.47, 0.2], [1.0, 1 - alpha8, 0.2], alpha8),
        ("regression", 0.9, 0): ([1.0, 0.32, 0.1], [1.0, 1 - alpha9, 0.1], alpha9),
        ("digits", 0.9, 0): ([1.0, 0.3, 0.1], [1.0, 1 - alpha9, 0.1], alpha9),
    }
    fig = plots.imp_schedule(schedules, task="regression")
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 4  # a line and a set of markers per final sparsity
    theory = [line for line in lines if line.get_linestyle() == "-"]
    measured = [line for line in lines if line.get_linestyle() == "None"]
    np.testing.assert_allclose(theory[0].get_ydata(), (1 - alpha8) ** np.arange(3))
    np.testing.assert_allclose(theory[1].get_ydata(), (1 - alpha9) ** np.arange(3))
    np.testing.assert_allclose(measured[0].get_ydata(), [1.0, 0.46, 0.2])  # mean over the two seeds
    np.testing.assert_allclose(measured[1].get_ydata(), [1.0, 0.32, 0.1])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        f"sparsity 0.8, $\\alpha$ = {alpha8:.3f}",
        f"sparsity 0.9, $\\alpha$ = {alpha9:.3f}",
    ]
    assert ax.get_yscale() == "log" and "round" in ax.get_xlabel()
    with pytest.raises(ValueError, match="several tasks"):
        plots.imp_schedule(schedules)
    _assert_opaque(fig)


def test_density_schedules_step_curves(transparent_rc):
    curves = {
        "one-shot": ([0, 10, 20], [1.0, 0.1, 0.1]),
        "IMP": ([0, 10, 20, 30], [1.0, 0.5, 0.1, 0.1]),
        "other": ([0, 10], [0.1, 0.1]),
    }
    fig = plots.density_schedules(curves, styles={"other": {"color": "#123456"}})
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["one-shot", "IMP", "other"]
    for line, (steps, densities) in zip(lines, curves.values()):
        assert line.get_drawstyle() == "steps-post"
        np.testing.assert_allclose(line.get_xdata(), steps)
        np.testing.assert_allclose(line.get_ydata(), densities)
    assert lines[1].get_color() == plots.METHOD_STYLES["IMP"]["color"]
    assert lines[2].get_color() == "#123456"
    assert ax.get_ylabel() == "density of the pruned layers"
    with pytest.raises(ValueError, match="one length"):
        plots.density_schedules({"bad": ([0, 1], [1.0])})
    _assert_opaque(fig)


def test_gradient_norms_from_log_and_frames(transparent_rc):
    from types import SimpleNamespace

    from sparselab.chapters.pruning import GradientNormLog

    log = GradientNormLog(SimpleNamespace(task="regression"))
    log.epoch, log.active, log.pruned = [0, 1, 2], [0.5, 0.1, 0.01], [1.0, 1.1, 1.2]
    frame = pd.DataFrame({"epoch": [0, 1], "active": [0.3, 0.2], "pruned": [0.4, 0.5]})
    fig = plots.gradient_norms({"random": log, "one-shot": frame})
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 4
    np.testing.assert_allclose(lines[0].get_ydata(), log.active)
    np.testing.assert_allclose(lines[1].get_ydata(), log.pruned)
    np.testing.assert_allclose(lines[3].get_ydata(), frame["pruned"])
    assert [line.get_linestyle() for line in lines] == ["-", "--", "-", "--"]
    assert lines[0].get_color() == lines[1].get_color() != lines[2].get_color()
    assert lines[0].get_label().startswith("random: active")
    assert ax.get_xlabel() == "epoch" and ax.get_yscale() == "log"
    single = plots.gradient_norms(frame)
    assert len(single.axes[0].get_lines()) == 2
    with pytest.raises(TypeError, match="GradientNormLog"):
        plots.gradient_norms({"bad": [1, 2, 3]})
    _assert_opaque(fig)


def _structured_frame():
    rows = []
    for seed in range(2):
        rows.append(
            {
                "structure": "dense",
                "density": 1.0,
                "seed": seed,
                "test_error": 0.02 + 0.01 * seed,
                "nonzero_params": 1000,
                "executed_flops": 4000,
                "params": 1000,
                "flops": 4000,
            }
        )
        for d in (0.5, 0.25):
            rows.append(
                {
                    "structure": "unstructured",
                    "density": d,
                    "seed": seed,
                    "test_error": 0.03 + 0.01 * seed,
                    "nonzero_params": 1000 - 600 * (1 - d),
                    "executed_flops": 4000,
                    "params": 1000,
                    "flops": 4000,
                }
            )
            rows.append(
                {
                    "structure": "channels",
                    "density": d,
                    "seed": seed,
                    "test_error": 0.05 + 0.02 * seed,
                    "nonzero_params": 1000 - 600 * (1 - d),
                    "executed_flops": 4000,
                    "params": 1000 * d,
                    "flops": 4000 * d + 100 * seed,
                }
            )
        rows.append(
            {
                "structure": "2:4",
                "density": 0.5,
                "seed": seed,
                "test_error": 0.04,
                "nonzero_params": 700,
                "executed_flops": 4000,
                "params": 1000,
                "flops": 4000,
            }
        )
    return pd.DataFrame(rows)


def test_structured_tradeoff_three_panels(transparent_rc):
    frame = _structured_frame()
    fig = plots.structured_tradeoff(frame)
    assert len(fig.axes) == 3
    error_ax, params_ax, flops_ax = fig.axes

    errors, params, flops = _labelled(error_ax), _labelled(params_ax), _labelled(flops_ax)
    assert {"unstructured", "channels", "2:4"} <= set(errors)
    np.testing.assert_allclose(errors["channels"].get_ydata(), [0.06, 0.06])  # mean of 0.05 and 0.07
    np.testing.assert_allclose(errors["2:4"].get_ydata(), [0.04])
    np.testing.assert_allclose(params["channels"].get_ydata(), [0.25, 0.5])  # densities in increasing order
    np.testing.assert_allclose(params["unstructured"].get_ydata(), [1.0, 1.0])
    np.testing.assert_allclose(flops["channels"].get_ydata(), [(1000 + 50) / 4000, (2000 + 50) / 4000])
    np.testing.assert_allclose(flops["unstructured"].get_ydata(), [1.0, 1.0])
    nonzero = params["non-zeros (unstructured, masked)"]
    np.testing.assert_allclose(nonzero.get_ydata(), [0.55, 0.7])
    for ax in fig.axes:
        assert ax.get_xscale() == "log" and ax.xaxis_inverted()
    assert params_ax.get_ylabel() == "parameters (fraction of dense)"
    assert flops_ax.get_ylabel() == "forward FLOPs (fraction of dense)"
    assert len(fig.legends) == 1
    _assert_opaque(fig)
    with pytest.raises(ValueError, match="dense"):
        plots.structured_tradeoff(frame[frame["structure"] != "dense"])


def test_new_plot_functions_do_not_change_global_rcparams():
    before = dict(matplotlib.rcParams)
    plots.method_comparison(_recipe_frame(), task="digits")
    plots.structured_tradeoff(_structured_frame())
    assert dict(matplotlib.rcParams) == before


# ---------------------------------------------------------------------------- recovery of planted networks
def _recovery_frame():
    """IHT and IMP over a width x nnz x n_train grid, three seeds, known PSNR and success; one cell IMP-only."""
    rows = []
    for method in ("IMP", "IHT"):
        for width in (1, 2, 5):
            for nnz in (2, 10, 20):
                for n_train in (50, 200):
                    for seed in range(3):
                        if method == "IHT" and width == 5 and nnz == 20:
                            continue  # a cell without IHT runs: blank in IHT's panel
                        psnr = 10.0 * width + nnz + 0.5 * seed + (20.0 if method == "IHT" else 0.0)
                        rows.append(
                            {
                                "method": method,
                                "width": width,
                                "nnz": nnz,
                                "n_train": n_train,
                                "seed": seed,
                                "psnr_test": psnr,
                                "success": bool((seed + width + nnz) % 2),
                                "time_s": 0.01 * nnz * (1 + seed),
                                "peak_bytes": 2**20 * nnz * (seed + 1),
                            }
                        )
    return pd.DataFrame(rows)


def test_iht_style_is_distinct():
    colours = [s["color"] for name, s in plots.METHOD_STYLES.items() if name != "IHT"]
    assert plots.METHOD_STYLES["IHT"]["color"] not in colours
    assert plots.METHOD_STYLES["IHT"]["marker"] != plots.METHOD_STYLES["IMP"]["marker"]


def test_phase_diagram_cells_are_pivoted_means(transparent_rc):
    frame = _recovery_frame()
    fig = plots.phase_diagram(frame, title="PSNR")
    assert len(fig.axes) == 3  # IHT, IMP, one shared colour bar
    iht_ax, imp_ax, bar = fig.axes
    assert [iht_ax.get_title(), imp_ax.get_title()] == ["IHT", "IMP"]  # METHOD_STYLES order
    for ax, method in ((iht_ax, "IHT"), (imp_ax, "IMP")):
        rows = frame[frame["method"] == method]
        expected = rows.pivot_table(index="nnz", columns="width", values="psnr_test", aggfunc="mean").reindex(
            index=[2, 10, 20], columns=[1, 2, 5]
        )
        shown = ax.images[0].get_array()
        np.testing.assert_allclose(np.ma.filled(shown, np.nan), expected.to_numpy(), equal_nan=True)
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "5"]
        assert ax.images[0].origin == "lower"
    assert np.ma.getmaskarray(iht_ax.images[0].get_array())[2, 2]  # nnz 20, width 5: no IHT run, blank
    assert [t.get_text() for t in iht_ax.get_yticklabels()] == ["2", "10", "20"]
    iht = frame[frame["method"] == "IHT"].groupby(["nnz", "width"])["psnr_test"].mean()  # row-major, as drawn
    assert [t.get_text() for t in iht_ax.texts] == [f"{v:.0f}" for v in iht]  # integer dB, no text in blank cells
    assert len(iht_ax.texts) == 8
    values = frame.groupby(["method", "nnz", "width"])["psnr_test"].mean()
    assert bar.get_ylim() == pytest.approx((values.min(), values.max()))
    assert "PSNR" in fig._suptitle.get_text() and "6 run(s) per cell" in fig._suptitle.get_text()
    _assert_opaque(fig)


def test_phase_diagram_success_probability_and_infinite_psnr():
    frame = _recovery_frame()
    fig = plots.phase_diagram(frame, value="success", x="n_train")
    iht_ax, imp_ax, bar = fig.axes
    expected = (
        frame[frame["method"] == "IMP"]
        .assign(success=lambda f: f["success"].astype(float))
        .pivot_table(index="nnz", columns="n_train", values="success", aggfunc="mean")
    )
    np.testing.assert_allclose(np.ma.filled(imp_ax.images[0].get_array(), np.nan), expected.to_numpy())
    assert bar.get_ylim() == pytest.approx((0.0, 1.0))  # fractions: the full [0, 1] scale
    assert all(len(t.get_text()) == 4 and t.get_text()[1] == "." for t in imp_ax.texts)  # two decimals
    assert [t.get_text() for t in imp_ax.get_xticklabels()] == ["50", "200"]

    exact = frame[frame["method"] == "IHT"].copy()
    exact.loc[exact["width"] == 1, "psnr_test"] = np.inf
    fig = plots.phase_diagram(exact, vmax=60, annotate=True)
    assert len(fig.axes) == 2
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown[:, 0], 60.0)  # infinite cells drawn at the top of the scale
    assert sum(t.get_text() == "∞" for t in fig.axes[0].texts) == 3


def test_phase_diagram_validates_frame():
    frame = _recovery_frame()
    with pytest.raises(ValueError, match=r"psnr_tset.*columns are \['method'"):
        plots.phase_diagram(frame, value="psnr_tset")
    with pytest.raises(ValueError, match="empty"):
        plots.phase_diagram(frame.iloc[:0])


def test_recovered_weights_shared_scale_and_scatter(transparent_rc):
    planted = np.zeros((3, 6))
    planted[0, 1], planted[1, 4], planted[2, 0] = 1.5, -2.0, 0.5
    recovered = planted.copy()
    recovered[0, 2] = 0.1
    recovered[1, 4] = -2.5
    fig = plots.recovered_weights(torch.from_numpy(planted), recovered[..., None], title="aligned")
    assert len(fig.axes) == 4  # two images, the scatter, one colour bar
    left, right, scatter_ax, bar = fig.axes
    np.testing.assert_allclose(left.images[0].get_array(), planted)
    np.testing.assert_allclose(right.images[0].get_array(), recovered)
    assert left.images[0].get_clim() == right.images[0].get_clim() == (-2.5, 2.5)
    support, rest = scatter_ax.collections
    np.testing.assert_allclose(support.get_offsets(), [[1.5, 1.5], [-2.0, -2.5], [0.5, 0.5]])
    assert len(rest.get_offsets()) == 15 and [0.0, 0.1] in rest.get_offsets().tolist()
    identity = scatter_ax.get_lines()[0]
    np.testing.assert_allclose(identity.get_xdata(), identity.get_ydata())
    error = np.linalg.norm(recovered - planted) / np.linalg.norm(planted)
    assert f"{error:.2g}" in scatter_ax.get_title()
    assert "nnz = 4" in right.get_title() and fig._suptitle.get_text() == "aligned"
    with pytest.raises(ValueError, match="one shape"):
        plots.recovered_weights(planted, planted[:2])
    with pytest.raises(ValueError, match="2-D"):
        plots.recovered_weights(planted.ravel(), planted.ravel())
    _assert_opaque(fig)


def _iht_history(rate=0.3, steps=8, floor_from=None):
    residual = [rate**t for t in range(steps)]
    if floor_from is not None:
        residual = [r if t < floor_from else 1e-15 for t, r in enumerate(residual)]
    return {
        "step": list(range(steps)),
        "residual": residual,
        "support_changes": [max(5 - t, 0) for t in range(steps)],
        "step_size": [1.0] * steps,
        "time_s": [0.01] * steps,
    }


def test_convergence_fits_the_geometric_rate(transparent_rc):
    fig = plots.convergence(_iht_history(rate=0.3, floor_from=6))
    assert len(fig.axes) == 2
    res_ax, sup_ax = fig.axes
    assert res_ax.get_yscale() == "log"
    line, fit, threshold = res_ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), _iht_history(rate=0.3, floor_from=6)["residual"])
    np.testing.assert_allclose(fit.get_xdata(), range(6))  # residual <= 1e-12 is left out of the fit
    np.testing.assert_allclose(fit.get_ydata(), 0.3 ** np.arange(6), rtol=1e-9)
    assert "rate 0.3 per step" in fit.get_label()
    assert threshold.get_ydata()[0] == pytest.approx(1e-12)
    assert [p.get_height() for p in sup_ax.patches] == [5, 4, 3, 2, 1, 0, 0, 0]
    _assert_opaque(fig)


def test_convergence_several_histories_and_bad_history():
    fig = plots.convergence({"convex": _iht_history(rate=0.5), "sequential": _iht_history(rate=0.1, steps=5)})
    res_ax, sup_ax = fig.axes
    labels = [t.get_text() for t in res_ax.get_legend().get_texts()]
    assert labels == [
        "convex: residual",
        "convex: fit: rate 0.5 per step",
        "sequential: residual",
        "sequential: fit: rate 0.1 per step",
    ]
    assert len(sup_ax.patches) == 13
    xs = sorted(p.get_x() + p.get_width() / 2 for p in sup_ax.patches)
    assert xs[0] == pytest.approx(-0.2) and xs[1] == pytest.approx(0.2)  # side by side at step 0
    with pytest.raises(ValueError, match="support_changes"):
        plots.convergence({"step": [0, 1], "residual": [1.0, 0.5]})


def test_cost_scaling_log_log_means_and_slope(transparent_rc):
    frame = _recovery_frame()
    fig = plots.cost_scaling(frame, slopes=(1, 2))
    assert len(fig.axes) == 2
    memory, time = fig.axes
    for ax, column, factor in ((memory, "peak_bytes", 2.0**-20), (time, "time_s", 1.0)):
        assert ax.get_xscale() == ax.get_yscale() == "log"
        lines = _labelled(ax)
        for method in ("IHT", "IMP"):
            means = frame[frame["method"] == method].groupby("nnz")[column].mean() * factor
            np.testing.assert_allclose(lines[method].get_xdata(), means.index.to_numpy())
            np.testing.assert_allclose(lines[method].get_ydata(), means.to_numpy())
            assert lines[method].get_color() == plots.METHOD_STYLES[method]["color"]
        first = frame[(frame["method"] == "IHT") & (frame["nnz"] == 2)][column].mean() * factor
        guide = lines["$\\propto$ nnz$^{2}$"]
        np.testing.assert_allclose(guide.get_ydata(), first * (np.array([2, 10, 20]) / 2) ** 2)
        assert guide.get_linestyle() == ":" and lines["$\\propto$ nnz$^{1}$"].get_linestyle() == "--"
    assert memory.get_ylabel() == "peak memory (MiB)"
    with pytest.raises(ValueError, match="peak_bytes"):
        plots.cost_scaling(frame.drop(columns="peak_bytes"))
    _assert_opaque(fig)


def test_metric_vs_nnz_mean_and_t_interval_band_per_panel(transparent_rc):
    rows = []
    for task in ("digits 0 vs 1", "digits 10-class"):
        for method in ("IHT", "IMP"):
            for nnz in (10, 100):
                for seed in range(3):
                    rows.append(
                        {
                            "task": task,
                            "method": method,
                            "nnz": nnz,
                            "seed": seed,
                            "accuracy_test": 0.5 + 0.001 * nnz + 0.05 * seed + 0.1 * (method == "IHT"),
                        }
                    )
    frame = pd.DataFrame(rows)
    fig = plots.metric_vs_nnz(frame, metric="accuracy_test", panel="task")
    assert len(fig.axes) == 2
    assert [ax.get_title() for ax in fig.axes] == ["digits 0 vs 1", "digits 10-class"]
    ax = fig.axes[1]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["10", "100"]
    runs = frame[(frame["task"] == "digits 10-class") & (frame["method"] == "IMP")]
    stats_ = runs.groupby("nnz")["accuracy_test"].agg(["mean", "std", "count"])
    line = _labelled(ax)["IMP"]
    np.testing.assert_allclose(line.get_ydata(), stats_["mean"])
    # the book's convention: a two-sided 95 % Student-t interval over the 3 seeds, not mean +- SD
    half = stats.t.ppf(0.975, 2) * stats_["std"] / np.sqrt(stats_["count"])
    band = ax.collections[1].get_paths()[0].vertices  # IHT first, then IMP
    assert band[:, 1].max() == pytest.approx((stats_["mean"] + half).max())
    assert band[:, 1].min() == pytest.approx((stats_["mean"] - half).min())
    # a bounded metric's band stops at its bound: accuracies near 1 do not get a band above 1
    near_one = frame.assign(accuracy_test=np.minimum(frame["accuracy_test"] + 0.3, 1.0))
    clipped = plots.metric_vs_nnz(near_one, metric="accuracy_test", panel="task")
    assert max(c.get_paths()[0].vertices[:, 1].max() for c in clipped.axes[0].collections) <= 1.0
    assert "3 run(s)" in fig._suptitle.get_text() and "t-interval" in fig._suptitle.get_text()
    single = plots.metric_vs_nnz(
        frame[frame["task"] == "digits 0 vs 1"], metric="accuracy_test", group=None, logx=False, ylabel="accuracy"
    )
    assert len(single.axes) == 1 and single.axes[0].get_xscale() == "linear"
    assert single.axes[0].get_ylabel() == "accuracy"
    with pytest.raises(ValueError, match="'panel_col'"):
        plots.metric_vs_nnz(frame, metric="accuracy_test", panel="panel_col")
    _assert_opaque(fig)


def test_image_grid_clips_and_removes_unused_axes(transparent_rc):
    images = {"target": np.linspace(-0.5, 1.5, 16).reshape(4, 4), "IHT": torch.full((4, 4), 0.25), "IMP": np.eye(4)}
    fig = plots.image_grid(images, ncols=2)
    assert len(fig.axes) == 3  # the fourth grid cell is removed
    assert [ax.get_title() for ax in fig.axes] == ["target", "IHT", "IMP"]
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown, np.clip(images["target"], 0, 1))
    assert fig.axes[0].images[0].get_clim() == (0.0, 1.0)
    assert not any(ax.axison for ax in fig.axes)
    fig = plots.image_grid([np.zeros((3, 3))] * 5, titles=list("abcde"), ncols=4)
    assert len(fig.axes) == 5 and fig.axes[4].get_title() == "e"
    with pytest.raises(ValueError, match="titles"):
        plots.image_grid([np.zeros((3, 3))], titles=["a", "b"])
    with pytest.raises(ValueError, match="2-D"):
        plots.image_grid([np.zeros((3, 3, 3))])
    _assert_opaque(fig)


def test_width_mismatch_means_and_seed_points(transparent_rc):
    rows = [
        {
            "variant": variant,
            "width_factor": factor,
            "seed": seed,
            "psnr_test": 40 + 10 * factor * (variant == "redraw") + seed,
        }
        for variant in ("naive", "redraw")
        for factor in (1, 2, 4)
        for seed in range(2)
    ]
    frame = pd.DataFrame(rows)
    fig = plots.width_mismatch(frame)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4"]
    lines = _labelled(ax)
    np.testing.assert_allclose(lines["redraw"].get_ydata(), [50.5, 60.5, 80.5])
    np.testing.assert_allclose(lines["naive"].get_ydata(), [40.5, 40.5, 40.5])
    assert "planted width" in lines
    naive_points = ax.collections[0].get_offsets()
    assert len(naive_points) == 6 and ax.collections[0].get_alpha() < 0.5
    with pytest.raises(ValueError, match="'variant'"):
        plots.width_mismatch(frame.drop(columns="variant"))
    _assert_opaque(fig)


def test_assumption_failures_bars_in_order_of_appearance(transparent_rc):
    rows = [
        {"condition": condition, "seed": seed, "psnr_test": base + seed, "success": seed == 0}
        for condition, base in (("baseline", 80.0), ("correlated inputs", 30.0), ("noise 1e-2", 20.0))
        for seed in range(3)
    ]
    frame = pd.DataFrame(rows)
    fig = plots.assumption_failures(frame)
    ax = fig.axes[0]
    widths = [p.get_width() for p in ax.patches]
    np.testing.assert_allclose(widths, [81.0, 31.0, 21.0])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["baseline", "correlated inputs", "noise 1e-2"]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # first condition on top
    points = ax.collections[0].get_offsets()
    np.testing.assert_allclose(sorted(points[:, 0]), sorted(frame["psnr_test"]))
    success = plots.assumption_failures(frame, value="success")
    np.testing.assert_allclose([p.get_width() for p in success.axes[0].patches], [1 / 3] * 3)
    with pytest.raises(ValueError, match="empty"):
        plots.assumption_failures(frame.iloc[:0])
    _assert_opaque(fig)


def test_recovery_plots_do_not_change_global_rcparams():
    before = dict(matplotlib.rcParams)
    plots.phase_diagram(_recovery_frame())
    plots.convergence(_iht_history())
    assert dict(matplotlib.rcParams) == before


# ----------------------------------------------------------------------------- thresholding chapter


def _phase_frame():
    rows = [
        {
            "method": method,
            "delta": delta,
            "rho": rho,
            "seed": seed,
            "success": (rho < delta) if method == "l1" else (rho < delta / 2) and seed == 0,
        }
        for method in ("l1", "IHT")
        for delta in (0.25, 0.5, 0.75)
        for rho in (0.2, 0.4)
        for seed in range(2)
    ]
    return pd.DataFrame(rows)


def test_phase_transition_cells_hold_success_fractions_and_curves_are_drawn(transparent_rc):
    frame = _phase_frame()
    curve = (np.array([0.1, 0.9]), np.array([0.1, 0.6]))
    fig = plots.phase_transition(frame, curves={"theory": curve})
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["l1", "IHT"]
    l1 = np.asarray(panels[0].collections[0].get_array()).reshape(2, 3)  # rows rho, columns delta
    np.testing.assert_allclose(l1, [[1, 1, 1], [0, 1, 1]])
    iht = np.asarray(panels[1].collections[0].get_array()).reshape(2, 3)
    np.testing.assert_allclose(iht, [[0, 0.5, 0.5], [0, 0, 0]])
    for ax in panels:
        line = [ln for ln in ax.get_lines() if ln.get_label() == "theory"][0]
        np.testing.assert_allclose(line.get_xdata(), curve[0])
        np.testing.assert_allclose(line.get_ydata(), curve[1])
    # cell edges at the midpoints between grid values
    assert panels[0].get_xlim() == pytest.approx((0.125, 0.875))
    assert panels[0].get_ylim() == pytest.approx((0.1, 0.5))
    # at most two panels across: four methods make a 2 x 2 grid, three leave the fourth cell empty
    for n_methods, rows in ((4, 2), (3, 2)):
        many = pd.concat([frame.assign(method=f"{m} {i}") for i in range(2) for m in ("l1", "IHT")])
        many = many[many["method"].isin(list(dict.fromkeys(many["method"]))[:n_methods])]
        grid = plots.phase_transition(many)
        cells = [ax for ax in grid.axes if ax.get_title()]
        assert len(cells) == n_methods
        spans = {(ax.get_subplotspec().rowspan.start, ax.get_subplotspec().colspan.start) for ax in cells}
        assert max(c for _, c in spans) == 1 and max(r for r, _ in spans) == rows - 1
        assert [ax.get_ylabel() for ax in cells if ax.get_subplotspec().colspan.start == 0] == ["$\\rho = k/m$"] * rows
    with pytest.raises(ValueError, match="curve"):
        plots.phase_transition(frame, curves={"bad": ([0, 1], [0])})
    with pytest.raises(ValueError, match="empty"):
        plots.phase_transition(frame.iloc[:0])
    _assert_opaque(fig)


def test_coefficients_scatter_support_points_and_identity(transparent_rc):
    frame = pd.DataFrame({"true": [1.0, 0.0, -2.0, 0.0], "lasso": [0.5, 0.0, -1.5, 0.1], "IHT": [1.0, 0.0, -2.0, 0.0]})
    fig = plots.coefficients(frame, estimates=("lasso", "IHT"))
    ax = fig.axes[0]
    lasso, iht = ax.collections[:2]
    # the lasso's false positive (true 0, estimate 0.1) is drawn; coordinates zero in both are not
    np.testing.assert_allclose(lasso.get_offsets(), [[1.0, 0.5], [-2.0, -1.5], [0.0, 0.1]])
    np.testing.assert_allclose(iht.get_offsets(), [[1.0, 1.0], [-2.0, -2.0]])
    identity = [ln for ln in ax.get_lines() if ln.get_label() == "estimate = true"][0]
    np.testing.assert_allclose(identity.get_xdata(), identity.get_ydata())
    with pytest.raises(ValueError, match="'IHT'"):
        plots.coefficients(frame.drop(columns="IHT"))
    _assert_opaque(fig)


# ---------------------------------------------------------------------------- sparse matrix factorisation
def _lu_frames():
    eps = np.array([1.0, 0.1, 0.01, 0.001])
    path = pd.DataFrame(
        {
            "eps": eps,
            "error": eps,
            "norm": np.sqrt((4 + 2 * eps**2) / eps),
            "norm_x": np.sqrt(2 / eps),
            "norm_y": np.sqrt(2 / eps),
        }
    )
    rows = []
    for support in ("LU", "full"):
        for seed in (0, 1):
            for step in range(0, 100, 10):
                if support == "LU":
                    error, norm = 1 / (step + 1 + seed), 1 + math.sqrt(step)
                else:
                    error, norm = (0.0 if step >= 60 else 0.5**step), 2.0 + 0.1 * seed
                rows.append({"support": support, "seed": seed, "step": step, "error": error, "norm": norm})
    return path, pd.DataFrame(rows)


def test_factorization_styles_are_distinct_within_each_family():
    families = [
        ("LU", "full"),
        ("tractable", "general"),
        ("exact", "als", "gd"),
        ("balanced", "left_to_right", "right_to_left"),
        ("DFT", "Hadamard", "DFT (no permutation)"),
        ("butterfly", "monarch", "fft", "dense", "sparse", "low-rank"),
    ]
    for family in families:
        colours = [plots.FACTORIZATION_STYLES[name]["color"] for name in family]
        assert len(set(colours)) == len(family), family
    assert {
        "ill_posedness",
        "relu_training",
        "fsmf_gaps",
        "butterfly_errors",
        "product_timing",
        "layer_comparison",
        "FACTORIZATION_STYLES",
    } <= set(plots.__all__)


def test_ill_posedness_path_and_descent_runs(transparent_rc):
    path, descent = _lu_frames()
    fig = plots.ill_posedness(path, descent)
    assert len(fig.axes) == 3
    scatter_ax, error_ax, norm_ax = fig.axes
    assert all(ax.get_yscale() == "log" for ax in fig.axes)
    assert scatter_ax.get_xscale() == "log"
    lines = scatter_ax.get_lines()
    assert len(lines) == 1 + 4  # the path, then one line per support and seed
    ordered = path.sort_values("eps")  # the path is drawn in increasing eps
    np.testing.assert_allclose(lines[0].get_xdata(), ordered["norm"])
    np.testing.assert_allclose(lines[0].get_ydata(), ordered["error"])
    lu0 = descent[(descent["support"] == "LU") & (descent["seed"] == 0)]
    np.testing.assert_allclose(lines[1].get_xdata(), lu0["norm"])  # LU first (FACTORIZATION_STYLES order)
    assert lines[1].get_color() == plots.FACTORIZATION_STYLES["LU"]["color"]
    full1 = descent[(descent["support"] == "full") & (descent["seed"] == 1)]
    errors = error_ax.get_lines()[3].get_ydata()
    assert np.isnan(errors[full1["error"].to_numpy() == 0]).all()  # exact zeros cannot sit on a log axis
    np.testing.assert_allclose(norm_ax.get_lines()[3].get_ydata(), full1["norm"])
    assert [t.get_text() for t in norm_ax.get_legend().get_texts()] == ["LU (2 seeds)", "full (2 seeds)"]
    with pytest.raises(ValueError, match="support"):
        plots.ill_posedness(path, descent.drop(columns="support"))
    with pytest.raises(ValueError, match="empty"):
        plots.ill_posedness(path.iloc[:0], descent)
    _assert_opaque(fig)


def test_relu_training_loss_and_bounded_norm(transparent_rc):
    frame = pd.DataFrame(
        [
            {"seed": s, "step": t, "loss": 0.1 + 1 / (t + 1 + s), "norm": 3 - 1 / (t + 1)}
            for s in (0, 1, 2)
            for t in range(0, 50, 10)
        ]
    )
    fig = plots.relu_training(frame)
    loss_ax, norm_ax = fig.axes
    assert loss_ax.get_yscale() == "log" and norm_ax.get_yscale() == "linear"
    assert len(norm_ax.get_lines()) == 3
    np.testing.assert_allclose(norm_ax.get_lines()[2].get_ydata(), frame[frame["seed"] == 2]["norm"])
    assert norm_ax.get_ylim()[0] == 0.0
    best = loss_ax.get_lines()[-1]
    assert best.get_ydata()[0] == pytest.approx(frame["loss"].min())
    with pytest.raises(ValueError, match="norm"):
        plots.relu_training(frame.drop(columns="norm"))
    _assert_opaque(fig)


def _gap_frame():
    rows = []
    for support in ("general", "tractable"):
        rows.append(
            {
                "support": support,
                "method": "exact",
                "start": -1,
                "error": 1.0,
                "optimal_error": 1.0,
                "gap": 0.0,
                "relative_error": 0.1,
                "seconds": 0.01,
            }
        )
        for method in ("als", "gd"):
            for start in range(6):
                gap = (1e-13 * start - 1e-16) if support == "tractable" else 0.02 * start * (method == "als")
                rows.append(
                    {
                        "support": support,
                        "method": method,
                        "start": start,
                        "error": 1.0 + gap,
                        "optimal_error": 1.0,
                        "gap": gap,
                        "relative_error": 0.1,
                        "seconds": 0.01,
                    }
                )
    return pd.DataFrame(rows)


def test_fsmf_gaps_strips_clip_at_the_floor(transparent_rc):
    frame = _gap_frame()
    fig = plots.fsmf_gaps(frame, floor=1e-15)
    assert [ax.get_title() for ax in fig.axes] == ["tractable support", "general support"]  # style order
    tractable, general = fig.axes
    assert tractable.get_yscale() == "log"
    assert len(tractable.collections) == 2  # als and gd; the exact rows are not drawn as a strip
    als = frame[(frame["support"] == "tractable") & (frame["method"] == "als")]["gap"].to_numpy()
    drawn = tractable.collections[0].get_offsets()[:, 1]
    np.testing.assert_allclose(np.sort(drawn), np.sort(np.maximum(als, 1e-15)))
    xs = general.collections[1].get_offsets()[:, 0]
    assert np.all(np.abs(xs - 1) <= 0.2)  # gd's points spread around position 1
    assert [t.get_text() for t in general.get_xticklabels()] == ["als", "gd"]
    medians = [line.get_ydata()[0] for line in general.get_lines()[:2]]
    gen = frame[(frame["support"] == "general") & (frame["method"] != "exact")]
    expected = gen.groupby("method")["gap"].median().clip(lower=1e-15)
    np.testing.assert_allclose(medians, [expected["als"], expected["gd"]])
    with pytest.raises(ValueError, match="floor"):
        plots.fsmf_gaps(frame, floor=0)
    with pytest.raises(ValueError, match="method"):
        plots.fsmf_gaps(frame.drop(columns="method"))
    _assert_opaque(fig)


def _butterfly_frames():
    exact = pd.DataFrame(
        [
            {"matrix": m, "N": N, "order": o, "relative_error": e * (1 + 0.1 * j), "seconds": 0.1}
            for m, e in (("DFT", 1e-15), ("Hadamard", 0.0), ("DFT (no permutation)", 0.7))
            for N in (4, 16, 64)
            for j, o in enumerate(("balanced", "left_to_right"))
        ]
    )
    noise = pd.DataFrame(
        [
            {
                "noise": n,
                "order": o,
                "seed": s,
                "relative_error": n * (1 + 0.2 * i + 0.01 * s),
                "ratio": float("nan") if n == 0 else 1 + 0.2 * i + 0.01 * s,
            }
            for n in (0.0, 1e-3, 1e-2, 1e-1)
            for i, o in enumerate(("balanced", "left_to_right", "right_to_left"))
            for s in (0, 1)
        ]
    )
    dense = pd.DataFrame(
        [
            {
                "N": N,
                "order": o,
                "seed": s,
                "relative_error": 0.9 + 0.01 * i + 0.001 * s,
                "monarch_relative_error": 0.8 + 0.001 * s,
            }
            for N in (16, 64)
            for i, o in enumerate(("balanced", "left_to_right"))
            for s in (0, 1, 2)
        ]
    )
    return exact, noise, dense


def test_butterfly_errors_three_panels(transparent_rc):
    exact, noise, dense = _butterfly_frames()
    fig = plots.butterfly_errors(exact, noise, dense, floor=1e-17)
    assert len(fig.axes) == 3
    ex_ax, noise_ax, dense_ax = fig.axes
    assert ex_ax.get_yscale() == ex_ax.get_xscale() == "log"
    lines = _labelled(ex_ax)
    np.testing.assert_allclose(lines["Hadamard, balanced"].get_ydata(), [1e-17] * 3)  # 0 drawn at the floor
    np.testing.assert_allclose(lines["DFT (no permutation), left_to_right"].get_ydata(), [0.77] * 3)
    assert lines["DFT, balanced"].get_color() == plots.FACTORIZATION_STYLES["DFT"]["color"]
    nl = _labelled(noise_ax)
    rows = noise[(noise["order"] == "right_to_left") & (noise["noise"] > 0)]
    np.testing.assert_allclose(nl["right_to_left"].get_xdata(), [1e-3, 1e-2, 1e-1])
    np.testing.assert_allclose(nl["right_to_left"].get_ydata(), rows.groupby("noise")["relative_error"].mean())
    np.testing.assert_allclose(nl["error = noise"].get_ydata(), nl["error = noise"].get_xdata())
    assert "2 seed(s)" in noise_ax.get_title()
    dl = _labelled(dense_ax)
    np.testing.assert_allclose(dl["Monarch"].get_ydata(), [0.801, 0.801])
    np.testing.assert_allclose(dl["butterfly, left_to_right"].get_ydata(), [0.911, 0.911])
    assert dense_ax.get_ylim() == (0.0, 1.05)
    with pytest.raises(ValueError, match="noise > 0"):
        plots.butterfly_errors(exact, noise[noise["noise"] == 0], dense)
    with pytest.raises(ValueError, match="monarch_relative_error"):
        plots.butterfly_errors(exact, noise, dense.drop(columns="monarch_relative_error"))
    _assert_opaque(fig)


def test_product_timing_slopes_in_labels_and_guides(transparent_rc):
    kinds = ("butterfly", "dense", "monarch", "fft")
    frame = pd.DataFrame(
        [
            {
                "N": N,
                "kind": k,
                "batch": b,
                "seconds": (N**2 if k == "dense" else N * math.log2(N)) * 1e-9 * b * (1 + 0.5 * r),
            }
            for N in (64, 256, 1024)
            for k in kinds
            for b in (1, 64)
            for r in (0, 1)
        ]
    )
    slopes = pd.DataFrame(
        [{"kind": k, "batch": b, "slope": 2.0 if k == "dense" else 1.12} for k in kinds for b in (1, 64)]
    )
    fig = plots.product_timing(frame, slopes)
    assert [ax.get_title() for ax in fig.axes] == ["batch of 1 vector", "batch of 64 vectors"]
    ax = fig.axes[1]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    lines = _labelled(ax)
    dense = frame[(frame["kind"] == "dense") & (frame["batch"] == 64)].groupby("N")["seconds"].mean()
    np.testing.assert_allclose(lines["dense (slope 2.00)"].get_ydata(), dense.to_numpy())
    assert "butterfly (slope 1.12)" in lines
    grid = np.array([64.0, 256.0, 1024.0])
    np.testing.assert_allclose(lines["$\\propto N^2$"].get_ydata(), dense.iloc[0] * (grid / 64) ** 2)
    np.testing.assert_allclose(
        lines["$\\propto N \\log N$"].get_ydata(), dense.iloc[0] * grid * np.log2(grid) / (64 * 6)
    )
    bare = plots.product_timing(frame[frame["batch"] == 1], guides=False)
    assert len(bare.axes) == 1 and set(_labelled(bare.axes[0])) == set(kinds)
    with pytest.raises(ValueError, match="slope"):
        plots.product_timing(frame, slopes.drop(columns="slope"))
    _assert_opaque(fig)


def test_product_timing_adds_a_factorisation_panel(transparent_rc):
    frame = pd.DataFrame([{"N": N, "kind": "butterfly", "batch": 1, "seconds": 1e-6 * N} for N in (64, 256, 1024)])
    ftime = pd.DataFrame(
        [
            {"N": N, "order": o, "seconds": c * 1e-8 * N**2, "relative_error": 1e-15}
            for N in (64, 256, 1024)
            for o, c in (("balanced", 2.0), ("left_to_right", 1.0))
        ]
    )
    fslopes = pd.DataFrame({"order": ["balanced", "left_to_right"], "slope": [2.0, 2.0]})
    fig = plots.product_timing(frame, factorization=ftime, factorization_slopes=fslopes)
    assert [ax.get_title() for ax in fig.axes] == ["batch of 1 vector", "butterfly factorisation of the DFT"]
    lines = _labelled(fig.axes[1])
    np.testing.assert_allclose(lines["balanced (slope 2.00)"].get_ydata(), 2e-8 * np.array([64, 256, 1024]) ** 2)
    # the N^2 guide goes through the last point of the first order
    np.testing.assert_allclose(lines["$\\propto N^2$"].get_ydata(), 2e-8 * np.array([64, 256, 1024]) ** 2)
    with pytest.raises(ValueError, match="order"):
        plots.product_timing(frame, factorization=ftime.drop(columns="order"))
    _assert_opaque(fig)


def test_layer_comparison_bars_are_means_in_frame_order(transparent_rc):
    models = (("dense", 4096, 0.5), ("butterfly", 768, 0.01), ("monarch", 1024, 0.2), ("low-rank", 768, 0.9))
    frame = pd.DataFrame(
        [
            {"model": m, "params": p, "seed": s, "train_mse": 0.1, "test_relative_error": e + 0.01 * s}
            for m, p, e in models
            for s in (0, 1, 2)
        ]
    )
    fig = plots.layer_comparison(frame)
    ax = fig.axes[0]
    widths = [patch.get_width() for patch in ax.patches[:4]]
    np.testing.assert_allclose(widths, [0.51, 0.02, 0.21, 0.91])
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "dense\n(4,096 params)" and labels[1] == "butterfly\n(768 params)"
    assert len(ax.collections) == 4 and len(ax.collections[0].get_offsets()) == 3
    assert "3 seed(s)" in ax.get_title()
    accuracy = frame.assign(test_accuracy=0.9)
    fig2 = plots.layer_comparison(accuracy, value="test_accuracy", logx=True, title="digits")
    assert fig2.axes[0].get_xscale() == "log" and fig2.axes[0].get_title().startswith("digits\n")
    with pytest.raises(ValueError, match="params"):
        plots.layer_comparison(frame.drop(columns="params"))
    _assert_opaque(fig)


def test_layer_comparison_zoom_draws_t_intervals_on_an_axis_fitted_to_the_data(transparent_rc):
    from scipy import stats as scipy_stats

    runs = {"dense": [0.95, 0.96, 0.97], "butterfly": [0.94, 0.95, 0.99]}
    frame = pd.DataFrame(
        [{"model": m, "params": 10, "seed": s, "test_accuracy": v} for m, vs in runs.items() for s, v in enumerate(vs)]
    )
    fig = plots.layer_comparison(frame, value="test_accuracy", zoom=True)
    ax = fig.axes[0]
    assert len(ax.patches) == 0  # no bars from 0
    lo, hi = ax.get_xlim()
    assert 0.85 < lo < 0.89 and 1.02 < hi < 1.1  # spans the runs and intervals (0.894 to 1.026), not from 0
    # one error bar per model: the mean and its two-sided 95 % Student-t half-width
    segments = [seg for c in ax.collections if hasattr(c, "get_segments") for seg in c.get_segments()]
    for values in runs.values():
        mean = np.mean(values)
        half = scipy_stats.t.ppf(0.975, 2) * np.std(values, ddof=1) / np.sqrt(3)
        assert any(np.allclose(sorted(seg[:, 0]), [mean - half, mean + half]) for seg in segments), (mean, half)
    assert "zoomed" in ax.get_xlabel() and "Student-t interval" in ax.get_title()
    with pytest.raises(ValueError, match="zoom"):
        plots.layer_comparison(frame, value="test_accuracy", zoom=True, logx=True)
    _assert_opaque(fig)


def test_factorization_plots_do_not_change_global_rcparams():
    before = dict(matplotlib.rcParams)
    path, descent = _lu_frames()
    plots.ill_posedness(path, descent)
    plots.fsmf_gaps(_gap_frame())
    plots.butterfly_errors(*_butterfly_frames())
    assert dict(matplotlib.rcParams) == before
