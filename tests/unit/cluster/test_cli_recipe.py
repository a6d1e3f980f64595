"""`scalinglab validate` shows each trial's resolved lr / batch / warm-up when the sweep has a `recipe:`."""

from __future__ import annotations

from pathlib import Path

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
    assert sorted(row[6] for row in _rows(result.output)) == sorted(["0.003", "0.0015", "0.006", "0.0019", "0.000951", "0.0038"])
