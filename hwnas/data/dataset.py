"""The in-memory dataset types: :class:`Split` and :class:`Dataset`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from hwnas.errors import DataError

__all__ = ["Dataset", "Split", "StoredData"]


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a dataset.

    Attributes:
        x: Normalised images, float32 of shape ``(N, C, H, W)``, or token ids, int64 of
            shape ``(N, L)`` (:mod:`hwnas.data.inputs`).
        y: Class labels, int64 of shape ``(N,)``.
    """

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        image = self.x.dim() == 4 and self.x.dtype == torch.float32
        if not image and not (self.x.dim() == 2 and self.x.dtype == torch.int64):
            raise DataError(
                "Split.x: expected a float32 (N, C, H, W) or int64 (N, L) tensor, got "
                f"{self.x.dtype} of shape {tuple(self.x.shape)}"
            )
        if self.y.dim() != 1 or self.y.dtype != torch.int64:
            raise DataError(f"Split.y: expected an int64 (N,) tensor, got {self.y.dtype}")
        if len(self.x) != len(self.y):
            raise DataError(f"Split: {len(self.x)} images but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True, eq=False)
class Dataset:
    """An in-memory image-classification dataset with fixed train / val / test splits.

    Attributes:
        name: ``"digits"`` or the file / folder path the data was read from.
        train: The split models are trained on.
        val: The split candidate architectures are compared on.
        test: The held-out split; only final reporting reads it.
        classes: Class names; the index of a name is its label.
        mean: Per-channel mean subtracted from every split (computed on ``train``).
        std: Per-channel standard deviation every split was divided by (from ``train``).
        fingerprint: First 16 hex digits of a SHA-256 of the raw arrays of all splits and the
            split settings: the same inputs give the same fingerprint.
        vocabulary: For text, the token of each id (a model needs it to read new text);
            ``None`` for images. Text is neither scaled nor normalised (``mean`` and
            ``std`` are empty).
        tokenizer: For text, how texts became tokens (``char`` or ``word``); ``None`` for
            images.
        input_scale: What the source's pixel values were divided by before normalising
            (``"255"`` for 8-bit images, ``"65535"`` for 16-bit ones, ``"1"`` for float
            arrays; text for a folder of both depths); ``None`` for text. A deployed model
            wants ``(pixels / input_scale - mean) / std``, NCHW float32.
    """

    name: str
    train: Split
    val: Split
    test: Split
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    fingerprint: str
    vocabulary: tuple[str, ...] | None = None
    tokenizer: str | None = None
    input_scale: str | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The shape ``(C, H, W)`` of one image, or ``(L,)`` of one token sequence (typed
        as the image shape that most of hwnas still expects)."""
        return tuple(int(v) for v in self.train.x.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return len(self.classes)

    @property
    def sizes(self) -> dict[str, int]:
        """The number of samples of each split (``train``, ``val``, ``test``)."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def summary(self) -> dict[str, Any]:
        """A JSON-able description: name, shapes, classes, split sizes and fingerprint."""
        return (
            {
                "name": self.name,
                "input_shape": list(self.input_shape),
                "num_classes": self.num_classes,
                "classes": list(self.classes),
                "sizes": self.sizes,
                "mean": list(self.mean),
                "std": list(self.std),
                "fingerprint": self.fingerprint,
            }
            | ({} if self.input_scale is None else {"input_scale": self.input_scale})
            | (
                {}
                if self.vocabulary is None
                else {"vocabulary": list(self.vocabulary), "tokenizer": self.tokenizer}
            )
        )


@dataclass(frozen=True)
class StoredData:
    """What a run recorded of its dataset (the store's ``dataset``, :meth:`Dataset.summary`):
    enough to read the run (its report) once the data is no longer where it was. It has
    no samples: nothing can be trained or evaluated on it."""

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    classes: tuple[str, ...]
    sizes: dict[str, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    fingerprint: str | None = None
    vocabulary: tuple[str, ...] | None = None
    tokenizer: str | None = None
    input_scale: str | None = None

    @classmethod
    def from_summary(cls, summary: dict[str, Any]) -> StoredData:
        vocabulary = summary.get("vocabulary")
        return cls(
            name=str(summary["name"]),
            input_shape=tuple(int(v) for v in summary["input_shape"]),
            num_classes=int(summary["num_classes"]),
            classes=tuple(str(c) for c in summary["classes"]),
            sizes={str(k): int(v) for k, v in summary["sizes"].items()},
            mean=tuple(float(v) for v in summary["mean"]),
            std=tuple(float(v) for v in summary["std"]),
            fingerprint=summary.get("fingerprint"),
            vocabulary=None if vocabulary is None else tuple(str(t) for t in vocabulary),
            tokenizer=summary.get("tokenizer"),
            input_scale=summary.get("input_scale"),
        )
