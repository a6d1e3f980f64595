"""`scalinglab results` shows each trial's throughput: tokens/s and MFU columns (cluster/tables.py)."""

from __future__ import annotations

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from rich.console import Console

from cluster.tables import print_results
from configs import metrics as M


def log_trial(client: MlflowClient, experiment_id: str, index: int, metrics: dict[str, float],
              trial_id: str | None = None) -> None:
    """One finished trial run tagged as the trainer tags it, with `metrics` at step 10."""
    run = client.create_run(experiment_id, run_name=f"s γ{0.3 + index / 10:g} t{index}")
    trial_id = trial_id or f"t{index}"
    tags = {M.TAG_KIND: "trial", M.TAG_SWEEP: "s", M.TAG_TRIAL_ID: trial_id, M.TAG_CONFIG_HASH: f"h{trial_id}"}
    client.log_batch(run.info.run_id, metrics=[Metric(k, v, 0, 10) for k, v in metrics.items()],
                     params=[Param("init.rate", str(0.3 + index / 10)), Param("seed", "0")],
                     tags=[RunTag(k, v) for k, v in tags.items()])
    client.set_terminated(run.info.run_id, "FINISHED")


def test_results_show_tokens_per_s_and_mfu(mlflow_uri: str, mlflow_experiment: str) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    log_trial(client, experiment_id, 0, {M.VAL_LOSS: 2.5, M.NUM_PARAMS: 1e4, M.TOKENS_PER_S: 123456.0, M.MFU: 0.4321})
    log_trial(client, experiment_id, 1, {M.VAL_LOSS: 2.6, M.NUM_PARAMS: 1e4, M.TOKENS_PER_S: 654321.0, M.MFU: 0.1234})
    console = Console(record=True, width=200)
    assert print_results(console, mlflow_uri, mlflow_experiment, [])
    text = console.export_text()
    header = next(line for line in text.splitlines() if " run " in line)
    assert "tok/s" in header and "mfu" in header
    assert "trial_id" not in header and "s γ0.3 t0" in text  # runs by the name the MLflow UI shows
    for cell in ("1.235e+05", "0.4321", "6.543e+05", "0.1234"):  # `_cell`: 4 significant digits
        assert cell in text, text


def log_diverged_trial(client: MlflowClient, experiment_id: str, index: int, step: int, in_loss: bool = True) -> None:
    """A trial run as trainers/lifecycle.py leaves a divergence: finite history, a non-finite loss at `step`
    (or, diverged in its parameters, a finite one: the run stops there)."""
    run = client.create_run(experiment_id, run_name=f"s γ{0.3 + index / 10:g} t{index}")
    tags = {M.TAG_KIND: "trial", M.TAG_SWEEP: "s", M.TAG_TRIAL_ID: f"t{index}", M.TAG_CONFIG_HASH: f"h{index}",
            M.TAG_OUTCOME: "diverged"}
    history = [Metric(M.TRAIN_LOSS, 5.0 - s / 10, 0, s) for s in range(1, step)]
    history += [Metric(M.VAL_LOSS, 4.25, 0, 2), Metric(M.NUM_PARAMS, 1e4, 0, 0)]
    history += ([Metric(M.TRAIN_LOSS, float("inf"), 0, step), Metric(M.VAL_LOSS, float("nan"), 0, step)] if in_loss
                else [Metric(M.TRAIN_LOSS, 9.5, 0, step)])
    client.log_batch(run.info.run_id, metrics=history,
                     params=[Param("init.rate", str(0.3 + index / 10)), Param("seed", "0")],
                     tags=[RunTag(k, v) for k, v in tags.items()])
    client.set_terminated(run.info.run_id, "FAILED")


def test_results_show_a_diverged_trials_last_finite_metrics_and_step(mlflow_uri: str, mlflow_experiment: str) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    log_trial(client, experiment_id, 0, {M.VAL_LOSS: 2.5, M.TRAIN_LOSS: 2.4, M.NUM_PARAMS: 1e4})
    log_diverged_trial(client, experiment_id, 1, step=6)
    log_diverged_trial(client, experiment_id, 2, step=4, in_loss=False)
    console = Console(record=True, width=200)
    assert print_results(console, mlflow_uri, mlflow_experiment, [])
    lines = console.export_text().splitlines()
    header = next(line for line in lines if " run " in line)
    assert "outcome" in header and "train_loss" in header and "val_loss" in header
    row = next(line for line in lines if " t1 " in line)
    cells = [cell.strip() for cell in row.split("│")]
    assert "diverged" in cells and "diverged at step 6" in cells, row
    assert "4.5" in cells and "4.25" in cells, row  # train loss at step 5, val loss at step 2: the last finite
    assert "inf" not in row and "nan" not in row, row
    in_parameters = [cell.strip() for cell in next(line for line in lines if " t2 " in line).split("│")]
    assert "diverged at step 4" in in_parameters and "9.5" in in_parameters, in_parameters
    finished = next(line for line in lines if " t0 " in line)
    assert "diverged" not in finished and "2.5" in finished, finished


def test_results_show_runs_logged_without_a_seed_or_a_trial_id(mlflow_uri: str, mlflow_experiment: str) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    run = client.create_run(experiment_id)  # tagged as a trial, but no seed param and no trial id tag
    client.log_batch(run.info.run_id, metrics=[Metric(M.VAL_LOSS, 2.75, 0, 10)],
                     params=[Param("init.rate", "0.5")], tags=[RunTag(M.TAG_KIND, "trial")])
    client.set_terminated(run.info.run_id, "FINISHED")
    console = Console(record=True, width=200)
    assert print_results(console, mlflow_uri, mlflow_experiment, [])
    text = console.export_text()
    assert "2.75" in text and "finished" in text, text


def test_results_rows_follow_the_sweep_axes(mlflow_uri: str, mlflow_experiment: str) -> None:
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    for index, trial_id in ((2, "a"), (0, "c"), (1, "b")):  # neither logged nor hashed in the axis' order
        log_trial(client, experiment_id, index, {M.VAL_LOSS: 2.5, M.NUM_PARAMS: 1e4}, trial_id)
    console = Console(record=True, width=200)
    assert print_results(console, mlflow_uri, mlflow_experiment, [])
    names = [line.split("│")[1].strip() for line in console.export_text().splitlines() if line.startswith("│")]
    assert names == ["s γ0.3 t0", "s γ0.4 t1", "s γ0.5 t2"]
