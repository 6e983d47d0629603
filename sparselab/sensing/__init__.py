"""Sparse recovery from linear measurements: the solvers (IHT, ISTA, FISTA, group lasso;
:mod:`~sparselab.sensing.solvers`), the normalised IHT step they share with :func:`sparselab.recovery.iht`
(:mod:`~sparselab.sensing.step_rule`), their objectives, certificates and debiasing (:mod:`~sparselab.sensing.objectives`),
measurement ensembles (:mod:`~sparselab.sensing.ensembles`) and diagnostics of a design (coherence,
irrepresentability, RIP, A-optimal rows; :mod:`~sparselab.sensing.diagnostics`).

Every public name of these modules is also a name of the package.
"""

from sparselab.sensing import diagnostics, ensembles, objectives, solvers, step_rule
from sparselab.sensing.diagnostics import (
    AOptimalSelection,
    RIPEstimate,
    a_optimal_rows,
    donoho_tanner_l1,
    irrepresentable,
    largest_norm_rows,
    mutual_coherence,
    restricted_eigenvalues,
    rip_lower_estimate,
    selection_overlap,
)
from sparselab.sensing.ensembles import (
    DISTRIBUTIONS,
    PADDING_MODES,
    bernoulli,
    conv1d_column_blocks,
    conv1d_column_groups,
    conv1d_matrix,
    conv1d_output_length,
    dct_matrix,
    gaussian,
    measure,
    partial_dct,
    partial_fourier,
    real_fourier_matrix,
    sparse_signal,
)
from sparselab.sensing.objectives import (
    debias,
    group_lambda_max,
    group_lasso_objective,
    group_lasso_optimality_gap,
    lambda_max,
    lasso_objective,
    lasso_optimality_gap,
    least_squares,
)
from sparselab.sensing.solvers import SolverResult, fista, group_lasso, iht, ista, lipschitz
from sparselab.sensing.step_rule import NormalizedIHTStep, normalized_iht_step

__all__ = [
    "solvers",
    "step_rule",
    "objectives",
    "ensembles",
    "diagnostics",
    "SolverResult",
    "lipschitz",
    "iht",
    "ista",
    "fista",
    "group_lasso",
    "NormalizedIHTStep",
    "normalized_iht_step",
    "debias",
    "least_squares",
    "lasso_objective",
    "lasso_optimality_gap",
    "lambda_max",
    "group_lasso_objective",
    "group_lasso_optimality_gap",
    "group_lambda_max",
    "DISTRIBUTIONS",
    "PADDING_MODES",
    "gaussian",
    "bernoulli",
    "partial_dct",
    "partial_fourier",
    "dct_matrix",
    "real_fourier_matrix",
    "conv1d_matrix",
    "conv1d_output_length",
    "conv1d_column_blocks",
    "conv1d_column_groups",
    "sparse_signal",
    "measure",
    "mutual_coherence",
    "irrepresentable",
    "RIPEstimate",
    "rip_lower_estimate",
    "restricted_eigenvalues",
    "AOptimalSelection",
    "a_optimal_rows",
    "largest_norm_rows",
    "selection_overlap",
    "donoho_tanner_l1",
]
