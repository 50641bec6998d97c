"""The policies of the ``rl`` strategy, in torch: one categorical choice per decision.

Both are conditioned on a scalar ``t`` in [-1, 1] (the normalised log target of the
``pareto`` reward; 0 otherwise), so that one policy can learn a different architecture for
each target and one run covers the front.

* :class:`LogitsController`: independent per-decision logits, ``logits[d] = a[d] + t b[d]``
  (NAS-Bench-201's REINFORCE baseline, plus the target term).
* :class:`LSTMController`: Zoph & Le's controller: an LSTM cell emits the decisions one after
  the other, each choice fed back as the next input; ``t`` enters through the first input.
  Logits pass through ``c * tanh`` (ENAS, ``c = 2.5``) so that early updates cannot make it
  certain.

Sampling uses the caller's numpy generator on the policy's probabilities (float64), so a
seed fixes every draw; parameters are initialised from a seeded ``torch.Generator``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

#: ENAS's tanh constant on the LSTM's logits.
TANH_CONSTANT = 2.5


class Controller(nn.Module):
    """A policy over ``len(n_choices)`` categorical decisions."""

    invalid: torch.Tensor  # decisions x widest: True beyond a decision's choices

    def __init__(self, n_choices: Sequence[int]) -> None:
        super().__init__()
        self.n_choices = tuple(int(c) for c in n_choices)
        width = max(self.n_choices)
        mask = torch.tensor([[j >= c for j in range(width)] for c in self.n_choices])
        self.register_buffer("invalid", mask, persistent=False)

    def sample(
        self, t: np.ndarray, rng: np.random.Generator, temperature: float = 1.0
    ) -> np.ndarray:
        """One encoding per entry of ``t`` (n x decisions, integers); a ``temperature``
        above 1 flattens every decision's distribution (``softmax(logits / temperature)``)."""
        raise NotImplementedError  # pragma: no cover (every controller overrides it)

    def log_prob_entropy(
        self, encodings: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability of each encoding and the policy's entropy along it (summed
        over decisions), both differentiable."""
        raise NotImplementedError  # pragma: no cover

    def _masked(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.masked_fill(self.invalid, float("-inf"))


def _draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One category per row of ``probs`` (n x choices), by the inverse CDF."""
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random(probs.shape[:-1])[..., None] * cdf[..., -1:]
    return np.minimum((u >= cdf).sum(axis=-1), probs.shape[-1] - 1)


def _picked(log_probs: torch.Tensor, choice: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``log p(choice)`` and the entropy of each row of ``log_probs`` (n x choices)."""
    probs = log_probs.exp()
    entropy = -(probs * log_probs.masked_fill(probs == 0, 0.0)).sum(-1)
    return log_probs.gather(-1, choice[..., None])[..., 0], entropy


class LogitsController(Controller):
    """Independent per-decision logits ``a + t b`` (starts uniform: ``a = b = 0``)."""

    def __init__(self, n_choices: Sequence[int], generator: torch.Generator) -> None:
        super().__init__(n_choices)
        shape = (len(self.n_choices), max(self.n_choices))
        self.bias = nn.Parameter(torch.zeros(shape))
        self.slope = nn.Parameter(torch.zeros(shape))

    def _log_probs(self, t: torch.Tensor) -> torch.Tensor:
        logits = self.bias + t[:, None, None] * self.slope
        return torch.log_softmax(self._masked(logits), dim=-1)

    def sample(
        self, t: np.ndarray, rng: np.random.Generator, temperature: float = 1.0
    ) -> np.ndarray:
        with torch.no_grad():
            log_probs = self._log_probs(torch.as_tensor(t, dtype=torch.float32)).double()
            probs = torch.softmax(log_probs / temperature, dim=-1)
        return _draw(probs.numpy(), rng)

    def log_prob_entropy(
        self, encodings: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        log_p, entropy = _picked(self._log_probs(t), encodings)
        return log_p.sum(-1), entropy.sum(-1)


class LSTMController(Controller):
    """Zoph & Le's autoregressive LSTM controller (one layer, ``hidden`` units)."""

    offsets: torch.Tensor  # where each decision's choices start in the embedding

    def __init__(
        self, n_choices: Sequence[int], generator: torch.Generator, hidden: int = 64
    ) -> None:
        super().__init__(n_choices)
        offsets = np.concatenate([[0], np.cumsum(self.n_choices)[:-1]]) + 1
        self.register_buffer("offsets", torch.as_tensor(offsets), persistent=False)
        self.embed = nn.Embedding(1 + sum(self.n_choices), hidden)  # 0: the start token
        self.target = nn.Linear(1, hidden)
        self.cell = nn.LSTMCell(hidden, hidden)
        self.head = nn.Linear(hidden, len(self.n_choices) * max(self.n_choices))
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-0.1, 0.1, generator=generator)

    def _step_logits(self, h: torch.Tensor, d: int) -> torch.Tensor:
        width = max(self.n_choices)
        logits = TANH_CONSTANT * torch.tanh(self.head(h)[:, d * width : (d + 1) * width])
        return logits.masked_fill(self.invalid[d], float("-inf"))

    def _unroll(
        self, t: torch.Tensor, choose: Callable[[int, torch.Tensor], torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Emit the decisions in order; ``choose(d, log_probs)`` picks decision ``d``."""
        n = t.shape[0]
        x = self.embed(torch.zeros(n, dtype=torch.long)) + self.target(t[:, None])
        state = None
        picks, log_ps, entropies = [], [], []
        for d in range(len(self.n_choices)):
            h, c = self.cell(x, state)
            state = (h, c)
            log_probs = torch.log_softmax(self._step_logits(h, d), dim=-1)
            choice = choose(d, log_probs)
            log_p, entropy = _picked(log_probs, choice)
            picks.append(choice)
            log_ps.append(log_p)
            entropies.append(entropy)
            x = self.embed(choice + self.offsets[d])
        return (
            torch.stack(picks, 1),
            torch.stack(log_ps, 1).sum(1),
            torch.stack(entropies, 1).sum(1),
        )

    def sample(
        self, t: np.ndarray, rng: np.random.Generator, temperature: float = 1.0
    ) -> np.ndarray:
        def choose(d: int, log_probs: torch.Tensor) -> torch.Tensor:
            probs = torch.softmax(log_probs.double() / temperature, dim=-1)
            return torch.as_tensor(_draw(probs.numpy(), rng))

        with torch.no_grad():
            picks, _, _ = self._unroll(torch.as_tensor(t, dtype=torch.float32), choose)
        return picks.numpy()

    def log_prob_entropy(
        self, encodings: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        _, log_p, entropy = self._unroll(t, lambda d, _: encodings[:, d])
        return log_p, entropy
