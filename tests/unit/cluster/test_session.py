"""The driver locks (cluster/session.py): per sweep folder, and per (tracking store, sweep name).

The second lock is the fix for two workdirs sharing one store: the second driver used to
start and mark the first one's live runs KILLED (`trainers.lifecycle.mark_interrupted_runs`
is keyed on store + sweep name). flock conflicts between two open files even in one
process, so two `driver_session`s here behave like two drivers.
"""

from __future__ import annotations

from contextlib import nullcontext as does_not_raise
from pathlib import Path
from typing import Any

import pytest

from cluster.session import SweepBusy, driver_session, store_lock_path
from cluster.workdir import default_tracking_uri


@pytest.mark.parametrize(
    ("second", "expectation"),
    [
        # another workdir, the same store and sweep: refused (the bug)
        ({"workdir": "b", "store": "a", "sweep": "s"}, pytest.raises(SweepBusy, match="sweep 's' on the store")),
        # the same workdir and sweep, another store: refused by the folder lock
        ({"workdir": "a", "store": "b", "sweep": "s"}, pytest.raises(SweepBusy, match="this sweep folder")),
        # another sweep on the same store: runs alongside
        ({"workdir": "b", "store": "a", "sweep": "t"}, does_not_raise()),
        # another workdir with its own store: runs alongside
        ({"workdir": "b", "store": "b", "sweep": "s"}, does_not_raise()),
    ],
)
def test_a_second_driver_is_refused_when_it_shares_the_store_and_sweep(
    tmp_path: Path, second: dict[str, str], expectation: Any
) -> None:
    def session(workdir: str, store: str, sweep: str) -> Any:
        uri = default_tracking_uri(tmp_path / f"store-{store}")
        (tmp_path / f"store-{store}").mkdir(exist_ok=True)
        return driver_session(tmp_path / workdir / "ray_results" / sweep, uri, sweep)

    with session("a", "a", "s"), expectation, session(**second):
        pass
    with session(**second):  # released when the first driver ends
        pass


@pytest.mark.parametrize(
    ("uri", "folder"),
    [("sqlite:////data/x/mlflow.db", Path("/data/x")), ("http://127.0.0.1:5000", None)],
)
def test_the_store_lock_lives_beside_a_sqlite_file_else_per_host(uri: str, folder: Path | None, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # gettempdir() caches TMPDIR
    if folder is not None:
        uri = uri.replace("/data/x", str(tmp_path / "x"))
        folder = tmp_path / "x"
    path = store_lock_path(uri, "s")
    assert path.parent == (folder or Path(tmp_path) / "scalinglab-locks")
    assert path != store_lock_path(uri, "t")
