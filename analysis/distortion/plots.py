"""Figures of the distortion analysis; each function writes one PNG and returns its path.

Figures are `matplotlib.figure.Figure` objects, not pyplot's: no pyplot import (~0.1 s of a
~2.5 s command) and no process-wide figure registry to close; `savefig` renders PNG with Agg.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from analysis.distortion.data import DistortionData
from analysis.distortion.pareto import shared_groups
from analysis.distortion.trajectories import DistortionPath, principal_components

MARKERS = {"t_star": ("*", "t* = argmax φ"), "early_stop": ("o", "early stop (min val/loss)"),
           "best_ood": ("^", "best OOD step")}


def run_labels(data: DistortionData) -> dict[str, str]:
    """A short label per run from its sweep axes and seed, e.g. "rate=0.3 weight_decay=0.01 s1"."""
    labels = {}
    for _, run in data.runs.iterrows():
        parts = [f"{axis.rsplit('.', 1)[-1]}={run[axis]:g}" if isinstance(run[axis], float) else
                 f"{axis.rsplit('.', 1)[-1]}={run[axis]}" for axis in data.axes]
        if "seed" in run and pd.notna(run["seed"]):
            parts.append(f"s{run['seed']}")
        labels[str(run["run_id"])] = " ".join(parts) or str(run["run_name"])
    return labels


def run_colors(run_ids: list[str]) -> dict[str, tuple[float, float, float, float]]:
    """One colour per run, spread over a perceptual colormap in label order."""
    cmap = colormaps["viridis"]
    return {run: cmap(i / max(len(run_ids) - 1, 1)) for i, run in enumerate(run_ids)}


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _no_minor_labels(ax: Axes) -> None:
    """Log axes labelled at 1, 2, 5 × 10^k in plain numbers.

    Matplotlib's default labels minor ticks on axes spanning less than a decade, and those
    labels overlap; with no labels at all such an axis would carry no number.
    """
    for axis in (ax.xaxis, ax.yaxis):
        if axis.get_scale() == "log":
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            axis.set_minor_formatter(NullFormatter())


def _legend(fig: Figure, ax: Axes, num_runs: int) -> None:
    if num_runs <= 16:  # past that a legend hides the figure; the CSV names every run
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def plot_trajectories(traj: pd.DataFrame, data: DistortionData, path: Path, column: str = "distortion") -> Path:
    """D_i(t) (or `column` = "excess": D_i − H_i) per run, one panel per domain, log axes."""
    labels = run_labels(data)
    order = sorted(labels, key=labels.__getitem__)
    colors = run_colors(order)
    domains = list(dict.fromkeys(traj["domain"]))
    fig = Figure(figsize=(4.2 * len(domains) + 2, 3.6), layout="constrained")
    axes = fig.subplots(1, len(domains), squeeze=False)
    for ax, domain in zip(axes[0], domains):
        part = traj[traj["domain"] == domain]
        for run_id in order:
            run = part[part["run_id"] == run_id].sort_values("step")
            values = run[column].to_numpy(dtype=np.float64)
            if len(run) and np.all(values > 0):
                ax.plot(run["step"], values, color=colors[run_id], lw=1.2, label=labels[run_id])
        ax.set(xscale="log", yscale="log", xlabel="step",
               ylabel="D − H (nats)" if column == "excess" else "D (nats/token)", title=domain)
        _no_minor_labels(ax)
        if len(part):
            _label_last_step(ax, float(part["step"].max()))
    _legend(fig, axes[0][-1], len(order))
    fig.suptitle("excess distortion D_i − H_i per run" if column == "excess" else "distortion D_i(t) per run", fontsize=10)
    return _save(fig, path)


def plot_path(found: DistortionPath, data: DistortionData, path: Path) -> Path:
    """Every run's path through the 2-D view of distortion space, start ○ and end ■."""
    labels = run_labels(data)
    order = sorted(labels, key=labels.__getitem__)
    colors = run_colors(order)
    fig = Figure(figsize=(6.2, 4.8))
    ax = fig.subplots()
    for run_id in order:
        run = found.points[found.points["run_id"] == run_id].sort_values("step")
        if run.empty:
            continue
        ax.plot(run["x"], run["y"], "-", color=colors[run_id], lw=1.1, label=labels[run_id])
        ax.plot(run["x"].iloc[0], run["y"].iloc[0], "o", mfc="none", color=colors[run_id], ms=5)
        ax.plot(run["x"].iloc[-1], run["y"].iloc[-1], "s", color=colors[run_id], ms=5)
    ax.set(xlabel=found.x_label, ylabel=found.y_label, title="training paths in distortion space (○ start, ■ end)")
    if not found.x_label.startswith("PC"):
        ax.set(xscale="log", yscale="log")
        _no_minor_labels(ax)
    _legend(fig, ax, len(order))
    return _save(fig, path)


def _phi_axis(ax: Axes, phi: pd.Series) -> bool:
    """Log axis of −φ (inverted, so up is still more stable) when φ < 0 spans > 20×; else linear φ."""
    magnitude = -phi.to_numpy(dtype=np.float64)
    wide = bool(len(magnitude)) and bool((magnitude > 0).all()) and magnitude.max() / magnitude.min() > 20
    if wide:
        ax.set_yscale("log")
        ax.invert_yaxis()
        ax.set_ylabel("−φ = relative loss increase (log; up = more stable)")
    return wide


def _label_last_step(ax: Axes, last: float) -> None:
    """Tick the last step on a log step axis too: 1, 2, 5 × 10^k alone leave where training ended (250) unlabelled.

    A major tick within 25 % below it is dropped, so their labels do not overlap.
    """
    lo, hi = ax.get_xlim()
    ticks = [t for t in LogLocator(base=10, subs=(1.0, 2.0, 5.0)).tick_values(lo, hi) if lo <= t < last / 1.25]
    ax.set_xticks([*ticks, last])
    ax.set_xlim(lo, hi)


def plot_phi(data: DistortionData, stops: pd.DataFrame, phi_key: str, phi0: float, path: Path) -> Path:
    """φ(t) per run with the step each stopping rule picks, and the threshold φ₀."""
    return _save(phi_figure(data, stops, phi_key, phi0), path)


def phi_figure(data: DistortionData, stops: pd.DataFrame, phi_key: str, phi0: float) -> Figure:
    """The figure of `plot_phi`: a legend names each run (up to 16), the stopping rules' markers and φ₀."""
    labels = run_labels(data)
    order = sorted(labels, key=labels.__getitem__)
    colors = run_colors(order)
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.subplots()
    history = data.history[data.history[phi_key].notna()] if phi_key in data.history else data.history.iloc[:0]
    ax.set_ylabel(f"φ ({phi_key})")
    sign = -1.0 if _phi_axis(ax, history[phi_key]) else 1.0
    for run_id in order:
        run = history[history["run_id"] == run_id].sort_values("step")
        if run.empty:
            continue
        ax.plot(run["step"], sign * run[phi_key], color=colors[run_id], lw=1.1, label=labels[run_id])
        stop = stops[stops["run_id"] == run_id]
        for rule, (marker, _) in MARKERS.items():
            column = f"{rule}_step"
            if column in stop and len(stop) and stop[column].notna().all():
                step = float(stop[column].iloc[0])
                nearest = run.iloc[int(np.argmin(np.abs(run["step"].to_numpy() - step)))]
                ax.plot(step, sign * nearest[phi_key], marker, color=colors[run_id], ms=8, mec="black", mew=0.5)
    runs = list(ax.get_lines()) if len(order) <= 16 else []  # past 16 a legend hides the figure; the CSV names each run
    handles = [line for line in runs if not line.get_label().startswith("_")]
    handles += [Line2D([], [], ls="", marker=m, color="gray", label=text) for m, text in MARKERS.values()]
    if np.isfinite(phi0) and (sign > 0 or phi0 < 0):  # a log axis of −φ cannot show φ₀ ≥ 0
        handles.append(ax.axhline(sign * phi0, color="red", ls="--", lw=1, label=f"φ₀ = {phi0:.3g}"))
    ax.legend(handles=handles, fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set(xscale="log", xlabel="step", title="stability φ(t) per run and where each rule stops")
    _no_minor_labels(ax)
    if len(history):
        _label_last_step(ax, float(history["step"].max()))
    return fig


def plot_metastable(points: pd.DataFrame, cells: pd.DataFrame, data: DistortionData, phi0: float, path: Path) -> Path:
    """Left: φ over (run, step), Φ outlined. Right: share of probed steps in Φ per cell."""
    labels = run_labels(data)
    order = sorted(labels, key=labels.__getitem__)
    grid = points.pivot_table(index="run_id", columns="step", values="phi").reindex(index=order)
    fig = Figure(figsize=(12, 0.28 * len(order) + 2.5))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    image = left.imshow(grid.to_numpy(), aspect="auto", cmap="magma", interpolation="nearest")
    rows, columns = np.nonzero(grid.to_numpy() >= phi0)
    left.plot(columns, rows, "o", color="cyan", ms=4, ls="")
    left.set_yticks(range(len(order)), [labels[r] for r in order], fontsize=6)
    steps = list(grid.columns)
    ticks = sorted(set(np.linspace(0, len(steps) - 1, min(len(steps), 8)).round().astype(int)))
    left.set_xticks(ticks, [str(int(steps[i])) for i in ticks], fontsize=7)
    left.set(xlabel="step", title=f"φ per (run, step); cyan dot = in Φ (φ ≥ {phi0:.3g})")
    fig.colorbar(image, ax=left, label="φ")
    _cell_heatmap(right, cells, data.axes)
    return _save(fig, path)


def _cell_heatmap(ax: Axes, cells: pd.DataFrame, axes: list[str]) -> None:
    """Share of steps in Φ over the two sweep axes with the most values (others averaged)."""
    present = [a for a in axes if a in cells]
    ranked = sorted(present, key=lambda a: -cells[a].nunique())[:2]
    if not ranked or "share_in_region" not in cells:
        ax.text(0.5, 0.5, "no sweep axes", ha="center", va="center")
        ax.set_axis_off()
        return
    x_axis, y_axis = ranked[0], (ranked[1] if len(ranked) > 1 else None)
    table = cells.groupby([x_axis] + ([y_axis] if y_axis else []))["share_in_region"].mean()
    grid = table.unstack(0) if y_axis else table.to_frame().T
    ax.imshow(grid.to_numpy(dtype=np.float64), origin="lower", cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for (i, j), value in np.ndenumerate(grid.to_numpy(dtype=np.float64)):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="white" if value < 0.6 else "black", fontsize=8)
    ax.set_xticks(range(grid.shape[1]), [f"{v:g}" for v in grid.columns], fontsize=7)
    ax.set_yticks(range(grid.shape[0]), [f"{v:g}" for v in grid.index] if y_axis else [""], fontsize=7)
    ax.set(xlabel=x_axis, ylabel=y_axis or "", title="share of probed steps in Φ (seeds averaged)")


def plot_pareto(table: pd.DataFrame, domains: list[str], path: Path) -> Path:
    """Final vectors per compute group (2 domains, or PC1/PC2), colour = log N, front joined.

    Shows the 4 largest budgets among groups holding ≥ 2 runs (`pareto.pareto_note` says why
    there is no figure when none does).

    Raises:
        ValueError: no compute group holds 2 runs.
    """
    groups = shared_groups(table)[-4:]  # the 4 largest budgets where a front is a choice
    if not groups:
        raise ValueError("no compute group holds ≥ 2 runs: a Pareto front needs ≥ 2 runs per budget")
    fig = Figure(figsize=(4.4 * len(groups) + 1, 3.8), layout="constrained")
    axes = fig.subplots(1, len(groups), squeeze=False)
    if len(domains) == 2:
        xy, names = table[domains].to_numpy(dtype=np.float64), (f"D[{domains[0]}]", f"D[{domains[1]}]")
    else:
        xy, names = principal_components(table[domains].to_numpy(dtype=np.float64))[0], ("PC1", "PC2")
    log_n = np.log10(table["N"].to_numpy(dtype=np.float64)) if "N" in table else np.zeros(len(table))
    for ax, group in zip(axes[0], groups):
        rows = np.flatnonzero(table["compute_group"].to_numpy() == group)
        scatter = ax.scatter(xy[rows, 0], xy[rows, 1], c=log_n[rows], cmap="plasma", s=28,
                             vmin=log_n.min(), vmax=max(log_n.max(), log_n.min() + 1e-9))
        front = rows[table["on_front"].to_numpy()[rows]]
        front = front[np.argsort(xy[front, 0])]
        ax.plot(xy[front, 0], xy[front, 1], "k-", lw=1, marker="o", mfc="none", ms=9, label="Pareto front")
        budget = table["C"].iloc[rows].median() if "C" in table else float("nan")
        ax.set(xlabel=names[0], ylabel=names[1], title=f"compute group {int(group)} (C ≈ {budget:.2g})")
        ax.legend(fontsize=7)
    fig.colorbar(scatter, ax=axes[0].tolist(), label="log10 N")
    return _save(fig, path)


def plot_ratedist(rd: pd.DataFrame, path: Path) -> Path:
    """Extra held-out loss from quantizing the weights, against bits, one line per run and domain."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for _, part in rd.groupby(["run_id", "domain"]):
        part = part.sort_values("bits")
        ax.plot(part["bits"], part["extra"].clip(lower=1e-6), color="gray", lw=0.6, alpha=0.5)
    mean = rd.groupby(["domain", "bits"])["extra"].median().reset_index()
    for domain, part in mean.groupby("domain"):
        ax.plot(part["bits"], part["extra"].clip(lower=1e-6), lw=2, marker="o", label=f"{domain!s} (median)")
    ax.set(yscale="log", xlabel="bits per weight (symmetric, per row)", ylabel="loss − full-precision loss (nats)",
           title="rate–distortion of the weights at the end of training")
    ax.legend(fontsize=7)
    return _save(fig, path)
