"""`scalinglab plan next`: the runs within a budget that most shrink the interval at a target (analysis.laws.next_plan)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from cluster.tables import print_table


def target_point(table: Any, target_c: float | None, target_n: float | None, target_d: float | None,
                 convention: Any, ens: Any) -> dict[str, Any]:
    """The target (N, D): given, or the full fit's compute-optimal point of target_c."""
    if target_c is None:
        return {"N": float(target_n), "D": float(target_d)}  # type: ignore[arg-type]
    from analysis.laws.flops import flops_relation
    from analysis.laws.predict import compute_optimal_point
    from analysis.laws.result import chinchilla_params

    k = flops_relation(table, convention).flops_per_param_token
    n, d = compute_optimal_point(chinchilla_params(ens.full[0]), target_c, k)
    return {"N": n, "D": d, "C": target_c, "flops_per_param_token": k}


def plan_summary(table: Any, family: Any, budget: float, steps: list[int], target: dict[str, Any], ens: Any,
                 level: float, seed: int, smaller: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """JSON-able summary of the plan, and its rows.

    `interval_now` is the bootstrap prediction interval of `fit predict`; `gaussian_now` and
    `gaussian_after` are the plan's Gaussian approximation before and after its runs.
    """
    from analysis.laws.next_plan import NEXT_METHOD, candidate_rows, plan_next

    done = {(int(a), int(b)) for a, b in zip(table["N"], table["D"])}
    plan = plan_next(ens, (target["N"], target["D"]), candidate_rows(family, budget, steps, done, smaller=smaller), budget)
    n_t, d_t = np.array([target["N"]]), np.array([target["D"]])
    pred = float(ens.full_prediction(n_t, d_t)[0])
    lo, hi = ens.interval(n_t, d_t, level, np.random.default_rng(seed))
    summary = {"target": target, "pred": pred, "level": level, "budget": budget, "spent": plan.spent,
               "num_runs": len(table), "num_candidates": plan.num_candidates, "num_planned": len(plan.rows),
               "num_resamples_dropped": plan.num_dropped,
               "interval_now": (float(lo[0]), float(hi[0])), "gaussian_now": plan.interval(pred, level, after=False),
               "gaussian_after": plan.interval(pred, level, after=True), "sd_before": plan.sd_before,
               "sd_after": plan.sd_after, "method": NEXT_METHOD, "rows": plan.rows}
    return summary, plan.rows


def print_plan(console: Console, summary: dict[str, Any]) -> None:
    """The planned runs and the interval they are expected to leave at the target."""
    rows = [{k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in r.items()} for r in summary["rows"]]
    print_table(console, f"next runs ({summary['num_planned']} of {summary['num_candidates']} candidates)", rows)
    (lo, hi), (g_lo, g_hi), (a_lo, a_hi) = (summary[k] for k in ("interval_now", "gaussian_now", "gaussian_after"))
    console.print(f"target {describe_target(summary['target'])}: loss {summary['pred']:.4f}; "
                  f"{summary['level']:.0%} prediction interval [{lo:.4f}, {hi:.4f}] from the {summary['num_runs']}-run "
                  f"bootstrap. Gaussian approximation: [{g_lo:.4f}, {g_hi:.4f}] now, [{a_lo:.4f}, {a_hi:.4f}] "
                  f"expected after these runs ({summary['spent']:.3g} of {summary['budget']:.3g} FLOPs). "
                  "Run them and refit to see the real interval.")


def describe_target(t: dict[str, Any]) -> str:
    """`C = 1e14 (compute-optimal N = .., D = ..)` or `N = .., D = ..`."""
    where = f"N = {t['N']:.4g}, D = {t['D']:.4g}"
    return f"C = {t['C']:.3g} (compute-optimal {where})" if "C" in t else where


def steps_levels(min_steps: int, max_steps: int, levels: int) -> list[int]:
    """`levels` step counts log-spaced over [min_steps, max_steps], duplicates dropped."""
    return sorted({int(round(s)) for s in np.geomspace(min_steps, max_steps, levels)})


def write_plan(out: Path, name: str, sweep: Any, family: Any, rows: list[dict[str, Any]], description: str,
               recipe: Any = None) -> None:
    """The planned runs as an ordinary sweep file on the base of `sweep`.

    With a recipe the file carries it, and the base's lr and warm-up are dropped so the recipe
    resolves them per N; the batch is each row's (already the recipe's law, written explicitly
    because the planned steps, D and C were computed at it).
    """
    import yaml

    from analysis.laws.isoflop_plan import plan_grid

    base = {k: v for k, v in sweep.base.items() if k != "model"}
    doc: dict[str, Any] = {"name": name, "description": description, "base": base, "grid": plan_grid(rows, family),
                           "seeds": list(sweep.seeds), "resources": sweep.resources.model_dump(exclude_defaults=True)}
    if recipe is not None:
        base["optim"] = {k: v for k, v in base.get("optim", {}).items() if k not in ("lr", "warmup_steps")}
        doc["recipe"] = recipe.model_dump()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
