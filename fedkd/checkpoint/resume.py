"""Continue a run from its run directory: find it, check it, read its newest checkpoint.

`fedkd-sim|fedkd-gen|fedkd-faces resume=RUN_DIR` composes the config again from the overrides the run was
started with (saved in `checkpoints/resume.json`), so a resumed run has the interrupted run's config, not
today's defaults; the config's fingerprint must then match the run's. Every refusal is one line, and nothing
is changed before all checks pass.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from fedkd.checkpoint.checkpointer import checkpoints_dir
from fedkd.checkpoint.server_checkpoint import ServerCheckpoint, checkpoint_files, read_checkpoint
from fedkd.errors import UserError
from fedkd.results.run_dir import FAILED, INCOMPLETE

RESUME_FILE = "resume.json"
NOT_FINGERPRINTED = ("resume", "checkpoint")  # keys a resumed run may differ in


def fingerprint_of(resolved: Mapping[str, Any]) -> str:
    """SHA-256 of a resolved config (as in a run's config.yaml), without the keys that only say how the run
    is checkpointed."""
    plain = {k: v for k, v in resolved.items() if k not in NOT_FINGERPRINTED}
    return hashlib.sha256(yaml.safe_dump(plain, sort_keys=True).encode()).hexdigest()


def fingerprint(settings: Any) -> str:
    """The fingerprint of a settings dataclass."""
    return fingerprint_of(dataclasses.asdict(settings))


def task_overrides() -> list[str]:
    """The running Hydra job's own overrides (for its resume file), without `resume=`."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return [o for o in HydraConfig.get().overrides.task if not o.startswith("resume=")]


def write_resume_file(run_path: Path, command: str, overrides: list[str], settings: Any) -> None:
    directory = checkpoints_dir(run_path)
    directory.mkdir(parents=True, exist_ok=True)
    content = {"command": command, "overrides": overrides, "fingerprint": fingerprint(settings)}
    (directory / RESUME_FILE).write_text(json.dumps(content, indent=2) + "\n")


def resumable_dir(text: str) -> Path:
    """The run directory `resume=` names, checked: it exists, is unfinished and has checkpoints."""
    path = Path(text).expanduser()
    if not path.is_dir():
        raise UserError(f"resume={text}: no such run directory; give the folder of the interrupted run "
                        f"(its name ends in {INCOMPLETE} or {FAILED})")
    if not path.name.endswith((INCOMPLETE, FAILED)):
        raise UserError(f"resume={text} is a finished run (its name has no {INCOMPLETE} or {FAILED}); nothing to "
                        "resume")
    if not (checkpoints_dir(path) / RESUME_FILE).is_file():
        raise UserError(f"resume={text} has no {checkpoints_dir(path).name}/{RESUME_FILE}: it was run with "
                        "checkpoint.every=0 or by a fedkd without checkpoints; start it again")
    return path


def _resume_record(path: Path, text: str) -> dict[str, Any]:
    try:
        saved = json.loads((checkpoints_dir(path) / RESUME_FILE).read_text())
        return {"command": str(saved["command"]), "overrides": [str(o) for o in saved["overrides"]],
                "fingerprint": str(saved["fingerprint"])}
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"resume={text}: {checkpoints_dir(path).name}/{RESUME_FILE} is damaged; start the run "
                        "again") from None


def resume_overrides(text: str, command: str) -> list[str]:
    """The overrides the run in `resume=text` was started with (by `command`)."""
    path = resumable_dir(text)
    record = _resume_record(path, text)
    if record["command"] != command:
        raise UserError(f"resume={text} is a {record['command']} run; continue it with: {record['command']} "
                        f"resume={text}")
    return record["overrides"]


def resume_fingerprint(path: Path) -> str | None:
    """The config fingerprint in the resume file of the run at `path`; None if it has none or it is damaged."""
    try:
        return _resume_record(path, str(path))["fingerprint"]
    except UserError:
        return None


def check_resumable(path: Path, settings: Any) -> None:
    """The run at `path` was started with this config (its resume file's fingerprint matches)."""
    recorded = _resume_record(path, str(path))["fingerprint"]
    if recorded != fingerprint(settings):
        raise UserError(f"resume={path} was started with another config (fingerprint {recorded[:12]}, this one's "
                        f"is {fingerprint(settings)[:12]}); resume it with its own config (only checkpoint.* may "
                        "change) or start a new run")


def latest_checkpoint(run_path: Path, settings: Any) -> ServerCheckpoint:
    """The newest checkpoint of the run, verified against `settings`."""
    files = checkpoint_files(checkpoints_dir(run_path))
    if not files:
        raise UserError(f"resume={run_path} has no checkpoint yet (it stopped before round "
                        f"{settings.checkpoint.every} ended); start it again")
    return read_checkpoint(files[-1][1], fingerprint(settings))
