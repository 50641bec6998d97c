"""Latency predictors: from a device profile to milliseconds for any architecture.

>>> from hwnas.predictors import fit_profile, load_predictor
>>> predictor, metrics = fit_profile("profiles/<device-id>/nb201.jsonl")
>>> metrics["held_out"]["within_10pct"], metrics["baseline_linear_macs"]["within_10pct"]
>>> predictor.save()                       # predictors/<device-id>/nb201.json
>>> load_predictor("predictors/<device-id>/nb201.json").predict(["|nor_conv_3x3~0|+..."])

:class:`LatencyPredictor` fits one profile; :class:`TransferPredictor` fits a new device
from predictors of other devices and a few (5-50) measurements. Both save to one JSON file
that is safe to load (scikit-learn models as allowlisted skops bytes, never pickle).
"""

from hwnas.predictors.base import (
    PREDICTOR_KINDS,
    BasePredictor,
    check_profile_records,
    default_predictor_path,
    load_predictor,
    register_predictor,
)
from hwnas.predictors.calibration import (
    CalibratedPredictor,
    Correction,
    Tolerance,
    agreement,
    fit_correction,
    reference_archs,
)
from hwnas.predictors.features import (
    FEATURE_BLOCKS,
    FeatureBlock,
    FeatureContext,
    FeatureSpec,
    register_feature_block,
)
from hwnas.predictors.latency import LatencyPredictor, fit_profile, split_records
from hwnas.predictors.metrics import evaluate_predictions
from hwnas.predictors.models import (
    LEARNED_MODELS,
    MODEL_NAMES,
    MODELS,
    create_model,
    list_models,
    register_model,
)
from hwnas.predictors.persistence import ALLOWED_TYPES
from hwnas.predictors.transfer import TRANSFER_METHODS, TransferPredictor, fit_transfer

__all__ = [
    "ALLOWED_TYPES",
    "FEATURE_BLOCKS",
    "LEARNED_MODELS",
    "MODELS",
    "MODEL_NAMES",
    "PREDICTOR_KINDS",
    "TRANSFER_METHODS",
    "BasePredictor",
    "CalibratedPredictor",
    "Correction",
    "FeatureBlock",
    "FeatureContext",
    "FeatureSpec",
    "LatencyPredictor",
    "Tolerance",
    "TransferPredictor",
    "agreement",
    "check_profile_records",
    "create_model",
    "default_predictor_path",
    "evaluate_predictions",
    "fit_correction",
    "fit_profile",
    "fit_transfer",
    "list_models",
    "load_predictor",
    "reference_archs",
    "register_feature_block",
    "register_model",
    "register_predictor",
    "split_records",
]
