"""The ``standalone`` evaluator: train every architecture from scratch.

The most faithful and the most expensive estimate: each call builds the architecture with
weights initialised from ``seed``, trains it with the recipe on the train split and
measures it on the val split (:func:`hwnas.train.train_arch`). The test split is never read.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from hwnas import __version__
from hwnas.errors import ConfigError
from hwnas.evaluators.base import EvalResult, Evaluator, register_evaluator
from hwnas.spaces import Arch, SearchSpace, create_space

if TYPE_CHECKING:  # torch is imported on first use: importing hwnas.evaluators stays light
    from hwnas.data import Dataset
    from hwnas.train import Recipe

__all__ = ["StandaloneEvaluator"]


@register_evaluator("standalone")
class StandaloneEvaluator(Evaluator):
    """Accuracy after training an architecture from scratch.

    Args:
        space: The search space (a name or a :class:`SearchSpace`).
        dataset: A loaded :class:`~hwnas.data.Dataset`, or a spec for
            :func:`~hwnas.data.load_dataset` (``"digits"``, ``npz:PATH``...; split seed 0).
        recipe: The training recipe: a :class:`~hwnas.train.Recipe`, a dict of its fields, or
            ``None`` for the defaults.
        seed: Seeds weight initialisation, batch order and augmentation.
        threads: Torch CPU threads while training (restored afterwards), in place of the
            recipe's ``threads``; ``None`` keeps the recipe's. Results are bit-identical
            only for the same thread count.

    Raises:
        ConfigError: An argument is invalid.
    """

    name = "standalone"

    def __init__(
        self,
        space: str | SearchSpace,
        dataset: str | Dataset,
        recipe: Recipe | dict[str, Any] | None = None,
        seed: int = 0,
        threads: int | None = None,
    ) -> None:
        from hwnas.data import Dataset, load_dataset
        from hwnas.train import Recipe

        self.space = create_space(space) if isinstance(space, str) else space
        if not isinstance(self.space, SearchSpace):
            raise ConfigError("space", "a space name or a SearchSpace", space)
        self.dataset = load_dataset(dataset) if isinstance(dataset, str) else dataset
        if not isinstance(self.dataset, Dataset):
            raise ConfigError("dataset", "a dataset spec or a hwnas.data.Dataset", dataset)
        if recipe is None:
            self.recipe = Recipe()
        elif isinstance(recipe, Recipe):
            self.recipe = recipe
        elif isinstance(recipe, dict):
            unknown = sorted(set(recipe) - set(Recipe().to_dict()))
            if unknown:
                raise ConfigError(
                    "recipe", f"fields among {', '.join(Recipe().to_dict())}", unknown
                )
            self.recipe = Recipe(**recipe)
        else:
            raise ConfigError("recipe", "None, a Recipe or a dict of its fields", recipe)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError("seed", "an integer >= 0", seed)
        self.seed = seed
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
            raise ConfigError("threads", "None or an integer >= 1", threads)
        self.threads = threads
        if threads is not None:
            self.recipe = dataclasses.replace(self.recipe, threads=threads)

    def evaluate(self, arch: Arch) -> EvalResult:
        """Train ``arch`` from scratch and measure it on the val split.

        Returns:
            ``accuracy`` (val) and ``val_loss`` metrics; ``cost_seconds`` is the training
            time; ``info`` holds the epochs, final training loss and thread count.

        Raises:
            ArchError: ``arch`` belongs to another search space.
        """
        self.check_arch(arch)
        from hwnas.train import train_arch

        _, result = train_arch(self.space, arch, self.dataset, self.recipe, seed=self.seed)
        return EvalResult(
            metrics={"accuracy": result.val_accuracy, "val_loss": result.val_loss},
            cost_seconds=result.seconds,
            info={
                "epochs": result.epochs,
                "train_loss": result.train_loss,
                "threads": result.threads,
            },
        )

    def cache_key(self) -> dict[str, Any]:
        """Space and dataset fingerprints, the recipe, the seed and the hwnas version."""
        return {
            "space": self.space.fingerprint(),
            "dataset": self.dataset.fingerprint,
            "recipe": self.recipe.to_dict(),
            "seed": self.seed,
            "hwnas": __version__,
        }
