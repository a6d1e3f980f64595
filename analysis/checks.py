"""Comparison checks: do the arms of a comparison differ only in what the comparison names?

A comparison of groups of runs ("arms": e.g. γ 0.5 against γ 1, or the fixed-σ control against
the γ runs) says something about its group column only if the arms differ in that and nothing
else. Two of the project's first results did not (issue 16): a fixed σ = 0.02 was the smallest
init in the grid at d_model 16–48, and λ changed together with γ. So `fit compare`, `fit
density` and `phase` print this check above their tables (docs/comparison_checks.md):

* **confound** — at matched cells (same N and D in both arms) an arm differs from the
  reference arm in a factor its group column does not control: the measured γ_eff
  (`init/gamma_eff`), λ, the decay shrinkage Π(1 − lr_t·λ), lr or the tokenizer; or it
  reaches D/N outside the reference arm's range. An init arm whose γ_eff changes with N (a
  fixed σ is a different γ at every width) is flagged too, with where it equals the others.
* **extrapolated** — density estimates N̂ outside the reference law's N range.
* **seeds** — arms (or cells) with fewer than 2 seeds: no spread to judge an effect against.
* **points** — fits with no more distinct points than parameters (they fit exactly).

Factors the runs do not hold (stores from before issue 16 lack `init/*` and
`optim/decay_shrinkage`) are named on one "not checked" line, which is a note, not a finding.
Everything here reads the runs table of `analysis.load` and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.check_values import Factor, cell_text, distinct, format_count, format_si, same, show, sort_key
from configs import metrics as M

FindingKind = Literal["confound", "extrapolated", "seeds", "points"]

# γ_eff is measured on one draw of each weight kind: the RMS of n entries scatters by
# ≈ 1/√(2n) relative, i.e. ≈ 0.006 in γ for a 32×32 matrix (÷ ln 32). 0.03 is five such
# errors and still a third of the smallest γ step any preset takes (0.1).
GAMMA_ATOL = 0.03
# The shrinkage is a product over ~10² steps of lr_t·λ; 1 % absorbs the float32 schedule and
# a cool-down branch's few steps, and is far below the 0.44–0.67 vs 0.95 gaps that matter.
SHRINKAGE_RTOL = 0.01
DN_RTOL = 0.01  # D/N ranges: N and D are counts, 1 % keeps rounding of D out of the way
DN = "D/N"
SEED_COLUMN = "seed"
CELL_COLUMNS = ("N", "D")

GAMMA_EFF = Factor("γ_eff", (M.INIT_GAMMA_EFF,), atol=GAMMA_ATOL, rtol=0.0, fmt=".2f")
FACTORS = (
    GAMMA_EFF,
    Factor("λ", ("optim.weight_decay",)),
    Factor("decay shrinkage", (M.DECAY_SHRINKAGE,), rtol=SHRINKAGE_RTOL),
    Factor("lr", ("optim.lr",)),
    Factor("tokenizer", ("data.tokenizer.kind", "data.tokenizer.vocab_size"), text=True),
)
"""The factors compared between arms at matched cells, in the order lines are printed."""

CONTROLS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("init.", (GAMMA_EFF.name,)),
    ("optim.weight_decay", ("λ", "decay shrinkage")),
    ("optim.lr", ("lr", "decay shrinkage")),
    ("optim.", ("decay shrinkage",)),  # schedule, warm-up, min lr, decay mode shape Π(1 − lr_t·λ)
    ("train.num_steps", (DN, "decay shrinkage")),
    ("D", (DN, "decay shrinkage")),
    ("data.tokenizer.", ("tokenizer",)),
)
"""Group column (exact, or a prefix ending in ".") → the factors it is expected to change."""


@dataclass(frozen=True)
class Finding:
    """One line of a comparison check: a kind and the text naming the arms and numbers."""

    kind: FindingKind
    text: str

    @property
    def line(self) -> str:
        """`kind: text`, as printed."""
        return f"{self.kind}: {self.text}"


@dataclass(frozen=True)
class ComparisonCheck:
    """The findings of a comparison check, and the notes on what could not be checked.

    Attributes:
        findings: What makes the comparison unfair or weak; `--strict` fails on any.
        notes: What could not be checked (missing keys), one line; not findings.
    """

    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        """No findings (notes do not count)."""
        return not self.findings

    def extended(self, findings: Sequence[Finding | None]) -> ComparisonCheck:
        """A copy with `findings` (None entries skipped) appended."""
        return ComparisonCheck(self.findings + tuple(f for f in findings if f is not None), self.notes)

    def lines(self) -> list[str]:
        """The printed block: a title line, then each finding and note indented."""
        count = len(self.findings)
        title = ("comparison check: no confounds found" if self.clean
                 else f"comparison check ({count} finding{'s' if count > 1 else ''}):")
        return [title, *(f"  {f.line}" for f in self.findings), *(f"  {n}" for n in self.notes)]

    def to_json(self) -> dict[str, object]:
        """JSON-ready form, for the commands' report files."""
        return {"clean": self.clean, "findings": [{"kind": f.kind, "line": f.line} for f in self.findings],
                "notes": list(self.notes)}

    def write(self, path: Path) -> Path:
        """Write `to_json` to `path` (the `comparison_check.json` of a command's output folder)."""
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False), encoding="utf-8")
        return path


def controlled_factors(group_columns: Sequence[str]) -> frozenset[str]:
    """The factors the group columns are expected to change (`CONTROLS`)."""
    return frozenset(name for column in group_columns for key, names in CONTROLS
                     if column == key or (key.endswith(".") and column.startswith(key)) for name in names)


def value_text(value: object) -> str:
    """A config value as arm labels show it; unset (None, NaN, "None") is `none`."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "none"
    text = str(value)
    return "none" if text.lower() in ("none", "nan", "null") else text


def arm_labels(runs: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """Each run's arm, `col=value, col2=value` over `columns` (as `fit compare` groups runs)."""
    parts = [runs[c].map(lambda v, c=c: f"{c}={value_text(v)}") for c in columns]
    labels: pd.Series = parts[0]
    for part in parts[1:]:
        labels = labels + ", " + part
    return labels


def check_arms(runs: pd.DataFrame, arms: pd.Series, group_columns: Sequence[str],
               reference: str | None = None) -> ComparisonCheck:
    """Confounds and seed counts of the arms of a comparison.

    Args:
        runs: The runs table (`analysis.load.load_runs`, or a points table built from it).
        arms: Each run's arm label, aligned with `runs`; runs labelled NaN are left out.
        group_columns: The columns the comparison names; they set the expected factors.
        reference: The arm the others are compared with (default: the first in order).

    Returns:
        The findings (confounds, seeds) and a note naming the factors not in these runs.
    """
    frame = runs.assign(arm=arms).dropna(subset=["arm"])
    labels = sorted(frame["arm"].astype(str).unique(), key=sort_key)
    if not labels:
        return ComparisonCheck()
    ref = reference if reference is not None and reference in labels else str(labels[0])
    frame = frame.assign(arm=frame["arm"].astype(str), cell=_cell_keys(frame))
    controlled, group = controlled_factors(group_columns), ", ".join(group_columns)
    findings: list[Finding | None] = []
    unchecked: list[str] = []
    for factor in FACTORS:
        values = factor.values(frame)
        if values is None or any(values[frame["arm"] == a].isna().all() for a in labels):
            unchecked.append(f"{factor.name} ({' '.join(factor.columns[:1])})")
            continue
        table = frame.assign(value=values).dropna(subset=["value"])
        if factor.name == GAMMA_EFF.name and factor.name in controlled:
            findings += [_gamma_drift(table, a, labels, group) for a in labels]
        elif factor.name not in controlled:
            findings += [_differ(table, ref, a, factor, group) for a in labels if a != ref]
    ratio = _dn(frame)
    if ratio is None or any(ratio[frame["arm"] == a].isna().all() for a in labels):
        unchecked.append(f"{DN} (N, D)")
    elif DN not in controlled:
        findings += [_dn_range(frame.assign(ratio=ratio), ref, a, group) for a in labels if a != ref]
    seeds = _seed_findings(frame, labels) if SEED_COLUMN in frame else None
    if seeds is None:
        unchecked.append(f"seeds ({SEED_COLUMN})")
    notes = (f"not checked: {', '.join(unchecked)}: not logged by every arm's runs "
             "(stores from before issue 16 lack init/* and optim/decay_shrinkage)",) if unchecked else ()
    return ComparisonCheck(notes=notes).extended([*findings, *(seeds or [])])


def _cell_keys(frame: pd.DataFrame) -> pd.Series:
    """A matched-cell key per run: N and D to 6 significant digits (NaN where not logged)."""
    cols = [pd.to_numeric(frame[c], errors="coerce") if c in frame else pd.Series(np.nan, frame.index)
            for c in CELL_COLUMNS]
    return pd.Series([f"{n:.6g}|{d:.6g}" for n, d in zip(*cols)], index=frame.index)


def _by_cell(table: pd.DataFrame, arm: str, factor: Factor) -> dict[str, list[object]]:
    part = table[table["arm"] == arm]
    return {str(cell): distinct(list(group["value"]), factor) for cell, group in part.groupby("cell")}


def _differ(table: pd.DataFrame, ref: str, arm: str, factor: Factor, group: str) -> Finding | None:
    """`confound: arms R and A (group G) also differ in F: x vs y at N …, D …` or None."""
    ref_cells, arm_cells = _by_cell(table, ref, factor), _by_cell(table, arm, factor)
    shared = [c for c in sorted(ref_cells, key=_cell_order) if c in arm_cells]
    if not shared:
        ref_all = distinct(list(table.loc[table["arm"] == ref, "value"]), factor)
        arm_all = distinct(list(table.loc[table["arm"] == arm, "value"]), factor)
        if same(ref_all, arm_all, factor):
            return None
        where = f"{show(ref_all, factor)} vs {show(arm_all, factor)} over all their runs (no shared (N, D) cell)"
    else:
        diffs = [(c, show(ref_cells[c], factor), show(arm_cells[c], factor)) for c in shared
                 if not same(ref_cells[c], arm_cells[c], factor)]
        if not diffs:
            return None
        where = _where(diffs, len(shared))
    return Finding("confound", f"arms {ref} and {arm} (group {group}) also differ in {factor.name}: {where}")


def _where(diffs: list[tuple[str, str, str]], num_shared: int, limit: int = 3) -> str:
    """`x vs y at N …, D …; …`: differing cells grouped by their values, at most `limit` groups."""
    groups: dict[tuple[str, str], list[str]] = {}
    for cell, a, b in diffs:
        groups.setdefault((a, b), []).append(cell)
    parts = []
    for (a, b), cells in list(groups.items())[:limit]:
        if len(cells) == num_shared > 1:
            parts.append(f"{a} vs {b} at all {num_shared} shared (N, D) cells")
        else:
            parts.append(f"{a} vs {b} at " + "; ".join(cell_text(c) for c in cells[:limit])
                         + (f" and {len(cells) - limit} more cells" if len(cells) > limit else ""))
    more = len(groups) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _cell_order(cell: str) -> tuple[float, float]:
    n, d = (float(x) for x in cell.split("|"))
    return (n if n == n else np.inf, d if d == d else np.inf)


def _gamma_drift(table: pd.DataFrame, arm: str, labels: list[str], group: str) -> Finding | None:
    """An init arm that is not one γ_eff: its γ_eff changes with N (width), e.g. a fixed σ."""
    by_n = _by_n(table, arm)
    sets = list(by_n.values())
    if len(sets) < 2 or all(same(sets[0], s, GAMMA_EFF) for s in sets[1:]):
        return None
    listed = ", ".join(f"{show(v, GAMMA_EFF)} at N {format_count(n)}" for n, v in by_n.items())
    text = (f"arm {arm} (group {group}) is not one γ_eff, it changes with width: {listed} "
            "(a fixed σ is a different γ_eff = −ln σ / ln d_model at each width)")
    clauses = [c for c in (_equal_at(by_n, _by_n(table, other), other) for other in labels if other != arm) if c]
    return Finding("confound", "; ".join([text, *clauses[:3]]))


def _by_n(table: pd.DataFrame, arm: str) -> dict[float, list[object]]:
    part = table[table["arm"] == arm]
    n = pd.to_numeric(part["N"], errors="coerce") if "N" in part else pd.Series(np.nan, part.index)
    return {float(k): distinct(list(g["value"]), GAMMA_EFF) for k, g in part.groupby(n.round(0))}


def _equal_at(arm_by_n: dict[float, list[object]], other_by_n: dict[float, list[object]], other: str) -> str:
    """Where the drifting arm's γ_eff equals one of another arm's: `it equals arm B's … only at N …`."""
    shared = [n for n in arm_by_n if n in other_by_n]
    matched = {n: [y for y in other_by_n[n] if any(GAMMA_EFF.close(x, y) for x in arm_by_n[n])] for n in shared}
    equal = [n for n in shared if matched[n]]
    if not shared or len(equal) == len(shared):
        return ""
    if not equal:
        values = show(distinct([v for n in shared for v in other_by_n[n]], GAMMA_EFF), GAMMA_EFF)
        return f"it equals no γ_eff of arm {other} ({values}) at any shared N"
    listed = ", ".join(f"N {format_count(n)} ({show(matched[n], GAMMA_EFF)})" for n in equal)
    return f"it equals arm {other}'s γ_eff only at {listed}"


def _dn(frame: pd.DataFrame) -> pd.Series | None:
    """D/N per run (NaN where either is not logged), or None without N or D columns."""
    if not {"N", "D"} <= set(frame.columns):
        return None
    ratio: pd.Series = pd.to_numeric(frame["D"], errors="coerce") / pd.to_numeric(frame["N"], errors="coerce")
    return ratio.where(np.isfinite(ratio))


def _dn_range(frame: pd.DataFrame, ref: str, arm: str, group: str) -> Finding | None:
    """An arm that reaches D/N outside the reference arm's range (a different data regime)."""
    ref_dn, arm_dn = (frame.loc[frame["arm"] == a, "ratio"].dropna() for a in (ref, arm))
    (ref_lo, ref_hi), (lo, hi) = (ref_dn.min(), ref_dn.max()), (arm_dn.min(), arm_dn.max())
    if lo >= ref_lo * (1 - DN_RTOL) and hi <= ref_hi * (1 + DN_RTOL):
        return None
    return Finding("confound", f"arms {ref} and {arm} (group {group}) also differ in D/N: "
                               f"{_span(ref_lo, ref_hi)} vs {_span(lo, hi)}; arm {arm} reaches D/N outside "
                               "the reference arm's range")


def _span(lo: float, hi: float) -> str:
    return f"{lo:.3g}" if np.isclose(lo, hi, rtol=DN_RTOL) else f"{lo:.3g}–{hi:.3g}"


def _seed_findings(frame: pd.DataFrame, labels: list[str]) -> list[Finding]:
    """Arms (or cells of an arm) with fewer than 2 seeds; one line when every arm has 1 per cell."""
    counts = {a: frame[frame["arm"] == a].groupby("cell")[SEED_COLUMN].nunique() for a in labels}
    weak = [a for a in labels if counts[a].min() < 2]
    uniform = {a: int(counts[a].iloc[0]) for a in weak if counts[a].nunique() == 1}
    if len(weak) == len(labels) > 1 and len(uniform) == len(weak) and len(set(uniform.values())) == 1:
        k = next(iter(uniform.values()))
        return [Finding("seeds", f"every arm has {k} seed per cell ({_names(labels)}): "
                                 "no seed-to-seed spread to judge an effect against")]
    lines = []
    for a in weak:
        per_cell = counts[a]
        if a in uniform:
            text = f"arm {a} has {uniform[a]} seed per cell ({len(per_cell)} cells): no seed-to-seed spread"
        else:
            few = per_cell[per_cell < 2]
            listed = "; ".join(f"{cell_text(str(c))} ({k})" for c, k in list(few.items())[:3])
            text = (f"arm {a} has fewer than 2 seeds at {len(few)} of {len(per_cell)} cells: {listed}"
                    + (f" and {len(few) - 3} more" if len(few) > 3 else ""))
        lines.append(Finding("seeds", text))
    return lines


def _names(labels: list[str], limit: int = 4) -> str:
    """Arm labels separated by "; ": a label of several axes has commas of its own."""
    return "; ".join(labels[:limit]) + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def points_finding(law: str, num_points: int, num_distinct: int, num_params: int,
                   axis: str = "N") -> Finding | None:
    """A fit with no more distinct points than parameters: it passes through them exactly.

    Args:
        law: What was fitted, e.g. "the reference law L(N) of init.std=0.02".
        num_points: Runs it was fitted on.
        num_distinct: Distinct values of `axis` among them (seeds at one N are one point).
        num_params: Free parameters of the law.
        axis: What the points are distinct in, e.g. "N" or "(N, D)".
    """
    if num_distinct > num_params:
        return None
    return Finding("points", f"{law} ({num_params} parameters) is fitted on {num_points} runs at {num_distinct} "
                             f"distinct {axis}: no more than its parameters, so it fits them exactly and its "
                             f"intervals are too narrow; add runs at more {axis}")


def extrapolation_finding(names: Sequence[str], n: npt.ArrayLike, effective_n: npt.ArrayLike,
                          extrapolated: npt.ArrayLike, reference_range: tuple[float, float],
                          limit: int = 4) -> Finding | None:
    """Density estimates whose N̂ lies outside the reference law's N range, counted and named.

    Args:
        names: A name per estimate (run name, or model name of a catalog).
        n: N of each estimate's run.
        effective_n: N̂ of each estimate.
        extrapolated: The flag of `analysis.laws.density.outside_reference_range`.
        reference_range: Smallest and largest N the reference law was fitted on.
        limit: Estimates named before "and k more".
    """
    flags = np.asarray(extrapolated, dtype=bool)
    if not flags.any():
        return None
    sizes, n_hat = np.asarray(n, dtype=float), np.asarray(effective_n, dtype=float)
    # N̂ is an estimate: 3 digits (format_si); N and the range are counts, shown exactly.
    listed = [f"{names[int(i)]} (N {format_count(sizes[i])}, N̂ {format_si(n_hat[i])})" for i in np.flatnonzero(flags)]
    lo, hi = reference_range
    return Finding("extrapolated", f"{int(flags.sum())} of {flags.size} density estimates have N̂ outside the "
                                   f"reference law's N range {format_count(lo)}–{format_count(hi)}: "
                                   + ", ".join(listed[:limit])
                                   + (f" and {len(listed) - limit} more" if len(listed) > limit else "")
                                   + "; the law is extrapolated there")

