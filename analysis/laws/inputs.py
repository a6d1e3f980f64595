"""Input checks shared by every fitter: positive finite columns, enough points.

Fitters refuse empty input, non-finite values, non-positive N/D/C/loss and fewer points
than free parameters (CONTRIBUTING.md, "Errors for bad input"); each message gives the counts and the fix.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from analysis.errors import AnalysisInputError, TooFewPointsError

FloatArray = npt.NDArray[np.float64]


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
