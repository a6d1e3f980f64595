"""Phase classification, cell tables, boundaries and the phase figures."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.phase.plots import plot_gamma_curves, plot_phase_diagram
from analysis.phase.table import PhaseThresholds, cell_table, classify_phase, phase_boundaries
from configs import metrics as M


@pytest.mark.parametrize(
    ("id_acc", "ood_acc", "expected"),
    [
        (0.10, 0.00, 1),
        (0.89, 0.99, 1),  # OOD cannot rescue a model that misses the seen pairs
        (0.90, 0.49, 2),  # thresholds are inclusive
        (1.00, 0.00, 2),
        (0.90, 0.50, 3),
        (1.00, 0.97, 3),
    ],
)
def test_classify_phase_table(id_acc: float, ood_acc: float, expected: int) -> None:
    assert classify_phase(id_acc, ood_acc) == expected


def test_classify_phase_with_custom_thresholds() -> None:
    strict = PhaseThresholds(id_min=0.99, ood_min=0.9)
    assert classify_phase(0.95, 0.95, strict) == 1
    assert classify_phase(1.0, 0.85, strict) == 2


def test_thresholds_and_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match=r"id_min \(1.5\) must be an accuracy in \[0, 1\]"):
        PhaseThresholds(id_min=1.5)
    with pytest.raises(ValueError, match="ood_value .* must be 'best' or 'final'"):
        PhaseThresholds(ood_value="last")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="accuracies must be finite"):
        classify_phase(float("nan"), 0.5)


def _runs() -> pd.DataFrame:
    """Two seeds per (γ, λ) cell; accuracies chosen so the seed means are easy to check."""
    rows = []
    cells = {  # (γ, λ): (id, ood_final, ood_best) per seed
        (0.3, 0.01): [(0.2, 0.0, 0.02), (0.4, 0.0, 0.04)],
        (0.3, 0.1): [(1.0, 0.1, 0.2), (1.0, 0.3, 0.4)],
        (0.8, 0.01): [(1.0, 0.9, 0.9), (1.0, 0.7, 0.8)],
        (0.8, 0.1): [(1.0, 0.4, 0.6), (1.0, 0.2, 0.5)],
    }
    for (rate, wd), seeds in cells.items():
        for seed, (id_acc, ood, ood_best) in enumerate(seeds):
            rows.append({"init.rate": rate, "optim.weight_decay": wd, "model.d_model": 64, "seed": seed,
                         M.ID_ACC: id_acc, M.OOD_ACC: ood, M.OOD_ACC_BEST: ood_best, M.COMMUTATIVITY: 0.5,
                         M.EFFECTIVE_NEURONS: 64 - 40 * rate})
    return pd.DataFrame(rows)


def test_cell_table_averages_seeds_and_uses_best_ood_by_default() -> None:
    cells = cell_table(_runs()).set_index(["init_value", "optim.weight_decay"])
    assert cells.loc[(0.3, 0.01), "id_acc"] == pytest.approx(0.3)
    assert cells.loc[(0.8, 0.1), "ood_acc"] == pytest.approx(0.55)
    assert cells.loc[(0.8, 0.1), "ood_acc_final"] == pytest.approx(0.3)
    assert list(cells["phase"]) == [1, 2, 3, 3]
    assert (cells["num_seeds"] == 2).all()


def test_cell_table_final_ood_changes_the_phase() -> None:
    cells = cell_table(_runs(), PhaseThresholds(ood_value="final")).set_index(["init_value", "optim.weight_decay"])
    assert cells.loc[(0.8, 0.1), "phase"] == 2


def test_cell_table_refuses_non_anchor_runs() -> None:
    with pytest.raises(ValueError, match="phase analysis needs composite-anchor-task runs"):
        cell_table(pd.DataFrame({"init.rate": [0.5], "val/loss": [1.0]}))


def test_boundaries_per_weight_decay() -> None:
    bounds = phase_boundaries(cell_table(_runs())).set_index("optim.weight_decay")
    assert bounds.loc[0.01, "boundary"] == 0.8
    assert bounds.loc[0.1, "boundary"] == 0.8
    assert bounds.loc[0.1, "last_phase3"] == 0.8


def test_boundary_is_the_first_phase3_cell_even_when_the_smallest_init_underfits() -> None:
    cells = pd.DataFrame({"scheme": "rate", "model.d_model": 128, "optim.weight_decay": 0.01,
                          "init_value": [0.3, 0.5, 0.7, 1.0], "gamma_eff": [0.3, 0.5, 0.7, 1.0],
                          "phase": [1, 3, 3, 1]})
    bounds = phase_boundaries(cells).iloc[0]
    assert (bounds["boundary"], bounds["last_phase3"]) == (0.5, 0.7)


def test_fixed_sigma_boundary_runs_from_large_to_small_sigma() -> None:
    cells = pd.DataFrame({"scheme": "std", "model.d_model": 32, "optim.weight_decay": 0.01,
                          "init_value": [0.016, 0.054, 0.125, 0.287], "gamma_eff": [1.2, 0.84, 0.6, 0.36],
                          "phase": [3, 3, 3, 1]})
    bounds = phase_boundaries(cells).iloc[0]
    assert (bounds["boundary"], bounds["boundary_gamma_eff"], bounds["last_phase3"]) == (0.125, 0.6, 0.016)


def test_fixed_sigma_runs_form_their_own_scheme_with_effective_gamma() -> None:
    runs = _runs()
    runs["init.std"] = np.where(runs["init.rate"] == 0.3, 0.125, np.nan)  # σ = 64^-0.5
    cells = cell_table(runs)
    std_cells = cells[cells["scheme"] == "std"]
    assert set(std_cells["init_value"]) == {0.125}
    assert std_cells["gamma_eff"].iloc[0] == pytest.approx(0.5)


def test_phase_figures_are_written(tmp_path: Path) -> None:
    cells = cell_table(_runs())
    diagram = plot_phase_diagram(cells, tmp_path / "phase.png")
    curves = plot_gamma_curves(cells, tmp_path / "gamma.png")
    for path in (diagram, curves):
        assert path.stat().st_size > 5_000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_gamma_curves_without_a_neuron_measure_say_so_instead_of_an_empty_legend(tmp_path: Path) -> None:
    cells = cell_table(_runs()).drop(columns="effective_neurons", errors="ignore")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # matplotlib warns of a legend with no labelled artists
        path = plot_gamma_curves(cells, tmp_path / "gamma.png")
    assert [str(w.message) for w in caught if "legend" in str(w.message)] == []
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_each_cell_names_its_seed_runs_beside_the_sweep_axes() -> None:
    runs = _runs()
    runs["run_name"] = [f"demo γ{r} λ{wd} s{s}" for r, wd, s in zip(runs["init.rate"], runs["optim.weight_decay"], runs["seed"])]
    cells = cell_table(runs).set_index(["init_value", "optim.weight_decay"])
    assert cells.loc[(0.8, 0.1), "run_names"] == "demo γ0.8 λ0.1 s0; demo γ0.8 λ0.1 s1"
    assert {"model.d_model", "scheme"} <= set(cells.reset_index().columns)
    assert "run_names" not in cell_table(_runs())  # a table without names (a CSV) gets no empty column
