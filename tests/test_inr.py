"""Tests of sparselab.recovery.inr: pixel grids, Fourier features, image regression splits, sample images."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch

from sparselab.data import RegressionData
from sparselab.recovery import (
    SAMPLE_IMAGES,
    fourier_features,
    fourier_frequencies,
    image_features,
    image_regression,
    pixel_grid,
    reassemble,
    sample_image,
    to_image,
)


def _image(h=5, w=7):
    return np.arange(h * w, dtype=np.float64).reshape(h, w) / (h * w)


def test_pixel_grid_is_row_major_with_corners_at_plus_minus_one():
    g = pixel_grid(3, 4)
    assert g.shape == (12, 2) and g.dtype == torch.float64
    assert g[0].tolist() == [-1.0, -1.0] and g[3].tolist() == [-1.0, 1.0]
    assert g[8].tolist() == [1.0, -1.0] and g[11].tolist() == [1.0, 1.0]
    # row i*W + j is pixel (i, j): rows vary slowest
    assert torch.allclose(
        g[:, 0].reshape(3, 4), torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)[:, None].expand(3, 4)
    )
    assert torch.allclose(g[5], torch.tensor([0.0, -1.0 + 2.0 / 3.0], dtype=torch.float64))
    assert pixel_grid(2, 2, dtype=torch.float32).dtype == torch.float32


def test_fourier_features_hand_computed_two_points():
    B = torch.tensor([[1.0, 0.0], [0.0, 0.5]], dtype=torch.float64)
    x = torch.tensor([[0.0, 0.0], [0.25, 0.5]], dtype=torch.float64)
    f = fourier_features(x, frequencies=B)
    # point 2: <b1, x> = 0.25 -> phase pi/2; <b2, x> = 0.25 -> phase pi/2
    expected = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]], dtype=torch.float64)
    assert f.shape == (2, 4)
    assert torch.allclose(f, expected, atol=1e-15)
    x3 = torch.tensor([[1.0 / 6.0, 1.0]], dtype=torch.float64)  # phases pi/3 and pi
    assert torch.allclose(
        fourier_features(x3, frequencies=B),
        torch.tensor([[0.5, -1.0, math.sqrt(3) / 2, 0.0]], dtype=torch.float64),
        atol=1e-15,
    )


def test_fourier_features_random_frequencies_are_seeded_gaussian():
    B = fourier_frequencies(2, n_frequencies=5, scale=3.0, seed=4)
    g = torch.Generator().manual_seed(4)
    assert torch.equal(B, 3.0 * torch.randn(5, 2, generator=g, dtype=torch.float64))
    x = pixel_grid(4, 4)
    f = fourier_features(x, n_frequencies=5, scale=3.0, seed=4)
    phase = 2 * math.pi * x @ B.T
    assert f.shape == (16, 10)
    assert torch.allclose(f, torch.cat([phase.cos(), phase.sin()], 1))
    assert torch.allclose((f**2).sum(1), torch.full((16,), 5.0, dtype=torch.float64))  # ||gamma(x)||^2 = m
    assert not torch.equal(f, fourier_features(x, n_frequencies=5, scale=3.0, seed=5))
    assert fourier_features(x.float(), n_frequencies=5).dtype == torch.float32
    big = fourier_frequencies(n_frequencies=4000, scale=10.0)
    assert abs(float(big.std()) - 10.0) < 0.5


def test_image_regression_without_holdout_is_all_pixels_in_order():
    image = _image()
    d = image_regression(image, n_frequencies=6, scale=2.0, seed=1)
    assert isinstance(d, RegressionData) and d.kind == "image"
    assert d.X_train.shape == d.X_test.shape == (35, 12) and d.y_train.shape == (35, 1)
    assert torch.equal(d.X_train, d.X_test) and torch.equal(d.y_train, d.y_test)
    assert torch.equal(d.y_train[:, 0], torch.from_numpy(image.reshape(-1)))
    assert torch.equal(d.X_train, image_features(image, n_frequencies=6, scale=2.0, seed=1))
    assert torch.equal(d.X_train, image_features((5, 7), n_frequencies=6, scale=2.0, seed=1))
    assert d.teacher["image_shape"].tolist() == [5, 7]
    assert torch.equal(d.teacher["train_index"], torch.arange(35))
    assert torch.equal(to_image(d.y_train, (5, 7)), torch.from_numpy(image))
    assert torch.equal(reassemble(d.y_test, d), torch.from_numpy(image))
    assert image_regression(image, dtype=torch.float32, n_frequencies=2).X_train.dtype == torch.float32


@pytest.mark.parametrize("holdout,n_test", [(0.25, 9), (0.5, 18), (0.01, 1), (0.999, 34)])
def test_image_regression_holdout_split(holdout, n_test):
    image = _image()
    d = image_regression(image, n_frequencies=4, holdout=holdout, seed=3)
    train, test = d.teacher["train_index"], d.teacher["test_index"]
    assert len(test) == n_test and len(train) == 35 - n_test
    assert len(set(train.tolist()) | set(test.tolist())) == 35  # disjoint and covering
    assert torch.equal(train, train.sort().values) and torch.equal(test, test.sort().values)
    flat = torch.from_numpy(image.reshape(-1))
    assert torch.equal(d.y_test[:, 0], flat[test]) and torch.equal(d.y_train[:, 0], flat[train])
    features = image_features(image, n_frequencies=4, seed=3)
    assert torch.equal(d.X_test, features[test]) and torch.equal(d.X_train, features[train])
    again = image_regression(image, n_frequencies=4, holdout=holdout, seed=3)
    assert torch.equal(again.teacher["test_index"], test)
    picture = reassemble(d.y_test, d, "test")
    assert int(picture.isnan().sum()) == 35 - n_test
    assert torch.equal(picture.reshape(-1)[test], flat[test])
    assert torch.equal(
        reassemble(d.y_train, d, "train", fill=-1.0).reshape(-1)[test], torch.full((n_test,), -1.0, dtype=torch.float64)
    )


def test_image_regression_other_seed_other_split():
    a = image_regression(_image(), n_frequencies=4, holdout=0.3, seed=0)
    b = image_regression(_image(), n_frequencies=4, holdout=0.3, seed=1)
    assert not torch.equal(a.teacher["test_index"], b.teacher["test_index"])


def test_sample_image_range_shape_and_offline(monkeypatch):
    monkeypatch.setitem(sys.modules, "pooch", None)  # importing pooch (the downloader) would fail
    camera = sample_image()
    assert camera.shape == (32, 32) and camera.dtype == np.float64
    assert camera.min() >= 0.0 and camera.max() <= 1.0 and camera.std() > 0.05
    coffee = sample_image("coffee", size=20)  # colour, 400 x 600: grey, centre-cropped
    assert coffee.shape == (20, 20) and 0.0 <= coffee.min() and coffee.max() <= 1.0
    assert "camera" in SAMPLE_IMAGES


@pytest.mark.parametrize(
    "call,error,name",
    [
        (lambda: sample_image("lena"), ValueError, "name"),
        (lambda: sample_image(size=3), ValueError, "size"),
        (lambda: sample_image(size=513), ValueError, "size"),
        (lambda: sample_image(size=8.0), TypeError, "size"),
        (lambda: pixel_grid(1, 4), ValueError, "height"),
        (lambda: pixel_grid(4, 0), ValueError, "width"),
        (lambda: pixel_grid(4, 4, dtype=torch.int64), TypeError, "dtype"),
        (lambda: fourier_features(torch.zeros(3)), ValueError, "coords"),
        (lambda: fourier_features(torch.full((2, 2), float("nan"))), ValueError, "coords"),
        (lambda: fourier_features(torch.zeros(2, 2), n_frequencies=0), ValueError, "n_frequencies"),
        (lambda: fourier_features(torch.zeros(2, 2), scale=0.0), ValueError, "scale"),
        (lambda: fourier_features(torch.zeros(2, 2), seed=-1), ValueError, "seed"),
        (lambda: fourier_features(torch.zeros(2, 2), frequencies=torch.zeros(3, 3)), ValueError, "frequencies"),
        (lambda: image_regression(np.zeros(5)), ValueError, "image"),
        (lambda: image_regression(np.zeros((1, 5))), ValueError, "image"),
        (lambda: image_regression(np.array([[0.0, np.inf], [0, 0]])), ValueError, "image"),
        (lambda: image_regression(_image(), holdout=1.0), ValueError, "holdout"),
        (lambda: image_regression(_image(), holdout=-0.1), ValueError, "holdout"),
        (lambda: image_regression(_image(), n_frequencies=2.5), TypeError, "n_frequencies"),
        (lambda: image_regression(_image(), scale=-1.0), ValueError, "scale"),
        (lambda: image_features((1, 4)), ValueError, "image"),
        (lambda: to_image(torch.zeros(5), (2, 3)), ValueError, "values"),
        (lambda: to_image(torch.zeros(6), (6,)), ValueError, "shape"),
        (
            lambda: reassemble(torch.zeros(4), image_regression(_image(), n_frequencies=2, holdout=0.5), "test"),
            ValueError,
            "values",
        ),
        (lambda: reassemble(torch.zeros(35), image_regression(_image(), n_frequencies=2), "val"), ValueError, "split"),
        (lambda: reassemble(torch.zeros(35), "data"), TypeError, "data"),
    ],
)
def test_validation_names_the_parameter(call, error, name):
    with pytest.raises(error, match=name):
        call()
