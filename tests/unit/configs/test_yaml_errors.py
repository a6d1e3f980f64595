"""A YAML syntax error is one line with file:line:col and the fix; grid errors name the file (issue 18, item 7)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from configs import ConfigError, load_sweep


@pytest.mark.parametrize("text, match", [
    ("name: x\nbase:\n  model: {d_model: 64\n  train: 3\n",
     r"bad\.yaml:4:8: not valid YAML: expected ',' or '}', but got ':' \(while parsing a flow mapping opened at line 3\); "
     r"check the indentation"),
    ("name: x\n  base: 3\n", r"bad\.yaml:2:7: not valid YAML: mapping values are not allowed here; check the indentation"),
    ("name: x\nbase: {model: {d_model: 64}\n", r"bad\.yaml:3:1: .*opened at line 2"),
])
def test_yaml_syntax_error_is_one_line_with_position_and_fix(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as caught:
        load_sweep(path)
    assert "\n" not in str(caught.value)


def test_a_grid_point_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text("name: g\nbase:\n  train: {num_steps: 10}\ngrid:\n  optim.lr: [0.001, 0.002]\n")
    with pytest.raises(ConfigError, match=rf"(?s)^{re.escape(str(path))}: invalid config \(grid point .*warmup_steps"):
        load_sweep(path)
