"""`scalinglab results` shows each trial's throughput: tokens/s and MFU columns (cluster/tables.py)."""

from __future__ import annotations

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from rich.console import Console

from cluster.tables import print_results
from configs import metrics as M


def log_trial(client: MlflowClient, experiment_id: str, index: int, metrics: dict[str, float]) -> None:
    """One finished trial run tagged as the trainer tags it, with `metrics` at step 10."""
    run = client.create_run(experiment_id)
    tags = {M.TAG_KIND: "trial", M.TAG_SWEEP: "s", M.TAG_TRIAL_ID: f"t{index}", M.TAG_CONFIG_HASH: f"h{index}"}
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
    header = next(line for line in text.splitlines() if "trial_id" in line)
    assert "tok/s" in header and "mfu" in header
    for cell in ("1.235e+05", "0.4321", "6.543e+05", "0.1234"):  # `_cell`: 4 significant digits
        assert cell in text, text
