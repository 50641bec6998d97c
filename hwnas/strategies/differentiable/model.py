"""The differentiable strategy without a supernet: a relaxation over a learned error model.

On a tabular benchmark (``hwnas bench`` on the NB201 table), or with any evaluator that
returns accuracies but no weights to share, there is no supernet to differentiate
through. A small neural network stands in for it: an MLP from the one-hot choices of an
encoding to its (standardised) error, fitted on the architectures evaluated so far
(:class:`ErrorModel`). Its input takes relaxed choices as well as one-hot ones, so the same
Gumbel-softmax relaxation and TF-NAS latency term as :mod:`.relax` learn the choice logits
by gradient descent (:func:`relax_on_model`; straight-through: hard one-hot samples
forward, the soft probabilities' gradient backward; a batch of samples per step). The
strategy alternates: fit the model on what it was told, relax once per latency target,
derive, repair, ask; the model improves as evaluations come in (model-based
differentiable search, as NAO optimises a continuous encoding against a learned
predictor).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hwnas.strategies.differentiable.latency import LinearLatency, one_hot
from hwnas.strategies.differentiable.relax import Settings, TargetResult

#: Gumbel samples per relaxation step (their losses are averaged).
SAMPLES_PER_STEP = 16
#: Relaxation steps per epoch (the temperature and the early stop move per epoch).
STEPS_PER_EPOCH = 20


class ErrorModel:
    """An MLP from one-hot (or relaxed) choices to the standardised error.

    Args:
        n_choices: Choices per encoding dimension.
        hidden: Width of the hidden layer.
        seed: Fixes the initial weights.
    """

    def __init__(self, n_choices: Sequence[int], hidden: int = 64, seed: int = 0) -> None:
        self.n_choices = tuple(int(n) for n in n_choices)
        generator = torch.Generator().manual_seed(seed)
        width = int(sum(self.n_choices))
        self.net = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        with torch.no_grad():
            for p in self.net.parameters():
                p.copy_(torch.randn(p.shape, generator=generator) * (1.0 / np.sqrt(p.shape[-1])))
        self.mean_, self.std_ = 0.0, 1.0

    def fit(
        self,
        encodings: np.ndarray,
        errors: np.ndarray,
        steps: int = 300,
        lr: float = 1e-2,
        weight_decay: float = 1e-3,
    ) -> ErrorModel:
        """Fit on evaluated ``encodings`` (n x dims) and their ``errors`` (full batch,
        Adam, mean squared error of the standardised errors)."""
        errors = np.asarray(errors, dtype=float)
        self.mean_ = float(errors.mean())
        self.std_ = float(errors.std()) or 1.0
        x = torch.as_tensor(one_hot(encodings, self.n_choices), dtype=torch.float32)
        y = torch.as_tensor((errors - self.mean_) / self.std_, dtype=torch.float32)
        optimizer = torch.optim.Adam(self.net.parameters(), lr=lr, weight_decay=weight_decay)
        self.net.train()
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            loss = F.mse_loss(self.net(x).squeeze(1), y)
            loss.backward()
            optimizer.step()
        self.net.eval()
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised error of choice vectors ``x`` (batch x sum(n_choices))."""
        return self.net(x).squeeze(1)

    def predict(self, encodings: np.ndarray) -> np.ndarray:
        """The modelled error of each encoding (n x dims)."""
        with torch.no_grad():
            x = torch.as_tensor(one_hot(encodings, self.n_choices), dtype=torch.float32)
            return self(x).numpy().astype(float) * self.std_ + self.mean_


def relax_on_model(
    model: ErrorModel,
    latency: LinearLatency,
    target_ms: float,
    settings: Settings,
    seed: int,
) -> TargetResult:
    """Learn the choice logits for ``target_ms`` against ``model`` and the latency term:
    ``E[error] + latency_weight * |E[lat] / target - 1|`` (deterministic for ``seed``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        logits = [torch.zeros(n, requires_grad=True) for n in model.n_choices]
        optimizer = torch.optim.Adam(logits, lr=settings.arch_lr, betas=(0.5, 0.999))
        costs = [torch.as_tensor(w, dtype=torch.float32) for w in latency.weights_]
        for p in model.net.parameters():
            p.requires_grad_(False)
        history: list[dict[str, float]] = []
        best, stable, epochs = None, 0, 0
        try:
            for epoch in range(settings.epochs):
                share = epoch / max(1, settings.epochs - 1)
                tau = settings.tau_max * (settings.tau_min / settings.tau_max) ** share
                totals = np.zeros(2)
                for _ in range(STEPS_PER_EPOCH):
                    parts = []
                    for alpha in logits:
                        u = torch.rand((SAMPLES_PER_STEP, len(alpha)), generator=generator)
                        gumbel = -torch.log(-torch.log(u.clamp_(1e-9, 1 - 1e-9)))
                        soft = F.softmax((alpha + gumbel) / tau, dim=1)
                        hard = F.one_hot(soft.argmax(1), len(alpha)).to(soft.dtype)
                        parts.append(hard - soft.detach() + soft)
                    error = model(torch.cat(parts, dim=1)).mean()
                    expected = (
                        latency.intercept_
                        + torch.stack(
                            [F.softmax(a, 0) @ c for a, c in zip(logits, costs, strict=True)]
                        ).sum()
                    )
                    loss = error + settings.latency_weight * torch.abs(expected / target_ms - 1.0)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    totals += [float(error.detach()), float(expected.detach())]
                epochs += 1
                mean = totals / STEPS_PER_EPOCH
                history.append(
                    {"epoch": epoch + 1, "model_error": mean[0], "expected_ms": mean[1], "tau": tau}
                )
                current = tuple(int(torch.argmax(a)) for a in logits)
                stable = stable + 1 if current == best else 0
                best = current
                if stable >= settings.patience:
                    break
        finally:
            for p in model.net.parameters():
                p.requires_grad_(True)
    return TargetResult([a.detach().numpy().astype(float) for a in logits], epochs, history)


__all__ = ["ErrorModel", "relax_on_model"]
