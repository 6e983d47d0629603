r"""Implicit neural representations: an image as a regression problem on pixel coordinates.

An implicit neural representation (INR) fits a network :math:`f_\theta` that maps the
coordinates of a pixel to its intensity, :math:`f_\theta(x_i) \approx I_i`, so that the
image is stored in the weights. Plain coordinates make a ReLU network learn only the
low frequencies of the image (spectral bias); Tancik et al. (2020, "Fourier Features
Let Networks Learn High Frequency Functions in Low Dimensional Domains") lift them
first with Gaussian random Fourier features

.. math::

    \gamma(x) = \bigl[\cos(2\pi B x),\; \sin(2\pi B x)\bigr] \in \mathbb R^{2m},
    \qquad B \in \mathbb R^{m \times 2},\quad B_{kl} \sim \mathcal N(0, \sigma^2),

where the scale :math:`\sigma` sets the bandwidth the network can fit.

* :func:`sample_image` -- a grey-scale test image that ships inside scikit-image
  (nothing is downloaded), square and downsampled with anti-aliasing;
* :func:`pixel_grid` -- the pixel coordinates in :math:`[-1, 1]^2`, row-major;
* :func:`fourier_frequencies`, :func:`fourier_features` -- :math:`B` and :math:`\gamma`;
* :func:`image_regression` -- the whole image as a :class:`~sparselab.data.RegressionData`
  (features :math:`\gamma(x_i)`, targets :math:`I_i`), optionally holding out a random
  fraction of the pixels to measure interpolation;
* :func:`image_features`, :func:`to_image`, :func:`reassemble` -- features of every
  pixel in order and the way back from a vector of per-pixel values to an image.
"""

from __future__ import annotations

import math
import numbers

import torch

from sparselab._validation import check_choice, check_finite, check_float, check_float_dtype, check_int
from sparselab.data import RegressionData

SAMPLE_IMAGES = (
    "camera",
    "astronaut",
    "cat",
    "coffee",
    "coins",
    "moon",
    "brick",
    "grass",
    "gravel",
    "text",
    "rocket",
    "clock",
    "checkerboard",
    "shepp_logan_phantom",
)
"""Names accepted by :func:`sample_image`: scikit-image sample images bundled in its wheel (no download)."""

__all__ = [
    "SAMPLE_IMAGES",
    "sample_image",
    "pixel_grid",
    "fourier_frequencies",
    "fourier_features",
    "image_features",
    "image_regression",
    "to_image",
    "reassemble",
]


def sample_image(name: str = "camera", size: int = 32):
    r"""A grey-scale scikit-image sample image, square, downsampled to ``size x size``.

    The images are files inside the scikit-image wheel (``skimage.data.camera()`` and
    friends), so nothing is downloaded. Colour images become grey by the luminance
    :math:`Y = 0.2125 R + 0.7154 G + 0.0721 B` (:func:`skimage.color.rgb2gray`);
    intensities are scaled to :math:`[0, 1]` (``uint8`` :math:`p \mapsto p / 255`). A
    non-square image is cropped to its central square, then resized with
    :func:`skimage.transform.resize` (bilinear, ``anti_aliasing=True``: a Gaussian
    blur of standard deviation :math:`(s - 1)/2` for a downscale factor :math:`s`
    before resampling, so that frequencies above the new Nyquist limit do not alias).
    A ``size`` above the cropped side (512 for ``"camera"``) interpolates instead.

    Parameters
    ----------
    name : str
        One of :data:`SAMPLE_IMAGES`.
    size : int
        Side of the result in pixels, in :math:`[4, 512]`.

    Returns
    -------
    numpy.ndarray
        ``(size, size)`` ``float64`` array with values in :math:`[0, 1]`.
    """
    check_choice(name, "name", SAMPLE_IMAGES)
    size = check_int(size, "size", low=4, high=512)

    import numpy as np
    from skimage import color, data, transform
    from skimage.util import img_as_float

    image = np.asarray(getattr(data, name)())
    if image.ndim == 3:
        image = color.rgb2gray(image[..., :3])
    image = img_as_float(image).astype(np.float64)
    h, w = image.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    image = image[top : top + side, left : left + side]
    image = transform.resize(image, (size, size), order=1, mode="reflect", anti_aliasing=True, preserve_range=True)
    return np.clip(image, 0.0, 1.0)


def pixel_grid(height: int, width: int, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    r"""Coordinates of the pixel centres of an ``height x width`` image, in :math:`[-1, 1]^2`.

    Pixel :math:`(i, j)` (row :math:`i`, column :math:`j`) sits at

    .. math::

        x_{ij} = \Bigl(-1 + \frac{2i}{H - 1},\; -1 + \frac{2j}{W - 1}\Bigr),

    so the four corner pixels are at :math:`(\pm 1, \pm 1)`. Rows are listed in row-major
    order, the order of ``image.reshape(-1)``: row :math:`iW + j` is pixel :math:`(i, j)`.
    Column 0 is the vertical (row) coordinate, column 1 the horizontal one.

    Parameters
    ----------
    height, width : int
        Image size :math:`H, W \ge 2`.
    dtype : torch.dtype
        Floating-point dtype of the result.

    Returns
    -------
    torch.Tensor
        ``(H W, 2)`` coordinates.
    """
    height = check_int(height, "height", low=2)
    width = check_int(width, "width", low=2)
    check_float_dtype(dtype)
    rows = torch.linspace(-1.0, 1.0, height, dtype=torch.float64)
    cols = torch.linspace(-1.0, 1.0, width, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(rows, cols, indexing="ij"), dim=-1)
    return grid.reshape(height * width, 2).to(dtype)


def fourier_frequencies(
    in_features: int = 2, *, n_frequencies: int = 64, scale: float = 10.0, seed: int = 0
) -> torch.Tensor:
    r"""The Gaussian frequency matrix :math:`B \in \mathbb R^{m \times d}`, :math:`B_{kl} \sim \mathcal N(0, \sigma^2)`.

    Drawn as ``scale * torch.randn((n_frequencies, in_features), dtype=float64)`` from a
    ``torch.Generator`` seeded with ``seed``: the same arguments give the same matrix,
    which is what :func:`fourier_features` and :func:`image_regression` use.

    Parameters
    ----------
    in_features : int
        Coordinate dimension :math:`d \ge 1` (2 for an image).
    n_frequencies : int
        Number of frequencies :math:`m \ge 1`.
    scale : float
        Standard deviation :math:`\sigma > 0`, in cycles per unit of the coordinates.
    seed : int
        Seed in :math:`[0, 2^{63} - 1]`.

    Returns
    -------
    torch.Tensor
        ``(n_frequencies, in_features)`` ``float64``.
    """
    in_features = check_int(in_features, "in_features", low=1)
    n_frequencies = check_int(n_frequencies, "n_frequencies", low=1)
    scale = check_float(scale, "scale", low=0.0, low_inclusive=False)
    seed = check_int(seed, "seed", low=0, high=2**63 - 1)
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n_frequencies, in_features, generator=g, dtype=torch.float64)


def fourier_features(
    coords, *, n_frequencies: int = 64, scale: float = 10.0, seed: int = 0, frequencies: torch.Tensor | None = None
) -> torch.Tensor:
    r"""Gaussian random Fourier features :math:`\gamma(x) = [\cos(2\pi x B^\top), \sin(2\pi x B^\top)]`.

    For coordinates :math:`X \in \mathbb R^{N \times d}` (one point a row) and
    :math:`B \in \mathbb R^{m \times d}` from :func:`fourier_frequencies`, the result is
    the :math:`N \times 2m` matrix whose row :math:`i` is

    .. math::

        \bigl(\cos 2\pi\langle b_1, x_i\rangle, \dots, \cos 2\pi\langle b_m, x_i\rangle,\;
              \sin 2\pi\langle b_1, x_i\rangle, \dots, \sin 2\pi\langle b_m, x_i\rangle\bigr),

    all cosines first, then all sines (Tancik et al. 2020). Each row has squared norm
    :math:`m`. The projection is computed in ``float64`` and the result cast to the
    dtype of ``coords``.

    Parameters
    ----------
    coords : torch.Tensor or array-like
        ``(N, d)`` finite floating-point coordinates (e.g. :func:`pixel_grid`).
    n_frequencies, scale, seed
        Passed to :func:`fourier_frequencies` (ignored when ``frequencies`` is given).
    frequencies : torch.Tensor, optional
        A given :math:`B` of shape ``(m, d)`` instead of a random one.

    Returns
    -------
    torch.Tensor
        ``(N, 2 m)`` features.
    """
    coords = _as_float_tensor(coords, "coords")
    if coords.ndim != 2 or coords.shape[1] < 1:
        raise ValueError(f"coords must be 2-D (points, dimensions), got shape {tuple(coords.shape)}")
    if frequencies is None:
        B = fourier_frequencies(coords.shape[1], n_frequencies=n_frequencies, scale=scale, seed=seed)
    else:
        B = _as_float_tensor(frequencies, "frequencies").to(torch.float64)
        if B.ndim != 2 or B.shape[0] < 1 or B.shape[1] != coords.shape[1]:
            raise ValueError(
                f"frequencies must have shape (n_frequencies, {coords.shape[1]}) to match coords, got {tuple(B.shape)}"
            )
    phase = 2.0 * math.pi * (coords.to(torch.float64) @ B.to(coords.device).T)
    return torch.cat([torch.cos(phase), torch.sin(phase)], dim=1).to(coords.dtype)


def image_features(
    image, *, n_frequencies: int = 64, scale: float = 10.0, seed: int = 0, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    r"""Fourier features of every pixel of an image, in row-major order.

    ``fourier_features(pixel_grid(H, W), ...)``: row :math:`iW + j` belongs to pixel
    :math:`(i, j)`, so a model's outputs on these rows reshape to the image
    (:func:`to_image`). With the same ``n_frequencies``, ``scale`` and ``seed`` these
    are the rows of :func:`image_regression`'s inputs (all pixels, in order).

    Parameters
    ----------
    image : array-like or tuple of int
        A 2-D image (only its shape is used) or its shape ``(H, W)``, :math:`H, W \ge 2`.
    n_frequencies, scale, seed
        As in :func:`fourier_frequencies`.
    dtype : torch.dtype
        Floating-point dtype of the result.

    Returns
    -------
    torch.Tensor
        ``(H W, 2 n_frequencies)`` features.
    """
    height, width = _image_shape(image)
    check_float_dtype(dtype)
    coords = pixel_grid(height, width)
    return fourier_features(coords, n_frequencies=n_frequencies, scale=scale, seed=seed).to(dtype)


def image_regression(
    image,
    *,
    n_frequencies: int = 64,
    scale: float = 10.0,
    holdout: float = 0.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> RegressionData:
    r"""An image as a regression problem: Fourier features of pixel coordinates :math:`\to` intensity.

    Pixel :math:`(i, j)` gives the example :math:`(\gamma(x_{ij}), I_{ij})` with
    :math:`x_{ij}` from :func:`pixel_grid` and :math:`\gamma` from
    :func:`fourier_features` (:math:`B` drawn from ``seed``). With ``holdout = 0`` the
    task is memorisation: train and test sets are both all :math:`N = HW` pixels in
    row-major order. With ``holdout`` :math:`= h \in (0, 1)` the task is interpolation:
    :math:`n_\text{test} = \operatorname{round}(hN)` pixels (clamped to
    :math:`[1, N - 1]`), chosen uniformly at random, form the test set and the rest the
    training set, each kept in row-major order. The choice uses the same seeded
    generator, after :math:`B`; the same arguments give the same split.

    Parameters
    ----------
    image : numpy.ndarray or torch.Tensor
        ``(H, W)`` finite grey-scale intensities, :math:`H, W \ge 2` (e.g. :func:`sample_image`).
    n_frequencies, scale : int, float
        Number :math:`m` and scale :math:`\sigma` of the Fourier features.
    holdout : float
        Fraction of pixels held out for testing, in :math:`[0, 1)`.
    seed : int
        Seed of :math:`B` and of the split.
    dtype : torch.dtype
        Floating-point dtype of inputs and targets.

    Returns
    -------
    RegressionData
        ``X_*`` of shape ``(n, 2m)``, ``y_*`` of shape ``(n, 1)``, ``kind="image"``;
        ``teacher`` holds ``"image_shape"`` (``tensor([H, W])``), ``"train_index"`` and
        ``"test_index"`` (``int64`` row-major pixel indices of the two splits) and
        ``"frequencies"`` (:math:`B`), for :func:`reassemble`.
    """
    target = _as_float_tensor(image, "image")
    if target.ndim != 2 or min(target.shape) < 2:
        raise ValueError(f"image must be 2-D (height, width) with both sides >= 2, got shape {tuple(target.shape)}")
    holdout = check_float(holdout, "holdout", low=0.0, high=1.0, high_inclusive=False)
    n_frequencies = check_int(n_frequencies, "n_frequencies", low=1)
    scale = check_float(scale, "scale", low=0.0, low_inclusive=False)
    seed = check_int(seed, "seed", low=0, high=2**63 - 1)
    check_float_dtype(dtype)

    height, width = target.shape
    n = height * width
    g = torch.Generator().manual_seed(seed)
    B = scale * torch.randn(n_frequencies, 2, generator=g, dtype=torch.float64)  # == fourier_frequencies(2, ...)
    X = fourier_features(pixel_grid(height, width), frequencies=B).to(dtype)
    y = target.detach().cpu().to(torch.float64).reshape(n, 1).to(dtype)
    if holdout == 0.0:
        train_index = test_index = torch.arange(n)
    else:
        n_test = min(max(round(holdout * n), 1), n - 1)
        order = torch.randperm(n, generator=g)
        test_index = order[:n_test].sort().values
        train_index = order[n_test:].sort().values
    teacher = {
        "image_shape": torch.tensor([height, width]),
        "train_index": train_index,
        "test_index": test_index,
        "frequencies": B,
    }
    return RegressionData(
        X_train=X[train_index],
        y_train=y[train_index],
        X_test=X[test_index],
        y_test=y[test_index],
        kind="image",
        teacher=teacher,
    )


def to_image(values, shape) -> torch.Tensor:
    r"""Per-pixel values in row-major order, reshaped to an ``(H, W)`` image.

    Parameters
    ----------
    values : torch.Tensor or array-like
        :math:`HW` values, of shape ``(H W,)`` or ``(H W, 1)`` (e.g. a model's outputs
        on :func:`image_features`).
    shape : tuple of int
        ``(H, W)``.

    Returns
    -------
    torch.Tensor
        ``(H, W)``.
    """
    height, width = _image_shape(shape, "shape")
    values = _as_float_tensor(values, "values")
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or values.numel() != height * width:
        raise ValueError(
            f"values must hold H*W = {height * width} values of shape ({height * width},) or "
            f"({height * width}, 1), got shape {tuple(values.shape)}"
        )
    return values.reshape(height, width)


def reassemble(values, data: RegressionData, split: str = "all", *, fill: float = float("nan")) -> torch.Tensor:
    r"""Put per-pixel values of one split of :func:`image_regression` back on the image grid.

    ``split="all"``: ``values`` holds all :math:`HW` pixels in row-major order (outputs
    on :func:`image_features`). ``"train"`` / ``"test"``: ``values`` holds one value
    per example of that split, in its order (e.g. ``data.y_test`` or a model's outputs
    on ``data.X_test``); pixel ``teacher["<split>_index"][k]`` gets ``values[k]`` and
    the pixels outside the split get ``fill``.

    Parameters
    ----------
    values : torch.Tensor or array-like
        ``(n,)`` or ``(n, 1)``.
    data : RegressionData
        The result of :func:`image_regression`.
    split : str
        ``"all"``, ``"train"`` or ``"test"``.
    fill : float
        Value of the pixels outside the split (NaN draws as blank in matplotlib).

    Returns
    -------
    torch.Tensor
        ``(H, W)``, ``float64`` unless ``values`` has another floating dtype.
    """
    if not isinstance(data, RegressionData) or "image_shape" not in data.teacher:
        raise TypeError(
            f"data must be the RegressionData of image_regression (with teacher['image_shape']), "
            f"got {type(data).__name__}"
        )
    check_choice(split, "split", ("all", "train", "test"))
    if isinstance(fill, bool) or not isinstance(fill, numbers.Real):
        raise TypeError(f"fill must be a real number, got {fill!r}")
    height, width = (int(v) for v in data.teacher["image_shape"])
    if split == "all":
        return to_image(values, (height, width))
    index = data.teacher[f"{split}_index"].cpu()
    values = _as_float_tensor(values, "values")
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or len(values) != len(index):
        raise ValueError(
            f"values must hold one value per {split} pixel, shape ({len(index)},) or "
            f"({len(index)}, 1), got shape {tuple(values.shape)}"
        )
    out = torch.full((height * width,), float(fill), dtype=values.dtype, device=values.device)
    out[index.to(values.device)] = values
    return out.reshape(height, width)


def _as_float_tensor(value, name: str) -> torch.Tensor:
    """``value`` as a floating-point tensor (numpy/lists converted, integers to float64), checked finite."""
    if not torch.is_tensor(value):
        try:
            import numpy as np

            value = torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be a tensor or an array of real numbers, got {type(value).__name__}") from err
    if value.dtype == torch.bool or value.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
    if not value.is_floating_point():
        value = value.to(torch.float64)
    return check_finite(value, name)


def _image_shape(image, name: str = "image") -> tuple[int, int]:
    """``(H, W)`` from a 2-D image or from a shape tuple, both sides at least 2."""
    if (
        isinstance(image, (tuple, list, torch.Size))
        and len(image) == 2
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in image)
    ):
        shape = tuple(int(v) for v in image)
    else:
        shape = tuple(getattr(image, "shape", ()))
        if len(shape) != 2:
            raise ValueError(
                f"{name} must be a 2-D image or its shape (H, W), got "
                f"{'shape ' + str(shape) if hasattr(image, 'shape') else repr(image)}"
            )
    if min(shape) < 2:
        raise ValueError(f"{name} must have both sides >= 2, got shape {shape}")
    return shape
