"""Weight sharing: supernets of the search spaces, their training and subnet evaluation.

* :func:`build_supernet` builds the :class:`Supernet` of a space for an input shape.
* :func:`train_supernet` trains it with the sandwich rule (resumable checkpoints).
* :func:`evaluate_subnet` measures one architecture with inherited weights, after
  batch-norm recalibration on :class:`Calibration` batches.
* :func:`load_supernet` reads a trained supernet from its output folder.
"""

from hwnas.nn.supernet.base import Supernet, build_supernet
from hwnas.nn.supernet.evaluate import Calibration, evaluate_subnet, recalibrate_subnet
from hwnas.nn.supernet.store import TrainedSupernet, load_supernet, weights_sha256
from hwnas.nn.supernet.train import SupernetTrainResult, train_supernet

__all__ = [
    "Calibration",
    "Supernet",
    "SupernetTrainResult",
    "TrainedSupernet",
    "build_supernet",
    "evaluate_subnet",
    "load_supernet",
    "recalibrate_subnet",
    "train_supernet",
    "weights_sha256",
]
