"""`fedkd-faces`: train (or reuse) the HR teacher, distil an LR student, evaluate both, write a run directory.

Examples: `fedkd-faces face_method=cckd lowres.size=12`; a sweep:
`fedkd-faces -m face_method=none,cckd lowres.size=8,16 seed=0,1,2`.
"""

from __future__ import annotations

from fedkd.commands.skeleton import experiment_command
from fedkd.face_experiment.config import FACES
from fedkd.face_experiment.experiment import run_faces

main = experiment_command(FACES, run_faces, "fedkd-faces")
