"""Synthetic MLflow experiments for the distortion analysis, written with `MlflowClient`.

`anchor_experiment`: 4 anchor-task-like runs over (init.rate, optim.weight_decay), 5
evaluations each, with φ, accuracies and end-of-training probes; the first run's values are
chosen by hand (see `RUN_A`). `ladder_experiment`: 9 markov-like runs over (N, D) with two
domains whose final distortion follows a known Chinchilla law above a known floor.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from configs import metrics as M

STEPS = [10, 20, 30, 40, 50]
# Run A by hand: id falls then rises at the end; ood rises while val/loss falls over 10 → 40
# (one rebalancing interval of `ood`); φ peaks at 30 (t*), val/loss bottoms at 40 (early
# stop), OOD accuracy peaks at 30 (best OOD).
RUN_A = {
    M.distortion_key("id"): [2.0, 1.0, 0.5, 0.3, 0.45],
    M.distortion_key("ood"): [3.0, 3.2, 3.5, 3.6, 3.7],
    M.PHI_WEIGHT: [0.5, 0.7, 0.8, 0.75, 0.6],  # retained gain; the raw losses below reproduce it
    M.PHI_INPUT: [0.9, 0.9, 0.9, 0.9, 0.9],
    M.ID_ACC: [0.1, 0.5, 0.9, 0.95, 0.95],
    M.OOD_ACC: [0.0, 0.1, 0.3, 0.2, 0.1],
}
UNTRAINED_LOSS = 5.0  # L₀ of every anchor run (init/probe_loss and init/val_loss)
LADDER_TRUE = {"lang0": (1.0, 30.0, 0.4, 100.0, 0.3), "lang1": (2.0, 10.0, 0.3, 300.0, 0.35)}  # E, A, α, B, β


def log_run(client: MlflowClient, experiment_id: str, trial_id: str, params: dict[str, object],
            history: dict[str, list[float]], steps: list[int], final: dict[str, float]) -> str:
    """One FINISHED trial run: `params`, `history[key][j]` at `steps[j]`, `final` at the last step."""
    run = client.create_run(experiment_id)
    tags = {M.TAG_KIND: "trial", M.TAG_SWEEP: "synthetic", M.TAG_TRIAL_ID: trial_id}
    metrics = [Metric(k, v, 0, s) for k, values in history.items() for s, v in zip(steps, values)]
    metrics += [Metric(k, v, 0, steps[-1]) for k, v in final.items()]
    client.log_batch(run.info.run_id, metrics=metrics, params=[Param(k, str(v)) for k, v in params.items()],
                     tags=[RunTag(k, v) for k, v in tags.items()])
    client.set_terminated(run.info.run_id, "FINISHED")
    return str(run.info.run_id)


def _anchor_history(shift: float, ood_scale: float) -> dict[str, list[float]]:
    history = {k: list(v) for k, v in RUN_A.items()}
    history[M.distortion_key("id")] = [v + shift for v in history[M.distortion_key("id")]]
    history[M.distortion_key("ood")] = [v * ood_scale for v in history[M.distortion_key("ood")]]
    history[M.PHI_WEIGHT] = [1 - (1 - v) * (1 + shift) for v in history[M.PHI_WEIGHT]]
    history[M.OOD_ACC] = [min(1.0, v / ood_scale) for v in history[M.OOD_ACC]]
    history[M.VAL_LOSS] = [(a + b) / 2 for a, b in zip(history[M.distortion_key("id")], history[M.distortion_key("ood")])]
    # the raw probe losses: L = val/loss, L̃ = L₀ − φ·(L₀ − L), so the retained gain is φ
    history[M.PROBE_LOSS] = list(history[M.VAL_LOSS])
    for phi_key, noisy_key in ((M.PHI_WEIGHT, M.WEIGHT_NOISE_LOSS), (M.PHI_INPUT, M.INPUT_NOISE_LOSS)):
        history[noisy_key] = [UNTRAINED_LOSS - phi * (UNTRAINED_LOSS - loss)
                              for phi, loss in zip(history[phi_key], history[M.PROBE_LOSS])]
    return history


@pytest.fixture
def anchor_experiment(mlflow_uri: str, mlflow_experiment: str) -> str:
    """4 runs: (rate, λ) ∈ {0.3, 0.7} × {0.01, 1.0}; run A is rate 0.3, λ 0.01."""
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    cells = [(0.3, 0.01, 0.0, 1.0), (0.3, 1.0, 0.2, 0.5), (0.7, 0.01, 0.5, 0.3), (0.7, 1.0, 1.0, 0.25)]
    for i, (rate, wd, shift, ood_scale) in enumerate(cells):
        history = _anchor_history(shift, ood_scale)
        final = {M.NUM_PARAMS: 1e5, M.TOTAL_TOKENS: 2e6, M.TOTAL_FLOPS: 1.2e12,
                 M.ID_ACC_BEST: max(history[M.ID_ACC]), M.OOD_ACC_BEST: max(history[M.OOD_ACC]),
                 M.ratedist_key(8, "id"): history[M.distortion_key("id")][-1] + 0.001,
                 M.ratedist_key(2, "id"): history[M.distortion_key("id")][-1] + 1.0,
                 M.calibration_t_opt_key("id"): 1.3, M.calibration_loss_at_t_key("id"): 0.4,
                 M.calibration_ece_key("id"): 0.05, M.INIT_PROBE_LOSS: UNTRAINED_LOSS, M.INIT_VAL_LOSS: UNTRAINED_LOSS,
                 M.init_distortion_key("id"): UNTRAINED_LOSS}
        params = {"init.rate": rate, "optim.weight_decay": wd, "model.d_model": 64, "seed": 0}
        log_run(client, experiment_id, f"a{i}", params, history, STEPS, final)
    return mlflow_experiment


def ladder_loss(domain: str, n: float, d: float) -> float:
    """The known final distortion of a ladder run."""
    e, a, alpha, b, beta = LADDER_TRUE[domain]
    return e + a / n**alpha + b / d**beta


@pytest.fixture
def ladder_experiment(mlflow_uri: str, mlflow_experiment: str) -> str:
    """9 runs over N ∈ {1e4, 3e4, 1e5} × D ∈ {1e6, 3e6, 1e7}, two domains with floors 1 and 2."""
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    i = 0
    for n in (1e4, 3e4, 1e5):
        for d in (1e6, 3e6, 1e7):
            history = {M.distortion_key(dom): [ladder_loss(dom, n, d / 10) , ladder_loss(dom, n, d)] for dom in LADDER_TRUE}
            history[M.VAL_LOSS] = [sum(v) / 2 for v in zip(*history.values())]
            final = {M.NUM_PARAMS: n, M.TOTAL_TOKENS: d, M.TOTAL_FLOPS: 6 * n * d,
                     **{M.floor_key(dom): LADDER_TRUE[dom][0] for dom in LADDER_TRUE}}
            params = {"model.d_model": int(n // 1000), "train.num_steps": int(d // 1000), "seed": 0}
            log_run(client, experiment_id, f"l{i}", params, history, [100, 1000], final)
            i += 1
    return mlflow_experiment


@pytest.fixture
def log_one_run(mlflow_uri: str, mlflow_experiment: str) -> Callable[..., str]:
    """Log one more run into `mlflow_experiment` (for hand-made edge cases)."""
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.get_experiment_by_name(mlflow_experiment).experiment_id
    return lambda trial_id, params, history, steps, final: log_run(
        client, experiment_id, trial_id, params, history, steps, final)
