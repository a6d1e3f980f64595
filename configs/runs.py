"""Run identity: how a trial's MLflow run is named and tagged, and when it counts as finished.

One rule for "finished", used by the driver (skip finished trials on a rerun), the tracker
(reopen an unfinished run on resume) and analysis (fit finished runs only): **a trial run is
finished when its MLflow status is FINISHED.** The trainer sets that status as its very last
act, after every metric and artifact is stored, so a FINISHED run is complete. Other ends:
FAILED (crashed; a retry reopens it), KILLED (stopped by the user), and FAILED with tag
`scalinglab.outcome = diverged` (a non-finite loss; never retried).

A trial's run is found by its sweep and config hash (`configs/identity.py`: the fields that
define what is trained). A sweep started before identity version 2 logged version-1 hashes;
the driver accepts those too (`recorded_hashes`), so its finished trials are not trained
again. Its unfinished trials have a new run name and start over from step 0 in a new run.

A run is of one *measurement* too (tag `scalinglab.measurement_hash`, the hash of its `eval`
section): trials of one identity that measure differently (an `eval.*` grid) are separate runs,
each run once. A run logged before that tag existed counts for every measurement of its
identity (`same_measurement`), as it did when `eval` was no key at all.

This module only builds names, tags and MLflow search filters; it imports no MLflow. Run names
are for people (`readable_run_names`: what varies in the sweep); the config hash is the identity.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from configs import metrics as M
from configs.identity import IDENTITY_VERSION
from configs.schema import TrialConfig

KIND_TRIAL = "trial"
KIND_ANALYSIS = "analysis"
KIND_SESSION = "sweep_session"  # the parent run of one driver session's trials
OUTCOME_DIVERGED = "diverged"

RunState = Literal["finished", "running", "failed", "diverged", "killed"]

SHORT_NAMES = {"init.rate": "γ", "optim.weight_decay": "λ", "optim.lr": "lr", "seed": "s"}
"""How a varying field is written in a run name; others by their last dotted part."""


def run_name(trial: TrialConfig) -> str:
    """MLflow run name of a trial: ``<sweep>-<trial id>`` (also Ray's trial name)."""
    return f"{trial.sweep}-{trial.trial_id}"


def identity_tags(trial: TrialConfig) -> dict[str, str]:
    """The tags that find a trial's run again: sweep name, config hash and the hash's identity version."""
    return {M.TAG_SWEEP: trial.sweep, M.TAG_CONFIG_HASH: trial.config_hash,
            M.TAG_IDENTITY_VERSION: str(IDENTITY_VERSION)}


def recorded_hashes(trial: TrialConfig) -> tuple[str, str]:
    """The config hashes a run of `trial` may carry: today's, then identity version 1's."""
    return trial.config_hash, trial.config_hash_v1


def measurement_tags(trial: TrialConfig) -> dict[str, str]:
    """The tag naming what a trial's run measures: the hash of its `eval` section."""
    return {M.TAG_MEASUREMENT_HASH: trial.measurement_hash}


def same_measurement(tags: dict[str, str], measurement: str) -> bool:
    """Whether a run carrying `tags` measured `measurement`; an untagged (older) run counts for any."""
    logged = tags.get(M.TAG_MEASUREMENT_HASH)
    return logged is None or logged == measurement


def trial_tags(trial: TrialConfig) -> dict[str, str]:
    """Every tag a trial run carries from its start."""
    return {**identity_tags(trial), **measurement_tags(trial), M.TAG_TRIAL_ID: trial.trial_id, M.TAG_KIND: KIND_TRIAL}


def run_state(status: str, tags: dict[str, str]) -> RunState:
    """What a run's MLflow status and tags say about it, in the words of the results table."""
    if status == "FINISHED":
        return "finished"
    if status == "KILLED":
        return "killed"
    if tags.get(M.TAG_OUTCOME) == OUTCOME_DIVERGED:
        return "diverged"
    return "failed" if status == "FAILED" else "running"


def _equals(tags: dict[str, str]) -> list[str]:
    return [f"tags.`{key}` = '{value}'" for key, value in tags.items()]


def trial_filter(tags: dict[str, str] | None = None, finished: bool | None = None) -> str:
    """MLflow search filter for trial runs carrying `tags`; `finished` narrows by the rule."""
    clauses = _equals({M.TAG_KIND: KIND_TRIAL, **(tags or {})})
    if finished is True:
        clauses.append("attributes.status = 'FINISHED'")
    elif finished is False:
        clauses.append("attributes.status != 'FINISHED'")
    return " and ".join(clauses)


def analysis_filter(analysis: str) -> str:
    """MLflow search filter for the analysis run of kind `analysis` (replaced on re-run)."""
    return " and ".join(_equals({M.TAG_KIND: KIND_ANALYSIS, M.TAG_ANALYSIS: analysis}))


def varying_fields(trials: list[TrialConfig]) -> list[str]:
    """The config fields (dotted, as in `flat_params`) whose values differ between `trials`."""
    flat = [t.flat_params() for t in trials]
    keys = sorted({key for params in flat for key in params})
    return [key for key in keys if len({repr(params.get(key)) for params in flat}) > 1]


def readable_run_names(trials: list[TrialConfig]) -> dict[str, str]:
    """trial id -> `<sweep> <field><value> …` over the fields that vary, e.g. `demo γ0.8 λ0.1`.

    Unique within the sweep: should two trials differ only in fields left out, both names get
    their trial id. The config hash stays the identity (a tag); the name is for people.
    """
    fields = varying_fields(trials)
    names = {t.trial_id: " ".join([t.sweep, *(_part(key, t.flat_params()[key]) for key in fields)])
             for t in trials}
    taken = Counter(names.values())
    return {trial_id: name if taken[name] == 1 else f"{name} {trial_id}" for trial_id, name in names.items()}


def _part(key: str, value: Any) -> str:
    short = SHORT_NAMES.get(key, key.rsplit(".", 1)[-1])
    return f"{short}{value:g}" if isinstance(value, float) else f"{short}{value}"
