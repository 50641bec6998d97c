"""``surrogate-ehvi``: a Gaussian-process surrogate of the unknown objectives, batches by
expected hypervolume improvement and probability of non-domination.

Modules: :mod:`.gp` (the model), :mod:`.acquisition` (closed-form EHVI, PoND and expected
shortfall), :mod:`.candidates` (candidate pools), :mod:`.batches` (how a batch is picked),
:mod:`.strategy` (the strategy, registered as ``surrogate-ehvi``).
"""

from hwnas.strategies.surrogate.acquisition import (
    ehvi_2d,
    expected_shortfall,
    hv_improvement,
    pond_2d,
    segment_sum,
)
from hwnas.strategies.surrogate.gp import CategoricalGP
from hwnas.strategies.surrogate.strategy import SurrogateEHVI

__all__ = [
    "CategoricalGP",
    "SurrogateEHVI",
    "ehvi_2d",
    "expected_shortfall",
    "hv_improvement",
    "pond_2d",
    "segment_sum",
]
