"""The ``supernet`` evaluator: accuracy with weights inherited from a trained supernet.

Each call activates the architecture in the supernet, re-estimates the batch-norm
statistics it uses on a few fixed training batches and measures it on the val split
(:func:`hwnas.nn.supernet.evaluate_subnet`): a fraction of a second instead of a training
run. The supernet comes from ``hwnas supernet train`` (its output folder) or is passed in
loaded. The test split is never read.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch

from hwnas import __version__
from hwnas.data import Dataset, load_dataset
from hwnas.errors import ConfigError
from hwnas.evaluators.base import EvalResult, Evaluator, register_evaluator
from hwnas.nn.supernet import (
    Calibration,
    Supernet,
    TrainedSupernet,
    evaluate_subnet,
    load_supernet,
    weights_sha256,
)
from hwnas.nn.supernet.store import check_dataset
from hwnas.spaces import Arch
from hwnas.train import set_memory_format, torch_threads

__all__ = ["SupernetEvaluator"]


@register_evaluator("supernet")
class SupernetEvaluator(Evaluator):
    """Val accuracy of a subnet with inherited weights, after batch-norm recalibration.

    Args:
        supernet: The output folder of ``hwnas supernet train``, a
            :class:`~hwnas.nn.supernet.TrainedSupernet`, or a trained
            :class:`~hwnas.nn.supernet.Supernet` (then ``dataset`` is required).
        dataset: A loaded :class:`~hwnas.data.Dataset` or a spec for
            :func:`~hwnas.data.load_dataset`; ``None`` reloads the one recorded in the
            supernet's folder. Must be the dataset the supernet was trained on when the
            folder records it (fingerprints are compared).
        calib_batches: Batches of training images for batch-norm recalibration.
        calib_batch_size: Images per calibration batch.
        seed: Picks the calibration images.
        threads: Torch CPU threads while evaluating (restored afterwards); ``None`` leaves
            the current setting.
        channels_last: Evaluate in ``channels_last`` memory format: about 3x faster on CPU
            (``benchmarks/results/train_step.json``, ``subnet_eval``), same results up to
            float rounding. A :class:`~hwnas.nn.supernet.Supernet` passed in is converted
            in place (its values do not change).

    Attributes:
        supernet: The supernet (its state is the same after every evaluation).
        dataset: The dataset (train split for calibration, val split for measuring).
        calibration: The calibration settings.
        calibration_batches: The calibration images, the same for every architecture.
        weights_sha256: SHA-256 of the supernet's weights, part of :meth:`cache_key`.

    Raises:
        ConfigError: An argument is invalid, or the dataset is not the training dataset.
        HwnasError: The supernet folder is missing, incomplete or corrupt.
    """

    name = "supernet"

    def __init__(
        self,
        supernet: str | os.PathLike[str] | Supernet | TrainedSupernet,
        dataset: str | Dataset | None = None,
        calib_batches: int = 4,
        calib_batch_size: int = 128,
        seed: int = 0,
        threads: int | None = None,
        channels_last: bool = True,
    ) -> None:
        self.calibration = Calibration(calib_batches, calib_batch_size, seed)
        if not isinstance(channels_last, bool):
            raise ConfigError("channels_last", "true or false", channels_last)
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
            raise ConfigError("threads", "None or an integer >= 1", threads)
        self.threads = threads
        trained: TrainedSupernet | None = None
        if isinstance(supernet, str | os.PathLike):
            trained = load_supernet(Path(supernet))
        elif isinstance(supernet, TrainedSupernet):
            trained = supernet
        if trained is not None:
            supernet = trained.supernet
        if not isinstance(supernet, Supernet):
            raise ConfigError("supernet", "a folder, TrainedSupernet or Supernet", supernet)
        self.supernet = supernet
        self.info = trained.info if trained is not None else {}
        if isinstance(dataset, str):
            dataset = load_dataset(dataset)
        if dataset is None:
            if trained is None:
                raise ConfigError("dataset", "a dataset (required with a Supernet object)")
            dataset = trained.load_dataset()
        if not isinstance(dataset, Dataset):
            raise ConfigError("dataset", "a dataset spec or a hwnas.data.Dataset", dataset)
        if trained is not None:
            check_dataset(trained.info, dataset.fingerprint)
        if tuple(dataset.input_shape) != tuple(self.supernet.input_shape):
            raise ConfigError(
                "dataset",
                f"images of shape {tuple(self.supernet.input_shape)} (the supernet's input)",
                tuple(dataset.input_shape),
            )
        self.dataset = dataset
        self.space = self.supernet.space
        self.weights_sha256 = (
            trained.weights_sha256
            if trained is not None
            else weights_sha256(self.supernet.state_dict())
        )
        self.calibration_batches = self.calibration.select(dataset.train)
        self.channels_last = channels_last
        if channels_last:
            set_memory_format(self.supernet, channels_last=True)
            self.calibration_batches = [  # images only: token batches have no channels
                x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x
                for x in self.calibration_batches
            ]

    def evaluate(self, arch: Arch) -> EvalResult:
        """Measure ``arch`` with inherited weights on the val split.

        Returns:
            ``accuracy`` and ``val_loss`` metrics; ``cost_seconds`` is the wall time of the
            recalibration and evaluation; ``info`` holds the calibration settings, the
            weights' hash and the thread count.

        Raises:
            ArchError: ``arch`` belongs to another search space.
        """
        self.check_arch(arch)
        started = time.perf_counter()
        with torch_threads(self.threads):
            accuracy, loss = evaluate_subnet(
                self.supernet, arch, self.dataset.val, self.calibration_batches
            )
            threads = torch.get_num_threads()
        return EvalResult(
            metrics={"accuracy": accuracy, "val_loss": loss},
            cost_seconds=time.perf_counter() - started,
            info={
                "calibration": self.calibration.to_dict(),
                "weights_sha256": self.weights_sha256,
                "threads": threads,
                "channels_last": self.channels_last,
            },
        )

    def cache_key(self) -> dict[str, Any]:
        """Space and dataset fingerprints, weights hash, calibration, seed, hwnas version."""
        return {
            "evaluator": self.name,
            "space": self.space.fingerprint(),
            "input_shape": list(self.supernet.input_shape),
            "dataset": self.dataset.fingerprint,
            "weights_sha256": self.weights_sha256,
            "calib_batches": self.calibration.batches,
            "calib_batch_size": self.calibration.batch_size,
            "seed": self.calibration.seed,
            "hwnas": __version__,
        }
