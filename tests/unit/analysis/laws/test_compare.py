"""Compute multipliers from a joint fit with shared exponents (analysis.laws.compare)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisInputError, TooFewPointsError
from analysis.laws import forms
from analysis.laws.compare import compare_groups, frontier_coefficients, multipliers
from analysis.laws.flops import FlopsRelation

TRUE = {"E": 1.8, "A": 400.0, "B": 900.0, "alpha": 0.34, "beta": 0.3}
SIX_ND = FlopsRelation("6nd", 6.0, 6.0, 6.0)


def groups_table(scales: dict[str, float], sigma: float = 0.0, e_shift: dict[str, float] | None = None
                 ) -> pd.DataFrame:
    """Group g's runs reach the reference law at (s_g N, s_g D): compute multiplier s_g^2."""
    n, d = np.meshgrid(np.geomspace(1e6, 1e9, 5), np.geomspace(1e8, 1e11, 5), indexing="ij")
    n, d = n.ravel(), d.ravel()
    rng = np.random.default_rng(0)
    parts = []
    for label, s in scales.items():
        e = TRUE["E"] + (e_shift or {}).get(label, 0.0)
        loss = forms.chinchilla_loss(s * n, s * d, e, TRUE["A"], TRUE["B"], TRUE["alpha"], TRUE["beta"])
        parts.append(pd.DataFrame({"N": n, "D": d, "C": 6 * n * d, "g": label,
                                   "loss": loss * np.exp(rng.normal(0, sigma, n.size))}))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize(("a", "b", "alpha", "beta", "expected"), [
    # alpha = beta: G = (A/B)^(1/(2 alpha)), P = A G^-alpha + B G^alpha = 2 sqrt(A B)
    (4.0, 9.0, 0.5, 0.5, 12.0),
    (1.0, 1.0, 0.3, 0.3, 2.0),
    # A = B = 1, alpha = 1, beta = 0.5: G = 2^(2/3); P = 2^(-2/3) + 2^(1/3) = 3 * 2^(-2/3)
    (1.0, 1.0, 1.0, 0.5, 3.0 * 2 ** (-2 / 3)),
])
def test_frontier_coefficient_hand_values(a: float, b: float, alpha: float, beta: float,
                                          expected: float) -> None:
    got = frontier_coefficients(np.array(a), np.array(b), np.array(alpha), np.array(beta))
    assert float(got) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("e", "p", "at_loss", "expected"), [
    ([2.0, 2.0], [1.0, 0.5], 3.0, [1.0, 4.0]),  # gamma 0.5: (1 / 0.5)^(1 / 0.5) = 4
    ([2.0, 2.0], [1.0, 2.0], 2.5, [1.0, 0.25]),  # a worse group: multiplier below 1
    ([2.0, 2.5], [1.0, 1.0], 3.0, [1.0, 0.25]),  # higher E: (0.5 / 1)^2
    ([2.0, 3.0], [1.0, 1.0], 2.9, [1.0, np.nan]),  # the loss is below the group's E
])
def test_multiplier_hand_values(e: list[float], p: list[float], at_loss: float,
                                expected: list[float]) -> None:
    got = multipliers(np.array([e]), np.array([p]), np.array([1.0]), np.array([1.0]), 0, at_loss)
    np.testing.assert_allclose(got[0], expected, rtol=1e-12)


def test_noise_free_groups_recover_the_law_and_the_ratio_exactly() -> None:
    table = groups_table({"ref": 1.0, "x3": np.sqrt(3.0), "x10": np.sqrt(10.0)})
    res = compare_groups(table, "g", SIX_ND, reference="ref", num_bootstrap=0)
    assert res.alpha == pytest.approx(TRUE["alpha"], rel=1e-6)
    assert res.beta == pytest.approx(TRUE["beta"], rel=1e-6)
    rows = res.table.set_index("group")
    assert rows.loc["ref", "E"] == pytest.approx(TRUE["E"], rel=1e-6)
    assert rows.loc["ref", "A"] == pytest.approx(TRUE["A"], rel=1e-6)
    assert rows.loc["x3", "A"] == pytest.approx(TRUE["A"] * 3.0 ** (-TRUE["alpha"] / 2), rel=1e-6)
    assert rows["multiplier"].to_dict() == pytest.approx({"ref": 1.0, "x3": 3.0, "x10": 10.0}, rel=1e-6)


def test_noisy_groups_give_an_interval_around_the_ratio() -> None:
    table = groups_table({"1.0": 1.0, "0.5": np.sqrt(3.0)}, sigma=0.01)
    res = compare_groups(table, "g", SIX_ND, reference="1.0", num_bootstrap=200, seed=1)
    row = res.table.set_index("group").loc["0.5"]
    assert row["multiplier_lo"] <= 3.0 <= row["multiplier_hi"]
    assert row["multiplier_lo"] < row["multiplier"] < row["multiplier_hi"]


def test_separate_e_multiplier_depends_on_the_loss_level() -> None:
    table = groups_table({"ref": 1.0, "b": np.sqrt(3.0)}, e_shift={"b": 0.05})
    shared = compare_groups(table, "g", SIX_ND, reference="ref", num_bootstrap=0, shared_e=False,
                            at_loss=2.6)
    higher = compare_groups(table, "g", SIX_ND, reference="ref", num_bootstrap=0, shared_e=False,
                            at_loss=3.0)
    rows = shared.table.set_index("group")
    assert rows.loc["b", "E"] == pytest.approx(TRUE["E"] + 0.05, rel=1e-6)
    # The higher floor costs more the closer the loss is to it.
    near, far = rows.loc["b", "multiplier"], higher.table.set_index("group").loc["b", "multiplier"]
    assert near < far < 3.0


def test_default_reference_is_the_smallest_numeric_value() -> None:
    table = groups_table({"10": 1.0, "2": np.sqrt(2.0)})
    res = compare_groups(table, "g", SIX_ND, num_bootstrap=0)
    assert res.reference == "2" and res.groups == ["2", "10"]
    assert res.table.set_index("group").loc["10", "multiplier"] == pytest.approx(0.5, rel=1e-6)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"group_column": "nope"}, AnalysisInputError, r"--group-column 'nope' is not a column"),
    ({"group_column": "g", "reference": "zz"}, AnalysisInputError, r"--reference 'zz' is not a value"),
])
def test_bad_arguments(kwargs: dict[str, str], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        compare_groups(groups_table({"a": 1.0, "b": 2.0}), relation=SIX_ND, num_bootstrap=0, **kwargs)  # type: ignore[arg-type]


def test_one_group_or_too_few_runs_is_refused() -> None:
    with pytest.raises(AnalysisInputError, match=r"'g' has 1 value\(s\) \['a'\]; a comparison needs"):
        compare_groups(groups_table({"a": 1.0}), "g", SIX_ND, num_bootstrap=0)
    table = groups_table({"a": 1.0, "b": 2.0})
    small = pd.concat([table[table["g"] == "a"], table[table["g"] == "b"].head(2)])
    with pytest.raises(TooFewPointsError, match=r"group 'b' .* needs ≥ 3 runs, found 2"):
        compare_groups(small, "g", SIX_ND, num_bootstrap=0, shared_e=False)


@pytest.mark.parametrize("column", ["D", "N"])
def test_a_group_with_one_value_of_n_or_d_is_refused_not_given_a_nan_multiplier(column: str) -> None:
    table = groups_table({"a": 1.0, "b": 2.0})
    fixed = table[np.isclose(table[column], table[column].min())].copy()  # 5 runs per group, one column fixed
    with pytest.raises(AnalysisInputError, match=rf"group 'a': every run has {column} = .* vary the "):
        compare_groups(fixed, "g", SIX_ND, num_bootstrap=0)
