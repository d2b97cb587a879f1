"""`checkpoint`: how often a federated run saves what it needs to resume, and how many checkpoints it keeps."""

from __future__ import annotations

from dataclasses import dataclass

from fedkd.config.fields import at_least, setting


@dataclass
class CheckpointSettings:
    every: int = setting(1, at_least(0), help="rounds between checkpoints (0: none, the run cannot be resumed); "
                         "SIGINT/SIGTERM also write one at the end of the running round")
    keep: int = setting(2, at_least(1), help="newest checkpoints kept; older ones, and client states only they "
                        "use, are deleted")

    @property
    def enabled(self) -> bool:
        return self.every > 0

    def due(self, server_round: int, num_rounds: int) -> bool:
        """A checkpoint is written after this round (the last round needs none: the run then finishes)."""
        return self.enabled and server_round < num_rounds and server_round % self.every == 0
