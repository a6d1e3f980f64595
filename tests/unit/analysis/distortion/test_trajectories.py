"""Trajectory tables, the 2-D path, principal components and rebalancing intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.distortion.data import DistortionData, choose_domains, load_distortion_data, wide_history
from analysis.distortion.trajectories import (
    distortion_path,
    principal_components,
    rebalancing_intervals,
    trajectory_table,
)
from analysis.errors import AnalysisInputError
from configs import metrics as M


def _data(history: dict[str, list[float]], steps: list[int]) -> DistortionData:
    frame = pd.DataFrame({"run_id": "r", "step": steps, **history})
    runs = pd.DataFrame({"run_id": ["r"], "run_name": ["r"]})
    domains = M.domains_of(list(history), M.DISTORTION_PREFIX)
    return DistortionData(runs, frame, domains, [], {})


def test_rebalancing_finds_a_rising_component_under_a_falling_mean() -> None:
    data = _data({M.distortion_key("a"): [4.0, 2.0, 1.0, 0.8, 0.7, 0.9],
                  M.distortion_key("b"): [3.0, 3.1, 3.3, 3.0, 3.05, 2.0],
                  M.VAL_LOSS: [3.5, 2.55, 2.15, 1.9, 1.875, 1.45]}, [1, 2, 3, 4, 5, 6])
    found = rebalancing_intervals(data)
    # b rises over 1 → 3 and 4 → 5 while val falls; a rises over 5 → 6 while val falls
    assert found[["domain", "start_step", "end_step"]].values.tolist() == [["a", 5, 6], ["b", 1, 3], ["b", 4, 5]]
    assert found.loc[found["domain"] == "b", "rise"].iloc[0] == pytest.approx(0.3)
    assert found.loc[found["domain"] == "b", "mean_fall"].iloc[0] == pytest.approx(1.35)
    assert rebalancing_intervals(data, min_change=0.05)["domain"].tolist() == ["a", "b"]  # 4 → 5 too small


def test_rebalancing_uses_the_plain_mean_without_val_loss() -> None:
    data = _data({M.distortion_key("a"): [4.0, 2.0], M.distortion_key("b"): [3.0, 3.5]}, [1, 2])
    assert rebalancing_intervals(data)["domain"].tolist() == ["b"]


def test_principal_components_of_a_line_have_one_direction() -> None:
    t = np.linspace(0, 1, 20)
    vectors = np.stack([1 + 2 * t, 3 - t, 0.5 + 0 * t], axis=1)
    scores, components, shares = principal_components(vectors)
    assert shares[0] == pytest.approx(1.0) and shares[1] == pytest.approx(0.0, abs=1e-12)
    assert np.allclose(np.abs(components[0]), np.array([2, 1, 0]) / np.sqrt(5))
    assert components[0][0] > 0  # the sign convention: the largest loading is positive
    assert np.allclose(scores[:, 1], 0)


def test_trajectories_and_path_from_mlflow(mlflow_uri: str, anchor_experiment: str) -> None:
    data = load_distortion_data(mlflow_uri, anchor_experiment)
    assert data.domains == ["id", "ood"] and data.axes == ["init.rate", "optim.weight_decay"]
    traj = trajectory_table(data)
    assert len(traj) == 4 * 5 * 2 and traj["excess"].isna().all()  # the anchor task has no floors
    path = distortion_path(data)
    assert path.x_label.startswith("D[id]") and len(path.points) == 20
    three = _data({M.distortion_key(d): list(np.arange(4.0) * (i + 1)) for i, d in enumerate("abc")}, [1, 2, 3, 4])
    assert distortion_path(three).x_label.startswith("PC1 (100%)")


def test_excess_distortion_uses_the_logged_floors(mlflow_uri: str, ladder_experiment: str) -> None:
    data = load_distortion_data(mlflow_uri, ladder_experiment)
    assert data.floors == {"lang0": M.floor_key("lang0"), "lang1": M.floor_key("lang1")}
    traj = trajectory_table(data)
    lang1 = traj[traj["domain"] == "lang1"]
    assert np.allclose(lang1["excess"], lang1["distortion"] - 2.0)


def test_domains_are_checked() -> None:
    columns = [M.distortion_key("id"), M.distortion_key("ood"), M.VAL_LOSS]
    assert choose_domains(columns, ["ood", "ood"]) == ["ood"]
    with pytest.raises(AnalysisInputError, match="--domains names bogus, not logged by these runs; logged domains: id, ood"):
        choose_domains(columns, ["bogus"])
    with pytest.raises(AnalysisInputError, match="log no distortion/<domain> metrics"):
        choose_domains([M.VAL_LOSS], None)
    assert list(wide_history(pd.DataFrame(columns=["run_id", "key", "step", "value"])).columns) == ["run_id", "step"]
