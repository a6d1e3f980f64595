"""Errors for bad analysis input: what a user can fix, as opposed to bugs.

Every error a user can cause by what they ask for (a store that does not exist, an experiment
with no finished runs, too few runs to fit a law, a column that is not there) is an
`AnalysisInputError`. It subclasses `ValueError`, so callers that catch bad input as
`ValueError` (CONTRIBUTING.md, "Errors for bad input") keep working; the CLI catches `AnalysisInputError` and
prints its message as one line with a non-zero exit instead of a traceback.

What the analysis did to its input that a user must know, but that does not stop it (runs
left out as duplicates), is a `DuplicateRunsWarning`; the CLI prints it as one line too.
"""

from __future__ import annotations


class AnalysisInputError(ValueError):
    """The analysis cannot run on this input; the message says what to change."""


class TooFewPointsError(AnalysisInputError):
    """A fit was given fewer points than it has free parameters."""

    def __init__(self, what: str, needed: int, found: int) -> None:
        """Build the message from the counts.

        Args:
            what: The fit, e.g. "the Chinchilla law (5 free parameters)".
            needed: Points required.
            found: Points given.
        """
        super().__init__(f"{what} needs ≥ {needed} runs, found {found}; "
                         f"add at least {needed - found} more.")
        self.needed = needed
        self.found = found


class DuplicateRunsWarning(UserWarning):
    """`analysis.load.load_runs` found several runs of one identity and kept one; the message counts them."""
