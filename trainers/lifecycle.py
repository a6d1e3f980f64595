"""A tracked run's lifecycle, in one place: how runs are created or reopened and how they end.

Creation: `open_trial_run` (a trial: reopened by checkpoint run id, else by identity and
measurement, else created under its driver session's run), `open_branch_tracker` (a
cool-down branch, nested under its trial; skipped when it already finished) and
`open_session_run` (one parent run per driver session). `trainers.tracker` is the transport
(retries, spool); it holds no lifecycle decision.

Ending (`configs.runs`, docs/architecture.md "failure semantics"): FINISHED is the trainer's
very last act, after every metric and artifact is stored; FAILED on an exception (a retry
reopens the run); FAILED and tagged diverged on a non-finite loss or parameter; KILLED on an
interrupt, and KILLED for a sweep's runs a dead driver left RUNNING (`mark_interrupted_runs`,
called by the driver that holds the sweep's lock). The guard covers the whole life of the run
— opening it (setup logging, the untrained reference) and the final FINISHED itself — so no
failure leaves a run RUNNING once it was opened.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from pathlib import Path
from typing import Any

from configs import TrialConfig
from configs import metrics as M
from configs.data import DomainConfig
from configs import runs
from trainers.distributed import is_logging_rank
from trainers.hooks import TrialDiverged
from trainers.tracker import DESCRIPTION_TAG, InMemoryTracker, MlflowTracker, RunStatus, Tracker, TrackingTarget


@dataclass
class OpenedRun:
    """The tracker of the run, once it is open (None while data, model and engine are built)."""

    tracker: Tracker | None = None
    finished: bool = False


@contextmanager
def ends_run(opened: OpenedRun) -> Iterator[OpenedRun]:
    """End `opened.tracker`'s run FAILED (tagged diverged on divergence) or KILLED on the way out.

    The body calls `finish_run` as its last act. A failure raised by that FINISHED call
    (e.g. the store stayed unreachable while the spool drained) ends the run FAILED instead.
    A failure before the run was opened leaves nothing to end.
    """
    try:
        yield opened
    except TrialDiverged as diverged:
        if opened.tracker is not None:
            opened.tracker.log_metrics(diverged.step_metrics, diverged.step)
            opened.tracker.set_tags({M.TAG_OUTCOME: runs.OUTCOME_DIVERGED, DESCRIPTION_TAG: str(diverged)})
        _end(opened, "FAILED")
        raise
    except Exception:
        _end(opened, "FAILED")  # a retry reopens the run and sets it RUNNING again
        raise
    except BaseException:  # KeyboardInterrupt, SystemExit: stopped, not broken
        _end(opened, "KILLED")
        raise


def finish_run(opened: OpenedRun) -> None:
    """FINISHED: call as the last act inside `ends_run`, after every metric and artifact."""
    assert opened.tracker is not None, "finish_run before the run was opened"
    opened.tracker.finish("FINISHED")
    opened.finished = True


def _end(opened: OpenedRun, status: RunStatus) -> None:
    if opened.tracker is not None and not opened.finished:
        opened.tracker.finish(status)


def log_text_datasets(tracker: Tracker, domains: Sequence[DomainConfig], corpus: dict[str, str] | None) -> int:
    """Log each text domain as an MLflow dataset input of the run (digest: the corpus hash).

    The run page then lists what it trained on; only an `MlflowTracker` has somewhere to put
    it. Returns how many were logged.
    """
    if not isinstance(tracker, MlflowTracker) or not domains or corpus is None:
        return 0
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag

    digest = corpus["corpus_hash"][:36]
    inputs = [
        DatasetInput(MetaDataset(CodeDatasetSource({"source": domain.source, "cache_key": corpus["cache_key"]}),
                                 name=domain.name, digest=digest)._to_mlflow_entity(),
                     [InputTag("mlflow.data.context", "train")])
        for domain in domains
    ]
    tracker._retrying(lambda: tracker._client.log_inputs(tracker.run_id, datasets=inputs), "logging datasets")
    return len(inputs)


def open_trial_run(trial: TrialConfig, tracking: TrackingTarget | Tracker | None, run_id: str | None,
                   resume_from: Path | None, run_name: str, parent_run_id: str | None) -> Tracker:
    """Create or reopen the trial's run: by `run_id` (a checkpoint's), else by identity and
    measurement (an unfinished run of an earlier attempt), else a new run nested under
    `parent_run_id`. Rank 0 logs; the other workers (and `tracking=None`) log nowhere."""
    if tracking is None or not is_logging_rank():
        return InMemoryTracker()
    if isinstance(tracking, TrackingTarget):
        identity = {**runs.identity_tags(trial), **runs.measurement_tags(trial)}
        return MlflowTracker(tracking, run_name, run_id, identity=identity,
                             resume_from=resume_from, parent_run_id=parent_run_id, system_metrics=True)
    return tracking


def open_branch_tracker(parent: Tracker, run_name: str, tags: dict[str, str]) -> Tracker | None:
    """A tracker for the branch tagged `tags`, or None if its run already finished.

    MLflow: a finished trial run with the branch's sweep, config hash and measurement means done; an
    unfinished one is reopened (`MlflowTracker`'s identity lookup), else a run is created in
    the parent's experiment. In memory: the same, over `parent.branches`.
    """
    identity = {M.TAG_SWEEP: tags[M.TAG_SWEEP], M.TAG_CONFIG_HASH: tags[M.TAG_CONFIG_HASH]}
    if M.TAG_MEASUREMENT_HASH in tags:  # one branch per measurement of the parent's identity
        identity[M.TAG_MEASUREMENT_HASH] = tags[M.TAG_MEASUREMENT_HASH]
    if isinstance(parent, MlflowTracker):
        if parent.has_finished_run(identity):
            return None
        return MlflowTracker(parent.target, run_name, identity=identity, parent_run_id=parent.run_id)  # nested
    if isinstance(parent, InMemoryTracker):
        return _in_memory_branch(parent, identity)
    raise TypeError(f"cool-down branches need an MlflowTracker or InMemoryTracker, got {type(parent).__name__}")


def _in_memory_branch(parent: InMemoryTracker, identity: dict[str, str]) -> InMemoryTracker | None:
    for branch in parent.branches:
        if all(branch.tags.get(key) == value for key, value in identity.items()):
            if branch.status == "FINISHED":
                return None
            branch.status = "RUNNING"
            return branch
    suffix = identity[M.TAG_CONFIG_HASH].rsplit("-", 1)[-1]  # "cd<start step>"
    branch = InMemoryTracker(run_id=f"{parent.run_id}-{suffix}")
    branch.set_tags(identity)
    parent.branches.append(branch)
    return branch



def mark_interrupted_runs(target: TrackingTarget, sweep_name: str) -> int:
    """Set this sweep's RUNNING trial runs (and session parent runs) to KILLED; returns how many.

    Called by a driver that holds the sweep's lock, so no live trial owns those runs: they
    were left RUNNING by a driver that died or stopped. A resumed trial reopens its run and
    sets it RUNNING again.
    """
    client = _client(tracking_uri=target.uri)
    experiment = client.get_experiment_by_name(target.experiment)
    if experiment is None:
        return 0
    running = " and attributes.status = 'RUNNING'"
    sessions = f"tags.`{M.TAG_KIND}` = '{runs.KIND_SESSION}' and tags.`{M.TAG_SWEEP}` = '{sweep_name}'"
    stale = [run for query in (runs.trial_filter({M.TAG_SWEEP: sweep_name}), sessions)
             for run in client.search_runs([experiment.experiment_id], query + running, max_results=50_000)]
    for run in stale:
        client.set_terminated(run.info.run_id, status="KILLED")
    return len(stale)


def open_session_run(target: TrackingTarget, sweep_name: str, session_name: str) -> str:
    """Create the parent run of this driver session's trials (`<sweep> <session>`); its id."""
    client = _client(tracking_uri=target.uri)
    experiment = client.get_experiment_by_name(target.experiment)
    assert experiment is not None, "prepare_experiment first"
    tags = {M.TAG_KIND: runs.KIND_SESSION, M.TAG_SWEEP: sweep_name}
    run = client.create_run(experiment.experiment_id, run_name=f"{sweep_name} {session_name}", tags=tags)
    return str(run.info.run_id)


def end_session_run(target: TrackingTarget, run_id: str, status: RunStatus) -> None:
    """End a session's parent run (FINISHED, or KILLED when the driver was interrupted)."""
    _client(tracking_uri=target.uri).set_terminated(run_id, status=status)


def _client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient  # the driver's calls; a trial's tracker holds its own client

    return MlflowClient(tracking_uri=tracking_uri)
