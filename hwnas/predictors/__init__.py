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
    BasePredictor,
    check_profile_records,
    default_predictor_path,
    load_predictor,
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
from hwnas.predictors.models import ALLOWED_TYPES, LEARNED_MODELS, MODEL_NAMES
from hwnas.predictors.transfer import TRANSFER_METHODS, TransferPredictor, fit_transfer

__all__ = [
    "ALLOWED_TYPES",
    "FEATURE_BLOCKS",
    "LEARNED_MODELS",
    "MODEL_NAMES",
    "TRANSFER_METHODS",
    "BasePredictor",
    "FeatureBlock",
    "FeatureContext",
    "FeatureSpec",
    "LatencyPredictor",
    "TransferPredictor",
    "check_profile_records",
    "default_predictor_path",
    "evaluate_predictions",
    "fit_profile",
    "fit_transfer",
    "load_predictor",
    "register_feature_block",
    "split_records",
]
