"""Pareto fronts of final distortion vectors: which runs no other run beats on every domain.

A vector p is dominated when some q has q_i ≤ p_i for every component and q_i < p_i for at
least one (lower distortion is better). Fronts are taken among runs of comparable compute
(`analysis.laws.compute_optimal.group_by_compute`: budgets within a factor 1 + rtol chain),
since more compute moves every component down; within a compute group, the front's runs and
their N show whether the trade-off between domains moves with model size.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.distortion.data import DistortionData
from analysis.laws.compute_optimal import group_by_compute
from configs import metrics as M


def non_dominated(points: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Mask of the non-dominated rows of `points` (n, k), minimizing every column.

    Equal rows do not dominate each other, so duplicates on the front are all kept.

    Raises:
        ValueError: `points` is not 2-D or holds non-finite values.
    """
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"points must be 2-D (runs × components), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("points must be finite; drop runs without a final distortion vector first")
    no_worse = (array[:, None, :] <= array[None, :, :]).all(axis=2)  # [q, p]: q ≤ p everywhere
    better = (array[:, None, :] < array[None, :, :]).any(axis=2)  # [q, p]: q < p somewhere
    dominated = (no_worse & better).any(axis=0)
    return np.asarray(~dominated, dtype=np.bool_)


def final_vectors(data: DistortionData) -> pd.DataFrame:
    """Per run: N, D, C and the last logged value of every analysed component (finite only)."""
    keys = [M.distortion_key(d) for d in data.domains]
    columns = [c for c in ["run_id", "run_name", *data.axes, "seed", "N", "D", "C"] if c in data.runs]
    table = data.runs[columns + keys].dropna(subset=keys)
    return table.rename(columns={M.distortion_key(d): d for d in data.domains}).reset_index(drop=True)


def pareto_table(data: DistortionData, rtol: float = 0.1) -> pd.DataFrame:
    """Final vectors with `compute_group` and `on_front` (non-dominated within the group).

    Runs without a logged C form one group (every run is then "comparable").
    """
    table = final_vectors(data)
    has_c = "C" in table and table["C"].notna().all() and (table["C"] > 0).all()
    table["compute_group"] = group_by_compute(table["C"].to_numpy(dtype=np.float64), rtol) if has_c else 0
    table["on_front"] = False
    for _, group in table.groupby("compute_group"):
        mask = non_dominated(group[data.domains].to_numpy(dtype=np.float64))
        table.loc[group.index, "on_front"] = mask
    return table


def front_by_size(table: pd.DataFrame, domains: list[str]) -> pd.DataFrame:
    """Per (compute group, N): runs, runs on the group's front, and the best value per domain.

    Read down a compute group: if the larger N rows hold the front, the front moves with N.
    """
    if "N" not in table:
        return pd.DataFrame(columns=["compute_group", "N", "num_runs", "num_on_front"])
    grouped = table.groupby(["compute_group", "N"])
    summary = grouped.agg(num_runs=("run_id", "size"), num_on_front=("on_front", "sum"))
    for domain in domains:
        summary[f"best_{domain}"] = grouped[domain].min()
    return summary.reset_index()


def shared_groups(table: pd.DataFrame) -> list[int]:
    """Compute groups of `pareto_table` holding ≥ 2 runs, smallest budget first.

    A front of one run says nothing (it is its own front), so only these are drawn.
    """
    sizes = table["compute_group"].value_counts() if "compute_group" in table else pd.Series(dtype=int)
    return sorted(int(g) for g in sizes[sizes >= 2].index)


def pareto_note(table: pd.DataFrame) -> str | None:
    """Why the Pareto figure is not drawn (no budget with 2 runs), or None when it is."""
    if not len(table) or shared_groups(table):
        return None
    return (f"Pareto figure not drawn: it needs ≥ 2 runs per budget, and each of the {table['compute_group'].nunique()} "
            "compute groups holds one run; add runs of equal compute (another N at the same C), or widen "
            "compute_rtol to group nearby budgets.")
