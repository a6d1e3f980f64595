"""Known-answer tests of the IsoFLOP planner (analysis.laws.isoflop_plan) and `plan isoflop`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from analysis.errors import AnalysisInputError
from analysis.laws.isoflop_plan import Family, plan_grid, plan_isoflop
from cluster.cli import app
from configs.load import load_sweep

# n_layer 1, head_dim 8, d_ff = 2 d_model, up to 4 heads; seq_len 4, vocab 10, batch 2.
FAMILY = Family(n_layer=1, head_dim=8, ff_ratio=2, max_heads=4, seq_len=4, vocab_size=10, batch_size=2)


def by_hand_n(d: int) -> int:
    """num_params for 1 layer, d_ff = 2d: 4d² + 4d + (2·d·2d + 2d + d) + 4d, plus the final norm 2d."""
    return 4 * d * d + 4 * d + (4 * d * d + 3 * d) + 4 * d + 2 * d


def by_hand_flops_per_token(d: int) -> int:
    """6·(N + head d·10) + 6·1·seq_len 4·d."""
    return 6 * (by_hand_n(d) + 10 * d) + 6 * 4 * d


def test_one_budget_one_point_picks_the_shape_nearest_the_20_tokens_rule() -> None:
    # C = 6 N D with D = 20 N: N_opt = sqrt(C / 120). For C = 1.2e6, N_opt = 100 -> nearest
    # family N on a log axis: d=8 gives 4*64+32+256+24+32+16 = 616; that is the smallest shape.
    rows = plan_isoflop(FAMILY, [1.2e6], 1)
    assert by_hand_n(8) == 616 and rows[0]["N"] == 616 and rows[0]["d_model"] == 8
    per_token = by_hand_flops_per_token(8)  # 6 * (616 + 80) + 192 = 4368
    assert per_token == 4368
    assert rows[0]["num_steps"] == round(1.2e6 / (per_token * 8))  # 34 steps of 8 tokens
    assert rows[0]["D"] == rows[0]["num_steps"] * 8
    assert rows[0]["C"] == per_token * rows[0]["D"]


def test_budget_spans_the_family_with_exact_c_per_trial() -> None:
    # N of the 4 shapes: d 8, 16, 24, 32 -> 616, 2256, 4920, 8608.
    assert [by_hand_n(8 * h) for h in range(1, 5)] == [616, 2256, 4920, 8608]
    rows = plan_isoflop(FAMILY, [3e7], 3, span=3.0)  # N_opt = 500; targets 167, 500, 1500
    assert [r["d_model"] for r in rows] == [8, 16]  # 167 and 500 both snap to 616; 1500 to 2256
    for r in rows:
        per_token = by_hand_flops_per_token(r["d_model"])
        assert r["num_steps"] == round(3e7 / (per_token * 8))
        assert r["C"] == per_token * r["num_steps"] * 8
        assert abs(r["C"] - 3e7) <= per_token * 8 / 2  # within half a step of the budget


def test_a_batch_law_sets_each_trials_batch_and_plans_its_steps_at_it() -> None:
    # batch 2 below N = 1000, 6 above: d 8 (N 616) keeps 2 sequences of 4 tokens, d 16 (N 2256) gets 6
    rows = plan_isoflop(FAMILY, [3e7], 3, span=3.0, batch_of=lambda n: 2 if n < 1000 else 6)
    assert [(r["d_model"], r["batch_size"]) for r in rows] == [(8, 2), (16, 6)]
    for r in rows:
        tokens_per_step = r["batch_size"] * 4
        per_token = by_hand_flops_per_token(r["d_model"])
        assert r["num_steps"] == round(3e7 / (per_token * tokens_per_step))
        assert r["D"] == r["num_steps"] * tokens_per_step and r["C"] == per_token * r["D"]
    # the grid writes a batch only where it is not the family's own
    assert ["train.batch_size" in point for point in plan_grid(rows, FAMILY)] == [False, True]


def test_a_fitted_law_moves_the_optimum() -> None:
    law = {"A": 400.0, "B": 400.0, "alpha": 0.3, "beta": 0.3}  # equal exponents: N_opt = sqrt(C/6)
    rows = plan_isoflop(FAMILY, [6 * 8608.0 ** 2], 1, law=law)
    assert rows[0]["N_opt_prior"] == pytest.approx(8608.0) and rows[0]["d_model"] == 32


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"budgets": [1e6], "points": 0}, "points"),
    ({"budgets": [], "points": 3}, "budgets"),
    ({"budgets": [10.0], "points": 1}, "less than one step"),
])
def test_bad_plans_say_why(kwargs: dict, match: str) -> None:
    with pytest.raises(AnalysisInputError, match=match):
        plan_isoflop(FAMILY, **kwargs)


def test_the_plan_is_a_sweep_validate_accepts(tmp_path: Path) -> None:
    out = tmp_path / "iso.yaml"
    result = CliRunner().invoke(app, ["plan", "isoflop", "--budgets", "1e13,3e13", "--points", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    trials = load_sweep(out).trials()
    rows = plan_isoflop(Family(2, 16, 4, 16, 32, 256, 32), [1e13, 3e13], 3)
    assert [(t.model.d_model, t.train.num_steps) for t in trials] == [(r["d_model"], r["num_steps"]) for r in rows]
    assert plan_grid(rows, Family(2, 16, 4, 16, 32, 256, 32))[0] == {
        "model.n_layer": [2], "model.n_head": [rows[0]["n_head"]], "model.d_model": [rows[0]["d_model"]],
        "model.d_ff": [rows[0]["d_ff"]], "train.num_steps": [rows[0]["num_steps"]]}
    assert CliRunner().invoke(app, ["validate", str(out)]).exit_code == 0
