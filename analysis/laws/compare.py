"""Effective-compute multipliers: how much compute one group of runs is worth against another.

The groups (e.g. runs with different initialization rates gamma) are fitted jointly with
shared exponents: L_g(N, D) = E_g + A_g / N^alpha + B_g / D^beta, alpha and beta common,
E common or per group (`analysis.laws.objective`, same Huber objective and exact search as
the single fit). Along each group's compute-optimal frontier (Hoffmann et al. 2022 eq. 4,
with C = k N D) the loss is L_g*(C) = E_g + P_g (C/k)^-gamma, gamma = alpha beta /
(alpha + beta), P_g = A_g G_g^-alpha + B_g G_g^beta, G_g = (alpha A_g / (beta B_g))^(1 /
(alpha + beta)). The multiplier of group g against the reference group r is the ratio of
the compute each needs to reach the same loss L:

    m_g = C_r(L) / C_g(L) = [(P_r / P_g) (L - E_g) / (L - E_r)]^(1 / gamma),

so m_g = 3 reads "group g reaches the reference's loss with a third of its compute". With
E shared it is (P_r / P_g)^(1/gamma) at every loss; with E per group it depends on L and is
evaluated at `at_loss` (default: the reference frontier's loss at the study's largest C).
Neither depends on k. Intervals: percentile bootstrap resampling runs within each group
(group sizes fixed), each resample re-running the full joint search.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.check_values import sort_key
from analysis.checks import ComparisonCheck, arm_labels, check_arms, points_finding, value_text
from analysis.errors import AnalysisInputError, TooFewPointsError
from analysis.laws.bootstrap import percentile_intervals
from analysis.laws.chinchilla import fit_batch
from analysis.laws.flops import FlopsRelation
from analysis.laws.inputs import validate_table
from analysis.laws.objective import DEFAULT_DELTA, Design

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CompareResult:
    """A joint fit of groups with shared exponents and each group's compute multiplier.

    Attributes:
        groups: Group labels; `reference` is one of them.
        reference: Label of the reference group (multiplier 1).
        shared_e: Whether E is shared.
        alpha: Shared parameter exponent.
        beta: Shared data exponent.
        table: One row per group: group, num_runs, E, A, B, frontier_coef (P_g),
            multiplier, multiplier_lo, multiplier_hi.
        at_loss: Loss at which the multipliers are evaluated (they do not depend on it
            when E is shared).
        objective: Joint Huber objective.
        fit_seconds: Time of the joint fit.
        num_points: Runs fitted.
        level: Interval coverage.
        num_bootstrap: Resamples (0: no intervals).
        bootstrap_seconds: Time of the bootstrap.
        relation: C = k N D relation of the frontier (used for `at_loss` and plots).
    """

    groups: list[str]
    reference: str
    shared_e: bool
    alpha: float
    beta: float
    table: pd.DataFrame
    at_loss: float
    objective: float
    fit_seconds: float
    num_points: int
    level: float
    num_bootstrap: int
    bootstrap_seconds: float
    relation: FlopsRelation


def frontier_coefficients(a_coef: FloatArray, b_coef: FloatArray, alpha: FloatArray,
                          beta: FloatArray) -> FloatArray:
    """P in L*(C) - E = P (C/k)^-gamma along the compute-optimal frontier (see module doc)."""
    log_g = (np.log(alpha * a_coef) - np.log(beta * b_coef)) / (alpha + beta)
    return np.asarray(a_coef * np.exp(-alpha * log_g) + b_coef * np.exp(beta * log_g))


def multipliers(e_irr: FloatArray, p_coef: FloatArray, alpha: FloatArray, beta: FloatArray,
                ref: int, at_loss: float) -> FloatArray:
    """m_g = C_ref(L) / C_g(L) at loss `at_loss` for (..., G) group parameters.

    Returns:
        (..., G) multipliers; NaN where `at_loss` is at or below a group's E (no compute
        reaches it).
    """
    gamma = (alpha * beta / (alpha + beta))[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (p_coef[..., ref:ref + 1] / p_coef) * (at_loss - e_irr) / (
            at_loss - e_irr[..., ref:ref + 1])
        return np.asarray(np.where(ratio > 0, ratio ** (1.0 / gamma), np.nan))


def _check_groups(table: pd.DataFrame, labels: npt.NDArray[np.object_], groups: list[str], shared_e: bool) -> None:
    need = 2 if shared_e else 3  # A_g, B_g (and E_g) per group
    for g in groups:
        found = int((labels == g).sum())
        if found < need:
            raise TooFewPointsError(f"group {g!r} of the joint fit ({need} parameters of its "
                                    "own)", need, found)
        _check_both_vary(table[labels == g], g)


def _check_both_vary(runs: pd.DataFrame, group: str) -> None:
    """Refuse a group whose N or D takes one value: its A_g or B_g is not identified.

    With D fixed, B_g / D^beta is a constant that E absorbs, so beta and the frontier (and
    with them the multiplier) are undefined: the fit would return NaN or inf, not an error.
    """
    for column, name, axis in (("N", "parameters", "model size"), ("D", "tokens", "data size (train.num_steps)")):
        values = np.unique(runs[column].to_numpy(dtype=np.float64))
        if values.size < 2:
            raise AnalysisInputError(
                f"group {group!r}: every run has {column} = {values[0]:.4g} {name}, so the joint "
                f"L(N, D) fit cannot identify its {column} term and the compute multiplier is undefined; "
                f"vary the {axis} within each group, or compare at fixed {column} with `fit scaling` "
                "on each group.")


def _group_params(theta: FloatArray, num_groups: int, shared_e: bool
                  ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """(E, A, B) as (R, G) arrays and (alpha, beta) as (R,) from external parameter rows."""
    a = np.exp(theta[:, :num_groups])
    b = np.exp(theta[:, num_groups:2 * num_groups])
    e_cols = theta[:, 2 * num_groups:2 * num_groups + (1 if shared_e else num_groups)]
    e = np.exp(np.broadcast_to(e_cols, a.shape))
    return e, a, b, theta[:, -2], theta[:, -1]


def _stratified_counts(group: npt.NDArray[np.intp], num_resamples: int,
                       rng: np.random.Generator) -> FloatArray:
    """(R, P) resample counts drawn within each group, so group sizes stay fixed."""
    counts = np.zeros((num_resamples, group.size))
    for g in np.unique(group):
        members = np.flatnonzero(group == g)
        counts[:, members] = rng.multinomial(members.size, np.full(members.size, 1 / members.size),
                                             size=num_resamples)
    return counts


def compare_groups(
    table: pd.DataFrame, group_column: str, relation: FlopsRelation, *,
    reference: str | None = None, shared_e: bool = True, at_loss: float | None = None,
    num_bootstrap: int = 1000, level: float = 0.95, seed: int = 0,
    delta: float = DEFAULT_DELTA,
) -> CompareResult:
    """Joint fit with shared exponents and each group's compute multiplier against `reference`.

    Args:
        table: Columns N, D, C, loss and `group_column`.
        group_column: Column whose values form the groups (compared as strings).
        relation: C = k N D relation (see `analysis.laws.flops`).
        reference: Label of the reference group; default the first in sorted order.
        shared_e: Share E between groups (else one E per group).
        at_loss: Loss at which multipliers are evaluated (default: the reference frontier's
            loss at the largest C in the table).
        num_bootstrap: Resamples for the intervals (0: none).
        level: Interval coverage.
        seed: Seed of the numpy Generator.
        delta: Huber threshold.

    Returns:
        CompareResult.

    Raises:
        AnalysisInputError: on a missing column, fewer than two groups, an unknown
            reference, or too few runs in a group.
    """
    if group_column not in table.columns:
        raise AnalysisInputError(f"--group-column {group_column!r} is not a column "
                                 f"(have {sorted(map(str, table.columns))}).")
    labels = table[group_column].astype(str).to_numpy()
    groups = sorted(set(labels), key=_sort_key)
    if len(groups) < 2:
        raise AnalysisInputError(f"{group_column!r} has {len(groups)} value(s) {groups}; "
                                 "a comparison needs at least two groups.")
    ref_label = groups[0] if reference is None else _match(reference, groups, group_column)
    _check_groups(table, labels, groups, shared_e)
    num_free = 2 * len(groups) + (1 if shared_e else len(groups)) + 2
    n, d, loss = validate_table({"N": table["N"], "D": table["D"], "loss": table["loss"]},
                                num_free, f"joint Chinchilla ({len(groups)} groups)")
    index = np.array([groups.index(g) for g in labels], dtype=np.intp)
    design = Design.build(n, d, loss, index, shared_e)
    clock = time.perf_counter()
    best = fit_batch(design, loss, None, delta=delta)
    fit_seconds = time.perf_counter() - clock
    e, a, b, alpha, beta = _group_params(best.theta, len(groups), design.shared_e)
    p_coef = frontier_coefficients(a, b, alpha[:, None], beta[:, None])
    ref = groups.index(ref_label)
    level_loss = at_loss if at_loss is not None else _default_loss(
        e[0, ref], p_coef[0, ref], alpha[0], beta[0], float(table["C"].max()), relation)
    mult = multipliers(e, p_coef, alpha, beta, ref, level_loss)[0]
    lo, hi, boot_seconds = _bootstrap_multipliers(design, loss, groups, ref, level_loss,
                                                  num_bootstrap, level, seed, delta)
    rows = pd.DataFrame({"group": groups, "num_runs": np.bincount(index),
                         "E": e[0], "A": a[0], "B": b[0], "frontier_coef": p_coef[0],
                         "multiplier": mult, "multiplier_lo": lo, "multiplier_hi": hi})
    return CompareResult(groups, ref_label, design.shared_e, float(alpha[0]), float(beta[0]),
                         rows, float(level_loss), float(best.objective[0]), fit_seconds, n.size,
                         level, num_bootstrap, boot_seconds, relation)


def _sort_key(label: str) -> tuple[int, float, str]:
    """Numeric labels in numeric order, before any others."""
    try:
        return 0, float(label), label
    except ValueError:
        return 1, 0.0, label


def _match(reference: str, groups: list[str], column: str) -> str:
    """The group equal to `reference`, numerically when both are numbers."""
    for g in groups:
        if g == reference or (_sort_key(g)[0] == 0 and _sort_key(reference)[0] == 0
                              and np.isclose(float(g), float(reference), rtol=1e-12)):
            return g
    raise AnalysisInputError(f"--reference {reference!r} is not a value of {column!r} "
                             f"(values: {groups}).")


def _default_loss(e_ref: float, p_ref: float, alpha: float, beta: float, c_max: float,
                  relation: FlopsRelation) -> float:
    """The reference frontier's loss at the study's largest compute."""
    gamma = alpha * beta / (alpha + beta)
    return float(e_ref + p_ref * (c_max / relation.flops_per_param_token) ** -gamma)


def _bootstrap_multipliers(
    design: Design, loss: FloatArray, groups: list[str], ref: int, at_loss: float,
    num: int, level: float, seed: int, delta: float,
) -> tuple[FloatArray, FloatArray, float]:
    """Percentile intervals of every group's multiplier (NaN without a bootstrap)."""
    nan = np.full(len(groups), np.nan)
    if num == 0:
        return nan, nan.copy(), 0.0
    clock = time.perf_counter()
    counts = _stratified_counts(design.group, num, np.random.default_rng(seed))
    theta = fit_batch(design, loss, counts, delta=delta).theta
    e, a, b, alpha, beta = _group_params(theta, len(groups), design.shared_e)
    mult = multipliers(e, frontier_coefficients(a, b, alpha[:, None], beta[:, None]),
                       alpha, beta, ref, at_loss)
    samples = {g: mult[:, i] for i, g in enumerate(groups) if i != ref}
    intervals, _ = percentile_intervals(samples, level)
    lo, hi = np.ones(len(groups)), np.ones(len(groups))
    for i, g in enumerate(groups):
        if i != ref:
            lo[i], hi[i] = intervals[g]
    return lo, hi, time.perf_counter() - clock


def compare_to_json(result: CompareResult, group_column: str) -> dict[str, object]:
    """JSON-ready summary of a comparison (NaN left for the caller's cleaner)."""
    return {
        "group_column": group_column, "reference": result.reference,
        "shared_E": result.shared_e, "alpha": result.alpha, "beta": result.beta,
        "at_loss": result.at_loss, "objective": result.objective,
        "fit_seconds": result.fit_seconds, "num_points": result.num_points,
        "level": result.level, "num_bootstrap": result.num_bootstrap,
        "bootstrap_seconds": result.bootstrap_seconds,
        "flops": {"convention": result.relation.convention,
                  "flops_per_param_token": result.relation.flops_per_param_token},
        "multiplier": "C_reference(L) / C_group(L) at equal loss L on the compute-optimal "
                      "frontier (> 1: the group needs less compute)",
        "groups": result.table.to_dict("records"),
    }


def check_compare(table: pd.DataFrame, group_column: str, result: CompareResult) -> ComparisonCheck:
    """The comparison check of a joint fit: arms' confounds and seeds, and groups fitted exactly.

    Each group's own parameters (A_g, B_g, and E_g with E per group) rest on that group's
    runs alone, so a group with no more distinct (N, D) cells than those is fitted exactly.
    """
    arms = arm_labels(table, [group_column])
    check = check_arms(table, arms, [group_column], reference=f"{group_column}={value_text(result.reference)}")
    cells = table.assign(arm=arms).drop_duplicates(["arm", "N", "D"])
    own = 2 if result.shared_e else 3
    num_free = 2 * len(result.groups) + (1 if result.shared_e else len(result.groups)) + 2
    per_group = [points_finding(f"arm {arm}'s own law in the joint fit", int((arms == arm).sum()),
                                int((cells["arm"] == arm).sum()), own, "(N, D) cells")
                 for arm in sorted(arms.unique(), key=sort_key)]
    joint = points_finding(f"the joint fit of {len(result.groups)} groups", result.num_points, len(cells), num_free,
                           "(group, N, D) cells")
    return check.extended([joint, *per_group])
