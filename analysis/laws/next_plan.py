"""`plan next`: the runs within a compute budget that most shrink the prediction interval at a target.

Method (stated in every output as `NEXT_METHOD`). The current runs are fitted with the
bootstrap of `analysis.laws.predict` (R pairs-bootstrap refits by the full search plus the
df-inflated residual noise s² of the full fit). Each resample predicts log-loss at the
target and at every candidate run; their covariance Σ over resamples is treated as a
Gaussian prior on those log-losses (estimated robustly: normal-scores correlation times
IQR/1.349 scales, because a bootstrap of few runs has heavy tails that would make a sample
covariance follow a handful of wild resamples), and a new run j as an observation of its own
log-loss with noise s². Observing j leaves the target's variance at

    Σ_tt − Σ_tj² / (Σ_jj + s²),

and conditions Σ for the next choice (an ensemble Kalman update; a linear-Gaussian
approximation of the nonlinear law, which is its known limit: a candidate far outside the
runs is judged by how the resamples disagree there, not by what the law would learn).
Candidates are family shapes × step counts that fit in the budget, by default none smaller
in N or D than the current runs (`candidate_rows`). Resamples whose prediction overflows at
any of these points (an exponent near or below zero) are left out and counted. Runs are
picked greedily by variance reduction per FLOP while the budget lasts, and the best single
affordable run replaces that set when it alone reduces more (the budgeted
greedy of Krause & Guestrin 2005, "A note on the budgeted maximization of submodular
functions", CMU-CALD-05-103). The interval the plan reports after its runs is this
Gaussian approximation (± z·sd with the noise of one new run at the target added), next to
the bootstrap interval before them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import iqr, norm, rankdata

from analysis.errors import AnalysisInputError
from analysis.laws.isoflop_plan import Family, trial_row
from analysis.laws.predict import Ensemble

FloatArray = npt.NDArray[np.float64]
MIN_RESAMPLES = 20
NEXT_METHOD = ("budgeted greedy (variance reduction per FLOP, best single run as fallback) on the bootstrap "
               "ensemble's covariance of log-loss, each new run observed with the fit's residual noise")


@dataclass(frozen=True)
class NextPlan:
    """The chosen runs and the target's spread before and after them.

    Attributes:
        rows: One dict per chosen run (shape, num_steps, N, D, C, sd_after: the target's log-sd
            once this and the earlier rows are observed).
        sd_before: Log-loss sd of the target's prediction (parameter spread plus one run's noise).
        sd_after: The same after the chosen runs (Gaussian approximation).
        spent: FLOPs of the chosen runs.
        num_candidates: Affordable candidates considered.
        num_dropped: Resamples left out because a prediction overflowed (non-finite).
    """

    rows: list[dict[str, Any]]
    sd_before: float
    sd_after: float
    spent: float
    num_candidates: int
    num_dropped: int

    def interval(self, pred: float, level: float, after: bool) -> tuple[float, float]:
        """Gaussian (lo, hi) of the loss around `pred` for the spread before or after the runs."""
        z = float(norm.ppf(0.5 + level / 2))
        sd = self.sd_after if after else self.sd_before
        return pred * float(np.exp(-z * sd)), pred * float(np.exp(z * sd))


def candidate_rows(family: Family, budget: float, steps: list[int], done: set[tuple[int, int]], *,
                   smaller: bool = False) -> list[dict[str, Any]]:
    """Every family shape at every step count whose run fits in `budget`, minus runs already done.

    `done` holds (N, D) of the existing runs (as ints), so the plan does not repeat one. Unless
    `smaller`, a candidate is no smaller in N and no shorter in D than the smallest existing run:
    per FLOP the law prices tiny, short runs as cheap information, but they sit furthest from an
    upward target, where the form fits worst (measured: docs/budgets.md, plan next validation).
    """
    min_n = min((n for n, _ in done), default=0)
    min_d = min((d for _, d in done), default=0)
    rows = []
    for shape in family.shapes():
        for s in steps:
            row = trial_row(family, shape, num_steps=s)
            inside = smaller or (row["N"] >= min_n and row["D"] >= min_d)
            if row["C"] <= budget and inside and (int(row["N"]), int(row["D"])) not in done:
                rows.append(row)
    return rows


def plan_next(ens: Ensemble, target: tuple[float, float], candidates: list[dict[str, Any]],
              budget: float) -> NextPlan:
    """Choose candidates within `budget` FLOPs that most reduce the target's predictive variance.

    Raises:
        AnalysisInputError: if no candidate fits in the budget.
    """
    if not candidates:
        raise AnalysisInputError(f"no candidate run fits in --budget {budget:.3g} FLOPs; raise the budget or "
                                 "allow fewer steps (--min-steps).")
    n = np.array([target[0]] + [r["N"] for r in candidates], dtype=np.float64)
    d = np.array([target[1]] + [r["D"] for r in candidates], dtype=np.float64)
    log_pred = ens.log_predictions(n, d)
    finite = np.isfinite(log_pred).all(1)  # an overflowing resample has no covariance to give
    if finite.sum() < MIN_RESAMPLES:
        raise AnalysisInputError(f"only {int(finite.sum())} of {finite.size} bootstrap resamples predict finite "
                                 f"losses at the target and the candidates (need {MIN_RESAMPLES}); raise --bootstrap "
                                 "or add runs nearer the target.")
    cov = robust_cov(log_pred[finite])
    noise = float(ens.resid.var())
    cost = np.array([r["C"] for r in candidates], dtype=np.float64)
    greedy, greedy_var = _greedy(cov, noise, cost, budget, per_flop=True)
    single, single_var = _greedy(cov, noise, cost, budget, per_flop=False, limit=1)
    chosen, var_after = (single, single_var) if single_var[-1] < greedy_var[-1] else (greedy, greedy_var)
    if not chosen:
        raise AnalysisInputError(f"none of the {len(candidates)} affordable candidates is expected to narrow the "
                                 "interval at the target (the resamples agree on it, or disagree only where no "
                                 "candidate reaches); widen the family (--max-heads, --max-steps) or the budget.")
    rows = [{**candidates[j], "sd_after": float(np.sqrt(v + noise))} for j, v in zip(chosen, var_after[1:])]
    return NextPlan(rows, float(np.sqrt(cov[0, 0] + noise)), float(np.sqrt(var_after[-1] + noise)),
                    float(cost[chosen].sum()), len(candidates), int((~finite).sum()))


def robust_cov(y: FloatArray) -> FloatArray:
    """(K, K) covariance of the K columns of y: normal-scores correlation scaled by IQR / 1.349.

    Equals the sample covariance for Gaussian columns, and is not dominated by a few extreme rows.
    """
    scores = norm.ppf((rankdata(y, axis=0) - 0.5) / y.shape[0])
    scale = iqr(y, axis=0) / (2 * norm.ppf(0.75))
    return np.corrcoef(scores, rowvar=False) * np.outer(scale, scale)


def _greedy(cov: FloatArray, noise: float, cost: FloatArray, budget: float, *, per_flop: bool,
            limit: int | None = None) -> tuple[list[int], list[float]]:
    """Candidates (indices into cost) picked one at a time, and the target's variance after each.

    Index 0 of `cov` is the target, 1.. the candidates. A candidate is picked at most once.
    """
    cov = cov.copy()
    chosen: list[int] = []
    variances = [float(cov[0, 0])]
    left = budget
    while limit is None or len(chosen) < limit:
        gain = cov[0, 1:] ** 2 / np.maximum(np.diag(cov)[1:] + noise, 1e-12)  # an observed noiseless run: 0
        score = gain / cost if per_flop else gain.copy()
        score[(cost > left) | np.isin(np.arange(cost.size), chosen)] = -np.inf
        j = int(np.argmax(score))
        if not np.isfinite(score[j]) or gain[j] <= 0:
            break
        chosen.append(j)
        left -= cost[j]
        col = cov[:, j + 1].copy()
        cov -= np.outer(col, col) / (col[j + 1] + noise)
        variances.append(float(max(cov[0, 0], 0.0)))
    return chosen, variances
