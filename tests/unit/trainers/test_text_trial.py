"""A text trial end to end on CPU through the real loop and DeepSpeed, on a corpus written here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from configs import TrialConfig
from configs import metrics as M
from trainers import InMemoryTracker, run_trial

WORDS = "the a of to and model loss token data law scale split cache".split()


@pytest.fixture
def trial(tmp_path: Path) -> TrialConfig:
    """A user's own folder and JSONL, byte tokenizer, three short evaluations."""
    rng = np.random.default_rng(0)
    (tmp_path / "notes").mkdir()
    for i in range(10):
        (tmp_path / "notes" / f"{i}.md").write_text(" ".join(rng.choice(WORDS, 400)))
    (tmp_path / "web.jsonl").write_text(
        "".join(json.dumps({"text": " ".join(rng.choice(WORDS[:5], 300))}) + "\n" for _ in range(10)))
    return TrialConfig.model_validate({
        "model": {"n_layer": 1, "n_head": 1, "d_model": 16, "d_ff": 64},
        "data": {"task": "text", "seq_len": 32, "num_test_tokens": 1500, "cache_dir": str(tmp_path / "cache"),
                 "domains": [{"name": "notes", "source": str(tmp_path / "notes")},
                             {"name": "web", "source": str(tmp_path / "web.jsonl"), "weight": 0.5}]},
        "optim": {"lr": 1e-2, "warmup_steps": 3},
        "train": {"num_steps": 30, "batch_size": 16, "eval_every": 10, "checkpoint_every": 30},
    })


def test_a_text_trial_logs_distortion_and_bpb_per_domain(trial: TrialConfig, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trainers.artifacts.write_run_figures", lambda model, directory: [])
    tracker = InMemoryTracker()
    result = run_trial(trial, tracking=tracker, checkpoint_root=tmp_path / "ckpt")
    assert trial.vocab_size == 256 and trial.num_tokens == 30 * 16 * 32
    for domain in ("notes", "web"):
        for key in (M.distortion_key(domain), M.bpb_key(domain)):
            assert sorted(tracker.history[key]) == [10, 20, 30], key
        assert result.final[M.bpb_key(domain)] == result.final[M.distortion_key(domain)] / math.log(2)
    weighted = (2 * result.final[M.distortion_key("notes")] + result.final[M.distortion_key("web")]) / 3
    assert result.final[M.VAL_LOSS] == pytest.approx(weighted)
    assert M.VAL_BPB in result.final
    history = tracker.history[M.VAL_LOSS]
    assert history[30] < history[10] < math.log(256)  # it learns from the first evaluation on


def test_each_text_domain_is_a_dataset_input_of_the_run(trial: TrialConfig, tmp_path: Path, mlflow_uri: str,
                                                       mlflow_experiment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    from trainers.tracker import TrackingTarget

    monkeypatch.setattr("trainers.artifacts.write_run_figures", lambda model, directory: [])
    short = trial.model_validate({**trial.model_dump(), "train": {**trial.train.model_dump(), "num_steps": 10,
                                                                  "eval_every": 10, "checkpoint_every": 10}})
    result = run_trial(short, tracking=TrackingTarget(mlflow_uri, mlflow_experiment), checkpoint_root=tmp_path / "c")
    inputs = MlflowClient(tracking_uri=mlflow_uri).get_run(result.run_id).inputs.dataset_inputs
    logged = {d.dataset.name: d.dataset.digest for d in inputs}
    assert set(logged) == {"notes", "web"} and len(set(logged.values())) == 1  # the corpus hash, shared
