"""Does `plan next` narrow the interval at a target more than a uniform grid of the same compute? (issue 19, item 4)

Both arms start from the same runs (a 3-size × 2-length grid: 6 runs, the fewest a
five-parameter law with a prediction interval accepts; the issue's 4 runs cannot be fitted)
and spend the same FLOPs:

* plan next: three rounds of `analysis.laws.next_plan.plan_next` with `--budget` each, the
  law refitted on all runs so far before every round;
* uniform: one grid of up to 4 family sizes (log-spaced over the candidates' range) × 3
  lengths (s, 2s, 4s), s chosen so the grid costs what the three rounds spent. Both arms
  buy from the same region: the whole family with --smaller-runs, else sizes and lengths no
  smaller than the start runs' (the uniform grid then drops its largest sizes until s reaches
  the start's shortest run).

Then each arm's 95 % bootstrap prediction interval (`predict_interval`, the `fit predict`
method) at one fixed target, the compute-optimal point of `--target-c`, is compared.

--mode simulate (default): losses are drawn from a known law (E = the Markov source's
entropy rate 2.7749, A, B, α, β of the scaling-ladder fit in the README) with log-normal
noise, over --studies seeds; the target's true loss is known, so coverage and error are
reported too. --mode train: losses come from real `scalinglab run` sweeps of the
scaling-ladder synthetic language (Ray, DeepSpeed, MLflow), one study per --train-seeds; only
the widths, and the predictions against the source's entropy floor, can be judged there.

Run: PYTHONPATH=. python bench/plan_next_validation.py [--mode train --workdir /tmp/pn]
Last line: `plan_next_width_ratio: <median of plan-next width / uniform width>` (< 1: plan next narrower).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.errors import AnalysisInputError  # noqa: E402
from analysis.laws import forms  # noqa: E402
from analysis.laws.isoflop_plan import Family, trial_row  # noqa: E402
from analysis.laws.next_plan import candidate_rows, plan_next  # noqa: E402
from analysis.laws.predict import bootstrap_ensemble, predict_interval  # noqa: E402

TRUTH = {"E": 2.7749, "A": 1.84e4, "B": 1.00e5, "alpha": 1.06, "beta": 0.92}
FAMILY = Family(n_layer=2, head_dim=16, ff_ratio=4, max_heads=8, seq_len=32, vocab_size=256, batch_size=32)
START = [(shape, steps) for shape in FAMILY.shapes()[1:4] for steps in (500, 1000)]
STEPS = [250, 500, 1000, 2000, 4000]
Runner = Callable[[list[dict[str, Any]], str], pd.DataFrame]


def true_loss(n: Any, d: Any) -> Any:
    return forms.chinchilla_loss(np.asarray(n, float), np.asarray(d, float), TRUTH["E"], TRUTH["A"], TRUTH["B"],
                                 TRUTH["alpha"], TRUTH["beta"])


def simulated(noise: float, seed: int) -> Runner:
    rng = np.random.default_rng(seed)

    def run(rows: list[dict[str, Any]], _: str) -> pd.DataFrame:
        table = pd.DataFrame(rows)[["N", "D", "C"]]
        return table.assign(loss=true_loss(table["N"], table["D"]) * np.exp(rng.normal(0, noise, len(table))))
    return run


def trained(workdir: Path, seed: int) -> Runner:
    """Runs each batch of trials as one real sweep on the scaling-ladder language and reads its losses."""
    from analysis.laws.points import points_from_experiment
    from cluster.cli.plan_next import write_plan
    from configs.load import load_sweep
    from cluster.workdir import default_tracking_uri

    base = load_sweep(ROOT / "configs/sweeps/scaling_ladder.yaml").model_copy(update={"seeds": [seed]})

    def run(rows: list[dict[str, Any]], name: str) -> pd.DataFrame:
        sweep_file = workdir / f"{name}.yaml"
        write_plan(sweep_file, name, base, FAMILY, rows, f"plan-next validation: {name}")
        start = time.perf_counter()
        subprocess.run([str(Path(sys.executable).with_name("scalinglab")), "run", str(sweep_file), "--workdir",
                        str(workdir)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        print(f"  {name}: {len(rows)} trials trained in {time.perf_counter() - start:.0f} s", flush=True)
        return points_from_experiment(default_tracking_uri(workdir), name).table[["N", "D", "C", "loss"]]
    return run


def uniform_rows(spend: float, smaller: bool) -> list[dict[str, Any]]:
    """Up to 4 sizes × (s, 2s, 4s) steps over the family, s set so the grid costs `spend` FLOPs.

    Without `smaller` the grid keeps to the region plan next may buy in (N and steps no smaller
    than the start runs'), so the two arms differ only in how they choose: the largest sizes
    are dropped until s reaches the start's shortest run.
    """
    start_n = min(trial_row(FAMILY, shape, num_steps=1)["N"] for shape, _ in START)
    shapes = [s for s in FAMILY.shapes() if smaller or trial_row(FAMILY, s, num_steps=1)["N"] >= start_n]
    shapes = [shapes[i] for i in np.unique(np.round(np.geomspace(1, len(shapes), 4)).astype(int) - 1)]
    min_steps = 1 if smaller else min(m for _, m in START)
    while True:
        per_step = sum(trial_row(FAMILY, s, num_steps=m)["C"] for s in shapes for m in (1, 2, 4))
        base = max(1, int(round(spend / per_step)))
        if base >= min_steps or len(shapes) <= 2:
            return [trial_row(FAMILY, s, num_steps=m * base) for s in shapes for m in (1, 2, 4)]
        shapes = shapes[:-1]


def study(run: Runner, budget: float, rounds: int, target: tuple[float, float], bootstrap: int,
          seed: int, smaller: bool, verbose: bool = False) -> dict[str, Any]:
    """Both arms from the same start; each arm's prediction at `target` after its compute."""
    start = run([trial_row(FAMILY, s, num_steps=m) for s, m in START], "pn_start")
    planned, spent = start, 0.0
    for r in range(rounds):
        ens = bootstrap_ensemble(planned["N"], planned["D"], planned["loss"], num_resamples=bootstrap,
                                 rng=np.random.default_rng(seed + r))
        done = {(int(a), int(b)) for a, b in zip(planned["N"], planned["D"])}
        try:
            plan = plan_next(ens, target, candidate_rows(FAMILY, budget, STEPS, done, smaller=smaller), budget)
        except AnalysisInputError as err:  # nothing left to buy: the arm keeps its compute unspent
            print(f"  round {r + 1}: {err}", flush=True)
            break
        spent += plan.spent
        planned = pd.concat([planned, run(plan.rows, f"pn_next{r + 1}")], ignore_index=True)
    uniform = pd.concat([start, run(uniform_rows(spent, smaller), "pn_uniform")], ignore_index=True)
    out: dict[str, Any] = {"spent_next": spent, "spent_uniform": float(uniform["C"].sum() - start["C"].sum())}
    if verbose:
        print(pd.concat([planned.assign(arm="next"), uniform.assign(arm="uniform")]).to_string(), flush=True)
    for arm, table in (("next", planned), ("uniform", uniform)):
        p = predict_interval(table["N"], table["D"], table["loss"], [target[0]], [target[1]],
                             num_resamples=bootstrap, seed=seed)
        out |= {f"{arm}_runs": len(table), f"{arm}_pred": p.pred[0], f"{arm}_lo": p.lo[0], f"{arm}_hi": p.hi[0],
                f"{arm}_width": (p.hi[0] - p.lo[0]) / p.pred[0]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=("simulate", "train"), default="simulate")
    ap.add_argument("--studies", type=int, default=20, help="simulated studies (noise seeds)")
    ap.add_argument("--noise", type=float, default=0.01, help="log-sd of a simulated run's loss")
    ap.add_argument("--budget", type=float, default=2e12, help="FLOPs per plan-next round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--target-c", type=float, default=1e14)
    ap.add_argument("--bootstrap", type=int, default=300)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/plan_next_validation"))
    ap.add_argument("--train-seeds", type=int, nargs="+", default=[0], help="--mode train: one study per seed")
    ap.add_argument("--smaller-runs", action="store_true", help="plan next may buy runs below the current ones")
    args = ap.parse_args()
    n_opt, d_opt = forms.chinchilla_optimal_allocation(np.array([args.target_c]), TRUTH["A"], TRUTH["B"],
                                                       TRUTH["alpha"], TRUTH["beta"], flops_per_param_token=6.0)
    target = (float(n_opt[0]), float(d_opt[0]))
    truth = float(true_loss(*target))
    print(f"target C = {args.target_c:.3g}: N = {target[0]:.4g}, D = {target[1]:.4g} (the optimum of the simulation's "
          f"law under C = 6ND; its loss {truth:.4f}); {args.rounds} rounds of {args.budget:.3g} FLOPs")
    begin = time.perf_counter()
    if args.mode == "train":
        for s in args.train_seeds:
            (args.workdir / f"seed{s}").mkdir(parents=True, exist_ok=True)
        rows = [study(trained(args.workdir / f"seed{s}", s), args.budget, args.rounds, target, args.bootstrap, s,
                      args.smaller_runs, verbose=True) for s in args.train_seeds]
    else:
        rows = [study(simulated(args.noise, s), args.budget, args.rounds, target, args.bootstrap, s, args.smaller_runs)
                for s in range(args.studies)]
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    ratio = table["next_width"] / table["uniform_width"]
    summary = (f"\n{len(table)} studies in {time.perf_counter() - begin:.0f} s. Width ratio (next / uniform): "
               f"median {ratio.median():.3f}, quartiles {ratio.quantile(0.25):.3f}-{ratio.quantile(0.75):.3f}; "
               f"plan next narrower in {(ratio < 1).sum()} of {len(table)}.")
    if args.mode == "simulate":  # the truth is known only for simulated losses
        for arm in ("next", "uniform"):
            table[f"{arm}_covers"] = (table[f"{arm}_lo"] <= truth) & (truth <= table[f"{arm}_hi"])
            table[f"{arm}_err"] = (table[f"{arm}_pred"] - truth) / truth
        summary += (f" Coverage of the true loss: next {table['next_covers'].mean():.0%}, uniform "
                    f"{table['uniform_covers'].mean():.0%}. Mean |rel err|: next {table['next_err'].abs().mean():.2%}, "
                    f"uniform {table['uniform_err'].abs().mean():.2%}.")
    else:
        summary += (f" Predictions at the target vs the entropy floor {TRUTH['E']}: next "
                    f"{', '.join(f'{v:.3f}' for v in table['next_pred'])}; uniform "
                    f"{', '.join(f'{v:.3f}' for v in table['uniform_pred'])}.")
    print(table.round(4).to_string())
    print(summary)
    print(f"plan_next_width_ratio: {ratio.median():.3f}")


if __name__ == "__main__":
    main()
