"""A toy evaluator for search tests: accuracy is a known function of the architecture."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from hwnas.evaluators.base import EvalResult, Evaluator, register_evaluator
from hwnas.spaces import MBConvSpace, NB201Space

#: A 400-architecture mbconv space for strategy tests.
SMALL = MBConvSpace(
    stage_channels=(8, 16),
    stage_strides=(1, 2),
    depths=(1, 2),
    kernels=(3, 5),
    expands=(1, 3),
    widths=(1.0,),
    activations=("relu",),
    se=(False,),
)


@register_evaluator("toy")
class ToyEvaluator(Evaluator):
    """nb201: accuracy = (number of nor_conv_3x3 edges + 0.5 x nor_conv_1x1 edges) / 6.

    Optionally kills its own process (``kill -9``) when evaluating its ``kill_at``-th
    architecture, counted across processes through ``counter`` (a file), to simulate a
    crash at an arbitrary moment.
    """

    name = "toy"

    def __init__(
        self,
        space: Any = None,
        kill_at: int | None = None,
        counter: str | None = None,
        sleep: float = 0.0,
        fail_on: str | None = None,
        offset: float = 0.0,
    ) -> None:
        self.space = space or NB201Space()
        self.kill_at = kill_at
        self.counter = Path(counter) if counter else None
        self.sleep = sleep
        self.fail_on = fail_on
        self.offset = offset

    def evaluate(self, arch: Any) -> EvalResult:
        if self.fail_on is not None and self.fail_on in str(arch):
            raise RuntimeError("this candidate cannot be evaluated")
        if self.counter is not None:
            # Written atomically: a racing worker never reads a half-written counter.
            text = self.counter.read_text() if self.counter.exists() else ""
            n = int(text or 0) + 1
            partial = self.counter.with_name(f"{self.counter.name}.{os.getpid()}")
            partial.write_text(str(n))
            os.replace(partial, self.counter)
            if self.kill_at is not None and n >= self.kill_at and self._first_kill():
                os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(self.sleep)
        ops = arch.ops
        accuracy = (ops.count("nor_conv_3x3") + 0.5 * ops.count("nor_conv_1x1")) / 6
        accuracy = min(1.0, accuracy + self.offset)
        return EvalResult({"accuracy": accuracy}, cost_seconds=self.sleep)

    def _first_kill(self) -> bool:
        """True once across processes (workers may race on the counter file)."""
        assert self.counter is not None
        try:
            os.close(os.open(f"{self.counter}.killed", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True

    def cache_key(self) -> dict[str, Any]:
        return {"toy": 1}
