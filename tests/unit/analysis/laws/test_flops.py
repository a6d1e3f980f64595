"""FLOPs conventions and the C = k N D relation (analysis.laws.flops), and points CSVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisInputError
from analysis.laws.flops import flops_relation, with_compute
from analysis.laws.points import read_points_csv

DATA = Path(__file__).parent / "data"


def table() -> pd.DataFrame:
    # C / (N D) = 7, 8 and 12 (hand-picked): the median is 8, the spread 7..12.
    return pd.DataFrame({"N": [1e6, 2e6, 4e6], "D": [1e9, 1e9, 2e9],
                         "C": [7e15, 16e15, 96e15], "loss": [3.0, 2.9, 2.7]})


@pytest.mark.parametrize(("convention", "k", "k_min", "k_max", "c0"), [
    ("scalinglab", 8.0, 7.0, 12.0, 7e15),  # C as logged
    ("6nd", 6.0, 6.0, 6.0, 6e15),  # C = 6 N D replaces it
])
def test_relation_per_convention(convention: str, k: float, k_min: float, k_max: float,
                                 c0: float) -> None:
    points = with_compute(table(), convention, "t")  # type: ignore[arg-type]
    rel = flops_relation(points, convention)  # type: ignore[arg-type]
    assert (rel.flops_per_param_token, rel.k_min, rel.k_max) == pytest.approx((k, k_min, k_max))
    assert points["C"].iloc[0] == pytest.approx(c0)


def test_missing_c_is_an_error_under_the_scalinglab_convention() -> None:
    with pytest.raises(AnalysisInputError, match=r"t: no C \(training FLOPs\) column"):
        with_compute(table().drop(columns="C"), "scalinglab", "t")
    assert with_compute(table().drop(columns="C"), "6nd", "t")["C"].tolist() == \
        pytest.approx([6e15, 12e15, 48e15])


def test_read_points_csv_checks_columns_and_values(tmp_path: Path) -> None:
    got = read_points_csv(DATA / "chinchilla_grid_20.csv", "6nd")
    np.testing.assert_allclose(got["C"], 6 * got["N"] * got["D"])
    path = tmp_path / "bad.csv"
    path.write_text("N,loss\n1e6,3.0\n")
    with pytest.raises(AnalysisInputError, match=r"missing column\(s\) \['D'\]"):
        read_points_csv(path, "6nd")
    path.write_text("N,D,loss\n1e6,1e9,oops\n")
    with pytest.raises(AnalysisInputError, match=r"column 'loss' has 1 value\(s\) that are not "
                                                 r"finite positive numbers \(first at row 0: 'oops'\)"):
        read_points_csv(path, "6nd")
    path.write_text("N,D,loss\n1e6,1e9,3.0\n-1e6,1e9,3.0\n")
    with pytest.raises(AnalysisInputError, match=r"column 'N' has 1 value.*first at row 1"):
        read_points_csv(path, "6nd")
    with pytest.raises(AnalysisInputError, match=r"nope.csv: no such file"):
        read_points_csv(tmp_path / "nope.csv", "6nd")
