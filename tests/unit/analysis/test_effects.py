"""One factor at a time (`analysis.effects`): paired effects with seed spread, on tables built by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.effects import factor_effects
from analysis.errors import AnalysisInputError


def _runs(loss: dict[tuple[float, float, int, int], float]) -> pd.DataFrame:
    """(rate, λ, N, seed) → val/loss; D fixed."""
    return pd.DataFrame([{"init.rate": r, "optim.weight_decay": wd, "N": n, "D": 1e6, "seed": s, "val/loss": v}
                         for (r, wd, n, s), v in loss.items()])


# γ 0.5 → 1 at λ 0.1 raises the loss by 0.1 (seed 0) and 0.3 (seed 1) at N 10, by 0.2 and 0.2 at N 20.
LOSS = {(0.5, 0.1, 10, 0): 3.0, (1.0, 0.1, 10, 0): 3.1, (0.5, 0.1, 10, 1): 3.0, (1.0, 0.1, 10, 1): 3.3,
        (0.5, 0.1, 20, 0): 2.0, (1.0, 0.1, 20, 0): 2.2, (0.5, 0.1, 20, 1): 2.1, (1.0, 0.1, 20, 1): 2.3,
        (0.5, 1.0, 10, 0): 3.5, (1.0, 1.0, 10, 0): 3.4}


def test_effects_are_paired_per_seed_and_summarised_per_size_and_overall() -> None:
    table = factor_effects(_runs(LOSS), "init.rate", ["optim.weight_decay"], ["val/loss"]).set_index(
        ["optim.weight_decay", "N"])
    expected = {  # (λ, N): (effect, sd, seeds)
        ("0.1", 10): (0.2, np.std([0.1, 0.3], ddof=1), 2),
        ("0.1", 20): (0.2, 0.0, 2),
        ("0.1", "all"): (0.2, np.std([0.15, 0.25], ddof=1), 2),  # per seed, sizes averaged first
        ("1.0", 10): (-0.1, np.nan, 1),
    }
    for key, (effect, sd, seeds) in expected.items():
        row = table.loc[key]
        assert row["effect"] == pytest.approx(effect) and row["num_seeds"] == seeds
        assert (np.isnan(sd) and np.isnan(row["sd"])) or row["sd"] == pytest.approx(sd, abs=1e-12)
    assert set(table["from"]) == {"0.5"} and set(table["to"]) == {"1.0"}


def test_unset_values_are_a_level_of_their_own() -> None:
    runs = pd.DataFrame([{"init.std": s, "N": 10, "D": 1e6, "seed": 0, "val/loss": v}
                         for s, v in (("None", 3.0), ("0.1", 2.9))])
    row = factor_effects(runs, "init.std", [], ["val/loss"], ("unset", "0.1")).iloc[0]
    assert row["effect"] == pytest.approx(-0.1)


@pytest.mark.parametrize("runs,factor,held,levels,match", [
    (_runs(LOSS), "init.rate", ["optim.weight_decay"], ("0.5", "2.0"), "no run at init.rate=2.0 has a partner"),
    (_runs(LOSS), "init.rate", [], None, r"several runs per \(N, D, seed\): another column varies too"),
    (_runs(LOSS), "optim.lr", [], None, "no column optim.lr"),
    (_runs({**LOSS, (2.0, 0.1, 10, 0): 3.0}), "init.rate", ["optim.weight_decay"], None,
     r"takes 3 values here \(0.5, 1.0, 2.0\); name the two to compare with --levels"),
])
def test_bad_comparisons_say_why(runs: pd.DataFrame, factor: str, held: list[str],
                                 levels: tuple[str, str] | None, match: str) -> None:
    with pytest.raises(AnalysisInputError, match=match):
        factor_effects(runs, factor, held, ["val/loss"], levels)
