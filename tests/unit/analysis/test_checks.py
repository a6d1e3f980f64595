"""The comparison check (analysis.checks): each confound built into a small runs table, and its exact line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.checks import (ComparisonCheck, Finding, arm_labels, check_arms, controlled_factors,
                             extrapolation_finding, points_finding)
from analysis.laws.density import check_density, fit_density_table
from analysis.phase.report import check_phase
from configs import metrics as M

RATE, STD, WD, LR = "init.rate", "init.std", "optim.weight_decay", "optim.lr"
WIDTHS = {16: 6_592, 32: 25_472, 48: 56_640}  # d_model → N of the text ladder (gpt_ladder_xs/s/m)
D_1M = 250 * 32 * 128  # 250 steps of 32 × 128 tokens: 1.02M


def _runs(arms: dict[str, dict[str, object]] | None = None, seeds: tuple[int, ...] = (0, 1),
          widths: tuple[int, ...] = (32, 48)) -> pd.DataFrame:
    """A clean comparison: arms differ in init.rate only, every (N, D) cell has 2 seeds.

    γ_eff is logged as the trainer measures it, so seeds scatter by 0.004 around γ (inside the
    0.03 tolerance); the shrinkage Π(1 − lr_t·λ) is that of λ 0.1 at lr 3e-3 over 250 steps.
    """
    arms = arms or {"0.5": {RATE: 0.5}, "1.0": {RATE: 1.0}}
    rows = []
    for settings in arms.values():
        for width in widths:
            for seed in seeds:
                row: dict[str, object] = {
                    RATE: 0.5, STD: None, WD: 0.1, LR: 3e-3, "data.tokenizer.kind": "byte",
                    "data.tokenizer.vocab_size": None, "model.d_model": width, "seed": seed,
                    "N": WIDTHS[width], "D": D_1M, M.DECAY_SHRINKAGE: 0.9585,
                    "run_name": f"r{len(rows)}"}
                row.update(settings)
                std = row[STD]
                gamma = -np.log(std) / np.log(width) if isinstance(std, float) else float(row[RATE])  # type: ignore[arg-type]
                row.setdefault(M.INIT_GAMMA_EFF, gamma + 0.004 * (-1) ** seed)
                rows.append(row)
    return pd.DataFrame(rows)


def _check(runs: pd.DataFrame, group: str = RATE, reference: str | None = None) -> list[str]:
    """The check's findings and notes as lines."""
    check = check_arms(runs, arm_labels(runs, [group]), [group], reference=reference)
    return [f.line for f in check.findings] + list(check.notes)


def _set(column: str, value: object, arm: str = "1.0", width: int | None = None) -> Callable[[pd.DataFrame], None]:
    """Edit: set `column` to `value` in one arm's rows (of one width when given)."""
    def edit(runs: pd.DataFrame) -> None:
        rows = runs[RATE] == float(arm)
        if width is not None:
            rows &= runs["model.d_model"] == width
        runs.loc[rows, column] = value
    return edit


ARMS = "arms init.rate=0.5 and init.rate=1.0 (group init.rate) also differ in"


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda runs: None, []),
    (_set(WD, 1.0), [f"confound: {ARMS} λ: 0.1 vs 1 at all 2 shared (N, D) cells"]),
    (_set(M.DECAY_SHRINKAGE, 0.69), [f"confound: {ARMS} decay shrinkage: 0.959 vs 0.69 at all 2 shared (N, D) cells"]),
    (_set(M.DECAY_SHRINKAGE, 0.9585 * 1.005), []),  # inside the 1 % tolerance
    (_set(LR, 1e-3, width=48), [f"confound: {ARMS} lr: 0.003 vs 0.001 at N 56,640, D 1.02M"]),
    (_set("data.tokenizer.kind", "bpe"), [f"confound: {ARMS} tokenizer: byte vs bpe at all 2 shared (N, D) cells"]),
    (_set("D", 2 * D_1M, width=32), [  # arm 1.0's d_model-32 runs are twice as long: no shared cell there
        "confound: arms init.rate=0.5 and init.rate=1.0 (group init.rate) also differ in D/N: 18.1–40.2 vs "
        "18.1–80.4; arm init.rate=1.0 reaches D/N outside the reference arm's range"]),
], ids=["clean", "lambda", "shrinkage", "shrinkage-within-1%", "lr-at-one-cell", "tokenizer", "D/N"])
def test_a_confound_built_into_one_arm_gives_its_line(edit: Callable[[pd.DataFrame], None],
                                                      expected: list[str]) -> None:
    runs = _runs()
    edit(runs)
    assert _check(runs) == expected


def test_the_clean_comparison_says_so() -> None:
    assert check_arms(_runs(), arm_labels(_runs(), [RATE]), [RATE]).lines() == ["comparison check: no confounds found"]


@pytest.mark.parametrize(("gamma_of_strong_decay", "expected"), [
    (0.52, []),  # 0.02 apart: the measured γ_eff of one draw, the same init
    (1.13, ["confound: arms optim.weight_decay=0.1 and optim.weight_decay=1.0 (group optim.weight_decay) also "
            "differ in γ_eff: 0.50 vs 1.13 at all 2 shared (N, D) cells"]),
])
def test_gamma_eff_is_a_confound_of_a_decay_comparison(gamma_of_strong_decay: float, expected: list[str]) -> None:
    """Grouped by λ, the arms must share their init: γ_eff is compared with a 0.03 tolerance."""
    runs = _runs({"0.1": {WD: 0.1, M.INIT_GAMMA_EFF: 0.5},
                  "1.0": {WD: 1.0, M.INIT_GAMMA_EFF: gamma_of_strong_decay, M.DECAY_SHRINKAGE: 0.69}})
    assert _check(runs, WD) == expected


def test_a_fixed_sigma_control_equals_a_gamma_arm_at_one_width_only() -> None:
    """σ 0.02 is γ_eff 1.41 / 1.13 / 1.01 at d_model 16 / 32 / 48: the γ 1 arm's init at the widest only."""
    runs = _runs({"std": {STD: 0.02}, "rate": {RATE: 1.0}}, widths=(16, 32, 48))
    assert _check(runs, STD, reference="init.std=0.02") == [
        "confound: arm init.std=0.02 (group init.std) is not one γ_eff, it changes with width: 1.41 at N 6,592, "
        "1.13 at N 25,472, 1.01 at N 56,640 (a fixed σ is a different γ_eff = −ln σ / ln d_model at each width); "
        "it equals arm init.std=none's γ_eff only at N 56,640 (1.00)"]


def test_an_arm_pooling_two_settings_shows_both_values() -> None:
    """The old text_complexity density: target `init.std=none` held (γ 0.5, λ 0.1) and (γ 1, λ 1)."""
    runs = pd.concat([_runs({"std": {STD: 0.02}, "g05": {RATE: 0.5}}, seeds=(0,)),
                      _runs({"g1": {RATE: 1.0, WD: 1.0}}, seeds=(0,))], ignore_index=True)
    assert _check(runs, STD, reference="init.std=0.02") == [
        "confound: arm init.std=0.02 (group init.std) is not one γ_eff, it changes with width: 1.13 at N 25,472, "
        "1.01 at N 56,640 (a fixed σ is a different γ_eff = −ln σ / ln d_model at each width); it equals arm "
        "init.std=none's γ_eff only at N 56,640 (1.00)",
        "confound: arms init.std=0.02 and init.std=none (group init.std) also differ in λ: 0.1 vs {0.1, 1} at all "
        "2 shared (N, D) cells",
        "seeds: every arm has 1 seed per cell (init.std=0.02; init.std=none): no seed-to-seed spread to judge an "
        "effect against"]


@pytest.mark.parametrize(("drop", "expected"), [
    (lambda runs: runs[runs["seed"] == 0], [
        "seeds: every arm has 1 seed per cell (init.rate=0.5; init.rate=1.0): no seed-to-seed spread to judge an "
        "effect against"]),
    (lambda runs: runs[(runs[RATE] == 0.5) | (runs["seed"] == 0)], [
        "seeds: arm init.rate=1.0 has 1 seed per cell (2 cells): no seed-to-seed spread"]),
    (lambda runs: runs[(runs["model.d_model"] == 32) | (runs["seed"] == 0)], [
        "seeds: arm init.rate=0.5 has fewer than 2 seeds at 1 of 2 cells: N 56,640, D 1.02M (1)",
        "seeds: arm init.rate=1.0 has fewer than 2 seeds at 1 of 2 cells: N 56,640, D 1.02M (1)"]),
], ids=["every-arm", "one-arm", "one-cell"])
def test_fewer_than_two_seeds_per_arm_or_cell(drop: Callable[[pd.DataFrame], pd.DataFrame],
                                             expected: list[str]) -> None:
    assert _check(drop(_runs())) == expected


def test_an_old_store_says_what_it_could_not_check_and_is_otherwise_clean() -> None:
    runs = _runs().drop(columns=[M.INIT_GAMMA_EFF, M.DECAY_SHRINKAGE, "seed"])
    check = check_arms(runs, arm_labels(runs, [RATE]), [RATE])
    assert check.clean and check.lines() == [
        "comparison check: no confounds found",
        "  not checked: γ_eff (init/gamma_eff), decay shrinkage (optim/decay_shrinkage), seeds (seed): not logged "
        "by every arm's runs (stores from before issue 16 lack init/* and optim/decay_shrinkage)"]


@pytest.mark.parametrize(("columns", "expected"), [
    ([RATE], {"γ_eff"}),
    ([STD], {"γ_eff"}),
    ([WD], {"λ", "decay shrinkage"}),
    ([LR], {"lr", "decay shrinkage"}),
    (["optim.schedule"], {"decay shrinkage"}),
    (["train.num_steps"], {"D/N", "decay shrinkage"}),
    (["data.tokenizer.kind"], {"tokenizer"}),
    ([RATE, WD], {"γ_eff", "λ", "decay shrinkage"}),
    (["model.d_model"], set()),
])
def test_what_each_group_column_is_expected_to_change(columns: list[str], expected: set[str]) -> None:
    assert controlled_factors(columns) == expected


@pytest.mark.parametrize(("args", "expected"), [
    (("the reference law L(N) of init.std=0.02", 3, 3, 3), "points: the reference law L(N) of init.std=0.02 "
     "(3 parameters) is fitted on 3 runs at 3 distinct N: no more than its parameters, so it fits them exactly and "
     "its intervals are too narrow; add runs at more N"),
    (("the reference law L(N)", 6, 3, 3), "points: the reference law L(N) (3 parameters) is fitted on 6 runs at "
     "3 distinct N: no more than its parameters, so it fits them exactly and its intervals are too narrow; add runs "
     "at more N"),  # two seeds at each of 3 sizes: still 3 points of the law
    (("the reference law L(N)", 4, 4, 3), None),
])
def test_a_fit_with_no_more_points_than_parameters(args: tuple[str, int, int, int], expected: str | None) -> None:
    found = points_finding(*args)
    assert (found.line if found else None) == expected


def test_extrapolated_density_estimates_are_counted_and_named() -> None:
    found = extrapolation_finding(["a", "b", "c"], [25_472, 56_640, 6_592], [30_000, 200_000, 2_000],
                                  [False, True, True], (6_592, 56_640))
    assert found is not None and found.line == (
        "extrapolated: 2 of 3 density estimates have N̂ outside the reference law's N range 6,592–56,640: b (N 56,640, "
        "N̂ 200k), c (N 6,592, N̂ 2k); the law is extrapolated there")
    assert extrapolation_finding(["a"], [1.0], [1.0], [False], (1.0, 2.0)) is None


@pytest.mark.filterwarnings("ignore:covariance of the Kaplan fit")  # 3 points for 3 parameters: the point
def test_check_density_flags_the_reference_points_and_the_extrapolated_runs() -> None:
    """Reference: 3 sizes of the σ 0.02 law; targets reach the loss of 4·N, beyond the largest for N 56,640."""
    law = lambda n: 1.8 + (1e4 / n) ** 0.3  # noqa: E731
    runs = pd.concat([_runs({"std": {STD: 0.02}}, seeds=(0,), widths=(16, 32, 48)),
                      _runs({"rate": {RATE: 0.5}}, seeds=(0,), widths=(16, 48))], ignore_index=True)
    runs["run_name"] = [f"r{i}" for i in range(len(runs))]
    runs["loss"] = [law(4 * n if s != s or s is None else n) for n, s in zip(runs["N"], runs[STD])]
    groups = pd.Series(np.where(runs[STD].isna(), "target", "reference"), index=runs.index)
    result = fit_density_table(runs.assign(group=groups), group_column="group", reference_group="reference",
                               target_group="target", num_bootstrap=10)
    lines = [f.line for f in check_density(runs, STD, groups, "0.02", "none", result).findings]
    assert lines[-2:] == [
        "points: the reference law L(N) of init.std=0.02 (3 parameters) is fitted on 3 runs at 3 distinct N: no more "
        "than its parameters, so it fits them exactly and its intervals are too narrow; add runs at more N",
        "extrapolated: 1 of 2 density estimates have N̂ outside the reference law's N range 6,592–56,640: r4 (N 56,640, "
        "N̂ 227k); the law is extrapolated there"]
    assert list(result.runs["extrapolated"]) == [False, True]


def test_check_phase_compares_cells_at_matched_widths() -> None:
    """The (γ, λ) cells of a phase diagram may differ in init and λ; a different lr is a confound."""
    runs = _runs({"a": {RATE: 0.5, WD: 0.1}, "b": {RATE: 1.0, WD: 1.0, M.DECAY_SHRINKAGE: 0.69}})
    assert check_phase(runs).clean
    runs.loc[runs[RATE] == 1.0, LR] = 1e-3
    assert [f.line for f in check_phase(runs).findings] == [
        "confound: arms init.rate=0.5, optim.weight_decay=0.1 and init.rate=1.0, optim.weight_decay=1.0 (group "
        "init.rate, optim.weight_decay) also differ in lr: 0.003 vs 0.001 at all 2 shared (N, D) cells"]


def test_the_check_round_trips_to_json(tmp_path: Path) -> None:
    check = ComparisonCheck(notes=("not checked: γ_eff",)).extended([Finding("seeds", "arm a has 1 seed"), None])
    assert check.lines() == ["comparison check (1 finding):", "  seeds: arm a has 1 seed", "  not checked: γ_eff"]
    written = json.loads(check.write(tmp_path / "c.json").read_text(encoding="utf-8"))
    assert written == {"clean": False, "findings": [{"kind": "seeds", "line": "seeds: arm a has 1 seed"}],
                       "notes": ["not checked: γ_eff"]}
