"""One factor at a time: the effect of changing one config value, with the others held equal.

`factor_effects` answers "what does γ 0.5 → 1 do to the loss at λ 0.1?" the way a referee
asks it: runs are paired on everything but the factor — the held columns (e.g.
`optim.weight_decay`), the size N, the data D and the seed — so each pair differs in the
factor alone, and the effect is the mean paired difference (to − from) over seeds with its
seed-to-seed standard deviation, per size and over all sizes. Pairing by seed removes the
share of the noise the two arms have in common (the same data order and, within a width,
the same init draws up to scale).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.errors import AnalysisInputError

#: Columns that identify a matched cell besides the held factors.
CELL = ("N", "D")
UNSET = ("None", "nan", "")


def level_key(column: pd.Series) -> pd.Series:
    """A column's values as comparable text (unset values as "unset"), so NaN pairs with NaN."""
    text = column.astype(str)
    return text.where(~text.isin(UNSET), "unset")


def _check_columns(runs: pd.DataFrame, factor: str, held: list[str], metrics: list[str]) -> None:
    missing = [c for c in [factor, *held, *metrics, "seed", *CELL] if c not in runs]
    if missing:
        raise AnalysisInputError(f"the runs have no column {', '.join(missing)}; check --factor/--held/--metric "
                                 f"(config columns are dotted paths such as init.rate, metrics keys such as val/loss)")


def paired_differences(runs: pd.DataFrame, factor: str, held: list[str], metrics: list[str],
                       levels: tuple[str, str]) -> pd.DataFrame:
    """One row per matched (held values, N, D, seed): metric at `levels[1]` minus at `levels[0]`."""
    _check_columns(runs, factor, held, metrics)
    table = runs.assign(**{c: level_key(runs[c]) for c in [factor, *held]})
    keys = [*held, *CELL, "seed"]
    low = table[table[factor] == levels[0]].set_index(keys)[metrics]
    high = table[table[factor] == levels[1]].set_index(keys)[metrics]
    for side, name in ((low, levels[0]), (high, levels[1])):
        if side.index.duplicated().any():
            raise AnalysisInputError(f"{factor}={name} has several runs per ({', '.join(keys)}): another column "
                                     "varies too; add it to --held or select with --where")
    diff = (high - low).dropna(how="all")
    if diff.empty:
        raise AnalysisInputError(f"no run at {factor}={levels[1]} has a partner at {factor}={levels[0]} with the same "
                                 f"{', '.join(keys)}; the arms share no cell")
    return diff.reset_index()


def factor_effects(runs: pd.DataFrame, factor: str, held: list[str], metrics: list[str],
                   levels: tuple[str, str] | None = None) -> pd.DataFrame:
    """Mean ± seed sd of the paired effect of `factor` (from → to), per held value and size, and over sizes.

    Columns: the held columns, `N` ("all" for the mean over sizes), `metric`, `from`, `to`,
    `effect` (mean of to − from), `sd` (seed-to-seed standard deviation of the per-seed
    effect, over sizes averaged per seed for "all"), `num_seeds`, `num_pairs`.

    Raises:
        AnalysisInputError: missing columns, not exactly two levels when `levels` is None,
            duplicated cells, or arms without a common cell.
    """
    _check_columns(runs, factor, held, metrics)
    if levels is None:
        found = sorted(level_key(runs[factor]).unique())
        if len(found) != 2:
            raise AnalysisInputError(f"--factor {factor} takes {len(found)} values here ({', '.join(found)}); "
                                     "name the two to compare with --levels FROM,TO or select runs with --where")
        levels = (found[0], found[1])
    diff = paired_differences(runs, factor, held, metrics, levels)
    long = diff.melt(id_vars=[*held, *CELL, "seed"], value_vars=metrics, var_name="metric", value_name="diff").dropna()
    per_size = _summarise(long, [*held, "N", "metric"])
    over_sizes = long.groupby([*held, "metric", "seed"], as_index=False)["diff"].mean()
    overall = _summarise(over_sizes.assign(N="all"), [*held, "N", "metric"])
    out = pd.concat([per_size, overall], ignore_index=True)
    out.insert(len(held) + 2, "from", levels[0])
    out.insert(len(held) + 3, "to", levels[1])
    return out


def _summarise(long: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    grouped = long.groupby(by, sort=False)["diff"]
    summary = grouped.agg(effect="mean", sd=lambda d: float(np.std(d, ddof=1)) if len(d) > 1 else np.nan,
                          num_pairs="size")
    summary["num_seeds"] = long.groupby(by, sort=False)["seed"].nunique()
    return summary.reset_index()
