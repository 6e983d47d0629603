"""Tests of sparselab.chapters.params (each chapter's parameters, one dataclass per notebook) and of the
checks of sparselab._validation those dataclasses are built from."""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from sparselab import _validation as V
from sparselab.chapters import params
from sparselab.chapters.params import (
    ChapterParams,
    FactorizationParams,
    GeneralisationParams,
    LearnedMasksParams,
    PhaseTransitionsParams,
    PruningParams,
    RecoveryBeyondParams,
    RecoveryParams,
    ThresholdingParams,
    checked,
)

BOOK = Path(__file__).resolve().parent.parent / "book"
CHAPTERS = {
    "learned_masks": LearnedMasksParams,
    "pruning": PruningParams,
    "recovery": RecoveryParams,
    "recovery_beyond": RecoveryBeyondParams,
    "thresholding": ThresholdingParams,
    "phase_transitions": PhaseTransitionsParams,
    "generalisation": GeneralisationParams,
    "factorization": FactorizationParams,
}


def notebook_defaults(chapter: str) -> dict:
    """The values of a chapter's ``parameters`` cell (literals only)."""
    nb = json.loads((BOOK / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    source = "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])
    return {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(source).body}


# ----------------------------------------------------------------------------- the mechanism, on a toy chapter
@dataclass(frozen=True, kw_only=True)
class Toy(ChapterParams):
    epochs: int = checked(V.check_int, low=1)
    lr: float = checked(V.check_float, low=0.0, high=1.0)
    name: str = checked(V.check_choice, allowed=("a", "b"))
    flag: bool = checked(V.check_bool)
    sparsities: list[float] = checked(V.check_float_list, low=0.0, high=1.0, high_inclusive=False)
    threads: int | None = checked(V.check_int, optional=True, low=1)
    pair: list[int] = checked(V.check_int_list, low=1, distinct=False, min_len=2, max_len=2)

    def check_rules(self) -> None:
        if self.pair[0] > self.epochs:
            raise ValueError(f"pair[0] must be at most epochs = {self.epochs}, got {self.pair[0]}")


GOOD = {"epochs": 5, "lr": 1, "name": "a", "flag": False, "sparsities": (0, 0.5, 0.99), "threads": None, "pair": [3, 3]}


def test_values_are_checked_and_converted():
    p = Toy(**GOOD)
    assert p.asdict() == {**GOOD, "lr": 1.0, "sparsities": [0.0, 0.5, 0.99]}
    assert list(p.asdict()) == list(GOOD)  # field order
    assert dataclasses.asdict(p) == p.asdict()
    assert isinstance(p.lr, float) and all(isinstance(s, float) for s in p.sparsities)
    assert isinstance(p.sparsities, list) and isinstance(p.pair, list)  # a tuple in, a list out
    assert p.epochs == 5 and p.threads is None and p.pair == [3, 3]  # repeats allowed where distinct=False
    assert Toy(**{**GOOD, "threads": 2}).threads == 2
    with pytest.raises(AttributeError, match="nothing"):
        p.nothing
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.epochs = 3
    assert p.asdict() is not p.asdict() and p.asdict()["sparsities"] is not p.sparsities  # copies


@pytest.mark.parametrize(
    "name, value, error, words",
    [
        ("epochs", "many", TypeError, ["epochs must be an integer", "'many'", "str"]),
        ("epochs", 2.0, TypeError, ["epochs must be an integer", "2.0", "float"]),
        ("epochs", True, TypeError, ["epochs must be an integer", "True", "bool"]),
        ("lr", True, TypeError, ["lr must be a real number", "True", "bool"]),
        ("lr", "0.1", TypeError, ["lr must be a real number", "'0.1'", "str"]),
        ("flag", 1, TypeError, ["flag must be True or False", "1"]),
        ("epochs", 0, ValueError, ["epochs must be an integer in", "[1, inf]", "0"]),
        ("lr", 1.5, ValueError, ["lr must be a finite number in", "[0.0, 1.0]", "1.5"]),
        ("lr", float("nan"), ValueError, ["lr must be a finite number", "nan"]),
        ("name", "c", ValueError, ["name must be one of", "'a'", "'b'", "'c'"]),
        ("sparsities", [0.5, 1.0], ValueError, ["sparsities[1] must be", "[0.0, 1.0)", "1.0"]),
        ("sparsities", [0.5, "x"], TypeError, ["sparsities[1] must be a real number", "'x'"]),
        ("sparsities", [0.5, False], TypeError, ["sparsities[1] must be a real number", "bool"]),
        ("sparsities", "[0, 0.5]", TypeError, ["sparsities must be a list", "'[0, 0.5]'", "-y", "sparsities: ["]),
        ("sparsities", 0.5, TypeError, ["sparsities must be a list", "0.5"]),
        ("sparsities", [], ValueError, ["sparsities must hold at least one value", "[]"]),
        ("sparsities", [0.5, 0.5], ValueError, ["sparsities must not repeat values", "[0.5, 0.5]"]),
        ("threads", 0, ValueError, ["threads must be an integer in", "[1, inf]", "0"]),
        ("threads", "2", TypeError, ["threads must be None or an integer", "'2'", "str"]),
        ("pair", [1], ValueError, ["pair must hold exactly 2 values", "[1]"]),
        ("pair", [1, 2, 3], ValueError, ["pair must hold exactly 2 values", "3"]),
        ("pair", [0, 1], ValueError, ["pair[0] must be an integer in", "[1, inf]"]),
        ("pair", [6, 1], ValueError, ["pair[0] must be at most epochs = 5", "6"]),  # a rule of several fields
    ],
)
def test_errors_name_the_parameter_its_value_and_the_allowed_range(name, value, error, words):
    with pytest.raises(error) as info:
        Toy(**{**GOOD, name: value})
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_errors_are_those_of_validation():
    for name, value, check, bounds in [
        ("epochs", 0, V.check_int, dict(low=1)),
        ("lr", "0.1", V.check_float, dict(low=0.0, high=1.0)),
        ("name", "c", V.check_choice, dict(allowed=("a", "b"))),
        ("sparsities", [0.5, 1.0], V.check_float_list, dict(low=0.0, high=1.0, high_inclusive=False)),
    ]:
        with pytest.raises((TypeError, ValueError)) as expected:
            check(value, name, **bounds)
        with pytest.raises(expected.type) as got:
            Toy(**{**GOOD, name: value})
        assert str(got.value) == str(expected.value)


def test_fields_are_checked_in_order_before_the_rules():
    with pytest.raises(TypeError, match="^epochs"):
        Toy(**{**GOOD, "epochs": "x", "lr": "y", "pair": [9, 9]})
    with pytest.raises(ValueError, match=r"^pair\[1\]"):
        Toy(**{**GOOD, "epochs": 1, "pair": [9, 0]})  # pair[1] fails before the rule on pair[0]


def test_unknown_missing_and_positional_parameters_are_type_errors():
    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch'"):
        Toy(**{**GOOD, "epoch": 3})
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'flag'"):
        Toy(**{k: v for k, v in GOOD.items() if k != "flag"})
    with pytest.raises(TypeError):
        Toy(*GOOD.values())


# ----------------------------------------------------------------------------- the chapters
@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_the_notebook_defaults_are_valid_and_every_field_is_a_parameter(chapter):
    cls, defaults = CHAPTERS[chapter], notebook_defaults(chapter)
    names = [f.name for f in dataclasses.fields(cls)]
    assert names == list(defaults)  # the same names, in the order of the parameters cell
    for f in dataclasses.fields(cls):
        assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING, f.name  # one source
        assert callable(f.metadata["check"]), f.name
    p = cls(**defaults)
    assert p.asdict() == defaults  # nothing to convert in the defaults
    assert isinstance(p, ChapterParams) and set(params.__all__) >= {cls.__name__}


def test_learned_masks_parameters():
    values = dict(
        n_train=1000,
        n_test=1000,
        in_features=32,
        width=32,
        noise=0.05,
        nonlinear_density=0.1,
        linear_density=0.25,
        sparsity=0.9,
        epochs=30,
        lr=0.01,
        batch_size=128,
        temperature_end=0.01,
        device="auto",
        bf16=False,
        threads=None,
        seed=0,
        seeds=[0, 1, 2],
        sparsities=[0.0, 0.5, 0.99],
        sweep_methods=["hard+STE", "hard, no STE"],
    )
    assert set(values) == {f.name for f in dataclasses.fields(LearnedMasksParams)}
    assert LearnedMasksParams(**values).threads is None
    for name, bad, error in [
        ("seeds", [0, 0], ValueError),
        ("seeds", [], ValueError),
        ("seeds", [-1], ValueError),
        ("sparsities", [0.5, 1], ValueError),
        ("device", "tpu", ValueError),
        ("sweep_methods", ["hard"], ValueError),
        ("sweep_methods", "soft", TypeError),  # a list, not one name
        ("bf16", 0, TypeError),
        ("nonlinear_density", 0, ValueError),
        ("linear_density", 1.5, ValueError),
        ("threads", 0, ValueError),
        ("width", 0, ValueError),
    ]:
        with pytest.raises(error, match=f"^{name}"):
            LearnedMasksParams(**{**values, name: bad})


# every chapter: a bad value of (nearly) every kind, and every rule of several parameters, with its message
CHAPTER_ERRORS = [
    (
        "pruning",
        dict(focus_sparsity=0.5),
        ValueError,
        "focus_sparsity must be one of sparsities=[0.8, 0.9, 0.95, 0.98]",
    ),
    ("pruning", dict(sparsities=[0.0, 0.9]), ValueError, "sparsities[0] must be a finite number in (0.0, 1.0)"),
    ("pruning", dict(regression_widths=[32, 0]), ValueError, "regression_widths[1] must be an integer in [1, inf]"),
    ("pruning", dict(regression_widths="[32]"), TypeError, "regression_widths must be a list"),
    ("pruning", dict(cnn_channels=[8, 16, 32]), ValueError, "cnn_channels must hold exactly 2 values"),
    ("pruning", dict(cnn_densities=[0.5, 1.0]), ValueError, "cnn_densities[1] must be a finite number in (0.0, 1.0)"),
    ("pruning", dict(drop_fraction=0), ValueError, "drop_fraction must be a finite number in (0.0, 1.0]"),
    ("pruning", dict(workers=0), ValueError, "workers must be an integer in [1, inf]"),
    ("pruning", dict(device="tpu"), ValueError, "device must be one of 'auto', 'cpu', 'cuda', 'mps'"),
    ("recovery", dict(planted_nnz=101), ValueError, "planted_nnz must be in [1, planted_width * in_features = 100]"),
    ("recovery", dict(planted_width=1), ValueError, "planted_width must be an integer in [2, inf], got 1"),
    ("recovery", dict(cost_widths=[10, 0]), ValueError, "cost_widths[1] must be an integer in [1, inf], got 0"),
    ("recovery", dict(imp_alpha=1.0), ValueError, "imp_alpha must be a finite number in (0.0, 1.0), got 1.0"),
    ("recovery", dict(device="mps"), ValueError, "device must be one of 'auto', 'cpu', 'cuda'; got 'mps'"),
    ("recovery", dict(nnzs=[5, 5]), ValueError, "nnzs must not repeat values"),
    (
        "recovery_beyond",
        dict(planted_nnz=101),
        ValueError,
        "planted_nnz must be in [1, planted_width * in_features = 100]",
    ),
    ("recovery_beyond", dict(planted_width=1), ValueError, "planted_width must be an integer in [2, inf], got 1"),
    ("recovery_beyond", dict(inr_size=600), ValueError, "inr_size must be an integer in [4, 512], got 600"),
    ("recovery_beyond", dict(inr_image="lena"), ValueError, "inr_image must be one of 'camera'"),
    ("recovery_beyond", dict(mnist_path=3), TypeError, "mnist_path must be None or a string, got 3"),
    ("recovery_beyond", dict(mnist_limit_train=0), ValueError, "mnist_limit_train must be an integer in [1, inf]"),
    ("recovery_beyond", dict(width_factors=[1, 1]), ValueError, "width_factors must not repeat values"),
    ("recovery_beyond", dict(correlation=1.0), ValueError, "correlation must be a finite number in [0.0, 1.0)"),
    (
        "thresholding",
        dict(nnz=81),
        ValueError,
        "parameters must satisfy nnz <= measurements <= signal_size, got nnz=81",
    ),
    (
        "thresholding",
        dict(measurements=201),
        ValueError,
        "nnz <= measurements <= signal_size, got nnz=10, measurements",
    ),
    ("thresholding", dict(shrink_nnzs=[5, 81]), ValueError, "shrink_nnzs must hold values in [1, measurements = 80]"),
    ("phase_transitions", dict(pt_size=101), ValueError, "pt_size must be a multiple of conv_channels = 4, got 101"),
    ("thresholding", dict(group_size=3), ValueError, "group_size must divide group_signal_size = 100"),
    ("thresholding", dict(group_active=21), ValueError, "group_active must be at most the number of blocks"),
    ("thresholding", dict(group_ms=[20, 101]), ValueError, "group_ms must hold values in [1, group_signal_size = 100]"),
    (
        "thresholding",
        dict(corr_nnz=61),
        ValueError,
        "corr_nnz must be at most min(corr_samples, corr_features - 1) = 60",
    ),
    ("generalisation", dict(sel_ks=[5, 20]), ValueError, "parameters must satisfy sel_dim <= sel_ks[i] <= sel_rows"),
    ("generalisation", dict(gen_classes=[3, 3]), ValueError, "gen_classes must not repeat values"),
    ("generalisation", dict(gen_classes=[3]), ValueError, "gen_classes must hold exactly 2 values"),
    ("generalisation", dict(gen_classes=[3, 10]), ValueError, "gen_classes[1] must be an integer in [0, 9], got 10"),
    ("generalisation", dict(gen_nnzs=[2, 66]), ValueError, "gen_nnzs[1] must be an integer in [1, 65], got 66"),
    ("thresholding", dict(noise_levels=[-0.1]), ValueError, "noise_levels[0] must be a finite number in [0.0, inf]"),
    ("factorization", dict(exact_sizes=[4, 12]), ValueError, "exact_sizes[1] must be a power of two >= 2, got 12"),
    ("factorization", dict(dense_sizes=[1]), ValueError, "dense_sizes[0] must be an integer in [2, inf], got 1"),
    ("factorization", dict(timing_sizes=[64, 100]), ValueError, "timing_sizes[1] must be a power of two >= 2"),
    ("factorization", dict(product_sizes=[64]), ValueError, "product_sizes must hold at least 2 values, got 1"),
    ("factorization", dict(noise_size=100), ValueError, "noise_size must be a power of two >= 2, got 100"),
    ("factorization", dict(layer_size=32), ValueError, "layer_size must be a perfect square (an even power of two)"),
    ("factorization", dict(orders=["sideways"]), ValueError, "orders[0] must be one of 'balanced'"),
    ("factorization", dict(layer_models=["dense", "fft"]), ValueError, "layer_models[1] must be one of 'dense'"),
    ("factorization", dict(relu_density=0.0), ValueError, "relu_density must be in (0, 1], got 0.0"),
    ("factorization", dict(lu_eps=[1.0, 0.0]), ValueError, "lu_eps[1] must be a finite number in (0.0, inf]"),
    ("factorization", dict(threads=1.0), TypeError, "threads must be None or an integer, got 1.0 of type float"),
]


@pytest.mark.parametrize("chapter, bad, error, message", CHAPTER_ERRORS)
def test_chapter_errors(chapter, bad, error, message):
    with pytest.raises(error) as info:
        CHAPTERS[chapter](**{**notebook_defaults(chapter), **bad})
    assert message in str(info.value), str(info.value)


def test_a_layer_size_that_is_no_square_is_fine_without_monarch():
    values = {**notebook_defaults("factorization"), "layer_size": 32, "layer_models": ["dense", "butterfly"]}
    assert FactorizationParams(**values).layer_size == 32


# ----------------------------------------------------------------------------- the checks added to _validation
def test_check_optional():
    assert V.check_optional(None, "threads", V.check_int, low=1) is None
    assert V.check_optional(3, "threads", V.check_int, low=1) == 3
    with pytest.raises(ValueError, match=r"^threads must be an integer in \[1, inf\], got 0$"):
        V.check_optional(0, "threads", V.check_int, low=1)
    with pytest.raises(TypeError, match=r"^threads must be None or an integer, got 'x' of type str$"):
        V.check_optional("x", "threads", V.check_int, low=1)
    with pytest.raises(TypeError, match=r"^path must be None or a string, got 3 of type int$"):
        V.check_optional(3, "path", V.check_str)


def test_check_str_and_check_length():
    assert V.check_str("", "path") == ""
    with pytest.raises(TypeError, match=r"^path must be a string, got b'x' of type bytes$"):
        V.check_str(b"x", "path")
    assert V.check_length([1, 2], "pair", min_len=2, max_len=2) == [1, 2]
    with pytest.raises(ValueError, match=r"^pair must hold exactly 2 values, got 3: \[1, 2, 3\]$"):
        V.check_length([1, 2, 3], "pair", min_len=2, max_len=2)
    with pytest.raises(ValueError, match=r"^sizes must hold at least 2 values, got 1: \[4\]$"):
        V.check_length((4,), "sizes", min_len=2)
    with pytest.raises(ValueError, match=r"^sizes must hold between 1 and 2 values, got 3"):
        V.check_length([4, 8, 16], "sizes", min_len=1, max_len=2)


def test_list_checks_keep_their_defaults_and_take_length_and_repeats():
    with pytest.raises(ValueError, match="must not repeat"):
        V.check_int_list([1, 1], "seeds")  # distinct by default, as before
    with pytest.raises(ValueError, match="must not repeat"):
        V.check_float_list([0.5, 0.5], "sparsities")
    assert V.check_int_list((8, 8), "widths", distinct=False) == [8, 8]
    assert V.check_float_list([0.5, 0.5], "levels", distinct=False) == [0.5, 0.5]
    with pytest.raises(ValueError, match=r"^sizes must hold at least 2 values"):
        V.check_int_list([4], "sizes", min_len=2)
    with pytest.raises(ValueError, match=r"^levels must hold between 1 and 2 values"):
        V.check_float_list([0.1, 0.2, 0.3], "levels", max_len=2)
    with pytest.raises(ValueError, match=r"^seeds must hold at least one value, got \[\]$"):
        V.check_int_list([], "seeds")  # unchanged


def test_check_options():
    assert V.check_options(None, "data", ("a", "b")) == {}
    given = {"a": 1}
    out = V.check_options(given, "data", ("a", "b"))
    assert out == given and out is not given
    with pytest.raises(TypeError, match=r"^data must be a dict of keyword arguments, got list$"):
        V.check_options([("a", 1)], "data", ("a",))
    with pytest.raises(ValueError, match=r"^data must not contain 'seed': the seed argument seeds the data$"):
        V.check_options({"seed": 1}, "data", ("a", "seed"), {"seed": "the seed argument seeds the data"})
    with pytest.raises(ValueError, match=r"^unknown data option\(s\) \['c'\]; allowed: \['a', 'b'\]$"):
        V.check_options({"a": 1, "c": 2}, "data", ("a", "b"))


def test_float_bounds_text_is_the_chapters():
    # the ranges read as the chapters' old specs did: floats print as 0.0 and 1.0
    with pytest.raises(
        ValueError, match="^" + re.escape("sparsity must be a finite number in [0.0, 1.0), got 1.0") + "$"
    ):
        LearnedMasksParams(**{**notebook_defaults("learned_masks"), "sparsity": 1.0})
    assert math.isclose(LearnedMasksParams(**{**notebook_defaults("learned_masks"), "sparsity": 0}).sparsity, 0.0)
