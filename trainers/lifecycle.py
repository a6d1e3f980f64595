"""How a trial's tracked run ends: the one place that sets FINISHED, FAILED or KILLED.

The rule (`configs.runs`, docs/architecture.md "failure semantics"): FINISHED is the
trainer's very last act, after every metric and artifact is stored; FAILED on an exception
(a retry reopens the run); FAILED and tagged diverged on a non-finite loss or parameter;
KILLED on an interrupt. The guard covers the whole life of the run — opening it (setup
logging, the untrained reference) and the final FINISHED itself — so no failure leaves a
run RUNNING once it was opened.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from configs import metrics as M
from configs.data import DomainConfig
from configs import runs
from trainers.hooks import TrialDiverged
from trainers.tracker import DESCRIPTION_TAG, RunStatus, Tracker


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
    from trainers.tracker import MlflowTracker

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
