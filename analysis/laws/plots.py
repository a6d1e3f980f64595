"""Plots of fitted scaling laws, IsoFLOP profiles, group comparisons and the density trend.

Figures are built on `matplotlib.figure.Figure` directly (no pyplot state, so nothing
here touches the process-wide backend; saving goes through Agg). Every function takes the
data and results plus an output path, writes one PNG and returns the path. Bootstrap bands
are percentile bands of the curve over (at most 200 of) the bootstrap parameter samples.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from analysis.laws import forms
from analysis.laws.bootstrap import BootstrapResult
from analysis.laws.compare import CompareResult
from analysis.laws.compute_optimal import IsoflopResult, group_by_compute
from analysis.laws.density import DAYS_PER_YEAR, DensityTrendResult
from analysis.laws.flops import FlopsRelation
from analysis.laws.result import FitResult, predict_loss

FloatArray = npt.NDArray[np.float64]
#: Enough samples for a smooth 95 % band; all 1,000 only slow the plot down.
MAX_BAND_SAMPLES = 200
NUM_CURVES = 5


def _save(fig: Figure, out_path: str | Path) -> Path:
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def _band(curves: FloatArray, level: float) -> tuple[FloatArray, FloatArray]:
    """Percentile band over rows of (num_samples, num_x) curves."""
    lo, hi = np.nanpercentile(curves, [50 * (1 - level), 50 * (1 + level)], axis=0)
    return lo, hi


def _sample_params(boot: BootstrapResult) -> dict[str, FloatArray]:
    keep = slice(0, MAX_BAND_SAMPLES)
    return {k: v[keep, None] for k, v in boot.samples.items()}


def _scatter(ax: Axes, x: FloatArray, loss: FloatArray, held: npt.NDArray[np.bool_]) -> None:
    ax.scatter(x[~held], loss[~held], s=14, color="C0", label="runs", zorder=3)
    if held.any():
        ax.scatter(x[held], loss[held], s=30, facecolors="none", edgecolors="C3",
                   label="runs the hold-out check predicts", zorder=3)


def _chinchilla_curve(params: Mapping[str, FloatArray | float], n: FloatArray,
                      d: FloatArray) -> FloatArray:
    return forms.chinchilla_loss(n, d, params["E"], params["A"], params["B"],
                                params["alpha"], params["beta"])


def plot_loss_vs(
    table: pd.DataFrame, result: FitResult, out_path: str | Path, *,
    axis: Literal["N", "D", "C"] = "N", boot: BootstrapResult | None = None,
    held_out: npt.NDArray[np.bool_] | None = None, relation: FlopsRelation | None = None,
) -> Path:
    """Loss against N, D or C (log axes) with fitted curves and bootstrap bands.

    For a Chinchilla fit, "N" ("D") draws L(N, D) at a few observed D (N) values and "C"
    draws the compute-optimal frontier L(N_opt(C), D_opt(C)); for a Kaplan fit the single
    curve L(x) is drawn whatever `axis` is.

    Args:
        table: Columns N, D, loss (and C for axis "C").
        result: The fit.
        out_path: PNG to write.
        axis: Horizontal variable.
        boot: Bootstrap of the fit, for bands.
        held_out: Mask of the rows the hold-out check predicts (drawn hollow).
        relation: C = k N D relation of the compute-optimal frontier (needed for
            axis "C" of a Chinchilla fit).

    Returns:
        The written path.
    """
    held = np.zeros(len(table), bool) if held_out is None else np.asarray(held_out, bool)
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    x_col = result.variable if result.form == "kaplan" else axis
    x = table[x_col].to_numpy(dtype=np.float64)
    loss = table["loss"].to_numpy(dtype=np.float64)
    _scatter(ax, x, loss, held)
    grid = np.geomspace(x.min() / 1.5, x.max() * 1.5, 100)
    if result.form == "kaplan":
        _kaplan_curves(ax, result, grid, boot)
    elif axis == "C":
        if relation is None:
            raise ValueError("axis 'C' of a Chinchilla fit needs `relation` (C = k N D).")
        _frontier_curves(ax, result, grid, boot, relation.flops_per_param_token)
    else:
        _slice_curves(ax, table, result, grid, axis, boot)
    ax.set(xscale="log", yscale="log", xlabel=x_col, ylabel="loss (nats/token)",
           title=f"{result.form} fit: loss vs {x_col}")
    ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide on short log spans
    ax.legend(fontsize=7)
    return _save(fig, out_path)


def _kaplan_curves(ax: Axes, result: FitResult, grid: FloatArray,
                   boot: BootstrapResult | None) -> None:
    ax.plot(grid, predict_loss(result, grid), color="k", label="fit")
    if boot is not None:
        s = _sample_params(boot)
        curves = forms.kaplan_loss(grid[None, :], s["x_c"], s["alpha"],
                                  s.get("E", 0.0))
        ax.fill_between(grid, *_band(curves, boot.level), color="k", alpha=0.15,
                        label=f"{boot.level:.0%} bootstrap band")


def _frontier_curves(ax: Axes, result: FitResult, grid: FloatArray,
                     boot: BootstrapResult | None, k: float) -> None:
    p = result.params
    n_opt, d_opt = forms.chinchilla_optimal_allocation(grid, p["A"], p["B"], p["alpha"],
                                                       p["beta"], flops_per_param_token=k)
    ax.plot(grid, _chinchilla_curve(p, n_opt, d_opt), color="k", label="compute-optimal L(C)")
    if boot is not None:
        s = _sample_params(boot)
        n_s, d_s = forms.chinchilla_optimal_allocation(grid[None, :], s["A"], s["B"],
                                                       s["alpha"], s["beta"],
                                                       flops_per_param_token=k)
        ax.fill_between(grid, *_band(_chinchilla_curve(s, n_s, d_s), boot.level),
                        color="k", alpha=0.15, label=f"{boot.level:.0%} bootstrap band")


def _slice_curves(ax: Axes, table: pd.DataFrame, result: FitResult, grid: FloatArray,
                  axis: str, boot: BootstrapResult | None) -> None:
    other = "D" if axis == "N" else "N"
    values = np.unique(table[other].to_numpy(dtype=np.float64))
    picks = values[np.unique(np.linspace(0, values.size - 1, NUM_CURVES).round().astype(int))]
    for i, fixed in enumerate(picks):
        n, d = (grid, np.full_like(grid, fixed)) if axis == "N" else (np.full_like(grid, fixed), grid)
        ax.plot(grid, _chinchilla_curve(result.params, n, d), color=f"C{i + 1}", lw=1,
                label=f"{other} = {fixed:.3g}")
        if boot is not None:
            curves = _chinchilla_curve(_sample_params(boot), n[None, :], d[None, :])
            ax.fill_between(grid, *_band(curves, boot.level), color=f"C{i + 1}", alpha=0.15)


def plot_isoflop(table: pd.DataFrame, iso: IsoflopResult,
                 out_path: str | Path, *, rtol: float = 0.1) -> Path:
    """IsoFLOP profiles (loss vs N per budget, with parabolas) and N_opt vs C.

    Args:
        table: Columns N, loss, C.
        iso: Result of `analysis.laws.compute_optimal.fit_isoflop` on the same table.
        out_path: PNG to write.
        rtol: Budget grouping tolerance used for `iso`.

    Returns:
        The written path.
    """
    fig = Figure(figsize=(11, 4.5))
    ax_prof, ax_opt = fig.subplots(1, 2)
    labels = group_by_compute(table["C"], rtol)
    for i, (_, grp) in enumerate(table.groupby(labels)):
        ax_prof.scatter(grp["N"], grp["loss"], s=12, color=f"C{i % 10}")
    for i, row in enumerate(iso.minima.to_dict("records")):
        x = np.linspace(np.log(row["N_opt"]) - 2, np.log(row["N_opt"]) + 2, 60)
        ax_prof.plot(np.exp(x), row["p2"] * x**2 + row["p1"] * x + row["p0"], lw=1,
                     color=f"C{i % 10}", label=f"C = {row['C']:.2g}")
        ax_prof.scatter([row["N_opt"]], [row["loss_min"]], marker="*", s=60, color="k")
    ax_prof.set(xscale="log", xlabel="N", ylabel="loss", title="IsoFLOP profiles")
    ax_prof.legend(fontsize=7)
    c = iso.minima["C"].to_numpy(dtype=np.float64)
    ax_opt.scatter(c, iso.minima["N_opt"], color="C0", label="N_opt per budget")
    grid = np.geomspace(c.min(), c.max(), 50)
    ax_opt.plot(grid, iso.n_opt.coefficient * grid**iso.n_opt.exponent, color="C0",
                label=f"N_opt ∝ C^{iso.n_opt.exponent:.3f}")
    ax_opt.set(xscale="log", yscale="log", xlabel="C (FLOPs)", ylabel="N_opt")
    ax_opt.legend(fontsize=7)
    return _save(fig, out_path)


def plot_density_trend(trend: DensityTrendResult, out_path: str | Path) -> Path:
    """ln density over release date, frontier highlighted, fitted line drawn.

    Returns:
        The written path.
    """
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    tab = trend.table
    front = tab["on_frontier"].to_numpy(dtype=bool)
    dates = pd.to_datetime(tab["date"])
    ax.scatter(dates[~front], tab["ln_density"][~front], s=14, color="0.6", label="models")
    ax.scatter(dates[front], tab["ln_density"][front], s=24, color="C3", label="frontier")
    t = np.linspace(tab["t_years"].min(), tab["t_years"].max(), 50)
    line_dates = pd.Timestamp("1970-01-01") + pd.to_timedelta(t * DAYS_PER_YEAR, "D")
    ax.plot(line_dates, trend.slope * t + trend.intercept, color="k",
            label=f"doubling every {trend.doubling_months:.1f} months")
    ax.set(xlabel="release date", ylabel="ln density", title="Density over time")
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    return _save(fig, out_path)


def plot_compare(table: pd.DataFrame, group_column: str, result: CompareResult,
                 out_path: str | Path) -> Path:
    """Loss vs C per group with each group's compute-optimal frontier, and the multipliers.

    Args:
        table: Columns C, loss and `group_column` (the table `result` was fitted on).
        group_column: The column that forms the groups.
        result: The joint fit.
        out_path: PNG to write.

    Returns:
        The written path.
    """
    fig = Figure(figsize=(11, 4.5))
    ax_loss, ax_mult = fig.subplots(1, 2)
    labels = table[group_column].astype(str)
    c_all = table["C"].to_numpy(dtype=np.float64)
    grid = np.geomspace(c_all.min() / 1.5, c_all.max() * 4, 100)
    gamma = result.alpha * result.beta / (result.alpha + result.beta)
    k = result.relation.flops_per_param_token
    for i, row in enumerate(result.table.to_dict("records")):
        mine = (labels == row["group"]).to_numpy()
        ax_loss.scatter(c_all[mine], table["loss"][mine], s=12, color=f"C{i % 10}")
        ax_loss.plot(grid, row["E"] + row["frontier_coef"] * (grid / k) ** -gamma,
                     color=f"C{i % 10}", lw=1, label=f"{group_column} = {row['group']}")
    ax_loss.set(xscale="log", yscale="log", xlabel="C (FLOPs)", ylabel="loss (nats/token)",
                title="joint fit (shared exponents): compute-optimal frontiers")
    ax_loss.xaxis.set_minor_formatter(NullFormatter())
    ax_loss.legend(fontsize=7)
    mult = result.table["multiplier"].to_numpy(dtype=np.float64)
    lo = result.table["multiplier_lo"].to_numpy(dtype=np.float64)
    hi = result.table["multiplier_hi"].to_numpy(dtype=np.float64)
    pos = np.arange(mult.size)
    err = np.nan_to_num(np.stack([mult - lo, hi - mult]), nan=0.0)
    ax_mult.errorbar(pos, mult, yerr=np.maximum(err, 0.0), fmt="o", capsize=4, color="k")
    ax_mult.axhline(1.0, color="0.6", lw=1)
    ax_mult.set_xticks(pos, list(result.table["group"]))
    ax_mult.set(yscale="log", xlabel=group_column,
                ylabel=f"compute multiplier vs {result.reference}",
                title=f"effective compute at equal loss ({result.level:.0%} bootstrap)")
    return _save(fig, out_path)
