"""Each client's state on disk, one file per client and round it trained in, written by the client itself.

Under Ray (and in a deployment) a node's `context.state` lives where the node runs, out of the server's
reach, so a client that trains writes its state to `<run>/checkpoints/clients/p<partition>-r<round>.npz`
(atomically) before it replies. A server checkpoint of round k records, for each partition, the last round
≤ k in which it trained; a resumed client loads that file once, before it handles its first message. The
instruction keys below travel in the train and evaluate ConfigRecords.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from flwr.app import ConfigRecord, RecordDict

from fedkd.state.client_state import ClientState

CHECKPOINT_DIR = "fedkd.checkpoint-dir"   # where clients write their states ("" or absent: they do not)
RESUME_ROUND = "fedkd.resume-round"       # > 0: the run resumes after this round; clients restore their states
RESTORED = "fedkd.restored"               # marks a context.state that was restored (or found nothing to restore)
CLIENTS = "clients"
_NAME = re.compile(r"p(\d+)-r(\d+)\.npz")


def clients_dir(checkpoints: Path) -> Path:
    return checkpoints / CLIENTS


def state_file(directory: Path, partition: int, server_round: int) -> Path:
    return directory / f"p{partition:05d}-r{server_round:06d}.npz"


def parse_state_file(path: Path) -> tuple[int, int] | None:
    """(partition, round) of a client state file's name."""
    match = _NAME.fullmatch(path.name)
    return (int(match[1]), int(match[2])) if match else None


def save_client_state(state: RecordDict, directory: Path, partition: int, server_round: int) -> Path:
    """Write the state atomically (a temporary file in the same folder, then a rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = state_file(directory, partition, server_round)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as fh:
        ClientState(state).save(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temporary, target)
    return target


def restore_once(state: RecordDict, instructions: ConfigRecord | dict, partition: int) -> None:
    """On a resumed run, fill an empty `context.state` from the client's last state file ≤ the resume round."""
    resume = int(instructions.get(RESUME_ROUND, 0))
    directory = str(instructions.get(CHECKPOINT_DIR, ""))
    if resume <= 0 or not directory or RESTORED in state.config_records:
        return
    found = [(r, p) for p in Path(directory).glob("p*-r*.npz")
             if (parsed := parse_state_file(p)) and parsed[0] == partition and (r := parsed[1]) <= resume]
    if found:
        restored = ClientState.load(max(found)[1]).record
        for name in list(restored.keys()):
            state[name] = restored[name]
    state[RESTORED] = ConfigRecord({"resume_round": resume, "from_round": max(found)[0] if found else 0})


def prune_client_states(directory: Path, keep: Iterable[tuple[int, int]], up_to: int) -> None:
    """Delete state files of rounds ≤ `up_to` that no kept checkpoint refers to ((partition, round) pairs)."""
    wanted = set(keep)
    for path in directory.glob("p*-r*.npz"):
        parsed = parse_state_file(path)
        if parsed and parsed[1] <= up_to and parsed not in wanted:
            path.unlink(missing_ok=True)
