"""Distortion trajectories: D_i(t), the path in distortion space, excess distortion, rebalancing.

The theory being tested describes training as a path through multi-domain distortion space:
a first stage where every component falls, then a second where the components trade off —
some rise while the weighted mean still falls ("rebalancing"). This module turns the logged
histories into those objects; it does no plotting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.distortion.data import DistortionData, with_axes
from configs import metrics as M

FloatArray = npt.NDArray[np.float64]


def trajectory_table(data: DistortionData) -> pd.DataFrame:
    """Long table run_id, run name, sweep axes, step, domain, distortion, floor, excess (NaN where no floor)."""
    rows = []
    for domain in data.domains:
        key = M.distortion_key(domain)
        part = data.history.loc[data.history[key].notna(), ["run_id", "step", key]].rename(columns={key: "distortion"})
        part.insert(2, "domain", domain)
        floors = data.runs.set_index("run_id")[data.floors[domain]] if domain in data.floors else None
        part["floor"] = part["run_id"].map(floors) if floors is not None else np.nan
        part["excess"] = part["distortion"] - part["floor"]
        rows.append(part)
    return with_axes(pd.concat(rows, ignore_index=True), data)


@dataclass(frozen=True)
class DistortionPath:
    """Every run's path in a 2-D view of distortion space.

    Attributes:
        points: run_id, step, x, y (one row per evaluated step).
        x_label, y_label: what x and y are (two domains, or PC1/PC2 with explained variance).
        explained: share of variance of each axis (1.0, 1.0 for a plain pair of domains).
    """

    points: pd.DataFrame
    x_label: str
    y_label: str
    explained: tuple[float, float]


def principal_components(vectors: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(scores on PC1/PC2 (n, 2), the components (2, k), their explained-variance shares).

    PCA of the centred vectors by SVD; each component's sign is fixed so its largest
    loading is positive (SVD's sign is arbitrary, and a flipped figure would mislead).
    """
    centred = vectors - vectors.mean(axis=0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    if vt.shape[0] < 2:  # a single point: no second direction; PC2 is identically 0
        vt, singular = np.vstack([vt, np.zeros((2 - vt.shape[0], vt.shape[1]))]), np.r_[singular, 0.0]
    vt = vt[:2]
    signs = np.sign(vt[np.arange(2), np.abs(vt).argmax(axis=1)])
    vt = vt * np.where(signs == 0, 1.0, signs)[:, None]
    total = float((singular**2).sum()) or 1.0
    shares = (singular[:2] ** 2) / total
    return centred @ vt.T, vt, shares


def distortion_path(data: DistortionData, pair: tuple[str, str] | None = None) -> DistortionPath:
    """The (D₁, D₂) path of every run for two domains (or `pair`), else PC1/PC2 of all domains.

    Raises:
        ValueError: fewer than two domains (a path needs two coordinates).
    """
    if len(data.domains) < 2:
        raise ValueError(f"a distortion path needs ≥ 2 domains, the analysis has {data.domains}")
    keys = [M.distortion_key(d) for d in data.domains]
    rows = data.history.dropna(subset=keys)
    if pair is not None or len(data.domains) == 2:
        first, second = pair or (data.domains[0], data.domains[1])
        points = pd.DataFrame({"run_id": rows["run_id"], "step": rows["step"],
                               "x": rows[M.distortion_key(first)], "y": rows[M.distortion_key(second)]})
        return DistortionPath(points.reset_index(drop=True), f"D[{first}] (nats)", f"D[{second}] (nats)", (1.0, 1.0))
    scores, components, shares = principal_components(rows[keys].to_numpy(dtype=np.float64))
    points = pd.DataFrame({"run_id": rows["run_id"].to_numpy(), "step": rows["step"].to_numpy(),
                           "x": scores[:, 0], "y": scores[:, 1]})
    labels = [_pc_label(i, components[i], data.domains, float(shares[i])) for i in range(2)]
    return DistortionPath(points, labels[0], labels[1], (float(shares[0]), float(shares[1])))


def _pc_label(index: int, loadings: FloatArray, domains: list[str], share: float) -> str:
    top = np.argsort(-np.abs(loadings))[:3]
    terms = " ".join(f"{loadings[i]:+.2f}·{domains[i]}" for i in top)
    return f"PC{index + 1} ({share:.0%}): {terms}"


def rebalancing_intervals(data: DistortionData, min_change: float = 1e-3) -> pd.DataFrame:
    """Per run, the step intervals where a component rises while the weighted mean falls.

    Between consecutive evaluations t_j → t_{j+1}, component i "rebalances" when
    D_i(t_{j+1}) − D_i(t_j) > min_change·D_i(t_j) and the weighted mean (`val/loss`, the
    task's domain weights; the plain mean of the analysed components when not logged)
    falls by more than min_change of its value. Consecutive such steps of the same
    component merge into one interval.

    Returns:
        run_id, sweep axes, domain, start_step, end_step, rise (D_i gained over the interval),
        mean_fall (what the weighted mean lost over it).
    """
    rows: list[dict[str, object]] = []
    keys = [M.distortion_key(d) for d in data.domains]
    for run_id, run in data.history.dropna(subset=keys).groupby("run_id", sort=True):
        run = run.sort_values("step")
        mean = run[M.VAL_LOSS] if M.VAL_LOSS in run and run[M.VAL_LOSS].notna().all() else run[keys].mean(axis=1)
        mean_falls = _relative_diff(mean.to_numpy(dtype=np.float64)) < -min_change
        steps = run["step"].to_numpy()
        for domain, key in zip(data.domains, keys):
            values = run[key].to_numpy(dtype=np.float64)
            hits = (_relative_diff(values) > min_change) & mean_falls
            for lo, hi in _runs_of_true(hits):
                rows.append({"run_id": run_id, "domain": domain, "start_step": int(steps[lo]),
                             "end_step": int(steps[hi + 1]), "rise": float(values[hi + 1] - values[lo]),
                             "mean_fall": float(mean.iloc[lo] - mean.iloc[hi + 1])})
    return with_axes(pd.DataFrame(rows, columns=["run_id", "domain", "start_step", "end_step", "rise", "mean_fall"]), data)


def _relative_diff(values: FloatArray) -> FloatArray:
    """(v[j+1] − v[j]) / |v[j]| for consecutive entries (|v[j]| floored at 1e-12)."""
    return np.diff(values) / np.maximum(np.abs(values[:-1]), 1e-12)


def _runs_of_true(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(first, last) index of each maximal block of consecutive True entries."""
    blocks, start = [], None
    for i, hit in enumerate(mask):
        if hit and start is None:
            start = i
        if not hit and start is not None:
            blocks.append((start, i - 1))
            start = None
    if start is not None:
        blocks.append((start, len(mask) - 1))
    return blocks
