"""Selecting runs from a points table by config values, as the CLI's --group-column and --where do."""

from __future__ import annotations

import pandas as pd

from analysis.errors import AnalysisInputError

MISSING = ("nan", "none", "null")
"""Group values that select the runs where the column is unset (e.g. init.std of γ-initialized runs)."""


def matches(column: pd.Series, value: str) -> pd.Series:
    """Rows whose `column` equals `value` as the user typed it: numerically, as text, or unset."""
    if value.lower() in MISSING:  # MLflow params store an unset field as the string "None"
        return column.isna() | column.astype(str).str.lower().isin(MISSING)
    numeric = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    if pd.notna(numeric) and pd.api.types.is_numeric_dtype(column):
        close: pd.Series = (column - numeric).abs() < 1e-12 * max(abs(numeric), 1.0)
        return close
    return column.astype(str) == value


def rows_where(table: pd.DataFrame, conditions: list[str]) -> pd.DataFrame:
    """The rows of `table` meeting every `COLUMN=VALUE` condition."""
    for condition in conditions:
        column, sep, value = condition.partition("=")
        if not sep or column not in table:
            raise AnalysisInputError(f"--where {condition!r}: write COLUMN=VALUE with a config column, e.g. train.num_steps=250")
        table = table[matches(table[column], value)]
    if table.empty:
        raise AnalysisInputError(f"--where {' '.join(conditions)} leaves no run; check the values with `scalinglab results`")
    return table
