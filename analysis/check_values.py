"""Values of the comparison check (`analysis.checks`): factors, tolerant value sets, numbers as printed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Factor:
    """A factor compared between arms: where it is in the runs table and when two values agree.

    Attributes:
        name: As printed ("γ_eff", "λ", …).
        columns: Runs-table columns holding it; a text factor joins the set ones with spaces.
        atol: Absolute tolerance of "equal" (numeric factors).
        rtol: Relative tolerance of "equal" (numeric factors).
        fmt: Format of a value in a line.
        text: Compared as text (e.g. the tokenizer: kind and vocabulary size).
    """

    name: str
    columns: tuple[str, ...]
    atol: float = 0.0
    rtol: float = 1e-6  # config values (λ, lr) are numbers a person typed: equal or not
    fmt: str = ".3g"
    text: bool = False

    def values(self, runs: pd.DataFrame) -> pd.Series | None:
        """The factor per run (NaN where a run lacks it), or None if no column is in `runs`."""
        present = [c for c in self.columns if c in runs]
        if not present:
            return None
        if not self.text:
            return pd.to_numeric(runs[present[0]], errors="coerce")
        parts = runs[present].astype(object).where(runs[present].notna(), None)
        joined = [" ".join(str(v) for v in row if v is not None and str(v).lower() not in ("none", "nan"))
                  for row in parts.itertuples(index=False)]
        return pd.Series([j or np.nan for j in joined], index=runs.index, dtype=object)

    def close(self, a: object, b: object) -> bool:
        """Whether two values are the same setting within the tolerances."""
        if self.text:
            return a == b
        x, y = float(a), float(b)  # type: ignore[arg-type]
        return abs(x - y) <= self.atol + self.rtol * max(abs(x), abs(y))


def distinct(values: Sequence[object], factor: Factor) -> list[object]:
    """The distinct settings among `values`, sorted; numeric values within tolerance merge (median)."""
    if factor.text:
        texts: list[object] = [*sorted(set(map(str, values)))]
        return texts
    clusters: list[list[float]] = []
    for v in sorted(float(x) for x in values):  # type: ignore[arg-type]
        if clusters and factor.close(clusters[-1][0], v):
            clusters[-1].append(v)
        else:
            clusters.append([v])
    return [float(np.median(c)) for c in clusters]


def same(a: Sequence[object], b: Sequence[object], factor: Factor) -> bool:
    """Two sets of settings are the same: each value of one has a match in the other."""
    return (all(any(factor.close(x, y) for y in b) for x in a)
            and all(any(factor.close(x, y) for y in a) for x in b))


def show(values: Sequence[object], factor: Factor) -> str:
    """`0.5`, or `{0.1, 1}` for an arm holding several settings at one cell."""
    texts = [str(v) if factor.text else format(float(v), factor.fmt) for v in values]  # type: ignore[arg-type]
    return texts[0] if len(texts) == 1 else "{" + ", ".join(texts) + "}"


def format_si(x: float) -> str:
    """1.02M, 25.5k, 3.1B: a count to 3 significant digits with an SI suffix."""
    if not np.isfinite(x):
        return "?"
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


def format_count(x: float) -> str:
    """25,472 (exact below 10 million, as N reads in tables), else `format_si`."""
    if not np.isfinite(x):
        return "?"
    return f"{x:,.0f}" if abs(x) < 1e7 else format_si(x)


def cell_text(cell: str) -> str:
    """`N 25,472, D 1.02M` from a matched-cell key `N|D` (D left out where not logged)."""
    n, d = (float(x) for x in cell.split("|"))
    return f"N {format_count(n)}" + (f", D {format_si(d)}" if np.isfinite(d) else "")


def sort_key(label: str) -> tuple[str, ...]:
    """Arm labels in a stable, human order: numbers in each `col=value` part compare as numbers."""
    parts = []
    for part in label.split(", "):
        _, _, value = part.partition("=")
        try:
            parts.append(f"0{float(value):020.9f}")
        except ValueError:
            parts.append(f"1{value}")
    return tuple(parts)
