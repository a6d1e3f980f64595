"""A trial retried on another node sends what the first node spooled (issue 17, item 7).

The rule (trainers/spool.py): a checkpoint carries the batches still unsent when it was
written, and a tracker opened to resume from it sends them. "Another node" is another spool
folder; the outage is real (a loopback port nothing listens on), as in test_tracker_outage.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from configs import metrics as M
from trainers.spool import CARRIED_SPOOL_FILE, FAIL_FAST_HTTP_ENV, SPOOL_DIR_ENV
from trainers.tracker import MlflowTracker, TrackingTarget

from tests.unit.trainers.test_tracker_outage import Outage, dead_uri, steps_in  # noqa: F401 (dead_uri: a fixture)


@pytest.mark.parametrize(("carried", "sent"), [(True, [(10, 1.0), (20, 2.0)]), (False, [(10, 1.0)])])
def test_a_retry_on_another_node_sends_the_batches_the_checkpoint_carries(
    target: TrackingTarget, client: MlflowClient, dead_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    carried: bool, sent: list[tuple[int, float]],
) -> None:
    for name, value in FAIL_FAST_HTTP_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(SPOOL_DIR_ENV, str(tmp_path / "node-a"))
    first = MlflowTracker(target, "moves", patience=5.0)
    first.log_metrics({M.TRAIN_LOSS: 1.0}, 10)
    Outage(first, dead_uri).stop()
    first.log_metrics({M.TRAIN_LOSS: 2.0}, 20)  # spooled on node A
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    first.flush(carry_to=checkpoint if carried else None)  # the step-20 checkpoint; node A is then lost
    client.update_run(first.run_id, status="FAILED")

    monkeypatch.setenv(SPOOL_DIR_ENV, str(tmp_path / "node-b"))
    retry = MlflowTracker(target, "moves", run_id=first.run_id, resume_from=checkpoint)
    assert (checkpoint / CARRIED_SPOOL_FILE).is_file() == carried
    assert steps_in(client, first.run_id) == sent  # without the carried copy, step 20 is lost
    assert retry.last_logged_step == sent[-1][0]
    assert not retry.spool.path.exists()


def test_a_checkpoint_of_a_reachable_store_carries_nothing(target: TrackingTarget, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SPOOL_DIR_ENV, str(tmp_path / "spool"))
    tracker = MlflowTracker(target, "calm")
    tracker.log_metrics({M.TRAIN_LOSS: 1.0}, 10)
    tracker.flush(carry_to=tmp_path)
    assert not (tmp_path / CARRIED_SPOOL_FILE).exists()
