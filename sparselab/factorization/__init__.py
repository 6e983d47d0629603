"""Sparse matrix factorisation: fixed-support factorisation (:mod:`~sparselab.factorization.fsmf`) and its supports
(:mod:`~sparselab.factorization.supports`), ill-posed examples (:mod:`~sparselab.factorization.illposed`),
butterfly (:mod:`~sparselab.factorization.butterfly`) and Monarch (:mod:`~sparselab.factorization.monarch`) matrices.

Every public name of these modules is also a name of the package.
"""

from sparselab.factorization import fsmf, supports, illposed, butterfly, monarch
from sparselab.factorization.fsmf import (Factorization, fsmf_exact, fsmf_als, fsmf_gd)
from sparselab.factorization.supports import (SupportClass, rank_one_supports, equivalence_classes, is_tractable,
                                              random_supports, tractable_supports)
from sparselab.factorization.illposed import (ReLUFit, lu_counterexample, lu_path, fit_sparse_relu)
from sparselab.factorization.butterfly import (ORDERS, kronecker_support, kronecker_apply, kronecker_dense,
                                               kronecker_from_dense, is_power_of_two, check_power_of_two,
                                               butterfly_shapes, butterfly_supports, butterfly_apply, butterfly_dense,
                                               butterfly_nnz, random_blocks, random_butterfly,
                                               bit_reversal_permutation, dft_matrix, hadamard_matrix, rank_one_blocks,
                                               check_permutation, ButterflyFactorization, butterfly_factorize)
from sparselab.factorization.monarch import (MonarchFactorization, monarch_project, monarch_apply, monarch_dense,
                                             monarch_shapes, monarch_blocks)

__all__ = [
    "fsmf",
    "supports",
    "illposed",
    "butterfly",
    "monarch",
    "Factorization",
    "fsmf_exact",
    "fsmf_als",
    "fsmf_gd",
    "SupportClass",
    "rank_one_supports",
    "equivalence_classes",
    "is_tractable",
    "random_supports",
    "tractable_supports",
    "ReLUFit",
    "lu_counterexample",
    "lu_path",
    "fit_sparse_relu",
    "ORDERS",
    "kronecker_support",
    "kronecker_apply",
    "kronecker_dense",
    "kronecker_from_dense",
    "is_power_of_two",
    "check_power_of_two",
    "butterfly_shapes",
    "butterfly_supports",
    "butterfly_apply",
    "butterfly_dense",
    "butterfly_nnz",
    "random_blocks",
    "random_butterfly",
    "bit_reversal_permutation",
    "dft_matrix",
    "hadamard_matrix",
    "rank_one_blocks",
    "check_permutation",
    "ButterflyFactorization",
    "butterfly_factorize",
    "MonarchFactorization",
    "monarch_project",
    "monarch_apply",
    "monarch_dense",
    "monarch_shapes",
    "monarch_blocks",
]
