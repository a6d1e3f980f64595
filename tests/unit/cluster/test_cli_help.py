"""--help reads cleanly: no `<bool>` beside flags, one-sentence summaries (issue 18, item 7)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cluster.cli import app

runner = CliRunner()
COMMANDS = (["validate"], ["run"], ["resume"], ["results"], ["phase"], ["distortion"], ["fit", "scaling"],
            ["fit", "compare"], ["jobs"])


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_shows_no_type_beside_flags(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "<path>" in result.output or "<str>" in result.output  # options that take a value keep theirs


def test_command_list_summaries_end_their_sentence() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    summaries = {line.split()[1]: line for line in result.output.splitlines() if line.startswith("│ ") and
                 len(line.split()) > 2}
    assert "Continue a sweep whose driver died." in summaries["resume"]
    assert "without starting anything." in summaries["validate"]


def test_a_refused_tracking_uri_is_reported_at_once() -> None:
    result = runner.invoke(app, ["results", "-e", "x", "--tracking-uri", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "http://127.0.0.1:9 refused the connection" in result.output
