"""``rl``: a REINFORCE controller over the space's decisions with hard cheap budgets.

Modules: :mod:`.rewards` (MnasNet soft / hard, TuNAS absolute, accuracy), :mod:`.strategy`
(the strategy, registered as ``rl``); torch is imported only when a search starts
(:mod:`.controller`: the logits and LSTM policies; :mod:`.state`: JSON state).
"""

from hwnas.strategies.rl.rewards import reward_value
from hwnas.strategies.rl.strategy import ReinforceSearch

__all__ = ["ReinforceSearch", "reward_value"]
