"""All layers at once: a sweep through real Ray Tune + DeepSpeed + MLflow, read back by analysis."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import ray
from mlflow import MlflowClient

from analysis.load import load_history, load_runs
from analysis.phase.table import cell_table
from cluster.launch import LaunchTesting
from cluster.sweep import SweepLaunchError, run_sweep
from configs import metrics as M
from configs import parse_sweep
from configs.errors import ConfigError
from configs.runs import trial_filter

pytestmark = [pytest.mark.integration, pytest.mark.ray]

EVAL_EVERY, CHECKPOINT_EVERY, NUM_STEPS = 10, 20, 60


def _sweep(name: str, grid: dict[str, list[float]]) -> dict[str, object]:
    return {
        "name": name,
        "base": {
            "model": "gpt_debug",
            "data": {"task": "anchor", "num_train": 2000, "num_test": 200},
            "optim": {"warmup_steps": 5},
            "train": {"num_steps": NUM_STEPS, "batch_size": 64, "eval_every": EVAL_EVERY,
                      "checkpoint_every": CHECKPOINT_EVERY},
            # opt-in; the probe loss vs its untrained value is asserted below
            "eval": {"probes": ["phi_weight", "phi_input", "training_kl", "calibration", "ratedist"]},
        },
        "grid": grid,
        "resources": {"cpus_per_trial": 1, "max_failures": 2},
    }


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    """A 2×2 (γ, λ) sweep in which every trial crashes once at step 30 and is resumed by Ray."""
    workdir = tmp_path_factory.mktemp("sweep")
    sweep = parse_sweep(_sweep("e2e", {"init.rate": [0.3, 0.8], "optim.weight_decay": [0.01, 1.0]}))
    crash = LaunchTesting(fail_once_at_step=30, failure_marker_dir=str(workdir / "markers"))
    result = run_sweep(sweep, workdir, num_cpus=2, testing=crash)
    assert result.num_failed == 0
    assert len(list((workdir / "markers").iterdir())) == 4  # every trial really crashed once
    return result.target.uri, result.target.experiment, workdir


def test_every_trial_lands_in_mlflow_with_config_and_sizes(finished_sweep: tuple[str, str, Path]) -> None:
    uri, experiment, _ = finished_sweep
    runs = load_runs(uri, experiment)
    assert len(runs) == 4
    assert sorted(zip(runs["init.rate"], runs["optim.weight_decay"])) == [(0.3, 0.01), (0.3, 1.0), (0.8, 0.01), (0.8, 1.0)]
    assert (runs["N"] > 0).all() and (runs["D"] == NUM_STEPS * 64 * 9).all() and (runs["C"] > 0).all()
    assert runs[M.ID_ACC].between(0, 1).all() and runs[M.distortion_key("ood")].gt(0).all()
    assert runs["trial_id"].nunique() == 4
    # what the init and the decay actually were, as the comparison checks read them
    gamma_eff = dict(zip(runs["init.rate"], runs[M.INIT_GAMMA_EFF]))
    assert gamma_eff[0.3] == pytest.approx(0.3, abs=0.05) and gamma_eff[0.8] == pytest.approx(0.8, abs=0.05)
    shrinkage = dict(zip(runs["optim.weight_decay"], runs[M.DECAY_SHRINKAGE]))
    assert 0 < shrinkage[1.0] < shrinkage[0.01] < 1
    assert runs[M.INIT_PROBE_LOSS].gt(runs[M.PROBE_LOSS]).all()  # every run gained over its untrained self


def test_resumed_trials_have_each_step_exactly_once(finished_sweep: tuple[str, str, Path]) -> None:
    uri, experiment, _ = finished_sweep
    runs = load_runs(uri, experiment)
    history = load_history(uri, list(runs["run_id"]), [M.TRAIN_LOSS, M.OOD_ACC])
    expected = list(range(EVAL_EVERY, NUM_STEPS + 1, EVAL_EVERY))
    for (_, _), group in history.groupby(["run_id", "key"]):
        assert sorted(group["step"]) == expected


def test_trial_runs_carry_tags_and_config_artifact(finished_sweep: tuple[str, str, Path]) -> None:
    uri, experiment, _ = finished_sweep
    client = MlflowClient(tracking_uri=uri)
    run_id = load_runs(uri, experiment)["run_id"][0]
    run = client.get_run(run_id)
    assert run.data.tags[M.TAG_SWEEP] == "e2e"
    assert len(run.data.tags[M.TAG_CONFIG_HASH]) == 64
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {M.TRIAL_CONFIG_ARTIFACT, "wq_cosine.png", "embedding_pca.png"} <= artifacts


def test_trials_nest_under_the_session_run_with_readable_names(finished_sweep: tuple[str, str, Path]) -> None:
    uri, experiment, _ = finished_sweep
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    sessions = client.search_runs([experiment_id], "tags.`scalinglab.kind` = 'sweep_session'")
    assert [(r.info.run_name, r.info.status) for r in sessions] == [("e2e session-000", "FINISHED")]
    trials = client.search_runs([experiment_id], f"tags.`mlflow.parentRunId` = '{sessions[0].info.run_id}'")
    assert sorted(r.info.run_name for r in trials) == ["e2e γ0.3 λ0.01", "e2e γ0.3 λ1", "e2e γ0.8 λ0.01",
                                                       "e2e γ0.8 λ1"]


def test_phase_table_from_the_sweep(finished_sweep: tuple[str, str, Path]) -> None:
    uri, experiment, _ = finished_sweep
    cells = cell_table(load_runs(uri, experiment))
    assert len(cells) == 4
    assert set(cells["phase"]) <= {1, 2, 3}


def test_rerunning_a_finished_sweep_skips_every_trial(finished_sweep: tuple[str, str, Path]) -> None:
    uri, experiment, workdir = finished_sweep
    sweep = parse_sweep(_sweep("e2e", {"init.rate": [0.3, 0.8], "optim.weight_decay": [0.01, 1.0]}))
    result = run_sweep(sweep, workdir, num_cpus=2)
    assert result.num_skipped == 4
    assert len(load_runs(uri, experiment)) == 4


def test_a_sweep_asking_for_more_gpus_than_the_cluster_has_is_refused(tmp_path: Path) -> None:
    raw = _sweep("gpu", {"init.rate": [0.5]})
    raw["resources"] = {"gpus_per_trial": 1}
    with pytest.raises(SweepLaunchError, match=r"resources\.gpus_per_trial \(1\) exceeds the cluster's 0"):
        run_sweep(parse_sweep(raw), tmp_path, num_cpus=2)
    assert not ray.is_initialized()  # the Ray this driver started is shut down


def test_a_corpus_found_unusable_while_ray_starts_launches_nothing(tmp_path: Path) -> None:
    """A first session starts Ray beside the store's set-up; a bad corpus still stops it cleanly."""
    (tmp_path / "one.md").write_text("a single document cannot be split into train and held-out text")
    raw = _sweep("bad_text", {"data.num_train_tokens": [4000]})
    raw["base"]["data"] = {"task": "text", "seq_len": 16, "num_test_tokens": 256,  # type: ignore[index]
                           "domains": [{"name": "one", "source": str(tmp_path / "one.md")}],
                           "cache_dir": str(tmp_path / "cache")}
    with pytest.raises(ConfigError, match=r"data\.domains\[0\] \(name 'one'.*only 1 document"):
        run_sweep(parse_sweep(raw), tmp_path / "work", num_cpus=2)
    assert not ray.is_initialized()
    assert not list((tmp_path / "work" / "ray_results" / "bad_text").glob("session-*"))  # no trial ran


def test_a_diverging_trial_is_counted_and_named_in_the_summary(tmp_path: Path,
                                                              capfd: pytest.CaptureFixture[str]) -> None:
    """lr 1000 diverges within a few steps: the summary says so instead of '0 failed trials'."""
    raw = _sweep("diverge", {"optim.lr": [1000.0]})
    raw["base"]["optim"] = {"warmup_steps": 0}  # type: ignore[index]
    result = run_sweep(parse_sweep(raw), tmp_path, num_cpus=2)
    ray_output = "".join(capfd.readouterr())
    # Ray Tune's noise is gone from the driver's output (issue 18, item 7), and so is what silencing it could cause
    for noise in ("TensorBoard", "snapshotting has been triggered", "Failed to fetch metrics"):
        assert noise not in ray_output, ray_output
    assert "View detailed results here" in ray_output  # the output was captured: Tune's own start line is there
    head, *named = result.summary()
    print("\n".join(result.summary()))  # the summary as the driver prints it (pytest -s)
    assert head == "1 trials: 0 finished, 1 diverged, 0 failed, 0 killed"
    assert result.num_failed == 0  # diverged is an outcome, not a crash: Ray did not retry it
    assert len(named) == 1
    # e.g. "  diverge: diverged at step 6, train loss nan, lr 984.146" (the scheduled lr)
    found = re.fullmatch(r"  diverge: diverged at step (\d+), train loss \S+, lr (\d+(\.\d+)?)", named[0])
    assert found is not None, named[0]
    step = int(found[1])
    assert 900 < float(found[2]) <= 1000
    assert 1 <= step < NUM_STEPS
    client = MlflowClient(tracking_uri=result.target.uri)
    (run,) = client.search_runs([client.get_experiment_by_name(result.target.experiment).experiment_id],
                                trial_filter())
    assert run.info.status == "FAILED" and run.data.tags[M.TAG_OUTCOME] == "diverged"
    logged = {m.step: m.value for m in client.get_metric_history(run.info.run_id, M.TRAIN_LOSS)}
    assert step in logged  # the diverged step's (non-finite) loss is logged at that step
