"""Per-domain laws: the form follows which axes vary; a noise-free ladder gives its floors back."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.distortion.data import load_distortion_data
from analysis.distortion.laws import LawSettings, law_form, per_domain_laws
from tests.unit.analysis.distortion.conftest import LADDER_TRUE


@pytest.mark.parametrize(("n", "d", "expected"), [
    ([1, 2, 3, 1, 2], [1, 1, 1, 2, 2], ("chinchilla", "N,D")),
    ([1, 2, 3, 1], [1, 1, 1, 2], "4 runs; a Chinchilla law needs ≥ 5"),
    ([1, 2, 3], [5, 5, 5], ("kaplan", "N")),
    ([1, 1, 1], [5, 6, 7], ("kaplan", "D")),
    ([1, 1], [5, 5], "neither N nor D varies across the runs"),
])
def test_law_form(n: list[float], d: list[float], expected: object) -> None:
    assert law_form(pd.DataFrame({"N": n, "D": d})) == expected


def test_a_noise_free_ladder_gives_each_domain_its_law(mlflow_uri: str, ladder_experiment: str) -> None:
    laws = per_domain_laws(load_distortion_data(mlflow_uri, ladder_experiment), LawSettings(num_resamples=8))
    laws = laws.set_index("domain")
    for domain, (e, a, alpha, b, beta) in LADDER_TRUE.items():
        row = laws.loc[domain]
        assert row["form"] == "chinchilla" and row["num_points"] == 9
        assert row["E"] == pytest.approx(e, rel=0.02) and row["floor_true"] == e
        assert row["alpha"] == pytest.approx(alpha, rel=0.02) and row["beta"] == pytest.approx(beta, rel=0.05)
        assert row["E_low"] <= row["E"] <= row["E_high"]


def test_no_law_when_no_size_varies(mlflow_uri: str, anchor_experiment: str) -> None:
    laws = per_domain_laws(load_distortion_data(mlflow_uri, anchor_experiment), LawSettings(num_resamples=4))
    assert laws["form"].tolist() == ["none", "none"]
    assert laws["note"].iloc[0] == "neither N nor D varies across the runs"
    assert laws["pooled_axes"].iloc[0] == "init.rate, optim.weight_decay"
