"""Up-front argument checks with messages that name the parameter and the allowed range.

Every public function validates its arguments here before doing any work, in the
style of scikit-learn: the error says which parameter was wrong, what it was and
what is allowed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np
import torch


def check_density(density, name: str = "density") -> float:
    """Return ``density`` as a float after checking that it lies in (0, 1]."""
    if isinstance(density, bool) or not isinstance(density, numbers.Real):
        raise TypeError(f"{name} must be a real number in (0, 1], got {density!r} of type {type(density).__name__}")
    density = float(density)
    if not (0.0 < density <= 1.0) or math.isnan(density):
        raise ValueError(f"{name} must be in (0, 1], got {density!r}")
    return density


def resolve_density(density=None, sparsity=None) -> float:
    """Accept exactly one of ``density`` in (0, 1] or ``sparsity`` in [0, 1) and return the density."""
    if density is not None and sparsity is not None:
        raise ValueError(f"pass either density or sparsity, not both (got density={density!r}, sparsity={sparsity!r})")
    if sparsity is not None:
        if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real):
            raise TypeError(f"sparsity must be a real number in [0, 1), got {sparsity!r}")
        if not (0.0 <= float(sparsity) < 1.0):
            raise ValueError(f"sparsity must be in [0, 1), got {sparsity!r}")
        return round(1.0 - float(sparsity), 12)  # 1 - 0.9 is 0.0999...98 in binary: snap it
    if density is None:
        return 1.0
    return check_density(density)


def check_choice(value, name: str, allowed: Iterable[str]) -> str:
    """Check that ``value`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}")
    return value


def check_int(value, name: str, low: int | None = None, high: int | None = None) -> int:
    """Check that ``value`` is an integer in [low, high] (either bound may be open-ended)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else str(low)
        hi = "inf" if high is None else str(high)
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value}")
    return value


def check_float(
    value,
    name: str,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Check that ``value`` is a finite real number within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    value = float(value)
    ok = math.isfinite(value)
    if ok and low is not None:
        ok = value >= low if low_inclusive else value > low
    if ok and high is not None:
        ok = value <= high if high_inclusive else value < high
    if not ok:
        lo = ("[" if low_inclusive else "(") + ("-inf" if low is None else repr(low))
        hi = ("inf" if high is None else repr(high)) + ("]" if high_inclusive else ")")
        raise ValueError(f"{name} must be a finite number in {lo}, {hi}, got {value!r}")
    return value


def check_finite(tensor: torch.Tensor, name: str) -> torch.Tensor:
    """Raise if ``tensor`` holds NaN or infinite values (this synchronises; call it once, up front)."""
    if not torch.is_tensor(tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if (tensor.is_floating_point() or tensor.is_complex()) and not bool(torch.isfinite(tensor).all()):
        bad = int((~torch.isfinite(tensor)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")
    return tensor


FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_float_dtype(dtype, name: str = "dtype", allowed: Iterable[torch.dtype] = FLOAT_DTYPES) -> torch.dtype:
    """Check that ``dtype`` is one of the real floating-point ``torch.dtype`` values in ``allowed``."""
    allowed = tuple(allowed)
    if not isinstance(dtype, torch.dtype) or dtype not in allowed:
        names = ", ".join(str(d) for d in allowed)
        raise TypeError(f"{name} must be a real floating-point torch.dtype, one of {names}; got {dtype!r}")
    return dtype


def check_module(module, name: str = "module"):
    """Check that ``module`` is a :class:`torch.nn.Module`."""
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(module).__name__}")
    return module


def check_int_list(
    values,
    name: str,
    *,
    low: int | None = None,
    high: int | None = None,
    distinct: bool = True,
    min_len: int = 1,
    max_len: int | None = None,
) -> list[int]:
    """A non-empty list of distinct integers in ``[low, high]``; errors name the element as ``name[i]``.

    ``distinct=False`` allows repeats; ``min_len``/``max_len`` bound the length (see :func:`check_length`).
    """
    values = _non_empty_list(values, name, "integers")
    check_length(values, name, min_len=min_len, max_len=max_len)
    out = [check_int(v, f"{name}[{i}]", low=low, high=high) for i, v in enumerate(values)]
    return _distinct(out, name) if distinct else out


def check_float_list(
    values,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    distinct: bool = True,
    min_len: int = 1,
    max_len: int | None = None,
) -> list[float]:
    """A non-empty list of distinct finite numbers within the bounds (as :func:`check_float`).

    ``distinct=False`` allows repeats; ``min_len``/``max_len`` bound the length (see :func:`check_length`).
    """
    values = _non_empty_list(values, name, "numbers")
    check_length(values, name, min_len=min_len, max_len=max_len)
    out = [
        check_float(v, f"{name}[{i}]", low=low, high=high, low_inclusive=low_inclusive, high_inclusive=high_inclusive)
        for i, v in enumerate(values)
    ]
    return _distinct(out, name) if distinct else out


def check_choice_list(values, name: str, allowed: Iterable[str]) -> list[str]:
    """One string or a non-empty list of distinct strings, each one of ``allowed``."""
    allowed = tuple(allowed)
    values = [values] if isinstance(values, str) else list(values)
    if not values:
        raise ValueError(f"{name} must hold at least one of {list(allowed)}, got []")
    for i, v in enumerate(values):
        check_choice(v, f"{name}[{i}]", allowed)
    return _distinct(values, name)


def check_bool(value, name: str) -> bool:
    """``True`` or ``False`` (not 0/1 or other truthy values)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_str(value, name: str) -> str:
    """A string (any text; use :func:`check_choice` for one of a fixed set)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r} of type {type(value).__name__}")
    return value


def check_optional(value, name: str, check, /, **kwargs):
    """``None``, or ``value`` checked by ``check(value, name, **kwargs)``.

    A wrong type is reported as ``"<name> must be None or <what check wants>, got ..."``.
    """
    if value is None:
        return None
    try:
        return check(value, name, **kwargs)
    except TypeError as exc:
        message, prefix = str(exc), f"{name} must be "
        if message.startswith(prefix):
            raise TypeError(f"{prefix}None or {message[len(prefix) :]}") from None
        raise


def check_length(values, name: str, *, min_len: int = 0, max_len: int | None = None):
    """``values`` (a sized collection) after checking that its length lies in ``[min_len, max_len]``."""
    n = len(values)
    if n < min_len or (max_len is not None and n > max_len):
        if min_len == max_len:
            allowed = f"exactly {min_len}"
        elif max_len is None:
            allowed = f"at least {min_len}"
        else:
            allowed = f"between {min_len} and {max_len}"
        raise ValueError(f"{name} must hold {allowed} values, got {n}: {list(values)!r}")
    return values


def check_options(options, name: str, allowed: Iterable[str], reserved: dict[str, str] | None = None) -> dict:
    """``None`` (no options: ``{}``) or a dict of keyword arguments whose keys are among ``allowed``.

    ``reserved`` maps keys that must not be given to the reason, which the error quotes.
    Returns a copy.
    """
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"{name} must be a dict of keyword arguments, got {type(options).__name__}")
    for key, why in (reserved or {}).items():
        if key in options:
            raise ValueError(f"{name} must not contain {key!r}: {why}")
    allowed = tuple(allowed)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {name} option(s) {unknown}; allowed: {list(allowed)}")
    return dict(options)


def _non_empty_list(values, name: str, what: str) -> list:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a list of {what}, got {values!r}")
    values = list(values)
    if not values:
        raise ValueError(f"{name} must hold at least one value, got []")
    return values


def _distinct(values: list, name: str) -> list:
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must not repeat values, got {values}")
    return values


def as_real_tensor(value, name: str, *, allow_bool: bool = False, dtype=None, device=None) -> torch.Tensor:
    """``value`` (a tensor or a numpy array, shared without a copy) as a tensor of real numbers.

    Complex tensors are rejected, and boolean ones unless ``allow_bool``; ``dtype``/``device``, when given,
    convert the result (``Tensor.to``, a no-op when they already match).
    """
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not torch.is_tensor(value):
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(value).__name__}")
    if value.is_complex() or (value.dtype == torch.bool and not allow_bool):
        raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
    if dtype is not None or device is not None:
        value = value.to(device=device, dtype=dtype)
    return value


def check_matrix(A, name: str = "A") -> torch.Tensor:
    """``A`` as a non-empty, finite, real 2-D tensor (numpy arrays converted, integers to float64)."""
    A = as_real_tensor(A, name)
    if A.ndim != 2 or min(A.shape) < 1:
        raise ValueError(f"{name} must be a non-empty 2-D matrix (m, N), got shape {tuple(A.shape)}")
    if not A.is_floating_point():
        A = A.to(torch.float64)
    return check_finite(A, name)


def check_layer_names(layers):
    """``None`` or a non-empty list/tuple of layer names (strings)."""
    if layers is None:
        return None
    if isinstance(layers, str) or not all(isinstance(name, str) for name in layers) or len(layers) == 0:
        raise ValueError(f"layers must be None or a non-empty list of layer names (str), got {layers!r}")
    return list(layers)
