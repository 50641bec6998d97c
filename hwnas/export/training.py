"""Export's final training: the chosen candidates trained from scratch, in the run's worker
processes when its executor has them.

Export trains every model it chooses (the top ``k``, the spares, the hand-designed networks)
with the final recipe before it measures anything. With ``executor: {name: process}`` the
search's evaluations ran in that many local processes; the final training of several
models runs there too (the same :class:`~hwnas.executors.ProcessPoolExecutor`: a worker
that crashes is retried, Ctrl-C and ``kill -9`` stop the workers), and nothing is
measured until every model of the round is trained, so no timing shares a core with
training. Each model is trained as it would be here (same seed, the recipe's torch
threads): the same weights either way. The executor's ``timeout_s`` is not applied: it
was set for the search's short evaluations, not for the final recipe. Inline and Ray
runs train one model after the other in this process.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from hwnas.errors import HwnasError
from hwnas.evaluators.base import EvalResult, Evaluator
from hwnas.spaces import Arch, SearchSpace

if TYPE_CHECKING:
    from torch import nn

    from hwnas.data import Dataset
    from hwnas.train import Recipe, TrainResult

#: Fewer models than this are trained in this process: starting the workers (each imports
#: torch) costs more than two small trainings save.
POOL_MIN_MODELS = 4


class FinalTraining(Evaluator):
    """Trains an architecture with the final recipe, test accuracy included, and hands
    back its weights (``info["state_dict"]``) and :class:`~hwnas.train.TrainResult`
    (``info["result"]``): the body of a worker of :func:`train_models`. Not a search
    evaluator (it reads the test split) and not registered as one."""

    name = "final-training"

    def __init__(self, space: SearchSpace, dataset: Dataset, recipe: Recipe, seed: int) -> None:
        self.space, self.dataset, self.recipe, self.seed = space, dataset, recipe, seed

    def evaluate(self, arch: Arch) -> EvalResult:
        from hwnas.train import train_arch

        model, result = train_arch(
            self.space, arch, self.dataset, self.recipe, seed=self.seed, evaluate_test=True
        )
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return EvalResult(
            {"accuracy": result.val_accuracy},
            result.seconds,
            {"state_dict": state, "result": result},
        )

    def cache_key(self) -> dict[str, Any]:
        return {"space": self.space.fingerprint(), "recipe": self.recipe.to_dict()}


def train_models(
    archs: Sequence[Arch],
    components: Any,
    recipe: Recipe,
    seed: int,
    *,
    progress: bool = False,
) -> list[tuple[nn.Module, TrainResult, float]]:
    """``(trained model in eval mode, its result, seconds)`` for each of ``archs``, in
    order; in the run's process pool when it has one with at least two workers and there
    are at least :data:`POOL_MIN_MODELS` models.

    Raises:
        HwnasError: A model's training failed in a worker (after the executor's retries).
    """
    from hwnas.executors import create_executor

    section = components.config.executor
    options = {k: v for k, v in section.options().items() if k != "timeout_s"}
    workers = options.get("workers", 2)
    if section.name != "process" or workers < 2 or len(archs) < POOL_MIN_MODELS:
        return [_train_here(a, components, recipe, seed, progress) for a in archs]
    factory = partial(
        FinalTraining, space=components.space, dataset=components.dataset, recipe=recipe, seed=seed
    )
    executor = create_executor("process", factory, **options)
    done: dict[int, tuple[nn.Module, TrainResult, float]] = {}
    from hwnas.progress import maybe, progress_bar

    bar = progress_bar(progress)
    try:
        with maybe(bar):
            task = None
            if bar is not None:
                task = bar.add_task(
                    f"training {len(archs)} models in {min(workers, len(archs))} processes",
                    total=len(archs),
                )
            for index, outcome in executor.run(list(archs)):
                if not isinstance(outcome, EvalResult):
                    raise HwnasError(
                        f"training {archs[index]} failed ({outcome.attempts} attempts): "
                        f"{outcome.error}"
                    )
                done[index] = _rebuilt(archs[index], outcome, components)
                if bar is not None:
                    bar.advance(task)
    except BaseException:
        executor.abort()
        raise
    finally:
        executor.close()
    return [done[i] for i in range(len(archs))]


def _train_here(
    arch: Arch, components: Any, recipe: Recipe, seed: int, progress: bool
) -> tuple[nn.Module, TrainResult, float]:
    from hwnas.train import train_arch

    model, result = train_arch(
        components.space,
        arch,
        components.dataset,
        recipe,
        seed=seed,
        evaluate_test=True,
        progress=progress,
    )
    # The training's own seconds, as a worker reports them (FinalTraining).
    return model, result, result.seconds


def _rebuilt(
    arch: Arch, outcome: EvalResult, components: Any
) -> tuple[nn.Module, TrainResult, float]:
    """The model a worker trained, built here with its weights."""
    import torch

    from hwnas.nn import build_model

    dataset = components.dataset
    with torch.random.fork_rng(devices=[]):  # its weights are replaced: leave the state be
        model = build_model(components.space, arch, dataset.input_shape, dataset.num_classes)
    model.load_state_dict(outcome.info["state_dict"])
    model.eval()
    return model, outcome.info["result"], outcome.cost_seconds


__all__ = ["POOL_MIN_MODELS", "FinalTraining", "train_models"]
