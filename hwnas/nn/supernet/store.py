"""A supernet's output folder: checkpoint, final weights and ``supernet.json``.

``DIR/checkpoint.pt``
    Everything needed to resume training exactly: model, optimizer and scheduler state
    dicts, random generator states, the epochs done and the settings they were run with.
    Written atomically after every epoch.
``DIR/weights.pt``
    The final model state dict.
``DIR/supernet.json``
    Space (name, configuration, fingerprint), input shape, classes, dataset (name,
    fingerprint, how to reload it), recipe, seed, epochs done, training history and the
    SHA-256 of the final weights (:func:`weights_sha256`).

Files are read with ``torch.load(weights_only=True)`` only: no pickled code is ever run.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hwnas.errors import ConfigError, HwnasError
from hwnas.io import atomic_write_bytes
from hwnas.nn.supernet.base import Supernet, build_supernet

CHECKPOINT = "checkpoint.pt"
WEIGHTS = "weights.pt"
INFO = "supernet.json"
FORMAT = "hwnas-supernet/1"


def weights_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of a state dict's tensors.

    Independent of how (or whether) the state dict was serialised.
    """
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def save_torch(path: Path, obj: Any) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_torch(path: Path) -> Any:
    """``torch.load(path, weights_only=True)``; an unreadable file is a :class:`HwnasError`."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise HwnasError(f"{path}: no such file") from None
    except Exception as error:  # corrupt or foreign file
        raise HwnasError(f"{path}: not a readable hwnas supernet file ({error})") from None


def read_info(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``supernet.json`` of ``directory``."""
    path = Path(directory) / INFO
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise HwnasError(
            f"{path}: no such file (train a supernet there with 'hwnas supernet train')"
        ) from None
    except (OSError, ValueError) as error:
        raise HwnasError(f"{path}: unreadable ({error})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise HwnasError(f"{path}: not a supernet description (format {FORMAT!r})")
    return info


@dataclass
class TrainedSupernet:
    """A supernet loaded from its output folder.

    Attributes:
        supernet: The model, with the final weights, in eval mode.
        info: The contents of ``supernet.json``.
        directory: The folder it was read from.
    """

    supernet: Supernet
    info: dict[str, Any]
    directory: Path

    @property
    def weights_sha256(self) -> str:
        """The SHA-256 of the final weights (checked on loading)."""
        return str(self.info["weights_sha256"])

    def load_dataset(self) -> Any:
        """The dataset the supernet was trained on, reloaded from its recorded spec.

        Raises:
            HwnasError: The dataset cannot be found or its fingerprint changed.
        """
        from hwnas.data import load_dataset

        data = self.info["dataset"]
        if not data.get("spec"):
            raise ConfigError("dataset", "a dataset (supernet.json records no spec to reload)")
        dataset = load_dataset(str(data["spec"]), seed=int(data.get("seed", 0)))
        check_dataset(self.info, dataset.fingerprint)
        return dataset


def check_dataset(info: dict[str, Any], fingerprint: str) -> None:
    """Raise :class:`ConfigError` unless ``fingerprint`` is the training dataset's."""
    expected = info["dataset"]["fingerprint"]
    if fingerprint != expected:
        raise ConfigError(
            "dataset",
            f"the dataset the supernet was trained on (fingerprint {expected})",
            f"a dataset with fingerprint {fingerprint}",
        )


def load_supernet(directory: str | os.PathLike[str]) -> TrainedSupernet:
    """Read a trained supernet from ``directory``.

    Raises:
        HwnasError: Files are missing or unreadable, training is incomplete, or the weights'
            hash differs from the one ``supernet.json`` records.
    """
    from hwnas.spaces import create_space

    folder = Path(directory)
    info = read_info(folder)
    if not info.get("complete"):
        raise HwnasError(
            f"{folder}: training is incomplete ({info.get('epochs_done')} of "
            f"{info.get('epochs')} epochs); run 'hwnas supernet train' again with --out "
            f"{folder} to resume it"
        )
    space = create_space(info["space"], **info["space_config"])
    supernet = build_supernet(space, info["input_shape"], info["num_classes"], seed=0)
    state = load_torch(folder / WEIGHTS)
    if not isinstance(state, dict) or weights_sha256(state) != info["weights_sha256"]:
        raise HwnasError(
            f"{folder / WEIGHTS}: the weights do not match the SHA-256 in {INFO} "
            "(the file was changed or belongs to another run)"
        )
    try:
        supernet.load_state_dict(state)
    except RuntimeError as error:
        raise HwnasError(f"{folder / WEIGHTS}: does not fit the supernet ({error})") from None
    return TrainedSupernet(supernet.eval(), info, folder)
