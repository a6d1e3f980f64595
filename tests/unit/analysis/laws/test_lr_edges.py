"""Tests of the under-tuned-rung check (analysis.laws.lr_edges)."""

from __future__ import annotations

import pandas as pd

from analysis.laws.lr_edges import under_tuned_rungs


def test_a_rung_whose_best_lr_is_an_edge_is_reported_and_an_interior_one_is_not() -> None:
    table = pd.DataFrame({
        "N": [1e4, 1e4, 1e4, 1e6, 1e6, 1e6, 1e5],
        "optim.lr": [1e-3, 2e-3, 4e-3, 1e-3, 2e-3, 4e-3, 2e-3],
        "loss": [3.0, 2.9, 3.1, 3.0, 2.9, 2.8, 2.95],  # 1e4: interior best; 1e6: best at 4e-3
    })
    assert under_tuned_rungs(table) == [{"N": 1e6, "best_lr": 4e-3, "lr_min": 1e-3, "lr_max": 4e-3, "edge": "high"}]


def test_without_lr_arms_there_is_nothing_to_check() -> None:
    assert under_tuned_rungs(pd.DataFrame({"N": [1.0], "loss": [1.0]})) == []
    assert under_tuned_rungs(pd.DataFrame({"N": [1.0, 1.0], "optim.lr": [1e-3, 2e-3], "loss": [1.0, 2.0]})) == []
