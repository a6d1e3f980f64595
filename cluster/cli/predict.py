"""`scalinglab fit predict`: a law's predicted loss at (N, D) or at budget C, with a prediction interval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from rich.console import Console


def predict_summary(table: Any, n: float | None, d: float | None, c: float | None,
                    convention: Literal["scalinglab", "6nd"], bootstrap: int, level: float, seed: int) -> dict[str, Any]:
    """JSON-able prediction at (n, d), or at the compute-optimal point of budget c."""
    from analysis.laws.flops import flops_relation
    from analysis.laws.predict import compute_optimal_point, full_fit_params, predict_interval

    point: dict[str, Any] = {}
    if c is not None:
        k = flops_relation(table, convention).flops_per_param_token
        n, d = compute_optimal_point(full_fit_params(table["N"], table["D"], table["loss"]), c, k)
        point = {"C": c, "flops_per_param_token": k, "convention": convention}
    pred = predict_interval(table["N"], table["D"], table["loss"], [n], [d], num_resamples=bootstrap,
                            level=level, seed=seed)
    return {**pred.rows()[0], **point, "level": level, "method": pred.method, "num_points": len(table),
            "num_resamples": pred.num_resamples, "num_failed": pred.num_failed, "residual_sd": pred.residual_sd}


def print_prediction(console: Console, summary: dict[str, Any]) -> None:
    """The one-line answer."""
    where = f"C = {summary['C']:.3g} (compute-optimal) -> " if "C" in summary else ""
    console.print(f"{where}N = {summary['N']:.4g}, D = {summary['D']:.4g}: loss {summary['pred']:.4f} "
                  f"[{summary['pred_lo']:.4f}, {summary['pred_hi']:.4f}] ({summary['level']:.0%} prediction "
                  f"interval, {summary['num_points']} runs; {summary['method']})")


def run_rollout(console: Console, table: Any, bootstrap: int, level: float, seed: int) -> dict[str, Any]:
    """Rollout table printed and returned as JSON-able rows."""
    from analysis.laws.rollout import rollout
    from cluster.tables import print_table

    rows = rollout(table, num_resamples=bootstrap, level=level, seed=seed)
    print_table(console, f"rollout: fit on the k smallest sizes, predict the next ({level:.0%} intervals)",
                rows.round(5).to_dict(orient="records"))
    console.print(f"rollout: mean |rel err| {rows['rel_err'].mean():.2%}, coverage {rows['covered'].mean():.0%} "
                  f"of {len(rows)} runs")
    return {"rows": rows.to_dict(orient="records"), "mean_rel_err": float(rows["rel_err"].mean()),
            "coverage": float(rows["covered"].mean())}


def write_json(path: Path | None, summary: dict[str, Any]) -> None:
    """Write `summary` as JSON to `path` when given."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=2, default=float))
