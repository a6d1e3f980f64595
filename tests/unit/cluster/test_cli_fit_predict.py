"""`scalinglab fit predict` on a CSV: the line, the JSON, --c, --rollout, and its usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from analysis.laws import forms
from cluster.cli import app

runner = CliRunner()
TRUE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


@pytest.fixture()
def points_csv(tmp_path: Path) -> Path:
    n, d = (a.ravel() for a in np.meshgrid(np.geomspace(1e6, 1e8, 5), np.geomspace(1e8, 1e10, 5), indexing="ij"))
    loss = forms.chinchilla_loss(n, d, *TRUE.values()) * np.exp(np.random.default_rng(0).normal(0, 0.01, n.size))
    path = tmp_path / "points.csv"
    pd.DataFrame({"N": n, "D": d, "loss": loss}).to_csv(path, index=False)
    return path


def test_predict_at_n_d_writes_json_with_an_interval_around_the_truth(points_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "pred.json"
    result = runner.invoke(app, ["fit", "predict", "--csv", str(points_csv), "--flops-convention", "6nd",
                                 "--n", "3e8", "--d", "3e10", "--bootstrap", "200", "--json", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    truth = float(forms.chinchilla_loss(3e8, 3e10, *TRUE.values()))
    assert summary["pred_lo"] < truth < summary["pred_hi"]
    assert summary["pred_lo"] < summary["pred"] < summary["pred_hi"]
    assert "prediction interval" in result.output and "bootstrap over runs" in summary["method"]


def test_predict_at_budget_uses_the_compute_optimal_point_and_rollout(points_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "pred.json"
    result = runner.invoke(app, ["fit", "predict", "--csv", str(points_csv), "--flops-convention", "6nd",
                                 "--c", "1e20", "--bootstrap", "100", "--rollout", "--json", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    assert summary["C"] == 1e20 and summary["flops_per_param_token"] == 6.0
    assert summary["N"] * summary["D"] * 6 == pytest.approx(1e20, rel=1e-9)
    assert {r["k"] for r in summary["rollout"]["rows"]} == {2, 3, 4}  # k=1 has only 5 runs to fit
    assert 0.0 <= summary["rollout"]["coverage"] <= 1.0


@pytest.mark.parametrize(("extra", "match"), [
    (["--n", "1e8"], "--n and --d, or --c"),
    (["--n", "1e8", "--d", "1e9", "--c", "1e18"], "--n and --d, or --c"),
])
def test_predict_point_options_are_checked(points_csv: Path, extra: list[str], match: str) -> None:
    result = runner.invoke(app, ["fit", "predict", "--csv", str(points_csv), *extra])
    assert result.exit_code == 2
    assert match in result.output


def test_fit_scaling_prints_approach_2_beside_approach_3_with_its_bias(tmp_path: Path) -> None:
    rows, rng = [], np.random.default_rng(1)
    for budget in (1e17, 1e18, 1e19, 1e20):  # 5 sizes per budget, centred on D = 20 N
        for n in np.sqrt(budget / 120) * np.geomspace(0.25, 4, 5):
            d = budget / (6 * n)
            rows.append((n, d, float(forms.chinchilla_loss(n, d, *TRUE.values())) * np.exp(rng.normal(0, 0.005))))
    path = tmp_path / "iso.csv"
    pd.DataFrame(rows, columns=["N", "D", "loss"]).to_csv(path, index=False)
    result = runner.invoke(app, ["fit", "scaling", "--csv", str(path), "--flops-convention", "6nd", "--bootstrap", "50",
                                 "-o", str(tmp_path / "fit")])
    assert result.exit_code == 0, result.output
    assert "Approach 3 (law) a = " in result.output and "Approach 2 (IsoFLOP parabolas, 4 budgets)" in result.output
    assert "Approach 2 bias" in result.output


def test_fit_scaling_warns_about_a_rung_whose_best_lr_is_an_edge(points_csv: Path, tmp_path: Path) -> None:
    table = pd.read_csv(points_csv).assign(**{"optim.lr": 2e-3})
    smallest = table["N"].min()
    arms = table[table["N"] == smallest].head(2).assign(**{"optim.lr": [1e-3, 4e-3]})
    arms.loc[arms.index[1], "loss"] = table["loss"].min() / 2  # the 2x arm is the best at that size
    path = tmp_path / "lr.csv"
    pd.concat([table, arms]).to_csv(path, index=False)
    result = runner.invoke(app, ["fit", "scaling", "--csv", str(path), "--flops-convention", "6nd", "--bootstrap", "20",
                                 "--holdout-largest", "0", "-o", str(tmp_path / "fit")])
    assert result.exit_code == 0, result.output
    assert "under-tuned rung N = 1e+06" in result.output and "high edge" in result.output
