"""Tests of sparselab.data: determinism, planted supports, scaling, teachers, validation."""

from __future__ import annotations

import pytest
import torch

from sparselab import RegressionData, make_regression
from sparselab.data import planted_sparse_matrix

TENSORS = ("X_train", "y_train", "X_test", "y_test", "planted_weight", "planted_support")
SMALL = dict(n_train=300, n_test=100, in_features=12, width=10)


@pytest.mark.parametrize("kind", ["linear", "nonlinear"])
def test_same_seed_gives_identical_data(kind):
    a = make_regression(kind, seed=3, out_features=2, **SMALL)
    b = make_regression(kind, seed=3, out_features=2, **SMALL)
    for name in TENSORS:
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert a.teacher.keys() == b.teacher.keys()
    for key in a.teacher:
        assert torch.equal(a.teacher[key], b.teacher[key]), key


@pytest.mark.parametrize("kind", ["linear", "nonlinear"])
def test_other_seed_gives_different_data(kind):
    a = make_regression(kind, seed=3, **SMALL)
    b = make_regression(kind, seed=4, **SMALL)
    for name in ("X_train", "y_train", "X_test", "y_test", "planted_weight"):
        assert not torch.equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("kind,out_features", [("linear", 1), ("linear", 3), ("nonlinear", 1), ("nonlinear", 4)])
def test_shapes_and_dtypes(kind, out_features):
    d = make_regression(kind, out_features=out_features, **SMALL)
    assert d.X_train.shape == (300, 12) and d.X_test.shape == (100, 12)
    assert d.y_train.shape == (300, out_features) and d.y_test.shape == (100, out_features)
    rows = out_features if kind == "linear" else 10
    assert d.planted_weight.shape == d.planted_support.shape == (rows, 12)
    assert d.planted_support.dtype == torch.bool
    assert torch.equal(d.planted_support, d.planted_weight != 0)
    assert d.X_train.dtype == d.y_train.dtype == d.planted_weight.dtype == torch.float32
    assert (d.in_features, d.out_features, d.kind) == (12, out_features, kind)
    d64 = make_regression(kind, out_features=out_features, dtype=torch.float64, **SMALL)
    assert d64.X_train.dtype == d64.y_test.dtype == d64.planted_weight.dtype == torch.float64


@pytest.mark.parametrize("kind", ["linear", "nonlinear"])
@pytest.mark.parametrize("density", [0.05, 0.1, 0.3, 0.5, 1.0])
def test_planted_support_has_exactly_round_density_numel_nonzeros(kind, density):
    d = make_regression(kind, density=density, out_features=3, seed=7, **SMALL)
    numel = d.planted_support.numel()
    assert int(d.planted_support.sum()) == round(density * numel)
    if kind == "nonlinear" and round(density * numel) >= d.planted_support.shape[0]:
        assert bool(d.planted_support.any(dim=1).all())  # every hidden neuron has an input


@pytest.mark.parametrize(
    "rows,cols,density,every_row",
    [(4, 8, 0.25, False), (10, 10, 0.1, True), (10, 10, 0.13, True), (6, 5, 1.0, False), (7, 3, 0.2, True)],
)
def test_planted_sparse_matrix(rows, cols, density, every_row):
    g = torch.Generator().manual_seed(1)
    w = planted_sparse_matrix(rows, cols, density, g, every_row=every_row)
    k = round(density * rows * cols)
    assert w.shape == (rows, cols)
    assert int((w != 0).sum()) == k
    nz = w[w != 0].abs()
    assert bool(((nz >= 0.5) & (nz <= 1.5)).all())  # magnitudes in U(0.5, 1.5)
    if every_row and k >= rows:
        assert bool((w != 0).any(dim=1).all())


def test_planted_sparse_matrix_rejects_too_low_density():
    with pytest.raises(ValueError, match="density"):
        planted_sparse_matrix(3, 3, 0.01, torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    "kind,out_features,seed", [("linear", 1, 0), ("linear", 3, 1), ("nonlinear", 1, 0), ("nonlinear", 3, 2)]
)
def test_clean_targets_have_unit_std(kind, out_features, seed):
    d = make_regression(kind, out_features=out_features, density=0.5, noise=0.0, seed=seed, **SMALL)
    assert torch.allclose(d.y_train.double().std(0), torch.ones(out_features, dtype=torch.float64), atol=1e-5)
    if kind == "nonlinear":  # centred on the training set
        assert torch.allclose(d.y_train.double().mean(0), torch.zeros(out_features, dtype=torch.float64), atol=1e-5)


@pytest.mark.parametrize("seed", range(6))
def test_every_linear_output_has_unit_std_at_low_density(seed):
    # 13 planted connections spread over 4 outputs: every output must still carry signal, else its
    # clean target is constantly 0 and cannot be rescaled to unit standard deviation.
    d = make_regression(
        "linear", in_features=32, out_features=4, density=0.1, noise=0.0, n_train=256, n_test=8, seed=seed
    )
    assert int(d.planted_support.sum()) == 13
    assert torch.allclose(d.y_train.double().std(0), torch.ones(4, dtype=torch.float64), atol=1e-5)


def test_noise_is_a_noise_to_signal_ratio():
    kwargs = dict(kind="linear", n_train=4000, n_test=10, in_features=8, out_features=2, density=0.5, seed=5)
    clean = make_regression(noise=0.0, **kwargs)
    noisy = make_regression(noise=0.5, **kwargs)
    assert torch.equal(clean.X_train, noisy.X_train)
    residual = (noisy.y_train - clean.y_train).double()
    assert torch.allclose(residual.std(0), torch.full((2,), 0.5, dtype=torch.float64), atol=0.03)


@pytest.mark.parametrize("out_features", [1, 4])
def test_linear_target_is_planted_matrix_times_x(out_features):
    d = make_regression("linear", out_features=out_features, density=0.5, noise=0.0, seed=11, **SMALL)
    assert torch.allclose(d.y_train, d.X_train @ d.planted_weight.T, rtol=1e-5, atol=1e-5)
    assert torch.allclose(d.y_test, d.X_test @ d.planted_weight.T, rtol=1e-5, atol=1e-5)
    assert torch.equal(d.teacher["weight"], d.planted_weight)


def test_nonlinear_target_is_the_planted_network():
    d = make_regression("nonlinear", out_features=2, density=0.3, noise=0.0, seed=4, dtype=torch.float64, **SMALL)
    U, V, c = d.teacher["weight"], d.teacher["readout"], d.teacher["offset"]
    assert torch.equal(U, d.planted_weight)
    assert V.shape == (2, 10) and c.shape == (2,)
    for X, y in ((d.X_train, d.y_train), (d.X_test, d.y_test)):
        assert torch.allclose(y, torch.relu(X @ U.T) @ V.T + c, rtol=1e-10, atol=1e-10)


def test_inputs_are_standard_gaussian():
    d = make_regression("linear", n_train=20000, n_test=10, in_features=4, density=0.5, seed=0)
    assert torch.allclose(d.X_train.mean(0), torch.zeros(4), atol=0.05)
    assert torch.allclose(d.X_train.std(0), torch.ones(4), atol=0.05)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"kind": "quadratic"}, "kind"),
        ({"n_train": 0}, "n_train"),
        ({"n_test": 0}, "n_test"),
        ({"n_train": 10.5}, "n_train"),
        ({"in_features": 0}, "in_features"),
        ({"out_features": 0}, "out_features"),
        ({"width": 0}, "width"),
        ({"density": 0.0}, "density"),
        ({"density": 1.5}, "density"),
        ({"density": "0.1"}, "density"),
        ({"density": 0.1}, "density"),  # round(0.1 * 4 * 1) = 0 connections: an error naming density
        ({"noise": -0.1}, "noise"),
        ({"noise": float("nan")}, "noise"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.0}, "seed"),
    ],
)
def test_bad_arguments_raise_naming_the_parameter(kwargs, name):
    args = {"kind": "linear", "n_train": 20, "n_test": 5, "in_features": 4, "out_features": 1, "width": 4}
    args.update(kwargs)
    kind = args.pop("kind")
    with pytest.raises((TypeError, ValueError), match=name):
        make_regression(kind, **args)


def _tensors(n_train=10, n_test=4, d=3):
    g = torch.Generator().manual_seed(0)
    return (
        torch.randn(n_train, d, generator=g),
        torch.randn(n_train, generator=g),
        torch.randn(n_test, d, generator=g),
        torch.randn(n_test, generator=g),
    )


def test_regression_data_reshapes_1d_targets():
    data = RegressionData(*_tensors())
    assert data.y_train.shape == (10, 1) and data.y_test.shape == (4, 1)
    assert (data.in_features, data.out_features, data.kind) == (3, 1, "custom")
    assert data.planted_support is None


@pytest.mark.parametrize("index,name", [(0, "X_train"), (1, "y_train"), (2, "X_test"), (3, "y_test")])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_regression_data_rejects_non_finite_values(index, name, bad):
    tensors = list(_tensors())
    tensors[index] = tensors[index].clone()
    tensors[index].view(-1)[1] = bad
    with pytest.raises(ValueError, match=name):
        RegressionData(*tensors)


def test_regression_data_rejects_mismatched_lengths():
    X_train, y_train, X_test, y_test = _tensors()
    with pytest.raises(ValueError, match="length"):
        RegressionData(X_train, y_train[:-1], X_test, y_test)
    with pytest.raises(ValueError, match="length"):
        RegressionData(X_train, y_train, X_test[:-1], y_test)


def test_regression_data_rejects_mismatched_features():
    X_train, y_train, X_test, y_test = _tensors()
    with pytest.raises(ValueError, match="features"):
        RegressionData(X_train, y_train, X_test[:, :2], y_test)
    with pytest.raises(ValueError, match="2-D"):
        RegressionData(X_train[:, 0], y_train, X_test, y_test)


def test_regression_data_rejects_non_tensors():
    X_train, y_train, X_test, y_test = _tensors()
    with pytest.raises(TypeError, match="X_train"):
        RegressionData(X_train.numpy(), y_train, X_test, y_test)


def test_regression_data_to_copies_every_tensor():
    d = make_regression("nonlinear", seed=1, **SMALL)
    moved = d.to("cpu")
    assert moved is not d
    for name in TENSORS:
        assert torch.equal(getattr(moved, name), getattr(d, name))
    assert moved.teacher.keys() == d.teacher.keys()


# ---------------------------------------------------------------------------------------------- classification
import dataclasses  # noqa: E402

from sparselab.data import ClassificationData, load_digits  # noqa: E402


def test_task_is_a_class_constant_not_a_field():
    assert RegressionData.task == "regression" and ClassificationData.task == "classification"
    assert "task" not in {f.name for f in dataclasses.fields(RegressionData)}
    assert "task" not in {f.name for f in dataclasses.fields(ClassificationData)}
    d = make_regression("linear", **SMALL)
    assert d.task == "regression" and d.to("cpu").task == "regression"
    assert dataclasses.replace(d, kind="other").task == "regression"


def _class_tensors(n_train=10, n_test=4, d=3, n_classes=3):
    g = torch.Generator().manual_seed(0)
    return dict(
        X_train=torch.rand(n_train, d, generator=g),
        y_train=torch.arange(n_train) % n_classes,
        X_test=torch.rand(n_test, d, generator=g),
        y_test=torch.arange(n_test) % n_classes,
        n_classes=n_classes,
    )


def test_classification_data_properties_and_to():
    data = ClassificationData(**_class_tensors())
    assert (data.task, data.name, data.n_classes, data.in_features, data.out_features) == (
        "classification",
        "custom",
        3,
        3,
        3,
    )
    assert data.input_shape == (3,)
    moved = data.to("cpu")
    assert moved is not data and moved.task == "classification" and moved.n_classes == 3
    for name in ("X_train", "y_train", "X_test", "y_test"):
        assert torch.equal(getattr(moved, name), getattr(data, name))
    images = ClassificationData(
        torch.rand(5, 1, 8, 8),
        torch.zeros(5, dtype=torch.int64),
        torch.rand(2, 1, 8, 8),
        torch.ones(2, dtype=torch.int64),
        n_classes=2,
        name="img",
    )
    assert (images.in_features, images.input_shape, images.name) == (64, (1, 8, 8), "img")


def test_classification_data_converts_integer_labels_to_int64():
    t = _class_tensors()
    t["y_train"], t["y_test"] = t["y_train"].to(torch.int32), t["y_test"].to(torch.uint8)
    data = ClassificationData(**t)
    assert data.y_train.dtype == data.y_test.dtype == torch.int64
    assert data.y_train.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]


def _nan_at_1(x):
    x = x.clone()
    x.view(-1)[1] = float("nan")
    return x


@pytest.mark.parametrize(
    "change,error,name",
    [
        (lambda t: t.update(n_classes=1), ValueError, "n_classes"),
        (lambda t: t.update(n_classes=2.0), TypeError, "n_classes"),
        (lambda t: t.update(y_train=t["y_train"].float()), TypeError, "y_train"),
        (lambda t: t.update(y_test=t["y_test"] > 0), TypeError, "y_test"),
        (lambda t: t.update(y_test=t["y_test"] + 1), ValueError, "y_test"),
        (lambda t: t.update(y_train=t["y_train"] - 1), ValueError, "y_train"),
        (lambda t: t.update(y_train=t["y_train"][:, None]), ValueError, "y_train"),
        (lambda t: t.update(X_train=(t["X_train"] * 10).long()), TypeError, "X_train"),
        (lambda t: t.update(X_test=_nan_at_1(t["X_test"])), ValueError, "X_test"),
        (lambda t: t.update(X_train=t["X_train"][:, 0]), ValueError, "X_train"),
        (lambda t: t.update(X_test=t["X_test"][:, :2]), ValueError, "features"),
        (lambda t: t.update(y_train=t["y_train"][:-1]), ValueError, "length"),
        (lambda t: t.update(X_test=t["X_test"][:-1]), ValueError, "length"),
        (lambda t: t.update(y_test=t["y_test"][:0]), ValueError, "length"),
        (lambda t: t.update(X_train=t["X_train"].numpy()), TypeError, "X_train"),
        (lambda t: t.update(name=3), TypeError, "name"),
    ],
)
def test_classification_data_validation_names_the_parameter(change, error, name):
    t = _class_tensors()
    change(t)
    with pytest.raises(error, match=name):
        ClassificationData(**t)


def test_load_digits_shapes_scaling_and_labels():
    d = load_digits()
    assert (d.name, d.task, d.n_classes, d.in_features) == ("digits", "classification", 10, 64)
    assert len(d.X_train) + len(d.X_test) == 1797
    assert d.X_test.shape == (450, 64) and d.X_train.shape == (1347, 64)  # ceil(0.25 * 1797) = 450
    assert d.X_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert float(d.X_train.min()) == 0.0 and float(d.X_train.max()) == 1.0
    assert bool(((d.X_train * 16) == (d.X_train * 16).round()).all())  # integer intensities / 16
    assert set(d.y_train.tolist()) == set(d.y_test.tolist()) == set(range(10))


@pytest.mark.parametrize("test_fraction,seed", [(0.25, 0), (0.2, 3), (0.5, 7)])
def test_load_digits_split_is_stratified(test_fraction, seed):
    d = load_digits(test_fraction=test_fraction, seed=seed)
    n_test = len(d.y_test)
    total = torch.bincount(torch.cat([d.y_train, d.y_test]), minlength=10)
    assert int(total.sum()) == 1797
    expected = total.double() * n_test / 1797
    test_counts = torch.bincount(d.y_test, minlength=10).double()
    assert bool(((test_counts - expected).abs() <= 1).all()), (test_counts, expected)
    train_counts = torch.bincount(d.y_train, minlength=10).double()
    assert bool(((train_counts - (total - expected)).abs() <= 1).all())


def test_load_digits_same_seed_same_split_other_seed_other_split():
    a, b, c = load_digits(seed=5), load_digits(seed=5), load_digits(seed=6)
    for name in ("X_train", "y_train", "X_test", "y_test"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.X_train, c.X_train)


def test_load_digits_image_is_the_same_data_reshaped():
    flat, image = load_digits(seed=2), load_digits(seed=2, image=True)
    assert image.X_train.shape == (1347, 1, 8, 8) and image.X_test.shape == (450, 1, 8, 8)
    assert (image.in_features, image.input_shape) == (64, (1, 8, 8))
    assert torch.equal(image.X_train.reshape(-1, 64), flat.X_train)
    assert torch.equal(image.y_test, flat.y_test)


def test_load_digits_class_subset_is_relabelled():
    d = load_digits(classes=(0, 1))
    n = len(d.y_train) + len(d.y_test)
    assert n == 178 + 182  # the zeros and ones of the data set
    assert (d.n_classes, d.name) == (2, "digits[0,1]")
    assert set(d.y_train.tolist()) == set(d.y_test.tolist()) == {0, 1}
    full = load_digits()
    X_all = torch.cat([full.X_train, full.X_test])
    y_all = torch.cat([full.y_train, full.y_test])
    # digit 7 -> label 0, digit 3 -> label 1 (the given order)
    sub = load_digits(classes=(7, 3), image=True)
    assert int((torch.cat([sub.y_train, sub.y_test]) == 0).sum()) == int((y_all == 7).sum())
    sevens = X_all[y_all == 7]
    first = sub.X_train[sub.y_train == 0][0].reshape(64)
    assert bool((sevens == first).all(dim=1).any())


@pytest.mark.parametrize(
    "kwargs,error,name",
    [
        ({"test_fraction": 0.0}, ValueError, "test_fraction"),
        ({"test_fraction": 1.0}, ValueError, "test_fraction"),
        ({"test_fraction": 1.5}, ValueError, "test_fraction"),
        ({"test_fraction": "0.2"}, TypeError, "test_fraction"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 1.5}, TypeError, "seed"),
        ({"image": 1}, TypeError, "image"),
        ({"classes": (1,)}, ValueError, "classes"),
        ({"classes": (1, 1)}, ValueError, "classes"),
        ({"classes": (0, 10)}, ValueError, "classes"),
        ({"classes": (0, 1.0)}, ValueError, "classes"),
        ({"classes": "01"}, TypeError, "classes"),
        ({"classes": 3}, TypeError, "classes"),
    ],
)
def test_load_digits_validation_names_the_parameter(kwargs, error, name):
    with pytest.raises(error, match=name):
        load_digits(**kwargs)


# --- load_mnist: a tiny IDX set / .npz written to tmp_path (nothing is downloaded) ---------------------

import gzip  # noqa: E402
import struct  # noqa: E402

import numpy as np  # noqa: E402

from sparselab.mnist import MNIST_FILES, load_mnist  # noqa: E402

TRAIN_LABELS = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 0], dtype=np.uint8)
TEST_LABELS = np.array([3, 1, 0, 7, 1, 9], dtype=np.uint8)


def _mnist_images(n, offset):
    rng = np.random.default_rng(offset)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = 0
    images[:, 0, 1] = 255
    images[:, 27, 27] = np.arange(n) + offset  # tells the examples apart
    return images


TRAIN_IMAGES, TEST_IMAGES = _mnist_images(12, 0), _mnist_images(6, 100)


def _idx_bytes(array, magic):
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _write_mnist(directory, gz=(), raw=None):
    """The four IDX files in ``directory``; those named in ``gz`` gzipped; ``raw`` overrides a file's bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    contents = {
        MNIST_FILES["train_images"]: _idx_bytes(TRAIN_IMAGES, 0x803),
        MNIST_FILES["train_labels"]: _idx_bytes(TRAIN_LABELS, 0x801),
        MNIST_FILES["test_images"]: _idx_bytes(TEST_IMAGES, 0x803),
        MNIST_FILES["test_labels"]: _idx_bytes(TEST_LABELS, 0x801),
    }
    contents.update(raw or {})
    for name, payload in contents.items():
        if name in gz:
            with gzip.open(directory / (name + ".gz"), "wb") as fh:
                fh.write(payload)
        else:
            (directory / name).write_bytes(payload)
    return directory


def _write_npz(path, **override):
    arrays = dict(x_train=TRAIN_IMAGES, y_train=TRAIN_LABELS, x_test=TEST_IMAGES, y_test=TEST_LABELS)
    arrays.update(override)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@pytest.mark.parametrize("layout", ["plain", "gz", "mixed", "npz"])
def test_load_mnist_round_trips_pixels_and_labels(tmp_path, layout):
    if layout == "npz":
        path = _write_npz(tmp_path / "mnist.npz")
    else:
        gz = {
            "plain": (),
            "gz": tuple(MNIST_FILES.values()),
            "mixed": (MNIST_FILES["train_images"], MNIST_FILES["test_labels"]),
        }[layout]
        path = _write_mnist(tmp_path / "mnist", gz=gz)
    d = load_mnist(path)
    assert (d.name, d.n_classes, d.task, d.in_features) == ("mnist", 10, "classification", 784)
    assert d.X_train.shape == (12, 784) and d.X_test.shape == (6, 784)
    assert d.X_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    expected = torch.from_numpy(TRAIN_IMAGES.reshape(12, 784).astype(np.float32) / np.float32(255))
    assert torch.equal(d.X_train, expected)
    assert torch.equal(d.X_test, torch.from_numpy(TEST_IMAGES.reshape(6, 784).astype(np.float32) / np.float32(255)))
    assert float(d.X_train[0, 0]) == 0.0 and float(d.X_train[0, 1]) == 1.0
    assert d.y_train.tolist() == TRAIN_LABELS.tolist() and d.y_test.tolist() == TEST_LABELS.tolist()
    images = load_mnist(path, flatten=False)
    assert images.X_train.shape == (12, 1, 28, 28) and images.input_shape == (1, 28, 28)
    assert torch.equal(images.X_train.reshape(12, 784), d.X_train)
    assert load_mnist(str(path)).y_test.tolist() == TEST_LABELS.tolist()  # str paths too


def test_load_mnist_plain_file_wins_over_gz(tmp_path):
    path = _write_mnist(tmp_path, gz=tuple(MNIST_FILES.values()))
    (tmp_path / MNIST_FILES["test_labels"]).write_bytes(_idx_bytes(np.zeros(6, dtype=np.uint8), 0x801))
    assert load_mnist(path).y_test.tolist() == [0] * 6


def test_load_mnist_classes_are_filtered_and_relabelled_in_order(tmp_path):
    path = _write_mnist(tmp_path)
    d = load_mnist(path, classes=(1, 0))
    assert (d.n_classes, d.name) == (2, "mnist[1,0]")
    keep_train = [i for i, y in enumerate(TRAIN_LABELS) if y in (0, 1)]  # 0, 1, 10, 11
    assert d.y_train.tolist() == [1, 0, 0, 1]  # digit 1 -> label 0, digit 0 -> label 1
    assert torch.equal(d.X_train, torch.from_numpy(TRAIN_IMAGES[keep_train].reshape(4, 784) / np.float32(255)))
    assert d.y_test.tolist() == [0, 1, 0]  # test digits 1, 0, 1
    d3 = load_mnist(path, classes=[7, 3, 9], limit_train=2, limit_test=2)
    assert d3.y_train.tolist() == [1, 0]  # digits 3 then 7 in file order -> labels 1, 0
    assert d3.y_test.tolist() == [1, 0]  # test digits 3, 7 (9 is past the limit)


def test_load_mnist_limits_take_the_first_examples(tmp_path):
    path = _write_npz(tmp_path / "m.npz")
    d = load_mnist(path, limit_train=5, limit_test=2)
    assert d.X_train.shape == (5, 784) and d.X_test.shape == (2, 784)
    assert d.y_train.tolist() == TRAIN_LABELS[:5].tolist() and d.y_test.tolist() == TEST_LABELS[:2].tolist()
    assert float(d.X_train[4, -1]) * 255 == pytest.approx(4.0)  # the fifth example
    assert len(load_mnist(path, limit_train=100).y_train) == 12  # at most the available examples


def test_load_mnist_npz_float_pixels_are_kept(tmp_path):
    x = TRAIN_IMAGES.astype(np.float64) / 255
    d = load_mnist(_write_npz(tmp_path / "f.npz", x_train=x, x_test=TEST_IMAGES.astype(np.float32) / 255))
    assert torch.equal(d.X_train, torch.from_numpy(x.astype(np.float32).reshape(12, 784)))


def test_load_mnist_bad_magic_names_the_file(tmp_path):
    bad = _idx_bytes(TRAIN_LABELS, 0x803)  # labels with the image magic number
    path = _write_mnist(tmp_path, raw={MNIST_FILES["train_labels"]: bad})
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*magic.*0x00000803.*0x00000801"):
        load_mnist(path)
    path = _write_mnist(
        tmp_path / "b",
        gz=(MNIST_FILES["test_images"],),
        raw={MNIST_FILES["test_images"]: _idx_bytes(TEST_IMAGES, 0x801)},
    )
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz.*magic"):
        load_mnist(path)


@pytest.mark.parametrize("cut", [1, 28 * 28 + 5, 13])
def test_load_mnist_truncated_file_names_the_file(tmp_path, cut):
    payload = _idx_bytes(TEST_IMAGES, 0x803)[:-cut]
    path = _write_mnist(tmp_path, raw={MNIST_FILES["test_images"]: payload})
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte"):
        load_mnist(path)


def test_load_mnist_truncated_gzip_and_extra_bytes(tmp_path):
    path = _write_mnist(tmp_path, gz=(MNIST_FILES["train_images"],))
    gz = tmp_path / (MNIST_FILES["train_images"] + ".gz")
    gz.write_bytes(gz.read_bytes()[:-40])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz"):
        load_mnist(path)
    path = _write_mnist(tmp_path / "x", raw={MNIST_FILES["train_labels"]: _idx_bytes(TRAIN_LABELS, 0x801) + b"\0"})
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.*12 bytes.*13"):
        load_mnist(path)


def test_load_mnist_mismatched_counts(tmp_path):
    path = _write_mnist(tmp_path, raw={MNIST_FILES["train_labels"]: _idx_bytes(TRAIN_LABELS[:11], 0x801)})
    with pytest.raises(ValueError, match="12 images.*11 labels"):
        load_mnist(path)


def test_load_mnist_missing_files_are_named(tmp_path):
    path = _write_mnist(tmp_path)
    (tmp_path / MNIST_FILES["test_labels"]).unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_mnist(path)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path / "empty")  # does not exist
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.*train-labels-idx1-ubyte"):
        load_mnist(tmp_path / "empty")


@pytest.mark.parametrize(
    "override,match",
    [
        ({"y_test": None}, "y_test"),
        ({"x_train": TRAIN_IMAGES.reshape(12, 784)}, "x_train"),
        ({"y_train": TRAIN_LABELS.astype(np.float32)}, "y_train"),
        ({"y_train": TRAIN_LABELS + 1}, "y_train"),
        ({"x_test": TEST_IMAGES.astype(np.float32)}, "x_test"),  # floats must be in [0, 1]
        ({"x_test": TEST_IMAGES[:, :20]}, "differ in size"),
    ],
)
def test_load_mnist_bad_npz_names_the_array(tmp_path, override, match):
    path = _write_npz(tmp_path / "bad.npz", **override)
    with pytest.raises((ValueError, TypeError), match=match):
        load_mnist(path)


@pytest.mark.parametrize(
    "kwargs,error,name",
    [
        ({"path": 3}, TypeError, "path"),
        ({"path": "data.csv"}, FileNotFoundError, "data.csv"),
        ({"classes": (1,)}, ValueError, "classes"),
        ({"classes": (0, 10)}, ValueError, "classes"),
        ({"classes": "01"}, TypeError, "classes"),
        ({"limit_train": 0}, ValueError, "limit_train"),
        ({"limit_test": 2.0}, TypeError, "limit_test"),
        ({"flatten": 1}, TypeError, "flatten"),
    ],
)
def test_load_mnist_validation_names_the_parameter(tmp_path, kwargs, error, name):
    kwargs.setdefault("path", _write_mnist(tmp_path))
    with pytest.raises(error, match=name):
        load_mnist(**kwargs)


def test_load_mnist_rejects_a_file_that_is_not_npz(tmp_path):
    (tmp_path / "mnist.csv").write_text("1,2,3")
    with pytest.raises(ValueError, match="path.*mnist.csv"):
        load_mnist(tmp_path / "mnist.csv")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="broken.npz"):
        load_mnist(tmp_path / "broken.npz")
