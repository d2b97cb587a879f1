"""One directory per run, the same for every command: resolved config, metrics, summary, error record.

The directory is written as `<root>/<time>-<name>.incomplete` and renamed to `<time>-<name>` only when
the run finishes (to `<time>-<name>.failed`, with `error.txt`, when it raises), so nothing half-written
looks like a result. Every finished run holds `config.yaml`, `summary.json` and `summary.md`; its
metrics files (`rounds.csv` and `clients.csv`, or `history.jsonl`) and artefacts are the command's own.
"""

from __future__ import annotations

import contextlib
import csv
import json
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from omegaconf import MISSING

from fedkd.config.fields import NOT_EMPTY, setting
from fedkd.paths import expand

CONFIG, SUMMARY_JSON, SUMMARY_MD, ERROR = "config.yaml", "summary.json", "summary.md", "error.txt"
INCOMPLETE, FAILED = ".incomplete", ".failed"


@dataclass
class OutputSettings:
    """`output`: where a run directory goes and what it is called (a time stamp is put in front)."""

    root: str = setting("results", NOT_EMPTY, help="run directories go under this folder")
    name: str = setting(MISSING, NOT_EMPTY, help="the run's name after its time stamp")


class CsvLog:
    """A CSV file written row by row (flushed each time) with a fixed header.

    With `strict`, a row key that is neither a column nor in `unlogged` raises: a metric must not vanish
    because nobody declared its column."""

    def __init__(self, path: Path, columns: Iterable[str], strict: bool = False,
                 unlogged: Iterable[str] = (), resume_at: int | None = None) -> None:
        """`resume_at`: continue an existing file cut back to this many bytes (a checkpoint's size of it)."""
        self.columns = tuple(columns)
        self.strict, self.unlogged = strict, frozenset(unlogged)
        if resume_at is not None:
            with open(path, "r+b") as fh:
                fh.truncate(resume_at)
        self._file = open(path, "a" if resume_at is not None else "w", newline="")  # noqa: SIM115 - closed by
        self._writer = csv.DictWriter(self._file, fieldnames=self.columns, extrasaction="ignore")  # RunDirectory
        if resume_at is None:
            self._writer.writeheader()
        self._file.flush()

    def size(self) -> int:
        """Bytes written so far (all flushed)."""
        return self._file.tell()

    def append(self, rows: Iterable[Mapping[str, Any]]) -> None:
        rows = list(rows)
        if self.strict:
            undeclared = sorted({k for r in rows for k in r} - set(self.columns) - self.unlogged)
            if undeclared:
                raise RuntimeError(f"{Path(self._file.name).name} has no column for {', '.join(undeclared)}: declare "
                                   "them (a method's loss_terms/passes in fedkd/methods/registry.py, a workload's "
                                   "loss_terms, a distiller's terms)")
        self._writer.writerows(rows)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class RunDirectory:
    def __init__(self, root: Path, name: str, existing: Path | None = None) -> None:
        """A new directory `<root>/<time>-<name>.incomplete`, or the unfinished `existing` one reopened (a
        resumed run: `.failed` is renamed back to `.incomplete` and its error.txt removed)."""
        self._logs: list[CsvLog] = []
        self.done = False
        if existing is not None:
            base = existing.name.removesuffix(INCOMPLETE).removesuffix(FAILED)
            self.final_path, self.path = existing.with_name(base), existing.with_name(base + INCOMPLETE)
            if existing != self.path:
                existing.rename(self.path)
            (self.path / ERROR).unlink(missing_ok=True)
            return
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base, suffix = f"{stamp}-{name}", 1
        while any((root / f"{base}{end}").exists() for end in ("", INCOMPLETE, FAILED)):
            suffix += 1
            base = f"{stamp}-{name}-{suffix}"
        self.final_path = root / base
        self.path = root / f"{base}{INCOMPLETE}"
        self.path.mkdir(parents=True)

    @classmethod
    def create(cls, output: OutputSettings, root: Path | None = None, existing: Path | None = None) -> RunDirectory:
        """The run directory of `output` (under `root` instead of `output.root` when given, e.g. a sweep), or
        `existing` reopened."""
        return cls(root or expand(output.root), output.name, existing)

    def write_config(self, settings: Any) -> None:
        """config.yaml: the fully resolved settings of the run."""
        (self.path / CONFIG).write_text(yaml.safe_dump(asdict(settings), sort_keys=False))

    def write_json(self, name: str, content: Mapping[str, Any]) -> None:
        (self.path / name).write_text(json.dumps(content, indent=2))

    def write_jsonl(self, name: str, rows: Iterable[Mapping[str, Any]]) -> None:
        with open(self.path / name, "w") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")

    def open_csv(self, name: str, columns: Iterable[str], strict: bool = False,
                 unlogged: Iterable[str] = (), resume_at: int | None = None) -> CsvLog:
        log = CsvLog(self.path / name, columns, strict, unlogged, resume_at)
        self._logs.append(log)
        return log

    def _close(self) -> None:
        for log in self._logs:
            log.close()

    def finish(self, summary: Mapping[str, Any], table: str) -> Path:
        """Write the summary and move the directory to its final name."""
        self._close()
        self.write_json(SUMMARY_JSON, summary)
        (self.path / SUMMARY_MD).write_text(table + "\n")
        self.path.rename(self.final_path)
        self.path, self.done = self.final_path, True
        return self.final_path

    def fail(self, error: BaseException) -> Path:
        """Keep what was written as `<name>.failed`, with the error and its traceback in error.txt."""
        self._close()
        trace = "".join(traceback.format_exception(error))
        with contextlib.suppress(OSError):  # a full disk may be why it failed; the rename below needs no space
            (self.path / ERROR).write_text(f"{type(error).__name__}: {error}\n\n{trace}")
        failed = self.final_path.with_name(self.final_path.name + FAILED)
        self.path.rename(failed)
        self.path, self.done = failed, True
        return failed

    def __enter__(self) -> RunDirectory:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if error is not None and not self.done:
            if getattr(error, "keeps_run_directory", False):  # stopped to be resumed: leave it as it is
                self._close()
                return
            self.fail(error)


Work = Callable[[RunDirectory], tuple[Mapping[str, Any], str]]  # fills a run directory; returns (summary, table)


def write_run(settings: Any, output: OutputSettings, work: Work, root: Path | None = None,
              existing: Path | None = None) -> Path:
    """The lifecycle every command shares: create the run directory, write the resolved config, let `work`
    fill it, write its summary and rename it into place; on any exception keep it as `.failed` and re-raise.
    With `existing` (a resumed run) that directory is reopened and its config.yaml kept."""
    with RunDirectory.create(output, root, existing) as run:
        if existing is None:
            run.write_config(settings)
        summary, table = work(run)
        return run.finish(summary, table)
