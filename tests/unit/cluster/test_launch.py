"""The typed trial launch (cluster.launch) and where a trial resumes from (cluster.checkpoints)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cluster.checkpoints import latest_checkpoint
from cluster.launch import LaunchTesting, TrialLaunch
from cluster.multiworker import TRAIN_FOLDER, workers_config
from configs import TrialConfig
from configs.runs import run_name
from trainers.tracker import TrackingTarget

TRIAL = TrialConfig(sweep="s", seed=0)
TARGET = TrackingTarget("sqlite:////tmp/x.db", "s")


def _launch(**fields: Any) -> dict[str, Any]:
    return {**TrialLaunch(trial=TRIAL, tracking=TARGET).model_dump(mode="json"), **fields}


def test_a_launch_round_trips_through_the_dict_tune_carries(tmp_path: Path) -> None:
    launch = TrialLaunch(trial=TRIAL, tracking=TARGET, resume={TRIAL.trial_id: "/ck"},
                         workers=workers_config(tmp_path, 2, 1.0, 0.0, 1), run_names={TRIAL.trial_id: "demo γ0.8 s0"}, parent_run_id="p",
                         testing=LaunchTesting(fail_once_at_step=3, failure_marker_dir="/m"))
    again = TrialLaunch.model_validate(launch.model_dump(mode="json"))
    assert again == launch and again.trial.trial_id == TRIAL.trial_id
    assert again.earlier_checkpoint() == "/ck" and again.workers is not None and again.workers.num_workers == 2
    assert again.naming() == {"run_name": "demo γ0.8 s0", "parent_run_id": "p"}


BAD = [
    ("unknown key", {"fail_once_at_step": 3}, r"fail_once_at_step\n  Extra inputs are not permitted"),
    ("test knob outside its path", {"testing": {"fail_once_at_step": 0, "failure_marker_dir": "/m"}},
     r"testing\.fail_once_at_step\n  Input should be greater than or equal to 1"),
    ("one worker is not multi-worker", {"workers": {"num_workers": 1, "cpus_per_worker": 1, "gpus_per_worker": 0,
                                                    "storage": "/s", "max_failures": 0}},
     r"workers\.num_workers\n  Input should be greater than or equal to 2"),
    ("no tracking", {"tracking": None}, r"tracking\n"),
]


@pytest.mark.parametrize(("fields", "match"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_launch_is_refused_naming_the_field(fields: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        TrialLaunch.model_validate(_launch(**fields))


def test_a_launch_is_frozen() -> None:
    with pytest.raises(ValidationError, match="frozen"):
        TrialLaunch(trial=TRIAL, tracking=TARGET).run_name = "x"  # type: ignore[misc]


def _deepspeed_checkpoint(folder: Path, step: int) -> Path:
    (folder / f"step{step}").mkdir(parents=True)
    (folder / f"step{step}" / "model_states.pt").write_bytes(b"x")
    (folder / "latest").write_text(f"step{step}")
    return folder


def test_one_worker_trials_resume_from_the_newest_session_checkpoint(tmp_path: Path) -> None:
    name = run_name(TRIAL)
    _deepspeed_checkpoint(tmp_path / "session-000" / name / "checkpoint_000001", 20)
    newest = _deepspeed_checkpoint(tmp_path / "session-001" / name / "checkpoint_000000", 40)
    (tmp_path / "session-001" / name / "checkpoint_000002").mkdir()  # incomplete: no `latest`
    point = latest_checkpoint(tmp_path, TRIAL)
    assert point is not None and (point.path, point.step, point.handed_over) == (newest, 40, True)
    assert latest_checkpoint(tmp_path, TrialConfig(sweep="s", seed=1)) is None


def test_multi_worker_trials_resume_from_their_train_run_folder(tmp_path: Path) -> None:
    name = run_name(TRIAL)
    _deepspeed_checkpoint(tmp_path / "session-000" / name / "checkpoint_000000", 20)  # not this mechanism's
    assert latest_checkpoint(tmp_path, TRIAL, workers_per_trial=2) is None
    merged = _deepspeed_checkpoint(tmp_path / TRAIN_FOLDER / name / "checkpoint_2026-12-04", 30)
    point = latest_checkpoint(tmp_path, TRIAL, workers_per_trial=2)
    assert point is not None and (point.path, point.step, point.handed_over) == (merged, 30, False)
