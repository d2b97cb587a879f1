"""`fedkd-gen`: train a (private) generator, sample it, evaluate the samples, write a run directory.

Examples: `fedkd-gen dataset=digits`; `fedkd-gen gen_privacy=dp gen_privacy.target_epsilon=1`;
a sweep: `fedkd-gen -m gen_privacy=dp gen_privacy.target_epsilon=1,10 seed=0,1`.
"""

from __future__ import annotations

from fedkd.commands.skeleton import experiment_command
from private_gen.config import GENERATION
from private_gen.experiment import run_generation

main = experiment_command(GENERATION, run_generation, "fedkd-gen")
