"""Executors: where accuracy evaluations run (inline, a local process pool, or Ray).

An executor takes a list of architectures and yields ``(index, EvalResult | failure)`` as
evaluations finish. A candidate whose evaluation raises, crashes its worker process or
exceeds the time limit is retried (``retries`` times) and then reported as a failure
(:class:`EvalFailure`) rather than stopping the search. The ``ray`` executor (optional:
``pip install 'hwnas[ray]'``) runs the same evaluations on Ray actors, on this machine or
on a cluster, when one machine is not enough.
"""

from __future__ import annotations

import abc
import concurrent.futures as cf
import contextlib
import math
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from hwnas.errors import ConfigError, HwnasError
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

    def check_here(self) -> None:
        """Refuse settings this machine cannot run (a missing package, a GPU it lacks) with
        a :class:`ConfigError`, before a search starts or resumes; nothing by default. Not
        part of validating a config: an existing run made elsewhere still opens here."""
        return None

    def close(self) -> None:
        """Release workers."""
        return None

    def abort(self) -> None:
        """Release workers at once, dropping the evaluations in flight (an interrupt)."""
        self.close()


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


#: Seconds between a worker's checks that the process that started it is still there.
PARENT_POLL_S = 0.5


def _init_worker(factory: EvaluatorFactory, threads: int, parent_pid: int | None = None) -> None:
    global _WORKER_EVALUATOR
    import torch

    if parent_pid is not None:
        threading.Thread(
            target=_exit_with_parent, args=(parent_pid,), name="hwnas-parent", daemon=True
        ).start()
    torch.set_num_threads(threads)
    _WORKER_EVALUATOR = factory()


def _exit_with_parent(parent_pid: int) -> None:
    """End this worker once the process that started it is gone. A search killed with
    SIGKILL (``kill -9``, the out-of-memory killer) cannot stop its pool, and a spawned
    worker holds both ends of its task queue's pipe, so it never sees the end of it: seen
    after ``kill -9`` of ``hwnas run``, two workers of 380 MB each waiting for good. Their
    work is lost either way (resume evaluates it again)."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def _evaluate_in_worker(arch: Arch) -> EvalResult:
    assert _WORKER_EVALUATOR is not None
    try:
        return _WORKER_EVALUATOR.evaluate(arch)
    except Exception as exc:
        # Exceptions must cross the process boundary as plain text.
        raise RuntimeError(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}") from None


class _WorkerExecutor(Executor):
    """An executor with ``workers`` workers, each building the evaluator once.

    Checks and keeps the options the process pool and Ray share.
    """

    def __init__(
        self,
        factory: EvaluatorFactory,
        workers: int = 2,
        threads: int = 1,
        timeout_s: float | None = None,
        retries: int = 1,
    ) -> None:
        for field, value in (("workers", workers), ("threads", threads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"executor.{field}", "an integer >= 1", value)
        if timeout_s is not None and (
            isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or timeout_s <= 0
        ):
            raise ConfigError("executor.timeout_s", "a positive number of seconds", timeout_s)
        self.workers = workers
        self.threads = threads
        self.timeout_s = timeout_s
        self.retries = _check_retries(retries)
        self._factory = factory


@EXECUTORS.register("process")
class ProcessPoolExecutor(_WorkerExecutor):
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
    _pool: cf.ProcessPoolExecutor | None = None  # started on the first run

    def _start(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self._factory, self.threads, os.getpid()),
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
            with _children_ignore_sigint():  # workers are spawned as tasks are submitted
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

    def abort(self) -> None:
        self._restart()  # kills the workers


@contextlib.contextmanager
def _children_ignore_sigint() -> Iterator[None]:
    """Processes started inside inherit an ignored SIGINT. Ctrl-C reaches the whole
    process group: the search's process stops the pool (:meth:`ProcessPoolExecutor.abort`),
    and a worker caught by it while still importing torch had printed a
    ``KeyboardInterrupt`` traceback of its own. Only the main thread may set handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        # None: a handler set outside Python, which cannot be put back from here.
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)


# -- Ray ---------------------------------------------------------------------------------
class _RayWorker:
    """The body of one Ray actor: builds the evaluator once, then evaluates."""

    def __init__(self, factory: EvaluatorFactory, threads: int) -> None:
        _init_worker(factory, threads)

    def evaluate(self, arch: Arch) -> EvalResult:
        return _evaluate_in_worker(arch)


@EXECUTORS.register("ray")
class RayExecutor(_WorkerExecutor):
    """Evaluates on ``workers`` Ray actors, each building the evaluator once (the supernet
    is loaded once per actor, as in the process pool) and evaluating one candidate at a time.

    Without ``address`` a local Ray instance is started (and shut down by :meth:`close`);
    ``address="auto"`` or ``"ray://host:port"`` joins a running cluster, whose workers need
    hwnas installed and the run's files (supernet, data) at the same paths. An actor that
    dies (its process crashed, its node was lost) or an evaluation over ``timeout_s`` seconds
    kills and replaces the actor; the candidate is retried, then recorded as failed.

    Args:
        factory: Builds the evaluator in each actor (serialised with cloudpickle).
        workers: Number of actors.
        threads: Torch threads per actor.
        cpus_per_worker: CPUs Ray reserves per actor.
        gpus_per_worker: GPUs Ray reserves per actor (0: none).
        address: ``None`` (start a local instance) or a cluster address.
        timeout_s: Wall-time limit of one evaluation (None: no limit).
        retries: Extra attempts after a failure.
    """

    name = "ray"

    def __init__(
        self,
        factory: EvaluatorFactory,
        workers: int = 2,
        threads: int = 1,
        cpus_per_worker: float = 1.0,
        gpus_per_worker: float = 0.0,
        address: str | None = None,
        timeout_s: float | None = None,
        retries: int = 1,
    ) -> None:
        super().__init__(factory, workers, threads, timeout_s, retries)
        for field, value in (
            ("cpus_per_worker", cpus_per_worker),
            ("gpus_per_worker", gpus_per_worker),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigError(f"executor.{field}", "a number >= 0", value)
        if address is not None and not isinstance(address, str):
            raise ConfigError("executor.address", "a Ray address such as 'auto'", address)
        self.cpus_per_worker = float(cpus_per_worker)
        self.gpus_per_worker = float(gpus_per_worker)
        self.address = address
        self._ray: Any = None
        self._started_ray = False
        self._actors: list[Any] = []

    def check_here(self) -> None:
        """Ray installed, and no GPUs asked of a local instance on a machine without any."""
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ConfigError(
                "executor.name",
                "an executor whose package is installed: 'ray' needs Ray (pip install "
                "'hwnas[ray]'), or use 'process' on one machine",
                "ray",
            )
        if self.gpus_per_worker and self.address is None:
            import torch

            if not torch.cuda.is_available():
                # A local Ray would be told of GPUs that are not there, and every
                # evaluation would run on the CPU without a word.
                raise ConfigError(
                    "executor.gpus_per_worker",
                    "0 on this machine, which has no CUDA GPU (or an executor.address of "
                    "a cluster with GPUs)",
                    self.gpus_per_worker,
                )

    def _start(self) -> Any:
        if self._ray is None:
            try:
                import ray
            except ImportError:
                raise HwnasError(
                    "executor 'ray' needs Ray: pip install 'hwnas[ray]' (or use executor "
                    "'process' on one machine)"
                ) from None
            if not ray.is_initialized():
                options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
                if self.address is None:
                    options["num_cpus"] = max(1, math.ceil(self.workers * self.cpus_per_worker))
                    if self.gpus_per_worker:
                        options["num_gpus"] = math.ceil(self.workers * self.gpus_per_worker)
                else:
                    options["address"] = self.address
                try:
                    ray.init(**options)
                except (ConnectionError, RuntimeError, ValueError) as error:
                    # Ray's own words name its --address flag and RAY_ADDRESS; here the
                    # setting is executor.address.
                    first = str(error).splitlines()[0] if str(error) else type(error).__name__
                    if self.address is None:
                        raise HwnasError(f"executor 'ray': Ray did not start ({first})") from None
                    raise HwnasError(
                        f"executor.address: could not join a Ray cluster at "
                        f"{self.address!r} ({first}); start one (ray start --head) or leave "
                        "executor.address out to start Ray on this machine"
                    ) from None
                self._started_ray = True
            self._ray = ray
            self._remote = ray.remote(_RayWorker).options(
                num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker, max_restarts=0
            )
        while len(self._actors) < self.workers:
            self._actors.append(self._new_actor())
        return self._ray

    def _new_actor(self) -> Any:
        return self._remote.remote(self._factory, self.threads)

    def _replace(self, slot: int) -> None:
        self._ray.kill(self._actors[slot], no_restart=True)
        self._actors[slot] = self._new_actor()

    def run(self, archs: Sequence[Arch]) -> Iterator[tuple[int, Outcome]]:
        ray = self._start()
        from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

        queue = list(range(len(archs)))
        attempts = dict.fromkeys(queue, 0)
        errors: dict[int, str] = {}
        running: dict[Any, tuple[int, int, float]] = {}  # ref -> (index, slot, start)
        free = list(range(self.workers))
        while queue or running:
            while queue and free:
                index, slot = queue.pop(0), free.pop(0)
                attempts[index] += 1
                ref = self._actors[slot].evaluate.remote(archs[index])
                running[ref] = (index, slot, time.perf_counter())
            timeout = None
            if self.timeout_s is not None:
                oldest = min(start for _, _, start in running.values())
                timeout = max(0.0, oldest + self.timeout_s - time.perf_counter())
            done, _ = ray.wait(list(running), num_returns=1, timeout=timeout)
            failed: list[int] = []
            if not done and self.timeout_s is not None:  # out of time: replace the actor
                now = time.perf_counter()
                for ref, (index, slot, start) in list(running.items()):
                    if now - start >= self.timeout_s - 1e-6:
                        del running[ref]
                        self._replace(slot)
                        free.append(slot)
                        errors[index] = f"evaluation exceeded {self.timeout_s} s"
                        failed.append(index)
            for ref in done:
                index, slot, _ = running.pop(ref)
                try:
                    result = ray.get(ref)
                except RayActorError:
                    self._replace(slot)
                    errors[index] = "worker actor died"
                    failed.append(index)
                except (RayTaskError, GetTimeoutError) as exc:
                    cause = getattr(exc, "cause", None) or exc
                    errors[index] = str(cause).splitlines()[0] if str(cause) else repr(cause)
                    failed.append(index)
                else:
                    yield index, result
                free.append(slot)
            for index in failed:
                if attempts[index] > self.retries:
                    yield index, EvalFailure(errors[index], attempts[index])
                else:
                    queue.append(index)

    def close(self) -> None:
        if self._ray is None:
            return
        for actor in self._actors:
            self._ray.kill(actor, no_restart=True)
        self._actors = []
        if self._started_ray:
            self._ray.shutdown()
            self._started_ray = False
        self._ray = None


def create_executor(name: str, factory: EvaluatorFactory, **kwargs: Any) -> Executor:
    """The executor registered as ``name``."""
    return EXECUTORS.get(name)(factory, **kwargs)


def _check_retries(retries: int) -> int:
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError("executor.retries", "an integer >= 0", retries)
    return retries
