"""How C relates to N and D: the FLOPs conventions and the relation C = k N D.

C is the compute the runs logged (`size/compute_flops`, defined once by
`configs.metrics.compute_flops`: 6 per weight including the output head, plus the
attention term; Porian et al. 2024 show the head's FLOPs matter) unless the papers'
convention is asked for by name: "6nd" replaces it by `configs.metrics.flops_6nd(N, D)`
for every point (Kaplan et al. 2020 section 2.1). There is no silent fallback from one to
the other: a table without C under the scalinglab convention is an error that says to
pass the 6ND convention explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from analysis.errors import AnalysisInputError
from configs import metrics as M

REQUIRED_COLUMNS = ("N", "D", "loss")
FlopsConvention = Literal["scalinglab", "6nd"]


@dataclass(frozen=True)
class FlopsRelation:
    """The relation C = k N D that compute-optimal allocation assumes.

    Under "6nd" (Kaplan et al. 2020 section 2.1, Hoffmann et al. 2022) k is 6 by
    definition and every run's C is 6 N D. Under "scalinglab" C is what the runs logged
    (`configs.metrics.compute_flops`: 6 per weight including the output head, plus the
    attention term), which is not proportional to N D across model sizes; k is then the
    median of C / (N D) over the runs, and k_min / k_max show how far single runs are
    from it.

    Attributes:
        convention: "scalinglab" or "6nd".
        flops_per_param_token: k.
        k_min: Smallest C / (N D) among the runs.
        k_max: Largest C / (N D) among the runs.
    """

    convention: FlopsConvention
    flops_per_param_token: float
    k_min: float
    k_max: float


def flops_relation(table: pd.DataFrame, convention: FlopsConvention) -> FlopsRelation:
    """The experiment's C = k N D relation from its runs' N, D and C (see `FlopsRelation`).

    Raises:
        AnalysisInputError: if a column is missing.
    """
    missing = {"N", "D", "C"} - set(table.columns)
    if missing:
        raise AnalysisInputError(f"the FLOPs relation needs columns {sorted(missing)} "
                                 f"(have {list(table.columns)}).")
    ratio = (table["C"] / (table["N"] * table["D"])).to_numpy(dtype=np.float64)
    return FlopsRelation(convention, float(np.median(ratio)), float(ratio.min()),
                         float(ratio.max()))


def with_compute(table: pd.DataFrame, convention: FlopsConvention, where: str) -> pd.DataFrame:
    """Validate N, D, loss (and C) as finite positive numbers; set C by the convention.

    Args:
        table: Columns N, D, loss and, under "scalinglab", C.
        convention: "scalinglab" keeps C as given; "6nd" sets C = 6 N D.
        where: Name of the table for messages (a path, an experiment).

    Returns:
        A copy with float columns N, D, loss, C.

    Raises:
        AnalysisInputError: on a bad value, or on a missing C under "scalinglab".
    """
    if convention not in ("scalinglab", "6nd"):
        raise AnalysisInputError(f"FLOPs convention {convention!r} must be one of "
                                 f"{M.FLOPS_CONVENTIONS}.")
    if convention == "scalinglab" and ("C" not in table.columns or table["C"].isna().all()):
        raise AnalysisInputError(
            f"{where}: no C (training FLOPs) column; add one, or pass --flops-convention 6nd "
            "to use C = 6·N·D (the papers' convention).")
    cols = [*REQUIRED_COLUMNS, *(["C"] if convention == "scalinglab" else [])]
    for col in cols:
        values = pd.to_numeric(table[col], errors="coerce").astype(np.float64)
        bad = ~(np.isfinite(values.to_numpy()) & (values.to_numpy() > 0))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise AnalysisInputError(
                f"{where}: column {col!r} has {int(bad.sum())} value(s) that are not finite "
                f"positive numbers (first at row {row}: {table[col].iloc[row]!r}); fix or "
                "drop those rows.")
        table = table.assign(**{col: values})
    if convention == "6nd":
        table = table.assign(C=[M.flops_6nd(n, d) for n, d in zip(table["N"], table["D"])])
    return table
