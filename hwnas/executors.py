"""Executors: where accuracy evaluations run (inline, or a local process pool).

An executor takes a list of architectures and yields ``(index, EvalResult | failure)`` as
evaluations finish. A candidate whose evaluation raises, crashes its worker process or
exceeds the time limit is retried (``retries`` times) and then reported as a failure
(:class:`EvalFailure`) rather than stopping the search. Ray comes later behind the same
interface.
"""

from __future__ import annotations

import abc
import concurrent.futures as cf
import multiprocessing
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from hwnas.errors import ConfigError
from hwnas.evaluators.base import EvalResult, Evaluator
from hwnas.registry import Registry
from hwnas.spaces.base import Arch

EXECUTORS: Registry[Executor] = Registry("executor")

#: Builds an evaluator; must be picklable for the process pool (e.g. a functools.partial).
EvaluatorFactory = Callable[[], Evaluator]


@dataclass
class EvalFailure:
    """An evaluation that did not produce a result."""

    error: str
    attempts: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict."""
        return {"error": self.error, "attempts": self.attempts}


Outcome = EvalResult | EvalFailure


class Executor(abc.ABC):
    """Runs evaluations of architectures."""

    name: str

    @abc.abstractmethod
    def run(self, archs: Sequence[Arch]) -> Iterator[tuple[int, Outcome]]:
        """Evaluate ``archs``; yield ``(index into archs, outcome)`` as each finishes."""

    def close(self) -> None:
        """Release workers."""
        return None


@EXECUTORS.register("inline")
class InlineExecutor(Executor):
    """Evaluates in this process, one after the other: deterministic and simplest.

    Args:
        factory: Builds the evaluator (called once).
        retries: Extra attempts after an evaluation raises.
    """

    name = "inline"

    def __init__(self, factory: EvaluatorFactory, retries: int = 1) -> None:
        self.retries = _check_retries(retries)
        self._factory = factory
        self._evaluator: Evaluator | None = None

    def run(self, archs: Sequence[Arch]) -> Iterator[tuple[int, Outcome]]:
        if self._evaluator is None:
            self._evaluator = self._factory()
        for index, arch in enumerate(archs):
            error = ""
            for _attempt in range(self.retries + 1):
                try:
                    yield index, self._evaluator.evaluate(arch)
                    break
                except Exception as exc:  # a candidate may fail in any way
                    error = f"{type(exc).__name__}: {exc}"
            else:
                yield index, EvalFailure(error, self.retries + 1)


# -- the process pool ------------------------------------------------------------------
_WORKER_EVALUATOR: Evaluator | None = None


def _init_worker(factory: EvaluatorFactory, threads: int) -> None:
    global _WORKER_EVALUATOR
    import torch

    torch.set_num_threads(threads)
    _WORKER_EVALUATOR = factory()


def _evaluate_in_worker(arch: Arch) -> EvalResult:
    assert _WORKER_EVALUATOR is not None
    try:
        return _WORKER_EVALUATOR.evaluate(arch)
    except Exception as exc:
        # Exceptions must cross the process boundary as plain text.
        raise RuntimeError(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}") from None


@EXECUTORS.register("process")
class ProcessPoolExecutor(Executor):
    """Evaluates in ``workers`` local processes (spawned, so CUDA and threads are safe).

    A worker that crashes (the pool breaks) or an evaluation over ``timeout_s`` seconds
    restarts the pool; the affected candidates are retried, then recorded as failures.

    Args:
        factory: Builds the evaluator in each worker (must be picklable).
        workers: Number of processes.
        threads: Torch threads per worker.
        timeout_s: Wall-time limit of one evaluation (None: no limit).
        retries: Extra attempts after a failure.
    """

    name = "process"

    def __init__(
        self,
        factory: EvaluatorFactory,
        workers: int = 2,
        threads: int = 1,
        timeout_s: float | None = None,
        retries: int = 1,
    ) -> None:
        if workers < 1:
            raise ConfigError("executor.workers", "an integer >= 1", workers)
        if timeout_s is not None and timeout_s <= 0:
            raise ConfigError("executor.timeout_s", "a positive number of seconds", timeout_s)
        self.workers = workers
        self.threads = threads
        self.timeout_s = timeout_s
        self.retries = _check_retries(retries)
        self._factory = factory
        self._pool: cf.ProcessPoolExecutor | None = None

    def _start(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self._factory, self.threads),
            )
        return self._pool

    def _restart(self) -> None:
        if self._pool is not None:
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.kill()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def run(self, archs: Sequence[Arch]) -> Iterator[tuple[int, Outcome]]:
        attempts = dict.fromkeys(range(len(archs)), 0)
        errors: dict[int, str] = {}
        pending = list(range(len(archs)))
        while pending:
            pool = self._start()
            futures = {pool.submit(_evaluate_in_worker, archs[i]): i for i in pending}
            for i in pending:
                attempts[i] += 1
            pending = []
            restart = False
            try:
                for future in cf.as_completed(futures, timeout=self._batch_timeout(futures)):
                    index = futures.pop(future)
                    try:
                        yield index, future.result()
                    except cf.process.BrokenProcessPool:
                        errors[index] = "worker process crashed"
                        restart = True
                        pending.append(index)
                    except Exception as exc:
                        errors[index] = str(exc).splitlines()[0]
                        pending.append(index)
            except cf.TimeoutError:
                restart = True
                for index in futures.values():
                    errors[index] = f"evaluation exceeded {self.timeout_s} s"
                    pending.append(index)
            if restart:
                self._restart()
            retry = []
            for index in pending:
                if attempts[index] > self.retries:
                    yield index, EvalFailure(errors[index], attempts[index])
                else:
                    retry.append(index)
            pending = retry

    def _batch_timeout(self, futures: dict[Any, int]) -> float | None:
        if self.timeout_s is None:
            return None
        # Each worker runs its share of the batch one after the other.
        rounds = -(-len(futures) // self.workers)
        return self.timeout_s * rounds

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def create_executor(name: str, factory: EvaluatorFactory, **kwargs: Any) -> Executor:
    """The executor registered as ``name``."""
    return EXECUTORS.get(name)(factory, **kwargs)


def _check_retries(retries: int) -> int:
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError("executor.retries", "an integer >= 0", retries)
    return retries
