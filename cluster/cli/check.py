"""The comparison check block that `fit compare`, `fit density` and `phase` print, and `--strict`.

The check itself is `analysis.checks`; this module only prints it and turns findings into an
exit code. Nothing heavy is imported here: the check arrives already computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from analysis.checks import ComparisonCheck

#: Exit code of a command run with --strict whose check has findings: distinct from 1 (bad
#: input, nothing computed) and 2 (usage error), because here everything was computed and written.
STRICT_EXIT_CODE = 3


def print_check(console: Console, check: ComparisonCheck) -> None:
    """Print the block: `comparison check: …` and one indented line per finding and note."""
    for line in check.lines():
        console.print(line, markup=False, highlight=False)  # lines hold `{0.1, 1}` and [..]: not markup


def exit_if_strict(console: Console, check: ComparisonCheck, strict: bool) -> None:
    """Under --strict, end with `STRICT_EXIT_CODE` when the check has findings (notes do not count).

    Call it last: the outputs are written and the analysis run logged before it exits.
    """
    if strict and not check.clean:
        console.print(f"--strict: the comparison check has {len(check.findings)} finding(s); exit code "
                      f"{STRICT_EXIT_CODE}", markup=False, highlight=False)
        raise typer.Exit(STRICT_EXIT_CODE)
