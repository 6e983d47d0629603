"""Pruning: magnitude masks on tensors (:mod:`~sparselab.pruning.magnitude`), masks attached to modules and the
group-lasso step (:mod:`~sparselab.pruning.modules`), schedules (one-shot, gradual, iterative magnitude pruning;
:mod:`~sparselab.pruning.schedules`) and dynamic sparse training (SET, RigL; :mod:`~sparselab.pruning.dynamic`).

Every public name of these modules is also a name of the package.
"""

from sparselab.pruning import magnitude, modules, schedules, dynamic
from sparselab.pruning.magnitude import (PRUNABLE, STRUCTURES, GROUP_STRUCTURES, SCOPES, magnitude_mask, group_norms,
                                         global_magnitude_masks, group_soft_threshold)
from sparselab.pruning.modules import (prunable_layers, attach_mask, current_mask, effective_weight, remove_masks,
                                       is_masked, prune_model, select_layers, mask_density, model_density,
                                       dense_gradients, gradient_norms, group_lasso_step)
from sparselab.pruning.schedules import (cubic_sparsity, imp_density, imp_alpha, GradualPruning, OneShotPruning,
                                         IMPResult, iterative_magnitude_pruning, snapshot_weights, rewind_weights)
from sparselab.pruning.dynamic import (REGROW_INITS, cosine_drop_fraction, drop_count, magnitude_drop, random_grow,
                                       gradient_grow, random_mask, SET, RigL)

__all__ = [
    "magnitude",
    "modules",
    "schedules",
    "dynamic",
    "PRUNABLE",
    "STRUCTURES",
    "GROUP_STRUCTURES",
    "SCOPES",
    "magnitude_mask",
    "group_norms",
    "global_magnitude_masks",
    "group_soft_threshold",
    "prunable_layers",
    "attach_mask",
    "current_mask",
    "effective_weight",
    "remove_masks",
    "is_masked",
    "prune_model",
    "select_layers",
    "mask_density",
    "model_density",
    "dense_gradients",
    "gradient_norms",
    "group_lasso_step",
    "cubic_sparsity",
    "imp_density",
    "imp_alpha",
    "GradualPruning",
    "OneShotPruning",
    "IMPResult",
    "iterative_magnitude_pruning",
    "snapshot_weights",
    "rewind_weights",
    "REGROW_INITS",
    "cosine_drop_fraction",
    "drop_count",
    "magnitude_drop",
    "random_grow",
    "gradient_grow",
    "random_mask",
    "SET",
    "RigL",
]
