"""Tests of the book's chapter notebooks: committed output-free, parameterised, validated, executable.

The structural checks read the notebooks as JSON. Two tests execute a chapter with
papermill: once with a wrong-typed parameter (it must stop at the validation cell, naming the
parameter), and once at a tiny scale, checking that every value the prose pastes with
``{glue:text}`` is glued by the code.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import nbformat
import pytest

from sparselab.chapters.params import (
    FactorizationParams,
    GeneralisationParams,
    LearnedMasksParams,
    PhaseTransitionsParams,
    PruningParams,
    RecoveryBeyondParams,
    RecoveryParams,
    ThresholdingParams,
)

BOOK = Path(__file__).resolve().parent.parent / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))
LEARNED = BOOK / "learned_masks.ipynb"
#: Every chapter with the parameter dataclass its validation cell builds.
SPECS = {
    "learned_masks.ipynb": LearnedMasksParams,
    "pruning.ipynb": PruningParams,
    "recovery.ipynb": RecoveryParams,
    "recovery_beyond.ipynb": RecoveryBeyondParams,
    "thresholding.ipynb": ThresholdingParams,
    "phase_transitions.ipynb": PhaseTransitionsParams,
    "generalisation.ipynb": GeneralisationParams,
    "factorization.ipynb": FactorizationParams,
}

RECOVERY_NB = BOOK / "recovery.ipynb"
RECOVERY_BEYOND_NB = BOOK / "recovery_beyond.ipynb"
THRESHOLDING_NB = BOOK / "thresholding.ipynb"
PHASE_TRANSITIONS_NB = BOOK / "phase_transitions.ipynb"
GENERALISATION_NB = BOOK / "generalisation.ipynb"
FACTORIZATION_NB = BOOK / "factorization.ipynb"

# A scale at which the whole chapter executes in seconds.
TINY = dict(
    n_train=96,
    n_test=64,
    in_features=8,
    width=8,
    epochs=2,
    batch_size=32,
    sparsity=0.75,
    seeds=[0, 1],
    sparsities=[0.0, 0.75],
    threads=1,
    device="cpu",
)


# The same for the recovery pages (every section still runs, on tiny grids; each page takes the names it has).
RECOVERY_TINY = dict(
    in_features=6,
    n_train=200,
    n_test=100,
    planted_width=2,
    planted_nnz=4,
    seeds=[0],
    widths=[1, 2],
    nnzs=[2, 4],
    samples_width=2,
    samples_n_trains=[30, 100],
    samples_nnzs=[2, 4],
    iht_steps=10,
    iht_restarts=2,
    iht_chunk=8,
    imp_epochs=3,
    cost_n_train=300,
    cost_nnzs=[2, 5],
    cost_widths=[2, 16],
    cost_fixed_width=4,
    cost_fixed_nnz=5,
    cost_iht_steps=2,
    cost_imp_epochs=1,
    class_width=4,
    class_nnzs=[10, 20],
    inr_size=8,
    inr_frequencies=4,
    inr_width=4,
    inr_nnzs=[4, 8],
    width_factors=[1, 2],
    mismatch_seeds=[0, 1],
    assumption_seeds=[0],
    few_samples=5,
    threads=1,
    device="cpu",
)

# The same for the three thresholding pages (each takes the names it has).
THRESHOLDING_TINY = dict(
    signal_size=40,
    measurements=20,
    nnz=3,
    solver_steps=60,
    seeds=[0, 1],
    shrink_lam_ratios=[0.05, 0.3],
    shrink_nnzs=[2, 3, 6],
    noise_levels=[0.0, 0.05],
    pt_size=24,
    pt_deltas=[0.3, 0.7],
    pt_rhos=[0.2, 0.6],
    pt_seeds=[0],
    pt_steps=60,
    conv_channels=2,
    conv_kernel=3,
    group_signal_size=20,
    group_size=4,
    group_active=2,
    group_ms=[8, 16],
    corr_values=[0.0, 0.8],
    corr_samples=20,
    corr_features=12,
    corr_nnz=2,
    corr_lams=4,
    sel_rows=30,
    sel_dim=4,
    sel_ks=[4, 8],
    gen_nnzs=[2, 8],
    gen_seeds=[0],
    threads=1,
)

# The same for the factorisation chapter.
FACTORIZATION_TINY = dict(
    lu_eps=[1.0, 0.01],
    descent_steps=40,
    record_every=10,
    relu_samples=30,
    relu_in_features=4,
    relu_width=4,
    relu_steps=40,
    seeds=[0, 1],
    fsmf_size=6,
    fsmf_rank=3,
    fsmf_starts=3,
    fsmf_steps=20,
    exact_sizes=[4, 16],
    orders=["balanced", "left_to_right"],
    noise_size=16,
    noise_levels=[0.0, 0.01],
    dense_sizes=[16],
    timing_sizes=[16, 64],
    timing_orders=["balanced"],
    product_sizes=[16, 64],
    product_batches=[1, 4],
    product_repeats=1,
    layer_size=16,
    task_samples=16,
    task_test_samples=32,
    task_epochs=2,
    digits_epochs=1,
    threads=1,
)


def read(path: Path):
    return nbformat.read(path, as_version=4)


def code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def parameters_cell(nb):
    return code_cells(nb)[0]


def test_there_are_notebooks():
    assert LEARNED in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = read(path)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    for i, cell in enumerate(code_cells(nb)):
        assert cell.outputs == [], f"{path.name}: code cell {i} has outputs"
        assert cell.execution_count is None, f"{path.name}: code cell {i} has an execution count"
    assert "papermill" not in nb.metadata, f"{path.name} is an executed copy (papermill metadata)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_only_parameters_cell(path):
    cells = code_cells(path and read(path))
    tagged = [i for i, cell in enumerate(cells) if "parameters" in cell.metadata.get("tags", [])]
    assert tagged == [0], f"{path.name}: code cells tagged 'parameters': {tagged} (need exactly the first)"
    # the parameters cell only assigns literals, so that papermill can override every name
    for node in ast.parse(cells[0].source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        ast.literal_eval(node.value)


def test_every_chapter_has_a_parameter_spec():
    assert {path.name for path in NOTEBOOKS} == set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_chapter_has_no_algorithm_code(name):
    for cell in code_cells(read(BOOK / name)):
        tree = ast.parse("\n".join(line for line in cell.source.splitlines() if not line.startswith("%")))
        defined = [
            n
            for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
        ]
        assert not defined, f"notebook defines {[type(n).__name__ for n in defined]}: move it to sparselab"
        assert not re.search(r"^\s*(def|class)\s", cell.source, re.MULTILINE)


@pytest.mark.parametrize("chapter", sorted(SPECS))
def test_parameters_match_the_spec_and_are_validated_next(chapter):
    cls = SPECS[chapter]
    names = [f.name for f in dataclasses.fields(cls)]
    cells = code_cells(read(BOOK / chapter))
    defaults = {}
    exec(cells[0].source, {}, defaults)  # literals only (checked above)
    assert set(defaults) == set(names)
    cls(**defaults)  # the defaults are valid
    validation = cells[1].source
    assert f"P = {cls.__name__}(" in validation and f"import {cls.__name__}" in validation
    for name in names:
        assert re.search(rf"\b{name}={name}\b", validation), f"{name} is not passed to {cls.__name__}"


@pytest.mark.parametrize(
    "parameters, words",
    [
        ({"epochs": "many"}, ["epochs", "many"]),
        ({"seeds": "[0, 1]"}, ["seeds", "-y"]),
        ({"sparsities": [0.5, 1.0]}, ["sparsities[1]"]),
    ],
)
def test_wrong_parameter_fails_at_the_validation_cell(tmp_path, parameters, words):
    pm = pytest.importorskip("papermill")
    out = tmp_path / "out.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as info:
        pm.execute_notebook(
            str(LEARNED), str(out), parameters=parameters, kernel_name="python3", cwd=str(BOOK), progress_bar=False
        )
    message = str(info.value)
    for word in words:
        assert word in message, message
    executed = read(out)
    failed = [i for i, cell in enumerate(code_cells(executed)) if any(o.output_type == "error" for o in cell.outputs)]
    # code cells: 0 parameters, 1 injected parameters, 2 validation
    assert failed == [2], f"the error came from code cell {failed}, not the validation cell"


@pytest.mark.parametrize(
    "path, parameters, figures",
    [
        (LEARNED, TINY, 9),
        (RECOVERY_NB, RECOVERY_TINY, 12),
        (RECOVERY_BEYOND_NB, RECOVERY_TINY, 6),
        (THRESHOLDING_NB, THRESHOLDING_TINY, 5),
        (PHASE_TRANSITIONS_NB, THRESHOLDING_TINY, 1),
        (GENERALISATION_NB, THRESHOLDING_TINY, 3),
        (FACTORIZATION_NB, FACTORIZATION_TINY, 7),
    ],
    ids=[
        "learned_masks",
        "recovery",
        "recovery_beyond",
        "thresholding",
        "phase_transitions",
        "generalisation",
        "factorization",
    ],
)
def test_tiny_execution_glues_every_pasted_value(tmp_path, path, parameters, figures):
    pm = pytest.importorskip("papermill")
    out = tmp_path / "out.ipynb"
    names = set(SPECS[path.name].__dataclass_fields__)
    unknown = set(parameters) - {n for spec in SPECS.values() for n in spec.__dataclass_fields__}
    assert not unknown, f"tiny parameters no page has: {sorted(unknown)}"
    parameters = {name: value for name, value in parameters.items() if name in names}  # the page's own
    pm.execute_notebook(
        str(path), str(out), parameters=parameters, kernel_name="python3", cwd=str(BOOK), progress_bar=False
    )
    executed = read(out)
    glued = set()
    for cell in code_cells(executed):
        for output in cell.outputs:
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None:
                glued.add(name)
    pasted = set()
    for cell in executed.cells:
        if cell.cell_type == "markdown":
            pasted |= {m.rsplit(":", 1)[0] for m in re.findall(r"\{glue:text\}`([^`]+)`", cell.source)}
    assert pasted, "the prose pastes no value"
    assert pasted <= glued, f"pasted but never glued: {sorted(pasted - glued)}"
    # every figure glued in code is placed by a {glue:figure} block (numbered, captioned), and vice versa
    placed = set()
    for cell in executed.cells:
        if cell.cell_type == "markdown":
            placed |= set(re.findall(r"```\{glue:figure\}\s+(\S+)", cell.source))
    figure_names = {n for n in glued if n.startswith("fig-")}
    assert placed == figure_names, (
        f"glued but not placed: {sorted(figure_names - placed)}; placed but not glued: "
        + str(sorted(placed - figure_names))
    )
    # figures were drawn: a glued figure is stored as application/papermill.record/image/png, an inline one as image/png
    images = sum(
        any(key.endswith("image/png") for key in o.get("data", {})) for c in code_cells(executed) for o in c.outputs
    )
    assert images >= figures


@pytest.mark.parametrize(
    "parameters, words",
    [
        ({"orders": ["sideways"]}, ["orders[0]", "sideways"]),
        ({"exact_sizes": [4, 12]}, ["exact_sizes[1]", "power of two", "12"]),
    ],
)
def test_factorization_wrong_parameter_fails_at_the_validation_cell(tmp_path, parameters, words):
    pm = pytest.importorskip("papermill")
    out = tmp_path / "out.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as info:
        pm.execute_notebook(
            str(FACTORIZATION_NB),
            str(out),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(BOOK),
            progress_bar=False,
        )
    message = str(info.value)
    for word in words:
        assert word in message, message
    failed = [i for i, cell in enumerate(code_cells(read(out))) if any(o.output_type == "error" for o in cell.outputs)]
    assert failed == [2], f"the error came from code cell {failed}, not the validation cell"
