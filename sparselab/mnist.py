r"""MNIST from local files: the IDX files of the original distribution or one ``.npz``, never a download.

:func:`load_mnist` returns a :class:`sparselab.data.ClassificationData` (pixels scaled to [0, 1], flattened or as
images), optionally restricted to some classes and to the first ``limit_train`` / ``limit_test`` examples.
"""

from __future__ import annotations

import torch

from sparselab._validation import check_int
from sparselab.data import DIGITS_CLASSES, ClassificationData, check_classes

__all__ = ["MNIST_FILES", "load_mnist"]


MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
"""The four standard MNIST file names (each may also be present gzipped, with ``.gz`` appended)."""

_IDX_IMAGES, _IDX_LABELS = 0x00000803, 0x00000801
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _read_idx(file, magic: int, ndim: int):
    """Parse one IDX file (plain or ``.gz``) of unsigned bytes into a numpy ``uint8`` array.

    Layout: a big-endian ``uint32`` magic number ``0x000008DD`` (``08`` = unsigned
    byte, ``DD`` = number of dimensions), ``DD`` big-endian ``uint32`` sizes, then the
    values in row-major order.
    """
    import gzip

    import numpy as np

    opener = gzip.open if file.name.endswith(".gz") else open
    try:
        with opener(file, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as err:  # e.g. a corrupt or truncated gzip stream
        raise ValueError(f"{file}: cannot read the IDX file ({err})") from err
    header = 4 * (1 + ndim)
    if len(raw) < 4:
        raise ValueError(f"{file}: too short to be an IDX file ({len(raw)} bytes)")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(
            f"{file}: bad magic number 0x{found:08X}, expected 0x{magic:08X} "
            f"({'images' if magic == _IDX_IMAGES else 'labels'}, unsigned bytes, {ndim}-D)"
        )
    if len(raw) < header:
        raise ValueError(f"{file}: truncated header ({len(raw)} bytes, expected at least {header})")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header != expected:
        raise ValueError(
            f"{file}: the header announces shape {dims} = {expected} bytes of data but the file holds "
            f"{len(raw) - header}; the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _mnist_from_idx(directory):
    import pathlib

    directory = pathlib.Path(directory)
    found, missing = {}, []
    for key, name in MNIST_FILES.items():
        for candidate in (directory / name, directory / (name + ".gz")):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            missing.append(name)
    if missing:
        raise FileNotFoundError(
            f"path {str(directory)!r} lacks {', '.join(repr(m) for m in missing)} (each may also end in .gz); "
            f"an MNIST directory must hold the four IDX files {', '.join(MNIST_FILES.values())}. "
            "Nothing is downloaded: fetch them yourself, or pass an .npz with x_train, y_train, x_test, y_test"
        )
    arrays = {}
    for split in ("train", "test"):
        images = _read_idx(found[f"{split}_images"], _IDX_IMAGES, 3)
        labels = _read_idx(found[f"{split}_labels"], _IDX_LABELS, 1)
        if len(images) != len(labels):
            raise ValueError(
                f"{found[f'{split}_images']} holds {len(images)} images but "
                f"{found[f'{split}_labels']} holds {len(labels)} labels"
            )
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images, labels
        arrays[f"{split}_source"] = f"{found[f'{split}_images'].name} / {found[f'{split}_labels'].name}"
    return arrays


def _mnist_from_npz(file):
    import zipfile

    import numpy as np

    try:
        with np.load(file, allow_pickle=False) as archive:
            found = list(archive.files)
            arrays = {k: archive[k] for k in _NPZ_KEYS if k in found}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:  # not a zip, pickled objects, ...
        raise ValueError(f"{file}: cannot read the .npz archive ({err})") from err
    missing = [k for k in _NPZ_KEYS if k not in arrays]
    if missing:
        raise ValueError(
            f"{file}: the .npz lacks the array(s) {', '.join(missing)}; it must hold "
            f"{', '.join(_NPZ_KEYS)} (found {', '.join(found) or 'none'})"
        )
    arrays["train_source"] = arrays["test_source"] = file.name
    return arrays


def _mnist_pixels(x, source: str, split: str):
    """``x`` (``(n, H, W)``, checked by the caller) as ``float32`` in [0, 1]: integers / 255, floats as given."""
    import numpy as np

    x = np.asarray(x)
    if x.dtype.kind in "ui":
        if x.size and (int(x.min()) < 0 or int(x.max()) > 255):
            raise ValueError(
                f"{source}: integer pixels of x_{split} must lie in [0, 255], got [{int(x.min())}, {int(x.max())}]"
            )
        return x.astype(np.float32) / np.float32(255.0)
    if x.dtype.kind == "f":
        x = x.astype(np.float32)
        if x.size and not (np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0):
            raise ValueError(f"{source}: floating-point pixels of x_{split} must be finite and lie in [0, 1]")
        return x
    raise TypeError(f"{source}: x_{split} must hold integer or floating-point pixels, got dtype {x.dtype}")


def _mnist_labels(y, source: str, split: str):
    import numpy as np

    y = np.asarray(y)
    if y.dtype.kind not in "ui":
        raise TypeError(f"{source}: y_{split} must hold integer labels, got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"{source}: y_{split} must be 1-D (n,), got shape {y.shape}")
    y = y.astype(np.int64)
    if y.size and (int(y.min()) < 0 or int(y.max()) >= DIGITS_CLASSES):
        raise ValueError(f"{source}: labels of y_{split} must lie in [0, 9], got [{int(y.min())}, {int(y.max())}]")
    return y


def load_mnist(
    path, *, classes=None, limit_train: int | None = None, limit_test: int | None = None, flatten: bool = True
) -> ClassificationData:
    r"""MNIST (LeCun et al. 1998) from local files, as a :class:`ClassificationData`.

    60 000 training and 10 000 test grey-scale images of :math:`28 \times 28` pixels,
    integer intensities :math:`p \in \{0, \dots, 255\}`, ten classes (the digits
    0-9). The data do not ship with the project and **nothing is downloaded**: ``path``
    names files the reader already has. The official train/test split is kept as is.
    Pixels are scaled to :math:`[0, 1]`, :math:`x = p / 255`, and stored as
    ``float32``; labels are ``int64``.

    Two layouts are read:

    * a **directory** holding the four standard IDX files :data:`MNIST_FILES`
      (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
      ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``), each plain or gzipped
      (the same name with ``.gz`` appended; a plain file wins when both exist). An IDX
      file starts with the big-endian ``uint32`` magic number ``0x00000803`` (images:
      unsigned bytes, 3-D) or ``0x00000801`` (labels: unsigned bytes, 1-D), then one
      big-endian ``uint32`` per dimension, then :math:`\prod_k d_k` bytes of data in
      row-major order. The magic number and the data length are checked against the
      header;
    * an **.npz archive** with the arrays ``x_train`` ``(n, H, W)``, ``y_train``
      ``(n,)``, ``x_test``, ``y_test`` (the layout of Keras' ``mnist.npz``). Integer
      pixels are divided by 255; floating-point pixels must already lie in
      :math:`[0, 1]` and are kept.

    The images may be of any size :math:`H \times W` (Fashion-MNIST, for one, uses the
    same format); the labels must lie in ``0..9``.

    Parameters
    ----------
    path : str or os.PathLike
        The directory or the ``.npz`` file.
    classes : sequence of int, optional
        Keep only these digits (at least 2 distinct values in ``0..9``) and relabel
        them in the given order: digit ``classes[i]`` gets label ``i``. ``None`` keeps
        all ten with label = digit.
    limit_train, limit_test : int, optional
        Keep at most the first :math:`N \ge 1` examples of each split (in file order,
        counted after the class filter). ``None`` keeps them all.
    flatten : bool
        ``True``: ``X`` of shape ``(n, H W)`` (row-major pixels, 784 for MNIST) for an
        MLP; ``False``: ``(n, 1, H, W)`` for a CNN.

    Returns
    -------
    ClassificationData
        ``n_classes = len(classes)`` (10 by default); ``name`` is ``"mnist"`` or, with
        ``classes``, e.g. ``"mnist[0,1]"``.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist, or a directory lacks one of the four IDX files (the
        message names them).
    ValueError
        A file is malformed: wrong magic number, a data length that disagrees with the
        header, mismatched image and label counts, missing ``.npz`` arrays, or pixels
        and labels out of range (the message names the file).
    """
    import os
    import pathlib

    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path must be a str or os.PathLike naming a directory or an .npz file, "
            f"got {path!r} of type {type(path).__name__}"
        )
    classes = check_classes(classes)
    limits = {}
    for name, value in (("limit_train", limit_train), ("limit_test", limit_test)):
        limits[name] = None if value is None else check_int(value, name, low=1)
    if not isinstance(flatten, bool):
        raise TypeError(f"flatten must be True or False, got {flatten!r}")
    path = pathlib.Path(path)
    if path.is_dir():
        arrays = _mnist_from_idx(path)
    elif path.is_file():
        if path.suffix.lower() != ".npz":
            raise ValueError(
                f"path must be a directory holding the MNIST IDX files or an .npz file, got the file {str(path)!r}"
            )
        arrays = _mnist_from_npz(path)
    else:
        raise FileNotFoundError(
            f"path {str(path)!r} does not exist; pass a directory holding the IDX files "
            f"{', '.join(MNIST_FILES.values())} (each may end in .gz) or an .npz file with "
            f"{', '.join(_NPZ_KEYS)}. Nothing is downloaded"
        )

    import numpy as np

    relabel = None
    if classes is not None:
        relabel = np.full(DIGITS_CLASSES, -1, dtype=np.int64)
        relabel[list(classes)] = np.arange(len(classes))
    out = {}
    for split in ("train", "test"):
        source = arrays[f"{split}_source"]
        x = np.asarray(arrays[f"x_{split}"])
        if x.ndim != 3:
            raise ValueError(f"{source}: x_{split} must have shape (n, height, width), got {x.shape}")
        y = _mnist_labels(arrays[f"y_{split}"], source, split)
        if len(x) != len(y):
            raise ValueError(f"{source}: x_{split} holds {len(x)} images but y_{split} holds {len(y)} labels")
        if relabel is not None:
            keep = np.flatnonzero(np.isin(y, classes))
            x, y = x[keep], relabel[y[keep]]
        limit = limits[f"limit_{split}"]
        if limit is not None:
            x, y = x[:limit], y[:limit]
        x = _mnist_pixels(x, source, split)  # after filtering: scale only what is kept
        if len(x) == 0:
            raise ValueError(
                f"{source}: no {split} examples left" + (f" with classes={classes!r}" if classes is not None else "")
            )
        shape = (x.shape[1] * x.shape[2],) if flatten else (1, x.shape[1], x.shape[2])
        out[f"X_{split}"] = torch.from_numpy(np.ascontiguousarray(x)).reshape(len(x), *shape)
        out[f"y_{split}"] = torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
    if out["X_train"].shape[1:] != out["X_test"].shape[1:]:
        raise ValueError(
            f"train images ({arrays['train_source']}) and test images ({arrays['test_source']}) differ "
            f"in size: {tuple(out['X_train'].shape[1:])} vs {tuple(out['X_test'].shape[1:])}"
        )
    name = "mnist" if classes is None else "mnist[" + ",".join(str(c) for c in classes) + "]"
    return ClassificationData(**out, n_classes=DIGITS_CLASSES if classes is None else len(classes), name=name)
