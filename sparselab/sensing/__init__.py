"""Sparse recovery from linear measurements: the solvers (IHT, ISTA, FISTA, group lasso;
:mod:`~sparselab.sensing.solvers`), their objectives, certificates and debiasing (:mod:`~sparselab.sensing.objectives`),
measurement ensembles (:mod:`~sparselab.sensing.ensembles`) and diagnostics of a design (coherence,
irrepresentability, RIP, A-optimal rows; :mod:`~sparselab.sensing.diagnostics`).

Every public name of these modules is also a name of the package.
"""

from sparselab.sensing import solvers, objectives, ensembles, diagnostics
from sparselab.sensing.solvers import (SolverResult, lipschitz, iht, ista, fista, group_lasso)
from sparselab.sensing.objectives import (debias, least_squares, lasso_objective, lasso_optimality_gap, lambda_max,
                                          group_lasso_objective, group_lasso_optimality_gap, group_lambda_max)
from sparselab.sensing.ensembles import (DISTRIBUTIONS, PADDING_MODES, gaussian, bernoulli, partial_dct,
                                         partial_fourier, dct_matrix, real_fourier_matrix, conv1d_matrix,
                                         conv1d_output_length, conv1d_column_blocks, conv1d_column_groups,
                                         sparse_signal, measure)
from sparselab.sensing.diagnostics import (mutual_coherence, irrepresentable, RIPEstimate, rip_lower_estimate,
                                           restricted_eigenvalues, AOptimalSelection, a_optimal_rows,
                                           largest_norm_rows, selection_overlap, donoho_tanner_l1)

__all__ = [
    "solvers",
    "objectives",
    "ensembles",
    "diagnostics",
    "SolverResult",
    "lipschitz",
    "iht",
    "ista",
    "fista",
    "group_lasso",
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
