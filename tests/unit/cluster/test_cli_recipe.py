"""`scalinglab validate` shows each trial's resolved lr / batch / warm-up when the sweep has a `recipe:`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cluster.cli import app

runner = CliRunner()

SWEEP = """name: recipe_demo
base:
  data: {task: markov, seq_len: 16, num_train_tokens: 2048000}
grid:
  model:
    - {n_layer: 1, n_head: 1, d_model: 32, d_ff: 128}
    - {n_layer: 1, n_head: 1, d_model: 64, d_ff: 256}
recipe: {n_ref: 12768, lr_ref: 3.0e-3, batch_ref: 32, warmup_fraction: 0.1, lr_check: %s}
"""


def _rows(output: str) -> list[list[str]]:
    """Table body rows (cells split on the box-drawing bar) whose N column is a number."""
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in output.splitlines() if "│" in line]
    return [row for row in cells if len(row) > 1 and row[2].isdigit()]


def test_validate_prints_the_resolved_lr_batch_and_warmup_per_trial(tmp_path: Path) -> None:
    sweep = tmp_path / "recipe.yaml"
    sweep.write_text(SWEEP % "false")
    result = runner.invoke(app, ["validate", str(sweep)])
    assert result.exit_code == 0, result.output
    assert "recipe_demo: 2 trials" in result.output
    # columns: trial_id, d_model, seed, N, D, C, lr, batch, warmup (values by hand in test_recipe_sweep.py)
    assert [row[3:5] + row[6:] for row in _rows(result.output)] == [
        ["12768", "2048000", "0.003", "32", "400"],
        ["50112", "2048000", "0.0019", "80", "160"],
    ]


def test_validate_lists_the_lr_check_arms(tmp_path: Path) -> None:
    sweep = tmp_path / "recipe.yaml"
    sweep.write_text(SWEEP % "true")
    result = runner.invoke(app, ["validate", str(sweep)])
    assert result.exit_code == 0, result.output
    arms = ["0.0015", "0.003", "0.006", "0.000951", "0.0019", "0.0038"]  # lr/2, lr, 2·lr at each size
    assert sorted(row[6] for row in _rows(result.output)) == sorted(arms)


def test_plan_isoflop_with_a_recipe_takes_lr_batch_and_warmup_from_n_and_plans_steps_at_that_batch(
        tmp_path: Path) -> None:
    from configs.load import load_sweep
    from configs.metrics import flops_per_token

    (tmp_path / "recipe.yaml").write_text("n_ref: 1.0e5\nlr_ref: 3.0e-3\nbatch_ref: 32\nwarmup_fraction: 0.1\n")
    out = tmp_path / "plan.yaml"
    result = runner.invoke(app, ["plan", "isoflop", "--budgets", "1e13", "--points", "3", "-o", str(out),
                                 "--recipe", str(tmp_path / "recipe.yaml")])
    assert result.exit_code == 0, result.output
    trials = load_sweep(out).trials()
    assert len({t.train.batch_size for t in trials}) == 3  # three sizes, three batches
    for t in trials:  # lr = 3e-3 · (N / 1e5)^(-1/3), batch = 32 · (N / 1e5)^(2/3) in multiples of 8
        n, m = t.num_params, t.model
        assert t.optim.lr == pytest.approx(3e-3 * (n / 1e5) ** (-1 / 3))
        assert t.train.batch_size == max(8, round(32 * (n / 1e5) ** (2 / 3) / 8) * 8)
        assert t.optim.warmup_steps == int(0.1 * t.train.num_steps)
        step = flops_per_token(m.n_layer, m.d_model, m.d_ff, 32, 256) * t.train.batch_size * 32
        assert abs(t.compute_flops - 1e13) <= step / 2  # the budget, to half a step at the trial's batch


def test_plan_isoflop_rejects_a_bad_recipe_file(tmp_path: Path) -> None:
    (tmp_path / "recipe.yaml").write_text("lr_ref: 0\n")
    result = runner.invoke(app, ["plan", "isoflop", "--budgets", "1e13", "-o", str(tmp_path / "p.yaml"),
                                 "--recipe", str(tmp_path / "recipe.yaml")])
    assert result.exit_code == 2 and "lr_ref" in result.output and not (tmp_path / "p.yaml").exists()


def test_validate_with_mup_adds_the_matrices_lr_per_width(tmp_path: Path) -> None:
    sweep = tmp_path / "mup.yaml"
    sweep.write_text((SWEEP % "false").replace("lr_check: false", "lr_check: false, lr_scaling: mup, d_model_ref: 32"))
    result = runner.invoke(app, ["validate", str(sweep)])
    assert result.exit_code == 0, result.output
    # columns as above, then lr_matrices: lr_ref at both widths, matrices at 3e-3 · 32/d_model
    assert [row[6:] for row in _rows(result.output)] == [["0.003", "32", "400", "0.003"],
                                                         ["0.003", "80", "160", "0.0015"]]
