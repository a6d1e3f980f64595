"""IsoFLOP plans: for each budget C, model shapes whose N spans the expected optimum.

The family is one depth and one aspect: n_layer fixed, d_model = head_dim · n_head for
n_head = 1, 2, ..., d_ff = ff_ratio · d_model (the shape of the scaling-ladder presets).
For a budget C the expected optimum N_opt comes from a prior law: Hoffmann et al.'s
tokens-per-parameter rule D = 20 N (2022, table 3) unless Chinchilla params are given (a
fit, eq. 4). The plan's N are log-spaced over N_opt · [1/span, span]; each is snapped to
the nearest family shape (duplicates dropped), and its steps are the budget spent at that
shape's C per token (`configs.metrics.flops_per_token`, the one definition):
steps = round(C / (flops_per_token · batch · seq_len)). Planned D and C are those of the
rounded steps, so C per trial is exact, and within a step of the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

import numpy as np

from analysis.errors import AnalysisInputError
from analysis.laws import forms
from configs import metrics as M

TOKENS_PER_PARAM = 20.0


@dataclass(frozen=True)
class Family:
    """A width family at fixed depth (d_model = head_dim · n_head, d_ff = ff_ratio · d_model)."""

    n_layer: int
    head_dim: int
    ff_ratio: int
    max_heads: int
    seq_len: int
    vocab_size: int
    batch_size: int

    def shapes(self) -> list[dict[str, int]]:
        """Every shape of the family, smallest first."""
        return [{"n_layer": self.n_layer, "n_head": h, "d_model": h * self.head_dim,
                 "d_ff": self.ff_ratio * h * self.head_dim} for h in range(1, self.max_heads + 1)]


def _n_of(shape: dict[str, int]) -> int:
    return M.num_params(shape["n_layer"], shape["d_model"], shape["d_ff"])


def expected_n_opt(budget: float, k: float, law: dict[str, float] | None) -> float:
    """N_opt of budget C under C = k N D: from a law's params, else the D = 20 N rule."""
    if law is None:
        return float(np.sqrt(budget / (k * TOKENS_PER_PARAM)))
    n_opt, _ = forms.chinchilla_optimal_allocation(np.array([budget]), law["A"], law["B"], law["alpha"],
                                                   law["beta"], flops_per_param_token=k)
    return float(n_opt[0])


def plan_isoflop(family: Family, budgets: list[float], points: int, *, span: float = 4.0,
                 law: dict[str, float] | None = None, k: float = 6.0,
                 batch_of: Callable[[float], int] | None = None) -> list[dict[str, Any]]:
    """One row per planned trial: budget, shape, steps, N, D, C (and N_opt of the prior).

    Args:
        family: Shapes to choose from, and the batch / sequence length that fix D per step.
        budgets: Compute budgets C in FLOPs.
        points: Shapes per budget (before duplicates are dropped).
        span: N ranges over N_opt / span .. N_opt · span.
        law: Chinchilla params (A, B, alpha, beta) of a prior fit; None: D = 20 N.
        k: C = k N D relation used to place N_opt (the fit's; 6 for the rule).
        batch_of: Batch size (sequences) as a function of N (a recipe's law); None: the family's.

    Raises:
        AnalysisInputError: for bad options, or a budget too small for one step.
    """
    if points < 1 or span < 1.0 or not budgets or min(budgets) <= 0:
        raise AnalysisInputError(f"points ({points}) must be >= 1, span ({span}) >= 1 and budgets ({budgets}) "
                                 "positive; use e.g. --points 5 --budgets 1e13,3e13.")
    shapes = family.shapes()
    log_n = np.log([_n_of(s) for s in shapes])
    rows = []
    for budget in budgets:
        n_opt = expected_n_opt(budget, k, law)
        # One point sits at N_opt itself (linspace would put it at the low end).
        offsets = np.linspace(-np.log(span), np.log(span), points) if points > 1 else np.zeros(1)
        targets = np.log(n_opt) + offsets
        picked = sorted({int(np.argmin(np.abs(log_n - t))) for t in targets})
        for i in picked:
            batch = batch_of(_n_of(shapes[i])) if batch_of else family.batch_size
            rows.append(_isoflop_row(family, shapes[i], budget, n_opt, batch))
    return rows


def _isoflop_row(family: Family, shape: dict[str, int], budget: float, n_opt: float, batch: int) -> dict[str, Any]:
    """The trial of `shape` at `batch` that spends `budget`: its steps rounded to whole steps."""
    per_step = trial_row(family, shape, num_steps=1, batch_size=batch)["C"]
    steps = int(round(budget / per_step))
    if steps < 1:
        raise AnalysisInputError(f"budget {budget:.3g} FLOPs buys less than one step of d_model "
                                 f"{shape['d_model']} ({per_step:.3g} FLOPs); raise the budget or lower the batch.")
    return {"budget": budget, **trial_row(family, shape, num_steps=steps, batch_size=batch), "N_opt_prior": n_opt}


def trial_row(family: Family, shape: dict[str, int], *, num_steps: int, batch_size: int | None = None) -> dict[str, Any]:
    """Shape, batch_size, num_steps, N, D and C of one trial (C from `configs.metrics`; batch: the family's)."""
    batch = batch_size or family.batch_size
    per_token = M.flops_per_token(shape["n_layer"], shape["d_model"], shape["d_ff"], family.seq_len,
                                  family.vocab_size)
    tokens = num_steps * batch * family.seq_len
    return {**shape, "batch_size": batch, "num_steps": num_steps, "N": _n_of(shape), "D": tokens,
            "C": per_token * tokens}


def plan_grid(rows: list[dict[str, Any]], family: Family) -> list[dict[str, list[Any]]]:
    """The plan as a sweep `grid`: a union of one-point product grids, one per trial.

    A row's batch is written only where it is not the family's (the base's) batch.
    """
    return [{"model.n_layer": [r["n_layer"]], "model.n_head": [r["n_head"]], "model.d_model": [r["d_model"]],
             "model.d_ff": [r["d_ff"]], "train.num_steps": [r["num_steps"]],
             **({"train.batch_size": [r["batch_size"]]} if r["batch_size"] != family.batch_size else {})}
            for r in rows]
