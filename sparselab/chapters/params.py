"""Each chapter's parameters: one frozen dataclass per notebook, every field checked by :mod:`sparselab._validation`.

papermill injects parameters as plain Python literals after a notebook's ``parameters``
cell, without checking them. Each chapter's second cell therefore builds its dataclass
from them before any work is done::

    P = LearnedMasksParams(n_train=n_train, n_test=n_test, ...)

The defaults live in the ``parameters`` cell only (papermill reads them there); the
dataclasses have none, so every parameter must be passed, by keyword. Every field is
declared with its check, ``checked(check, **bounds)``: ``__post_init__`` calls
``check(value, name, **bounds)`` for each field, in field order, and stores what it
returns, then applies the rules that involve several parameters. The rules:

* the errors are those of :mod:`sparselab._validation`: a wrong type raises
  :class:`TypeError`, a value out of range :class:`ValueError`, each naming the
  parameter, its value and what is allowed; a list element is named ``name[i]``;
* an ``int`` is accepted where a float is expected (and converted to ``float``), a
  ``bool`` never counts as a number; list parameters come back as lists;
* a list parameter given as text (papermill's ``-p`` passes text) is a :class:`TypeError`
  that says to give it as YAML with ``-y``;
* an unknown or a missing name is a :class:`TypeError` (the dataclass's ``__init__``).

``P.epochs`` reads a value; :meth:`ChapterParams.asdict` returns them all as a dict.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields

from sparselab._validation import (
    check_bool,
    check_choice,
    check_choice_list,
    check_density,
    check_float,
    check_float_list,
    check_int,
    check_int_list,
    check_optional,
    check_str,
)
from sparselab.chapters.factorization import LAYER_MODELS, check_sizes
from sparselab.chapters.learned_masks import METHODS as LEARNED_MASK_METHODS
from sparselab.factorization import ORDERS, check_power_of_two
from sparselab.recovery import SAMPLE_IMAGES

__all__ = [
    "checked",
    "ChapterParams",
    "LearnedMasksParams",
    "PruningParams",
    "RecoveryParams",
    "RecoveryBeyondParams",
    "ThresholdingParams",
    "PhaseTransitionsParams",
    "GeneralisationParams",
    "FactorizationParams",
]

DEVICES = ("auto", "cpu", "cuda", "mps")


def checked(check, /, *, optional: bool = False, **bounds):
    """A dataclass field without default, checked as ``check(value, name, **bounds)``.

    ``optional=True`` also accepts ``None`` (:func:`sparselab._validation.check_optional`).
    """
    return field(metadata={"check": check, "bounds": bounds, "optional": optional})


class ChapterParams:
    """The base of the chapters' parameter dataclasses: checks every field, then :meth:`check_rules`."""

    def __post_init__(self):
        for f in fields(self):
            object.__setattr__(self, f.name, _check_field(f, getattr(self, f.name)))
        self.check_rules()

    def check_rules(self) -> None:
        """The rules that involve several parameters (none here; the chapters override it)."""

    def asdict(self) -> dict:
        """The checked values as a dict ``{name: value}`` (in field order; lists copied)."""
        return dataclasses.asdict(self)


def _check_field(f: dataclasses.Field, value):
    check, bounds = f.metadata["check"], f.metadata["bounds"]
    if str(f.type).startswith("list") and isinstance(value, str):
        raise TypeError(
            f"{f.name} must be a list, got {value!r} of type str (papermill's -p passes text; give a list as "
            f'YAML, e.g. -y "{f.name}: [0, 1, 2]")'
        )
    if f.metadata["optional"]:
        return check_optional(value, f.name, check, **bounds)
    return check(value, f.name, **bounds)


@dataclass(frozen=True, kw_only=True)
class LearnedMasksParams(ChapterParams):
    """The parameters of ``book/learned_masks.ipynb``."""

    # problem
    n_train: int = checked(check_int, low=1)
    n_test: int = checked(check_int, low=1)
    in_features: int = checked(check_int, low=1)
    width: int = checked(check_int, low=1)  # of the model and of the nonlinear teacher
    noise: float = checked(check_float, low=0.0)
    nonlinear_density: float = checked(check_density)
    linear_density: float = checked(check_density)
    # model and training
    sparsity: float = checked(check_float, low=0.0, high=1.0, high_inclusive=False)
    epochs: int = checked(check_int, low=1)
    lr: float = checked(check_float, low=0.0, low_inclusive=False)
    batch_size: int = checked(check_int, low=1)
    temperature_end: float = checked(check_float, low=0.0, low_inclusive=False)
    device: str = checked(check_choice, allowed=DEVICES)
    bf16: bool = checked(check_bool)
    threads: int | None = checked(check_int, optional=True, low=1)
    # experiment design
    seed: int = checked(check_int, low=0)
    seeds: list[int] = checked(check_int_list, low=0)
    sparsities: list[float] = checked(check_float_list, low=0.0, high=1.0, high_inclusive=False)
    sweep_methods: list[str] = checked(check_choice_list, allowed=tuple(LEARNED_MASK_METHODS))


@dataclass(frozen=True, kw_only=True)
class PruningParams(ChapterParams):
    """The parameters of ``book/pruning.ipynb``."""

    # experiment design
    seeds: list[int] = checked(check_int_list, low=0)
    sparsities: list[float] = checked(check_float_list, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    focus_sparsity: float = checked(check_float, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    # the MLP recipes (sparselab.chapters.pruning.MethodConfig)
    epochs: int = checked(check_int, low=1)
    lr: float = checked(check_float, low=0.0, low_inclusive=False)
    batch_size: int = checked(check_int, low=1)
    regression_widths: list[int] = checked(check_int_list, low=1, distinct=False)
    digits_widths: list[int] = checked(check_int_list, low=1, distinct=False)
    imp_rounds: int = checked(check_int, low=1)
    rewind_step: int = checked(check_int, low=0)
    update_every: int = checked(check_int, low=1)
    drop_fraction: float = checked(check_float, low=0.0, high=1.0, low_inclusive=False)
    # the equal-compute control at the focus sparsity: every recipe (imp_rounds + 1) * compute_epochs epochs
    compute_epochs: int = checked(check_int, low=1)
    compute_seeds: list[int] = checked(check_int_list, low=0)
    # the CNN of the structured comparison (sparselab.chapters.pruning.structured_sweep)
    cnn_channels: list[int] = checked(check_int_list, low=1, distinct=False, min_len=2, max_len=2)
    cnn_densities: list[float] = checked(check_float_list, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    cnn_epochs: int = checked(check_int, low=1)
    cnn_finetune_epochs: int = checked(check_int, low=1)
    cnn_lr: float = checked(check_float, low=0.0, low_inclusive=False)
    # execution
    device: str = checked(check_choice, allowed=DEVICES)
    threads: int | None = checked(check_int, optional=True, low=1)
    workers: int = checked(check_int, low=1)

    def check_rules(self) -> None:
        if self.focus_sparsity not in self.sparsities:
            raise ValueError(f"focus_sparsity must be one of sparsities={self.sparsities}, got {self.focus_sparsity!r}")


@dataclass(frozen=True, kw_only=True)
class _RecoveryCommon(ChapterParams):
    """The parameters both recovery pages share: the planted networks, the success criterion, IHT and IMP.

    Each page's class adds its own experiments' fields, then ``device`` and ``threads``, in the order of the page's
    parameters cell.
    """

    # the planted networks
    in_features: int = checked(check_int, low=1)
    n_train: int = checked(check_int, low=1)
    n_test: int = checked(check_int, low=1)
    planted_width: int = checked(check_int, low=2)  # two neurons are made near-parallel
    planted_nnz: int = checked(check_int, low=1)  # at most planted_width * in_features
    seeds: list[int] = checked(check_int_list, low=0)
    # the one success criterion (sparselab.recovery.exact_recovery): support F1 >= min_f1 and held-out relative
    # error <= max_rel_error, every method in float64
    min_f1: float = checked(check_float, low=0.0, high=1.0, low_inclusive=False)
    max_rel_error: float = checked(check_float, low=0.0, low_inclusive=False)
    # IHT (sparselab.recovery.iht) and IMP (sparselab.recovery.imp_baseline)
    iht_steps: int = checked(check_int, low=1)
    iht_refine_steps: int = checked(check_int, low=0)
    iht_restarts: int = checked(check_int, low=1)
    iht_width_factor: int = checked(check_int, low=1)
    iht_chunk: int = checked(check_int, low=1)
    imp_epochs: int = checked(check_int, low=1)
    imp_lr: float = checked(check_float, low=0.0, low_inclusive=False)
    imp_alpha: float = checked(check_float, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)

    def check_rules(self) -> None:
        most = self.planted_width * self.in_features
        if self.planted_nnz > most:
            raise ValueError(
                f"planted_nnz must be in [1, planted_width * in_features = {most}], got {self.planted_nnz}"
            )


@dataclass(frozen=True, kw_only=True)
class RecoveryParams(_RecoveryCommon):
    """The parameters of ``book/recovery.ipynb`` (IHT recovers planted networks).

    The ranges admit the paper's scale (input dimension 100, n = 50,000, widths and
    sparsities over {1, 2, 5, ..., 1000}).
    """

    # the phase diagrams
    widths: list[int] = checked(check_int_list, low=1)
    nnzs: list[int] = checked(check_int_list, low=1)
    samples_width: int = checked(check_int, low=1)
    samples_n_trains: list[int] = checked(check_int_list, low=1)
    samples_nnzs: list[int] = checked(check_int_list, low=1)
    # memory and time
    cost_n_train: int = checked(check_int, low=1)
    cost_nnzs: list[int] = checked(check_int_list, low=1)
    cost_widths: list[int] = checked(check_int_list, low=1)
    cost_fixed_width: int = checked(check_int, low=1)
    cost_fixed_nnz: int = checked(check_int, low=1)
    cost_iht_steps: int = checked(check_int, low=1)
    cost_imp_epochs: int = checked(check_int, low=1)
    # execution (last, as in the parameters cells)
    device: str = checked(check_choice, allowed=("auto", "cpu", "cuda"))
    threads: int | None = checked(check_int, optional=True, low=1)


@dataclass(frozen=True, kw_only=True)
class RecoveryBeyondParams(_RecoveryCommon):
    """The parameters of ``book/recovery_beyond.ipynb`` (recovery beyond the theorem).

    The planted networks, the success criterion and the IHT and IMP recipes are those of
    :class:`RecoveryParams`, with the same checks; the ranges admit the paper's scale.
    """

    # digits (and MNIST)
    class_width: int = checked(check_int, low=1)
    class_nnzs: list[int] = checked(check_int_list, low=1)
    class_seeds: list[int] = checked(check_int_list, low=0)
    mnist_path: str | None = checked(check_str, optional=True)
    mnist_limit_train: int | None = checked(check_int, optional=True, low=1)
    # implicit neural representation
    inr_image: str = checked(check_choice, allowed=SAMPLE_IMAGES)
    inr_size: int = checked(check_int, low=4, high=512)
    inr_frequencies: int = checked(check_int, low=1)
    inr_scale: float = checked(check_float, low=0.0, low_inclusive=False)
    inr_width: int = checked(check_int, low=1)
    inr_nnzs: list[int] = checked(check_int_list, low=1)
    inr_holdout: float = checked(check_float, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    # width over-estimation and the guarantee's assumptions
    width_factors: list[int] = checked(check_int_list, low=1)
    mismatch_seeds: list[int] = checked(check_int_list, low=0)
    assumption_seeds: list[int] = checked(check_int_list, low=0)
    few_samples: int = checked(check_int, low=1)
    label_noise: float = checked(check_float, low=0.0)
    correlation: float = checked(check_float, low=0.0, high=1.0, high_inclusive=False)
    # execution (last, as in the parameters cells)
    device: str = checked(check_choice, allowed=("auto", "cpu", "cuda"))
    threads: int | None = checked(check_int, optional=True, low=1)


@dataclass(frozen=True, kw_only=True)
class ThresholdingParams(ChapterParams):
    """The parameters of ``book/thresholding.ipynb``."""

    # shrinkage and noise (one Gaussian problem size)
    signal_size: int = checked(check_int, low=2)  # N
    measurements: int = checked(check_int, low=1)  # m, in [nnz, signal_size]
    nnz: int = checked(check_int, low=1)  # k, the true number of non-zeros
    noise: float = checked(check_float, low=0.0)
    lam_factor: float = checked(check_float, low=0.0, low_inclusive=False)
    solver_steps: int = checked(check_int, low=1)
    seeds: list[int] = checked(check_int_list, low=0)
    shrink_lam_ratios: list[float] = checked(check_float_list, low=0.0, high=1.0, low_inclusive=False)
    shrink_nnzs: list[int] = checked(check_int_list, low=1)  # at most measurements
    noise_levels: list[float] = checked(check_float_list, low=0.0)
    # the group lasso's lambda and the success tolerance, named after the phase transitions that share them
    pt_lam_ratio: float = checked(check_float, low=0.0, high=1.0, low_inclusive=False)
    pt_success_tol: float = checked(check_float, low=0.0, low_inclusive=False)
    # group lasso
    group_signal_size: int = checked(check_int, low=2)
    group_size: int = checked(check_int, low=1)  # divides group_signal_size
    group_active: int = checked(check_int, low=1)  # at most the number of blocks
    group_ms: list[int] = checked(check_int_list, low=1)  # at most group_signal_size
    # correlation and the irrepresentable condition
    corr_values: list[float] = checked(check_float_list, low=0.0, high=1.0, high_inclusive=False)
    corr_samples: int = checked(check_int, low=1)
    corr_features: int = checked(check_int, low=2)
    corr_nnz: int = checked(check_int, low=1)  # at most min(corr_samples, corr_features - 1)
    corr_noise: float = checked(check_float, low=0.0)
    corr_lams: int = checked(check_int, low=1)
    # execution
    threads: int | None = checked(check_int, optional=True, low=1)

    def check_rules(self) -> None:
        if not self.nnz <= self.measurements <= self.signal_size:
            raise ValueError(
                f"parameters must satisfy nnz <= measurements <= signal_size, got nnz={self.nnz}, "
                f"measurements={self.measurements}, signal_size={self.signal_size}"
            )
        if max(self.shrink_nnzs) > self.measurements:
            raise ValueError(
                f"shrink_nnzs must hold values in [1, measurements = {self.measurements}], got {self.shrink_nnzs}"
            )
        if self.group_signal_size % self.group_size or self.group_active > self.group_signal_size // self.group_size:
            raise ValueError(
                f"group_size must divide group_signal_size = {self.group_signal_size} and group_active must be at "
                f"most the number of blocks; got group_size={self.group_size}, group_active={self.group_active}"
            )
        if max(self.group_ms) > self.group_signal_size:
            raise ValueError(
                f"group_ms must hold values in [1, group_signal_size = {self.group_signal_size}], got {self.group_ms}"
            )
        most = min(self.corr_samples, self.corr_features - 1)
        if self.corr_nnz > most:
            raise ValueError(
                f"corr_nnz must be at most min(corr_samples, corr_features - 1) = {most}, got {self.corr_nnz}"
            )


@dataclass(frozen=True, kw_only=True)
class PhaseTransitionsParams(ChapterParams):
    """The parameters of ``book/phase_transitions.ipynb``."""

    # the phase transitions
    pt_size: int = checked(check_int, low=2)  # a multiple of conv_channels
    pt_deltas: list[float] = checked(check_float_list, low=0.0, high=1.0, low_inclusive=False)
    pt_rhos: list[float] = checked(check_float_list, low=0.0, high=1.0, low_inclusive=False)
    pt_seeds: list[int] = checked(check_int_list, low=0)
    pt_steps: int = checked(check_int, low=1)
    pt_lam_ratio: float = checked(check_float, low=0.0, high=1.0, low_inclusive=False)
    pt_success_tol: float = checked(check_float, low=0.0, low_inclusive=False)
    conv_channels: int = checked(check_int, low=1)
    conv_kernel: int = checked(check_int, low=1)
    # execution
    threads: int | None = checked(check_int, optional=True, low=1)

    def check_rules(self) -> None:
        if self.pt_size % self.conv_channels:
            raise ValueError(f"pt_size must be a multiple of conv_channels = {self.conv_channels}, got {self.pt_size}")


@dataclass(frozen=True, kw_only=True)
class GeneralisationParams(ChapterParams):
    """The parameters of ``book/generalisation.ipynb``."""

    solver_steps: int = checked(check_int, low=1)  # iterations of IHT
    seeds: list[int] = checked(check_int_list, low=0)  # of the selection section
    # A-optimal against largest-norm selection
    sel_rows: int = checked(check_int, low=1)
    sel_dim: int = checked(check_int, low=1)
    sel_decay: float = checked(check_float, low=0.0, high=1.0, low_inclusive=False)
    sel_ks: list[int] = checked(check_int_list, low=1)  # in [sel_dim, sel_rows]
    # generalisation of sparse linear classifiers on two digits
    gen_classes: list[int] = checked(check_int_list, low=0, high=9, min_len=2, max_len=2)
    gen_nnzs: list[int] = checked(check_int_list, low=1, high=65)
    gen_seeds: list[int] = checked(check_int_list, low=0)
    gen_ridge: float = checked(check_float, low=0.0, low_inclusive=False)
    # execution
    threads: int | None = checked(check_int, optional=True, low=1)

    def check_rules(self) -> None:
        if self.sel_dim > self.sel_rows or min(self.sel_ks) < self.sel_dim or max(self.sel_ks) > self.sel_rows:
            raise ValueError(
                f"parameters must satisfy sel_dim <= sel_ks[i] <= sel_rows, got sel_dim={self.sel_dim}, "
                f"sel_ks={self.sel_ks}, sel_rows={self.sel_rows}"
            )


@dataclass(frozen=True, kw_only=True)
class FactorizationParams(ChapterParams):
    """The parameters of ``book/factorization.ipynb`` (sizes of butterflies: powers of two >= 2)."""

    # ill-posedness: the LU counter-example and sparse ReLU training
    lu_eps: list[float] = checked(check_float_list, low=0.0, low_inclusive=False)
    descent_steps: int = checked(check_int, low=1)
    descent_init_scale: float = checked(check_float, low=0.0, low_inclusive=False)
    record_every: int = checked(check_int, low=1)
    relu_samples: int = checked(check_int, low=1)
    relu_in_features: int = checked(check_int, low=1)
    relu_width: int = checked(check_int, low=1)
    relu_density: float = checked(check_density)
    relu_steps: int = checked(check_int, low=1)
    relu_lr: float = checked(check_float, low=0.0, low_inclusive=False)
    relu_noise: float = checked(check_float, low=0.0)
    seeds: list[int] = checked(check_int_list, low=0)
    # tractable and general supports
    fsmf_size: int = checked(check_int, low=2)
    fsmf_rank: int = checked(check_int, low=1)
    fsmf_density: float = checked(check_density)
    fsmf_starts: int = checked(check_int, low=1)
    fsmf_steps: int = checked(check_int, low=1)
    fsmf_seed: int = checked(check_int, low=0)
    # butterflies
    exact_sizes: list[int] = checked(check_sizes)
    orders: list[str] = checked(check_choice_list, allowed=ORDERS)
    noise_size: int = checked(check_power_of_two)
    noise_levels: list[float] = checked(check_float_list, low=0.0)
    dense_sizes: list[int] = checked(check_sizes)
    # speed
    timing_sizes: list[int] = checked(check_sizes)
    timing_orders: list[str] = checked(check_choice_list, allowed=ORDERS)
    product_sizes: list[int] = checked(check_sizes, min_len=2)
    product_batches: list[int] = checked(check_int_list, low=1)
    product_repeats: int = checked(check_int, low=1)
    # structured layers
    layer_size: int = checked(check_power_of_two)  # a perfect square too when layer_models has "monarch"
    task_samples: int = checked(check_int, low=1)
    task_test_samples: int = checked(check_int, low=1)
    task_epochs: int = checked(check_int, low=1)
    digits_epochs: int = checked(check_int, low=1)
    layer_lr: float = checked(check_float, low=0.0, low_inclusive=False)
    layer_batch_size: int = checked(check_int, low=1)
    layer_models: list[str] = checked(check_choice_list, allowed=LAYER_MODELS)
    # execution
    threads: int | None = checked(check_int, optional=True, low=1)
    device: str = checked(check_choice, allowed=DEVICES)

    def check_rules(self) -> None:
        if "monarch" in self.layer_models and math.isqrt(self.layer_size) ** 2 != self.layer_size:
            raise ValueError(
                f"layer_size must be a perfect square (an even power of two) for the Monarch layer, "
                f"got {self.layer_size}"
            )
