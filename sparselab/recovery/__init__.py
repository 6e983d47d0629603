"""Exact recovery of planted sparse ReLU networks: the planted teacher (:mod:`~sparselab.recovery.planted`), the
lifted linear operator (:mod:`~sparselab.recovery.operator`), iterative hard thresholding on it
(:mod:`~sparselab.recovery.lifted`), the iterative-magnitude-pruning baseline (:mod:`~sparselab.recovery.baseline`)
and images as regression targets on Fourier features (:mod:`~sparselab.recovery.inr`).

Every public name of these modules is also a name of the package.
"""

from sparselab.recovery import baseline, inr, lifted, operator, planted
from sparselab.recovery.baseline import IMPBaseline, imp_baseline
from sparselab.recovery.inr import (
    SAMPLE_IMAGES,
    fourier_features,
    fourier_frequencies,
    image_features,
    image_regression,
    pixel_grid,
    reassemble,
    sample_image,
    to_image,
)
from sparselab.recovery.lifted import EMPTY_NEURONS, MODES, RecoveredNetwork, iht
from sparselab.recovery.operator import LiftedReLUOperator
from sparselab.recovery.planted import (
    INPUT_KINDS,
    SIGN_KINDS,
    SUCCESS_REL_ERROR,
    SUCCESS_SUPPORT_F1,
    PlantedNetwork,
    exact_recovery,
    planted_network,
    recovery_outcome,
)

__all__ = [
    "planted",
    "operator",
    "lifted",
    "baseline",
    "inr",
    "INPUT_KINDS",
    "SIGN_KINDS",
    "PlantedNetwork",
    "planted_network",
    "SUCCESS_SUPPORT_F1",
    "SUCCESS_REL_ERROR",
    "exact_recovery",
    "recovery_outcome",
    "LiftedReLUOperator",
    "MODES",
    "EMPTY_NEURONS",
    "RecoveredNetwork",
    "iht",
    "IMPBaseline",
    "imp_baseline",
    "SAMPLE_IMAGES",
    "sample_image",
    "pixel_grid",
    "fourier_frequencies",
    "fourier_features",
    "image_features",
    "image_regression",
    "to_image",
    "reassemble",
]
