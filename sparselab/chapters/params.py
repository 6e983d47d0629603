"""Validation of notebook parameters (papermill's ``-p``/``-y``/``-f`` values).

papermill injects parameters as plain Python literals after a notebook's
``parameters`` cell, without checking them. Each chapter's second cell therefore
checks them against a *spec* before any work is done::

    P = check_parameters(dict(epochs=epochs, lr=lr, ...), LEARNED_MASKS)

A spec maps every parameter name to a :class:`Param`, or to a tuple
``(types, low, high)`` that is shorthand for ``Param(types, low, high)``.
The rules:

* a value of the wrong type raises :class:`TypeError` naming the parameter, its
  value and the expected type;
* a number outside ``[low, high]`` (either bound may be ``None``; set
  ``low_inclusive``/``high_inclusive`` to ``False`` for an open end), or a string
  outside ``choices``, raises :class:`ValueError` naming the parameter and the
  allowed range;
* a ``list`` parameter (``Param(list, item=Param(...))``) checks its length and
  then every element with ``item``, naming the element as ``name[i]``;
* an ``int`` is accepted where a ``float`` is expected (and converted to float);
  a ``bool`` is never accepted as a number, and only ``bool`` is accepted as a bool;
* a name not in the spec, or a spec entry with no value, is an error.

The result is a :class:`Parameters` dict (also readable as attributes, ``P.epochs``)
holding the converted values.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

__all__ = [
    "Param",
    "Parameters",
    "check_parameters",
    "LEARNED_MASKS",
    "PRUNING",
    "RECOVERY",
    "THRESHOLDING",
    "FACTORIZATION",
]


@dataclass(frozen=True)
class Param:
    """Specification of one parameter.

    ``types`` is a type or tuple of types among ``int``, ``float``, ``str``, ``bool``,
    ``list`` and ``type(None)``. ``low``/``high`` bound numbers and, for lists, ``min_len``
    and ``max_len`` bound the length; ``item`` is the spec of a list's elements;
    ``choices`` lists the allowed strings.
    """

    types: type | tuple
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    choices: tuple | None = None
    item: Param | None = None
    min_len: int = 0
    max_len: int | None = None
    unique: bool = False

    @property
    def type_tuple(self) -> tuple:
        return self.types if isinstance(self.types, tuple) else (self.types,)

    def describe(self) -> str:
        """The expected type in words, e.g. ``'int'`` or ``'list of float'``."""
        names = []
        for t in self.type_tuple:
            if t is list and self.item is not None:
                names.append(f"list of {self.item.describe()}")
            elif t is float:
                names.append("float (or int)")
            else:
                names.append("None" if t is type(None) else t.__name__)
        return " or ".join(names)

    def range_text(self) -> str:
        lo = "-inf" if self.low is None else repr(self.low)
        hi = "inf" if self.high is None else repr(self.high)
        return ("[" if self.low_inclusive else "(") + f"{lo}, {hi}" + ("]" if self.high_inclusive else ")")


class Parameters(dict):
    """A dict of checked parameters whose entries can also be read as attributes."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no parameter named {name!r}; have {sorted(self)}") from None


def _as_param(name: str, spec) -> Param:
    if isinstance(spec, Param):
        return spec
    if isinstance(spec, type):
        return Param(spec)
    if isinstance(spec, tuple) and len(spec) == 3:
        return Param(*spec)
    raise TypeError(f"spec for {name!r} must be a Param, a type, or a (types, low, high) tuple, got {spec!r}")


def _matches(value, t) -> bool:
    if t is bool:
        return isinstance(value, bool)
    if t is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if t is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if t is type(None):
        return value is None
    if t is list:
        return isinstance(value, (list, tuple))
    return isinstance(value, t)


def _check_one(name: str, value, param: Param):
    kinds = param.type_tuple
    matched = next((t for t in kinds if _matches(value, t)), None)
    if matched is None:
        hint = ""
        if isinstance(value, str) and list in kinds:
            hint = f' (papermill\'s -p passes text; give a list as YAML, e.g. -y "{name}: [0, 1, 2]")'
        raise TypeError(
            f"parameter {name!r} must be {param.describe()}, got {value!r} of type {type(value).__name__}{hint}"
        )
    if matched is type(None) or matched is bool:
        return value
    if matched in (int, float):
        if matched is float:
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"parameter {name!r} must be a finite number in {param.range_text()}, got {value!r}")
        else:
            value = int(value)
        too_low = param.low is not None and (value < param.low if param.low_inclusive else value <= param.low)
        too_high = param.high is not None and (value > param.high if param.high_inclusive else value >= param.high)
        if too_low or too_high:
            raise ValueError(f"parameter {name!r} must be in {param.range_text()}, got {value!r}")
        return value
    if matched is str:
        if param.choices is not None and value not in param.choices:
            raise ValueError(f"parameter {name!r} must be one of {', '.join(map(repr, param.choices))}; got {value!r}")
        return value
    if matched is list:
        n = len(value)
        if n < param.min_len or (param.max_len is not None and n > param.max_len):
            hi = "any number of" if param.max_len is None else f"at most {param.max_len}"
            raise ValueError(
                f"parameter {name!r} must have at least {param.min_len} and {hi} elements, got {n}: {value!r}"
            )
        items = list(value)
        if param.item is not None:
            items = [_check_one(f"{name}[{i}]", v, param.item) for i, v in enumerate(items)]
        if param.unique and len(set(items)) != len(items):
            raise ValueError(f"parameter {name!r} must not repeat elements, got {value!r}")
        return items
    return value


def check_parameters(values: dict, spec: dict) -> Parameters:
    """Check ``values`` against ``spec`` (see the module docstring); return the converted values.

    >>> check_parameters({"epochs": 10, "lr": 1}, {"epochs": (int, 1, None), "lr": (float, 0, 1)})
    {'epochs': 10, 'lr': 1.0}
    """
    if not isinstance(values, dict):
        raise TypeError(f"values must be a dict of parameter values, got {type(values).__name__}")
    if not isinstance(spec, dict):
        raise TypeError(f"spec must be a dict of parameter specifications, got {type(spec).__name__}")
    unknown = sorted(set(values) - set(spec))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; allowed: {sorted(spec)}")
    missing = sorted(set(spec) - set(values))
    if missing:
        raise ValueError(f"missing parameter(s) {missing}")
    return Parameters({name: _check_one(name, values[name], _as_param(name, spec[name])) for name in spec})


_sparsity = Param(float, 0.0, 1.0, high_inclusive=False)
_seed = Param(int, 0, None)

#: The parameters of ``book/learned_masks.ipynb``.
LEARNED_MASKS = {
    # problem
    "n_train": Param(int, 1, None),
    "n_test": Param(int, 1, None),
    "in_features": Param(int, 1, None),
    "hidden_features": Param(int, 1, None),
    "noise": Param(float, 0.0, None),
    "nonlinear_density": Param(float, 0.0, 1.0, low_inclusive=False),
    "linear_density": Param(float, 0.0, 1.0, low_inclusive=False),
    # model and training
    "sparsity": _sparsity,
    "epochs": Param(int, 1, None),
    "lr": Param(float, 0.0, None, low_inclusive=False),
    "batch_size": Param(int, 1, None),
    "temperature_end": Param(float, 0.0, None, low_inclusive=False),
    "device": Param(str, choices=("auto", "cpu", "cuda", "mps")),
    "bf16": Param(bool),
    "threads": Param((int, type(None)), 1, None),
    # experiment design
    "seed": _seed,
    "seeds": Param(list, item=_seed, min_len=1, unique=True),
    "sparsities": Param(list, item=_sparsity, min_len=1, unique=True),
    "sweep_methods": Param(
        list, item=Param(str, choices=("hard+STE", "hard, no STE", "soft", "sigmoid")), min_len=1, unique=True
    ),
}

_width = Param(int, 1, None)
_density = Param(float, 0.0, 1.0, low_inclusive=False, high_inclusive=False)

#: The parameters of ``book/pruning.ipynb``.
PRUNING = {
    # experiment design
    "seeds": Param(list, item=_seed, min_len=1, unique=True),
    "sparsities": Param(
        list, item=Param(float, 0.0, 1.0, low_inclusive=False, high_inclusive=False), min_len=1, unique=True
    ),
    "focus_sparsity": Param(float, 0.0, 1.0, low_inclusive=False, high_inclusive=False),
    # the MLP recipes (sparselab.chapters.pruning.compare)
    "epochs": Param(int, 1, None),
    "lr": Param(float, 0.0, None, low_inclusive=False),
    "batch_size": Param(int, 1, None),
    "regression_hidden": Param(list, item=_width, min_len=1),
    "digits_hidden": Param(list, item=_width, min_len=1),
    "imp_rounds": Param(int, 1, None),
    "rewind_step": Param(int, 0, None),
    "update_every": Param(int, 1, None),
    "drop_fraction": Param(float, 0.0, 1.0, low_inclusive=False),
    # the CNN of the structured comparison (sparselab.chapters.pruning.structured_sweep)
    "cnn_channels": Param(list, item=_width, min_len=2, max_len=2),
    "cnn_densities": Param(list, item=_density, min_len=1, unique=True),
    "cnn_epochs": Param(int, 1, None),
    "cnn_finetune_epochs": Param(int, 1, None),
    "cnn_lr": Param(float, 0.0, None, low_inclusive=False),
    # execution
    "device": Param(str, choices=("auto", "cpu", "cuda", "mps")),
    "threads": Param((int, type(None)), 1, None),
    "workers": Param(int, 1, None),
}

_positive = Param(int, 1, None)
_seeds = Param(list, item=_seed, min_len=1, unique=True)
_sizes = Param(list, item=_positive, min_len=1, unique=True)

#: The parameters of ``book/recovery.ipynb``. The ranges admit the paper's scale (input dimension
#: 100, n = 50,000, widths and sparsities over {1, 2, 5, ..., 1000}).
RECOVERY = {
    # the planted networks
    "in_features": _positive,
    "n_train": _positive,
    "n_test": _positive,
    "planted_width": _positive,
    "planted_nnz": _positive,
    "seeds": _seeds,
    "success_db": Param(float, 0.0, None, low_inclusive=False),
    # the phase diagrams
    "widths": _sizes,
    "nnzs": _sizes,
    "samples_width": _positive,
    "samples_n_trains": _sizes,
    "samples_nnzs": _sizes,
    # IHT (sparselab.recovery.iht) and IMP (sparselab.recovery.imp_baseline)
    "iht_steps": _positive,
    "iht_refine_steps": Param(int, 0, None),
    "iht_restarts": _positive,
    "iht_width_factor": _positive,
    "iht_chunk": _positive,
    "imp_epochs": _positive,
    "imp_lr": Param(float, 0.0, None, low_inclusive=False),
    "imp_alpha": Param(float, 0.0, 1.0, low_inclusive=False, high_inclusive=False),
    # memory and time
    "cost_n_train": _positive,
    "cost_nnzs": _sizes,
    "cost_widths": _sizes,
    "cost_fixed_width": _positive,
    "cost_fixed_nnz": _positive,
    "cost_iht_steps": _positive,
    "cost_imp_epochs": _positive,
    # digits (and MNIST)
    "class_width": _positive,
    "class_nnzs": _sizes,
    "class_seeds": _seeds,
    "mnist_path": Param((str, type(None))),
    "mnist_limit_train": Param((int, type(None)), 1, None),
    # implicit neural representation
    "inr_image": Param(
        str,
        choices=(
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
        ),
    ),
    "inr_size": Param(int, 4, 512),
    "inr_frequencies": _positive,
    "inr_scale": Param(float, 0.0, None, low_inclusive=False),
    "inr_width": _positive,
    "inr_nnzs": _sizes,
    "inr_holdout": Param(float, 0.0, 1.0, low_inclusive=False, high_inclusive=False),
    # width over-estimation and the guarantee's assumptions
    "width_factors": _sizes,
    "mismatch_seeds": _seeds,
    "assumption_seeds": _seeds,
    "few_samples": _positive,
    "label_noise": Param(float, 0.0, None),
    "correlation": Param(float, 0.0, 1.0, high_inclusive=False),
    # execution
    "device": Param(str, choices=("auto", "cpu", "cuda")),
    "threads": Param((int, type(None)), 1, None),
}

_fraction_open = Param(float, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
_nonnegative = Param(float, 0.0, None)
_positive_float = Param(float, 0.0, None, low_inclusive=False)

#: The parameters of ``book/thresholding.ipynb`` (cross-parameter constraints, e.g. ``nonzeros <=
#: measurements <= signal_size``, are checked by the notebook's validation cell).
THRESHOLDING = {
    # shrinkage and noise (one Gaussian problem size)
    "signal_size": Param(int, 2, None),
    "measurements": _positive,
    "nonzeros": _positive,
    "noise": _nonnegative,
    "lam_factor": _positive_float,
    "solver_steps": _positive,
    "seeds": _seeds,
    "shrink_lam_ratios": Param(list, item=Param(float, 0.0, 1.0, low_inclusive=False), min_len=1, unique=True),
    "shrink_ks": _sizes,
    "noise_levels": Param(list, item=_nonnegative, min_len=1, unique=True),
    # the phase transitions
    "pt_size": Param(int, 2, None),
    "pt_deltas": Param(list, item=Param(float, 0.0, 1.0, low_inclusive=False), min_len=1, unique=True),
    "pt_rhos": Param(list, item=Param(float, 0.0, 1.0, low_inclusive=False), min_len=1, unique=True),
    "pt_seeds": _seeds,
    "pt_steps": _positive,
    "pt_lam_ratio": Param(float, 0.0, 1.0, low_inclusive=False),
    "pt_success_tol": _positive_float,
    "conv_channels": _positive,
    "conv_kernel": _positive,
    # group lasso
    "group_signal_size": Param(int, 2, None),
    "group_size": _positive,
    "group_active": _positive,
    "group_ms": _sizes,
    # correlation and the irrepresentable condition
    "corr_values": Param(list, item=Param(float, 0.0, 1.0, high_inclusive=False), min_len=1, unique=True),
    "corr_samples": _positive,
    "corr_features": Param(int, 2, None),
    "corr_nonzeros": _positive,
    "corr_noise": _nonnegative,
    "corr_lams": _positive,
    # A-optimal against largest-norm selection
    "sel_rows": _positive,
    "sel_dim": _positive,
    "sel_decay": Param(float, 0.0, 1.0, low_inclusive=False),
    "sel_ks": _sizes,
    # generalisation of sparse linear classifiers on two digits
    "gen_classes": Param(list, item=Param(int, 0, 9), min_len=2, max_len=2, unique=True),
    "gen_ks": Param(list, item=Param(int, 1, 65), min_len=1, unique=True),
    "gen_seeds": _seeds,
    "gen_ridge": _positive_float,
    # execution
    "threads": Param((int, type(None)), 1, None),
}

_power_of_two = Param(int, 2, None)  # a power of two >= 2: checked by the notebook's validation cell
_orders = Param(list, item=Param(str, choices=("balanced", "left_to_right", "right_to_left")), min_len=1, unique=True)

#: The parameters of ``book/factorization.ipynb`` (that sizes are powers of two, and other
#: cross-parameter constraints, are checked by the notebook's validation cell).
FACTORIZATION = {
    # ill-posedness: the LU counter-example and sparse ReLU training
    "lu_eps": Param(list, item=_positive_float, min_len=1, unique=True),
    "descent_steps": _positive,
    "descent_init_scale": _positive_float,
    "record_every": _positive,
    "relu_samples": _positive,
    "relu_in_features": _positive,
    "relu_hidden": _positive,
    "relu_density": Param(float, 0.0, 1.0, low_inclusive=False),
    "relu_steps": _positive,
    "relu_lr": _positive_float,
    "relu_noise": _nonnegative,
    "seeds": _seeds,
    # tractable and general supports
    "fsmf_size": Param(int, 2, None),
    "fsmf_rank": _positive,
    "fsmf_density": Param(float, 0.0, 1.0, low_inclusive=False),
    "fsmf_starts": _positive,
    "fsmf_steps": _positive,
    "fsmf_seed": _seed,
    # butterflies
    "exact_sizes": Param(list, item=_power_of_two, min_len=1, unique=True),
    "orders": _orders,
    "noise_size": _power_of_two,
    "noise_levels": Param(list, item=_nonnegative, min_len=1, unique=True),
    "dense_sizes": Param(list, item=_power_of_two, min_len=1, unique=True),
    # speed
    "timing_sizes": Param(list, item=_power_of_two, min_len=1, unique=True),
    "timing_orders": _orders,
    "product_sizes": Param(list, item=_power_of_two, min_len=2, unique=True),
    "product_batches": _sizes,
    "product_repeats": _positive,
    # structured layers
    "layer_size": _power_of_two,
    "task_samples": _positive,
    "task_test_samples": _positive,
    "task_epochs": _positive,
    "digits_epochs": _positive,
    "layer_lr": _positive_float,
    "layer_batch_size": _positive,
    "layer_models": Param(
        list, item=Param(str, choices=("dense", "butterfly", "monarch", "sparse", "low-rank")), min_len=1, unique=True
    ),
    # execution
    "threads": Param((int, type(None)), 1, None),
    "device": Param(str, choices=("auto", "cpu", "cuda", "mps")),
}
