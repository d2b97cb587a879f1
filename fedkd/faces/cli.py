"""`fedkd-faces`: train (or reuse) the HR teacher, distil an LR student, evaluate both, write a run directory.

Examples: `fedkd-faces face_method=cckd lowres.size=12`; a sweep:
`fedkd-faces -m face_method=none,cckd lowres.size=8,16 seed=0,1,2`.
Every job is validated before the first one starts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from fedkd.errors import USAGE_EXIT_CODE, UserError
from fedkd.faces.config_check import validate_faces
from fedkd.launcher import checked_main, unique_run_dir
from fedkd.paths import config_dir, expand


@hydra.main(config_path=str(config_dir()), config_name="faces", version_base="1.3")
def _run_job(cfg: DictConfig) -> None:
    from fedkd.faces.experiment import run_face_experiment
    from fedkd.faces.report import headline

    try:
        config = validate_faces(cfg)
        out_dir = unique_run_dir(expand(config["output"]["root"]), config["output"]["name"])
        metrics = run_face_experiment(config, out_dir)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(USAGE_EXIT_CODE)
    print(headline(metrics))
    print(Path(out_dir))



def main() -> None:
    checked_main(_run_job, config_name="faces", check=validate_faces)
