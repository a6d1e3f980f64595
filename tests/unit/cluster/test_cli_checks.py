"""The comparison check of `fit compare`, `fit density` and `phase` on a real (temporary) MLflow store.

Three arms, logged as a trainer logs them (init/gamma_eff at step 0, the decay shrinkage at the
end): (γ 0.5, λ 0.1) and (γ 1, λ 0.1) at lr 3e-3 differ only in init; a third arm (γ 1, λ 1)
also runs at lr 1e-3 with one seed. Comparing γ within λ 0.1 is clean; pooling the third arm
into γ 1 is not, and --strict then exits 3 after writing everything.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from typer.testing import CliRunner

from cluster.cli import app
from cluster.cli.check import STRICT_EXIT_CODE
from configs import metrics as M

runner = CliRunner()
TRUE = {"E": 1.8, "A": 50.0, "B": 200.0, "alpha": 0.35, "beta": 0.4}
WIDTHS = {1e4: 16, 3e4: 32, 1e5: 64, 3e5: 128}  # N → d_model (only the phase cells read it)
TOKENS_PER_STEP = 32 * 128
# arm → (init.rate, λ, lr, sizes, steps, seeds, ρ): the arm's loss is the law's at (ρ·N, D). ρ 0.7 keeps
# the γ 1 runs' N̂ = 0.7·N inside the reference sizes 1e4–3e5, so the density is not extrapolated.
ARMS = {
    "a": (0.5, 0.1, 3e-3, (1e4, 3e4, 1e5, 3e5), (250, 500), (0, 1), 1.0),
    "b": (1.0, 0.1, 3e-3, (3e4, 1e5, 3e5), (250, 500), (0, 1), 0.7),
    "c": (1.0, 1.0, 1e-3, (3e4, 1e5, 3e5), (250,), (0,), 0.7),
}


def _log(client: MlflowClient, experiment_id: str, params: dict[str, object], values: dict[str, float]) -> None:
    run = client.create_run(experiment_id)
    tags = {M.TAG_KIND: "trial", M.TAG_SWEEP: "s", M.TAG_TRIAL_ID: uuid.uuid4().hex[:8]}
    client.log_batch(run.info.run_id, metrics=[Metric(k, float(v), 0, 1) for k, v in values.items()],
                     params=[Param(k, str(v)) for k, v in params.items()],
                     tags=[RunTag(k, v) for k, v in tags.items()])
    client.set_terminated(run.info.run_id, "FINISHED")


@pytest.fixture(scope="module")
def store(mlflow_uri: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """The three arms in one experiment (28 runs, logged once for the module: ≈ 2 s on sqlite)."""
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment = f"checks-{uuid.uuid4().hex[:12]}"
    artifacts = tmp_path_factory.mktemp("checks-artifacts")
    experiment_id = client.create_experiment(experiment, artifact_location=artifacts.as_uri())
    for rate, wd, lr, sizes, all_steps, seeds, rho in ARMS.values():
        for n in sizes:
            for steps in all_steps:
                for seed in seeds:
                    d = steps * TOKENS_PER_STEP
                    loss = TRUE["E"] + TRUE["A"] / (rho * n) ** TRUE["alpha"] + TRUE["B"] / d ** TRUE["beta"]
                    params = {"init.rate": rate, "init.std": None, "optim.weight_decay": wd, "optim.lr": lr,
                              "model.d_model": WIDTHS[n], "train.num_steps": steps, "seed": seed,
                              "data.tokenizer.kind": "byte"}
                    values = {M.NUM_PARAMS: n, M.TOTAL_TOKENS: d, M.TOTAL_FLOPS: 6 * n * d, M.VAL_LOSS: loss,
                              M.INIT_GAMMA_EFF: rate + 0.004 * (-1) ** seed,
                              M.DECAY_SHRINKAGE: float(np.exp(-0.55 * lr * wd * steps)),
                              M.ID_ACC: 1.0, M.OOD_ACC: 0.6, M.OOD_ACC_BEST: 0.7, M.EFFECTIVE_NEURONS: 20.0}
                    _log(client, experiment_id, params, values)
    return mlflow_uri, experiment


def _command(name: str, experiment: str, uri: str, out: Path, where: list[str]) -> list[str]:
    read = ["-e", experiment, "--tracking-uri", uri, "-o", str(out), *(a for w in where for a in ("--where", w))]
    return {
        "compare": ["fit", "compare", *read, "--group-column", "init.rate", "--reference", "0.5", "--bootstrap", "0"],
        "density": ["fit", "density", *read, "--group-column", "init.rate", "--reference", "0.5", "--target", "1.0",
                    "--bootstrap", "20"],
        "phase": ["phase", "-e", experiment, "--tracking-uri", uri, "-o", str(out)],
    }[name]


@pytest.mark.parametrize("name", ["compare", "density"])
def test_strict_passes_a_comparison_that_differs_only_in_its_group(store: tuple[str, str], tmp_path: Path,
                                                                   name: str) -> None:
    uri, experiment = store
    where = ["optim.weight_decay=0.1", *(["train.num_steps=250"] if name == "density" else [])]
    result = runner.invoke(app, [*_command(name, experiment, uri, tmp_path, where), "--strict"])
    assert result.exit_code == 0, result.output
    assert "comparison check: no confounds found" in result.output
    first_table = min(result.output.find(t) for t in ("compute multipliers", "density of") if t in result.output)
    assert result.output.index("comparison check") < first_table  # printed above the tables


LAMBDA = "confound: arms init.rate=0.5 and init.rate=1.0 (group init.rate) also differ in λ: 0.1 vs {0.1, 1} at "
ARM_C = "init.rate=1.0, optim.weight_decay=1.0"


@pytest.mark.parametrize(("name", "where", "line", "check_file"), [
    ("compare", [], LAMBDA + "N 30,000, D 1.02M; N 100,000, D 1.02M; N 300,000, D 1.02M", "compare.json"),
    ("density", ["train.num_steps=250"], LAMBDA + "all 3 shared (N, D) cells", "comparison_check.json"),
    ("phase", [], f"confound: arms init.rate=0.5, optim.weight_decay=0.1 and {ARM_C} (group init.rate, "
                  "optim.weight_decay) also differ in lr: 0.003 vs 0.001 at all 3 shared (N, D) cells",
     "comparison_check.json"),
])
def test_strict_exits_3_on_a_confound_after_writing_everything(store: tuple[str, str], tmp_path: Path, name: str,
                                                               where: list[str], line: str, check_file: str) -> None:
    uri, experiment = store
    strict = runner.invoke(app, [*_command(name, experiment, uri, tmp_path, where), "--strict"])
    assert strict.exit_code == STRICT_EXIT_CODE, strict.output
    assert line in strict.output and "--strict: the comparison check has" in strict.output
    written = json.loads((tmp_path / check_file).read_text(encoding="utf-8"))
    check = written.get("comparison_check", written)
    assert check["clean"] is False and line in [f["line"] for f in check["findings"]]
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    logged = client.search_runs([experiment_id], f"tags.`{M.TAG_KIND}` = 'analysis'")
    assert logged, "the analysis run is logged before --strict exits"


def test_without_strict_a_finding_is_printed_and_the_command_succeeds(store: tuple[str, str], tmp_path: Path) -> None:
    uri, experiment = store
    result = runner.invoke(app, _command("density", experiment, uri, tmp_path, ["train.num_steps=250"]))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    factors = [line.split(" also differ in ")[-1].split(":")[0] for line in lines[1:4]]
    assert lines[0] == "comparison check (3 findings):" and factors == ["λ", "decay shrinkage", "lr"]
