"""``surrogate-ehvi``: a Gaussian-process surrogate of the unknown objectives, batches by
expected hypervolume improvement and probability of non-domination.

Modules: :mod:`.gp` (the model), :mod:`.acquisition` (closed-form EHVI, PoND and expected
shortfall), :mod:`.candidates` (candidate pools), :mod:`.batches` (how a batch is picked),
:mod:`.strategy` (the strategy, registered as ``surrogate-ehvi``).
"""

from hwnas.strategies.surrogate.acquisition import Candidates2D, ehvi_2d, pond_2d
from hwnas.strategies.surrogate.gp import CategoricalGP
from hwnas.strategies.surrogate.strategy import SurrogateEHVI

__all__ = [
    "Candidates2D",
    "CategoricalGP",
    "SurrogateEHVI",
    "ehvi_2d",
    "pond_2d",
]
