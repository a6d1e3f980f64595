"""`MlflowTracker` through a tracking-server outage: spool, resend, drain (trainers/tracker.py).

The outage is real, not a mock: the tracker's client is pointed at a loopback port nothing
listens on, so every request is refused the way a stopped `mlflow server` refuses it; pointing
it back at the sqlite store is the server coming back.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException

from configs import metrics as M
from trainers.spool import FAIL_FAST_HTTP_ENV, SPOOL_DIR_ENV, TrackingUnreachable, is_outage
from trainers.tracker import MlflowTracker, TrackingTarget


@pytest.fixture(autouse=True)
def spool_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(SPOOL_DIR_ENV, str(tmp_path / "spool"))
    for name, value in FAIL_FAST_HTTP_ENV.items():  # what an http tracker sets for its own requests
        monkeypatch.setenv(name, value)
    return tmp_path / "spool"


@pytest.fixture
def dead_uri() -> str:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


class Outage:
    """Stops and restarts "the server" of one tracker."""

    def __init__(self, tracker: MlflowTracker, dead_uri: str) -> None:
        self.tracker, self.live, self.dead = tracker, tracker._client, MlflowClient(tracking_uri=dead_uri)

    def stop(self) -> None:
        self.tracker._client = self.dead

    def restart(self) -> None:
        self.tracker._client = self.live


@pytest.fixture
def tracker(target: TrackingTarget) -> MlflowTracker:
    return MlflowTracker(target, "outage", patience=5.0)


@pytest.fixture
def outage(tracker: MlflowTracker, dead_uri: str) -> Iterator[Outage]:
    yield Outage(tracker, dead_uri)


def steps_in(client: MlflowClient, run_id: str, key: str = M.TRAIN_LOSS) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def spooled_steps(tracker: MlflowTracker) -> list[int]:
    return [json.loads(line)["step"] for line in tracker.spool.path.read_text().splitlines()]


def test_outage_errors_are_told_apart_from_real_errors(client: MlflowClient, dead_uri: str,
                                                       tracker: MlflowTracker) -> None:
    with pytest.raises(MlflowException) as refused:
        MlflowClient(tracking_uri=dead_uri).log_batch("some-run", metrics=[Metric("a", 1.0, 0, 0)])
    assert is_outage(refused.value)
    with pytest.raises(MlflowException) as missing:
        client.log_batch("no-such-run", metrics=[Metric("a", 1.0, 0, 0)])
    assert not is_outage(missing.value)


def test_batches_wait_in_the_spool_and_are_sent_in_order_when_the_server_is_back(
        tracker: MlflowTracker, outage: Outage, client: MlflowClient, monkeypatch: pytest.MonkeyPatch) -> None:
    tracker.log_metrics({M.TRAIN_LOSS: 1.0}, 10)
    assert not tracker.spool.path.exists()  # sent at once: nothing stays behind
    outage.stop()
    started = time.monotonic()
    for step in (20, 30):
        tracker.log_metrics({M.TRAIN_LOSS: float(step)}, step)
    tracker.log_metrics({M.TRAIN_LOSS: -1.0}, 30)  # already logged (spooled): dropped
    tracker.flush()
    assert time.monotonic() - started < 3  # training is not held up
    assert spooled_steps(tracker) == [20, 30] and tracker.last_logged_step == 30
    assert steps_in(client, tracker.run_id) == [(10, 1.0)]

    sent: list[int] = []
    send_batch = tracker.send_batch
    monkeypatch.setattr(tracker, "send_batch", lambda batch: (send_batch(batch), sent.append(batch["step"])))
    outage.restart()
    time.sleep(1.1)  # the first pause after a failed send
    tracker.log_metrics({M.TRAIN_LOSS: 40.0}, 40)
    assert sent == [20, 30, 40]
    assert steps_in(client, tracker.run_id) == [(10, 1.0), (20, 20.0), (30, 30.0), (40, 40.0)]
    assert not tracker.spool.path.exists()


def test_finish_waits_for_the_server_then_ends_the_run(
        tracker: MlflowTracker, outage: Outage, client: MlflowClient, capsys: pytest.CaptureFixture[str]) -> None:
    outage.stop()
    tracker.log_metrics({M.TRAIN_LOSS: 1.0}, 10)
    tracker.log_metrics({M.TRAIN_LOSS: 2.0}, 20)
    threading.Timer(0.3, outage.restart).start()
    tracker.finish("FINISHED")
    assert steps_in(client, tracker.run_id) == [(10, 1.0), (20, 2.0)]
    assert client.get_run(tracker.run_id).info.status == "FINISHED"
    assert not tracker.spool.path.exists()
    waves = [line for line in capsys.readouterr().err.splitlines() if "retrying in" in line]
    assert len(waves) == 1 and tracker.target.uri in waves[0] and "sending 2 spooled metric batches" in waves[0]


def test_finish_gives_up_after_its_patience_and_keeps_the_spool(
        target: TrackingTarget, dead_uri: str, client: MlflowClient) -> None:
    tracker = MlflowTracker(target, "gives-up", patience=0.5)
    Outage(tracker, dead_uri).stop()
    tracker.log_metrics({M.TRAIN_LOSS: 1.0}, 10)
    with pytest.raises(TrackingUnreachable, match=r"unreachable for \d+ s while sending 1 spooled metric batches; "
                       r"gave up after the 0.5 s patience .*the unsent metrics stay in ") as gave_up:
        tracker.finish("FINISHED")
    assert str(tracker.spool.path) in str(gave_up.value)
    assert spooled_steps(tracker) == [10]
    assert client.get_run(tracker.run_id).info.status == "RUNNING"


def test_a_reopened_run_first_sends_what_an_earlier_attempt_spooled(
        tracker: MlflowTracker, outage: Outage, target: TrackingTarget, client: MlflowClient) -> None:
    tracker.log_metrics({M.TRAIN_LOSS: 1.0}, 10)
    outage.stop()
    tracker.log_metrics({M.TRAIN_LOSS: 2.0}, 20)
    tracker.log_metrics({M.TRAIN_LOSS: 3.0}, 30)
    tracker.flush()  # the checkpoint at step 20 or 30, then the attempt dies
    client.update_run(tracker.run_id, status="FAILED")

    retry = MlflowTracker(target, "outage", run_id=tracker.run_id)  # resumes from the step-20 checkpoint
    assert retry.last_logged_step == 30
    assert not retry.spool.path.exists()
    retry.log_metrics({M.TRAIN_LOSS: -1.0}, 30)  # re-run: dropped
    retry.log_metrics({M.TRAIN_LOSS: 4.0}, 40)
    assert steps_in(client, tracker.run_id) == [(10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0)]


def test_a_real_error_raises_instead_of_spooling_forever(tracker: MlflowTracker, client: MlflowClient) -> None:
    client.delete_run(tracker.run_id)
    with pytest.raises(MlflowException, match="must be in the 'active' state"):
        tracker.log_metrics({M.TRAIN_LOSS: 1.0}, 10)
    assert spooled_steps(tracker) == [10]  # kept, not lost


def test_opening_a_run_on_an_unreachable_server_fails_within_the_patience(dead_uri: str,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for name in FAIL_FAST_HTTP_ENV:
        monkeypatch.delenv(name)  # the tracker itself must set them for an http URI
    started = time.monotonic()
    with pytest.raises(TrackingUnreachable, match=rf"MLflow server {dead_uri} unreachable .* while opening the run"):
        MlflowTracker(TrackingTarget(dead_uri, "exp"), "run", patience=0.5)
    assert time.monotonic() - started < 5  # not MLflow's ~4 minutes of retries


def test_a_line_torn_by_a_crash_is_dropped_and_the_rest_sent(target: TrackingTarget, client: MlflowClient,
                                                             tracker: MlflowTracker, outage: Outage) -> None:
    outage.stop()
    tracker.log_metrics({M.TRAIN_LOSS: 1.0}, 10)
    with tracker.spool.path.open("a") as file:
        file.write('{"step": 20, "timesta')  # the attempt died mid-append
    client.update_run(tracker.run_id, status="FAILED")

    retry = MlflowTracker(target, "outage", run_id=tracker.run_id)
    assert retry.last_logged_step == 10 and not retry.spool.path.exists()
    retry.log_metrics({M.TRAIN_LOSS: 2.0}, 20)
    assert steps_in(client, tracker.run_id) == [(10, 1.0), (20, 2.0)]


def test_a_create_whose_answer_was_lost_is_found_not_made_twice(
        target: TrackingTarget, client: MlflowClient, dead_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server created the run, then went down before its answer arrived; the retry must find it."""
    import mlflow

    class AnswerLostOnce(MlflowClient):
        lost = False

        def create_run(self, *args: object, **kwargs: object) -> object:
            run = super().create_run(*args, **kwargs)  # type: ignore[arg-type]
            if not AnswerLostOnce.lost:
                AnswerLostOnce.lost = True
                MlflowClient(tracking_uri=dead_uri).get_run(run.info.run_id)  # raises a real refusal
            return run

    monkeypatch.setattr(mlflow, "MlflowClient", AnswerLostOnce)
    identity = {M.TAG_SWEEP: "lost-answer", M.TAG_CONFIG_HASH: "h1"}
    tracker = MlflowTracker(target, "lost-answer", identity=identity, patience=30.0)
    assert AnswerLostOnce.lost
    experiment = client.get_experiment_by_name(target.experiment)
    assert experiment is not None
    made = client.search_runs([experiment.experiment_id], "attributes.run_name = 'lost-answer'")
    assert [run.info.run_id for run in made] == [tracker.run_id]


def test_looking_for_a_finished_branch_waits_out_an_outage(tracker: MlflowTracker, outage: Outage,
                                                           client: MlflowClient, target: TrackingTarget) -> None:
    identity = {M.TAG_SWEEP: "branches", M.TAG_CONFIG_HASH: "h-cd100"}
    branch = MlflowTracker(target, "branch", identity=identity)
    branch.finish("FINISHED")
    outage.stop()
    threading.Timer(0.3, outage.restart).start()
    assert tracker.has_finished_run(identity)
    assert not tracker.has_finished_run({**identity, M.TAG_CONFIG_HASH: "h-cd200"})
