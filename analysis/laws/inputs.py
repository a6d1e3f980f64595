"""Input checks shared by every fitter: positive finite columns, enough points.

Fitters refuse empty input, non-finite values, non-positive N/D/C/loss and fewer points
than free parameters (CONTRIBUTING.md, "Errors for bad input"); each message gives the counts and the fix.
Points tables read from files may name their columns as other scaling-law data sets do
(`params`, `tokens`, `budget`); `canonical_columns` renames them to N, D, C.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from analysis.errors import AnalysisInputError, TooFewPointsError

FloatArray = npt.NDArray[np.float64]

#: Column names public scaling data sets use (e.g. Open-Athena's isoflops.csv schema:
#: params, tokens, budget, loss) → the names the fitters read.
COLUMN_ALIASES = {"params": "N", "tokens": "D", "budget": "C"}


def canonical_columns(table: pd.DataFrame, where: str) -> pd.DataFrame:
    """Rename the alias columns of `table` (`COLUMN_ALIASES`) to N, D and C.

    Args:
        table: A points table as read from a file.
        where: Name of the table for messages (a path).

    Raises:
        AnalysisInputError: if a column and its alias are both present (which one is meant
            is ambiguous).
    """
    both = [(alias, name) for alias, name in COLUMN_ALIASES.items()
            if alias in table.columns and name in table.columns]
    if both:
        pairs = ", ".join(f"{name!r} and its alias {alias!r}" for alias, name in both)
        raise AnalysisInputError(f"{where}: has both {pairs}; keep one of each pair (drop or rename "
                                 "the other column).")
    return table.rename(columns={a: n for a, n in COLUMN_ALIASES.items() if a in table.columns})


def validate_positive(name: str, values: npt.ArrayLike) -> FloatArray:
    """Return `values` as a 1-D float array, refusing empty, non-finite or non-positive input.

    Raises:
        AnalysisInputError: naming the argument, the offending count/value and the fix.
    """
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise AnalysisInputError(f"`{name}` is empty; pass at least one data point.")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise AnalysisInputError(
            f"`{name}` has {int(bad.sum())} non-finite value(s) (first: {arr[bad][0]!r} at "
            f"index {int(np.flatnonzero(bad)[0])}); drop or repair those rows before fitting."
        )
    nonpos = arr <= 0
    if nonpos.any():
        raise AnalysisInputError(
            f"`{name}` must be > 0 but has {int(nonpos.sum())} non-positive value(s) (first: "
            f"{arr[nonpos][0]!r} at index {int(np.flatnonzero(nonpos)[0])}); scaling laws "
            "are fitted in log space, so drop those rows."
        )
    return arr


def validate_table(
    columns: dict[str, npt.ArrayLike], num_free: int, form: str,
) -> list[FloatArray]:
    """Validate equal-length positive columns of a fit with `num_free` parameters.

    Returns:
        The columns as 1-D float arrays, in the order given.

    Raises:
        AnalysisInputError: on a bad column (see `validate_positive`) or differing lengths.
        TooFewPointsError: fewer points than free parameters; the message gives the counts.
    """
    arrays = [validate_positive(name, vals) for name, vals in columns.items()]
    sizes = {name: arr.size for name, arr in zip(columns, arrays)}
    if len(set(sizes.values())) > 1:
        raise AnalysisInputError(f"lengths differ: {sizes}; pass one value per data point in each.")
    num_points = arrays[0].size
    if num_points < num_free:
        raise TooFewPointsError(f"the {form} law ({num_free} free parameters)", num_free,
                                num_points)
    return arrays
