"""The non-dominated set, on hand-made points, and fronts within compute groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.distortion.data import load_distortion_data
from analysis.distortion.pareto import front_by_size, non_dominated, pareto_note, pareto_table, shared_groups
from analysis.distortion.plots import plot_pareto


@pytest.mark.parametrize(("points", "expected"), [
    # [2, 2] is beaten by [1.5, 1.5]; the duplicate [1, 2] rows do not beat each other
    ([[1, 2], [2, 1], [2, 2], [1.5, 1.5], [3, 0.5], [1, 2]], [True, True, False, True, True, True]),
    ([[1, 1], [1, 2], [2, 1], [2, 2]], [True, False, False, False]),  # one point beats all
    ([[1, 1, 3], [1, 2, 1], [2, 2, 2], [1, 1, 3]], [True, True, False, True]),  # three domains
    ([[5.0, 5.0]], [True]),
    ([[1, 2], [1, 3]], [True, False]),  # equal on one axis, worse on the other: dominated
])
def test_non_dominated_by_hand(points: list[list[float]], expected: list[bool]) -> None:
    assert non_dominated(points).tolist() == expected


def test_non_dominated_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="must be 2-D"):
        non_dominated([1.0, 2.0])
    with pytest.raises(ValueError, match="must be finite"):
        non_dominated([[1.0, np.nan]])


def test_fronts_are_taken_within_compute_groups(mlflow_uri: str, ladder_experiment: str) -> None:
    table = pareto_table(load_distortion_data(mlflow_uri, ladder_experiment))
    assert len(table) == 9
    # C = 6ND: (1e4, 1e7) and (1e5, 1e6) share 6e11; (3e4, 3e6) at 5.4e11 is 11 % away, apart at rtol 0.1
    assert table.loc[np.isclose(table["C"], 6e11), "compute_group"].nunique() == 1
    assert table.loc[np.isclose(table["C"], 5.4e11), "compute_group"].iloc[0] not in set(
        table.loc[np.isclose(table["C"], 6e11), "compute_group"])
    wider = pareto_table(load_distortion_data(mlflow_uri, ladder_experiment), rtol=0.15)
    assert wider.loc[np.isclose(wider["C"], 6e11) | np.isclose(wider["C"], 5.4e11), "compute_group"].nunique() == 1
    for _, group in table.groupby("compute_group"):
        assert group["on_front"].any()
    by_size = front_by_size(table, ["lang0", "lang1"])
    assert set(by_size.columns) >= {"compute_group", "N", "num_runs", "num_on_front", "best_lang0"}
    assert by_size["num_runs"].sum() == 9


@pytest.mark.parametrize(("groups", "shared", "noted"), [
    ([0, 1, 2], [], True),  # one run per budget: no front to draw
    ([0, 0, 1], [0], False),
    ([2, 2, 1, 1, 0], [1, 2], False),
    ([], [], False),  # no runs: no table, nothing to explain
])
def test_the_pareto_figure_needs_two_runs_per_budget(tmp_path: Path, groups: list[int], shared: list[int],
                                                     noted: bool) -> None:
    table = pd.DataFrame({"run_id": [f"r{i}" for i in range(len(groups))], "id": np.arange(len(groups), dtype=float),
                          "ood": -np.arange(len(groups), dtype=float), "N": 1e5, "C": 1e12,
                          "compute_group": groups, "on_front": True})
    assert shared_groups(table) == shared
    note = pareto_note(table)
    assert (note is not None) == noted
    if noted:
        assert note is not None and "needs ≥ 2 runs per budget" in note
        with pytest.raises(ValueError, match="needs ≥ 2 runs per budget"):
            plot_pareto(table, ["id", "ood"], tmp_path / "pareto.png")
    elif shared:
        assert plot_pareto(table, ["id", "ood"], tmp_path / "pareto.png").is_file()
