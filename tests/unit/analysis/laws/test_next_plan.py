"""`plan next`: candidates, the budgeted greedy on a covariance by hand, and the CLI's sweep file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from analysis.errors import AnalysisInputError
from analysis.laws.isoflop_plan import Family, trial_row
from analysis.laws.next_plan import _greedy, candidate_rows, plan_next, robust_cov
from analysis.laws.predict import Ensemble
from cluster.cli import app
from configs.load import load_sweep

FAMILY = Family(n_layer=2, head_dim=16, ff_ratio=4, max_heads=3, seq_len=32, vocab_size=256, batch_size=32)


def test_candidates_fit_the_budget_and_skip_runs_already_done() -> None:
    small = trial_row(FAMILY, FAMILY.shapes()[0], num_steps=100)
    rows = candidate_rows(FAMILY, budget=small["C"] * 2.5, steps=[100, 200, 400], done={(small["N"], small["D"])})
    # d16 at 200 steps costs 2 C (fits), 400 steps 4 C (not); d32 and d48 cost > 2.5 C per 100 steps
    assert [(r["d_model"], r["num_steps"]) for r in rows] == [(16, 200)]


def test_candidates_stay_at_or_above_the_smallest_run_unless_asked() -> None:
    mid = trial_row(FAMILY, FAMILY.shapes()[1], num_steps=200)  # d32, 200 steps
    done, big = {(mid["N"], mid["D"])}, 1e30
    inside = candidate_rows(FAMILY, big, [100, 200, 400], done)
    assert [(r["d_model"], r["num_steps"]) for r in inside] == [(32, 400), (48, 200), (48, 400)]
    every = candidate_rows(FAMILY, big, [100, 200, 400], done, smaller=True)
    assert len(every) == 3 * 3 - 1  # all shapes × steps but the run already done


def test_one_observation_leaves_the_gaussian_conditional_variance() -> None:
    # target t and two candidates: j=0 strongly tied to t, j=1 independent of it
    cov = np.array([[1.0, 0.8, 0.0], [0.8, 1.0, 0.0], [0.0, 0.0, 1.0]])
    chosen, var = _greedy(cov, noise=0.25, cost=np.array([1.0, 1.0]), budget=1.0, per_flop=True)
    assert chosen == [0]
    assert var == pytest.approx([1.0, 1.0 - 0.8**2 / (1.0 + 0.25)])


def test_two_observations_condition_on_each_other() -> None:
    # the second pick is judged after the first: a copy of the first (correlation 1) gains less than
    # a candidate that carries new information, although alone it would gain more
    cov = np.array([[1.0, 0.8, 0.8, 0.5], [0.8, 1.0, 1.0, 0.0], [0.8, 1.0, 1.0, 0.0], [0.5, 0.0, 0.0, 1.0]])
    chosen, var = _greedy(cov, noise=0.1, cost=np.ones(3), budget=2.0, per_flop=True)
    assert chosen == [0, 2]
    after_first = cov - np.outer(cov[:, 1], cov[:, 1]) / 1.1
    assert var[-1] == pytest.approx(after_first[0, 0] - after_first[0, 3] ** 2 / (after_first[3, 3] + 0.1))


def test_the_best_single_run_replaces_a_greedy_set_that_gains_less() -> None:
    # per FLOP the two cheap runs win (0.09 each vs 0.98 / 20), and once they are bought the
    # expensive one no longer fits; alone it explains most of the target's variance
    cov = np.diag([1.2, 1.0, 1.0, 1.0])
    cov[0, 1] = cov[1, 0] = 0.3
    cov[0, 2] = cov[2, 0] = 0.3
    cov[0, 3] = cov[3, 0] = 0.99
    ens_rows = np.random.default_rng(0).multivariate_normal(np.zeros(4), cov, size=20000)
    ens = _ensemble_with_predictions(ens_rows)
    candidates = [{"N": 1.0 + i, "D": 1.0, "C": c} for i, c in enumerate((1.0, 1.0, 20.0))]
    greedy, _ = _greedy(robust_cov(ens_rows), 0.0, np.array([1.0, 1.0, 20.0]), 20.0, per_flop=True)
    plan = plan_next(ens, (0.0, 1.0), candidates, budget=20.0)
    assert greedy == [0, 1] and [r["N"] for r in plan.rows] == [3.0]
    assert plan.spent == 20.0 and plan.sd_after == pytest.approx(np.sqrt(1.2 - 0.99**2), abs=0.03)


def test_robust_covariance_matches_the_sample_covariance_of_gaussian_columns() -> None:
    cov = np.array([[2.0, 0.6], [0.6, 0.5]])
    y = np.random.default_rng(1).multivariate_normal(np.zeros(2), cov, size=50000)
    assert robust_cov(y) == pytest.approx(cov, rel=0.05, abs=0.02)


def test_no_affordable_candidate_says_how_to_fix_it() -> None:
    with pytest.raises(AnalysisInputError, match=r"no candidate run fits in --budget 1 FLOPs; raise the budget"):
        plan_next(_ensemble_with_predictions(np.zeros((10, 1))), (1.0, 1.0), [], budget=1.0)


def _ensemble_with_predictions(log_preds: np.ndarray) -> Ensemble:
    """An ensemble whose resample r predicts log_preds[r, q] at query point q (queries indexed by N)."""

    class Fixed(Ensemble):
        def log_predictions(self, n: np.ndarray, d: np.ndarray) -> np.ndarray:
            return log_preds[:, n.astype(int)]

    return Fixed(np.zeros((1, 5)), np.zeros((log_preds.shape[0], 5)), np.full(4, 0.0), 0)


def _ladder_csv(path: Path) -> Path:
    """Six runs of the scaling-ladder family with a known law and 1 % noise."""
    rng = np.random.default_rng(0)
    lines = ["N,D,loss,C"]
    for shape in Family(2, 16, 4, 8, 32, 256, 32).shapes()[1:4]:
        for steps in (500, 1000):
            r = trial_row(Family(2, 16, 4, 8, 32, 256, 32), shape, num_steps=steps)
            loss = (2.775 + 1.84e4 / r["N"] ** 1.06 + 1e5 / r["D"] ** 0.92) * np.exp(rng.normal(0, 0.01))
            lines.append(f"{r['N']},{r['D']},{loss},{r['C']}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_plan_next_writes_a_sweep_within_budget_that_validate_accepts(tmp_path: Path) -> None:
    out, summary = tmp_path / "next.yaml", tmp_path / "next.json"
    result = CliRunner().invoke(app, ["plan", "next", "--csv", str(_ladder_csv(tmp_path / "runs.csv")),
                                      "--target-c", "1e14", "--budget", "2e12", "--bootstrap", "100",
                                      "-o", str(out), "--json", str(summary)])
    assert result.exit_code == 0, result.output
    plan = json.loads(summary.read_text())
    assert 0 < plan["spent"] <= 2e12 and plan["num_planned"] == len(load_sweep(out).trials())
    assert sum(r["C"] for r in plan["rows"]) == pytest.approx(plan["spent"])
    lo, hi = plan["interval_now"]
    assert lo < plan["pred"] < hi and plan["sd_after"] < plan["sd_before"]
    assert "prediction interval" in result.output and "expected after these runs" in result.output
    assert CliRunner().invoke(app, ["validate", str(out)]).exit_code == 0


@pytest.mark.parametrize("args, match", [
    (["--target-n", "1e6"], "give either --target-c, or --target-n and --target-d"),
    (["--target-c", "1e14", "--target-n", "1e6", "--target-d", "1e8"], "give either --target-c"),
])
def test_plan_next_wants_one_target(tmp_path: Path, args: list[str], match: str) -> None:
    result = CliRunner().invoke(app, ["plan", "next", "--csv", str(_ladder_csv(tmp_path / "runs.csv")),
                                      "--budget", "1e12", "-o", str(tmp_path / "n.yaml"), *args])
    assert result.exit_code == 2 and match in " ".join(result.output.split())


def test_plan_next_at_a_given_point_plans_for_that_point(tmp_path: Path) -> None:
    summary = tmp_path / "next.json"
    result = CliRunner().invoke(app, ["plan", "next", "--csv", str(_ladder_csv(tmp_path / "runs.csv")),
                                      "--target-n", "1e6", "--target-d", "1e8", "--budget", "1e12",
                                      "--bootstrap", "100", "-o", str(tmp_path / "n.yaml"), "--json", str(summary)])
    assert result.exit_code == 0, result.output
    plan = json.loads(summary.read_text())
    assert plan["target"] == {"N": 1e6, "D": 1e8} and 0 < plan["spent"] <= 1e12
    assert all(r["N"] >= 25472 and r["D"] >= 512000 for r in plan["rows"])  # at or above the smallest run
