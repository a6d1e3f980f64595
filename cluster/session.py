"""A sweep's stable identity on disk, and what one driver leaves there for the next.

Everything a sweep's drivers share lives under ``<workdir>/ray_results/<sweep name>/`` (the
name, not a timestamp, is the identity, so running the same command again finds it):

* ``driver.lock`` — held (flock) by the live driver; a second driver of the same sweep is
  refused instead of racing the first for the same trials and MLflow runs.

A second lock is keyed on what the clean-up of interrupted runs is keyed on — the tracking
store's URI and the sweep name (`store_lock_path`) — so a driver of the same sweep in
*another* workdir that logs to the same store is refused too; before, it started and marked
the first driver's live runs KILLED. That lock lives beside a sqlite store's file (seen by
every process that can open the store), else in a per-host folder: two hosts sharing one
MLflow server are not kept apart by it. Both lock files stay after a clean finish, empty:
deleting a flock file races a driver that has just opened it (it would lock the deleted
file while a third driver locks a new one), so they are left for the next driver to reuse.
* ``driver.json`` — the processes the driver's embedded Ray started, refreshed while it
  runs; a driver killed with SIGKILL cannot stop them, so the next one does.
* ``session-000``, ``session-001``, … — one Tune experiment folder per driver session. Each
  trial's checkpoints land in ``session-*/<run name>/checkpoint_*/``; the next session
  resumes every unfinished trial from the newest of them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from cluster.preflight import SweepLaunchError

LOCK_FILE, RECORD_FILE, SESSION_PREFIX = "driver.lock", "driver.json", "session-"


class SweepBusy(SweepLaunchError):
    """Another live driver holds this sweep."""


@dataclass(frozen=True)
class DriverSession:
    """The sweep folder and this driver's Tune experiment name inside it."""

    sweep_dir: Path
    name: str

    @property
    def first(self) -> bool:
        """No earlier driver session of this sweep ran trials from this folder."""
        return self.name == f"{SESSION_PREFIX}000"


@contextmanager
def driver_session(sweep_dir: Path, tracking_uri: str, sweep_name: str) -> Iterator[DriverSession]:
    """Hold the sweep's locks for the life of one driver; clean up after a dead predecessor.

    Raises:
        SweepBusy: another process holds either lock (that driver is still running).
    """
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as held:
        held.enter_context(_flock(sweep_dir / LOCK_FILE, "this sweep folder"))
        held.enter_context(_flock(store_lock_path(tracking_uri, sweep_name),
                                  f"sweep '{sweep_name}' on the store {tracking_uri}"))
        reap_leftover_processes(sweep_dir)
        try:
            yield DriverSession(sweep_dir, _next_session_name(sweep_dir))
        finally:
            (sweep_dir / RECORD_FILE).unlink(missing_ok=True)


def store_lock_path(tracking_uri: str, sweep_name: str) -> Path:
    """The lock of (store, sweep): beside a sqlite file, else in a per-host folder."""
    key = hashlib.sha256(f"{tracking_uri}\n{sweep_name}".encode()).hexdigest()[:16]
    if tracking_uri.startswith("sqlite:///"):  # sqlite:////abs/mlflow.db, or sqlite:///relative.db
        folder = Path(tracking_uri.removeprefix("sqlite:///")).resolve().parent
    else:
        folder = Path(tempfile.gettempdir()) / "scalinglab-locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"scalinglab-sweep-{key}.lock"


@contextmanager
def _flock(path: Path, what: str) -> Iterator[None]:
    with open(path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepBusy(
                f"another driver is running {what} (it holds {path}); wait for it, "
                "or stop it (Ctrl-C, or `scalinglab stop JOB` for a submitted sweep)"
            ) from None
        yield


def _next_session_name(sweep_dir: Path) -> str:
    taken = [int(p.name.removeprefix(SESSION_PREFIX)) for p in sweep_dir.glob(f"{SESSION_PREFIX}[0-9]*")]
    return f"{SESSION_PREFIX}{max(taken, default=-1) + 1:03d}"


def record_processes(sweep_dir: Path) -> None:
    """Write this driver's descendant processes (pid and start time) to `driver.json`."""
    children = psutil.Process().children(recursive=True)
    processes = [[p.pid, p.create_time()] for p in children if _alive(p)]
    tmp = sweep_dir / f"{RECORD_FILE}.tmp"
    tmp.write_text(json.dumps({"driver_pid": os.getpid(), "processes": processes}))
    tmp.replace(sweep_dir / RECORD_FILE)  # atomic: a reader never sees half a file


def reap_leftover_processes(sweep_dir: Path) -> int:
    """Kill what a dead driver left running (matched by pid *and* start time); return the count."""
    record = sweep_dir / RECORD_FILE
    if not record.exists():
        return 0
    killed = 0
    for pid, created in json.loads(record.read_text())["processes"]:
        try:
            process = psutil.Process(pid)
            if abs(process.create_time() - created) < 1e-3:  # not a reused pid
                process.kill()
                killed += 1
        except psutil.Error:
            continue  # already gone
    record.unlink()
    return killed


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def latest_checkpoint(sweep_dir: Path, trial_dirname: str) -> tuple[Path, int] | None:
    """The newest complete checkpoint of a trial over all sessions, and its step."""
    best: tuple[Path, int] | None = None
    for checkpoint in sweep_dir.glob(f"{SESSION_PREFIX}*/{trial_dirname}/checkpoint_*"):
        step = checkpoint_step(checkpoint)
        if step is not None and (best is None or step > best[1]):
            best = (checkpoint, step)
    return best


def checkpoint_step(directory: Path) -> int | None:
    """The step of a DeepSpeed checkpoint folder (its `latest` tag is ``step<N>``), if complete."""
    latest = directory / "latest"
    if not latest.is_file():
        return None
    tag = latest.read_text().strip()
    tag_dir = directory / tag
    if not tag.startswith("step") or not tag_dir.is_dir() or not any(tag_dir.iterdir()):
        return None
    return int(tag.removeprefix("step"))
