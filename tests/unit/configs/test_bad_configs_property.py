"""Property: every mutation of a valid sweep into an invalid one is caught before launch.

Hypothesis mutates a valid sweep file five ways — an unknown key, a wrong type, an
out-of-range value, a broken cross-field rule, a duplicated key — and each mutant must raise
a `ConfigError` naming the field (or key) it broke. Through the CLI, the same mutants must
exit before Ray is initialized and before the workdir exists.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from configs import ConfigError, TrialConfig, parse_sweep
from configs.yaml_io import parse_yaml

VALID: dict[str, Any] = {
    "name": "prop",
    "base": {
        "model": {"n_layer": 1, "n_head": 1, "d_model": 16, "d_ff": 64},
        "data": {"task": "anchor", "seq_len": 9, "num_train": 100, "num_test": 10},
        "optim": {"lr": 0.003, "warmup_steps": 2},
        "train": {"num_steps": 20, "batch_size": 8, "eval_every": 5, "checkpoint_every": 10},
    },
    "grid": {"init.rate": [0.3, 0.8]},
    "seeds": [0],
}

# (section, field, a value of the wrong type, an out-of-range value)
FIELDS = [
    ("model", "n_layer", "two", 0), ("model", "d_model", [16], -16), ("model", "d_ff", "wide", 0),
    ("optim", "lr", "fast", 0.0), ("optim", "warmup_steps", "some", -1), ("optim", "beta1", "b", 1.5),
    ("data", "seq_len", "long", 1), ("data", "num_test", "many", 0),
    ("train", "num_steps", "lots", 0), ("train", "batch_size", {"n": 8}, 0), ("train", "eval_every", "often", 0),
]
# Cross-field rules, each with the field its message names.
CROSS_FIELD = [
    ({"model": {"n_head": 3}}, "model.d_model"),  # 16 % 3 != 0
    ({"optim": {"warmup_steps": 20}}, "optim.warmup_steps"),  # ≥ num_steps
    ({"train": {"checkpoint_every": 7}}, "train.checkpoint_every"),  # not a multiple of eval_every
    ({"train": {"micro_batch_size": 3}}, "train.batch_size"),  # 8 % 3 != 0
]
KEY_NAMES = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=3, max_size=12)


def _merged(patch: dict[str, dict[str, Any]]) -> dict[str, Any]:
    sweep = copy.deepcopy(VALID)
    for section, values in patch.items():
        sweep["base"][section].update(values)
    return sweep


@st.composite
def mutants(draw: st.DrawFn) -> tuple[str, str]:
    """A broken sweep as YAML text, and the name its error message must contain."""
    kind = draw(st.sampled_from(["unknown", "type", "range", "cross", "duplicate"]))
    section, field, wrong_type, out_of_range = draw(st.sampled_from(FIELDS))
    if kind == "unknown":
        real = TrialConfig.model_fields[section].annotation.model_fields  # type: ignore[union-attr]
        key = draw(KEY_NAMES.filter(lambda k: k not in real))
        sweep = _merged({section: {key: 1}})
        return yaml.safe_dump(sweep), f"base.{section}.{key}"
    if kind in ("type", "range"):
        sweep = _merged({section: {field: wrong_type if kind == "type" else out_of_range}})
        return yaml.safe_dump(sweep), f"{section}.{field}"
    if kind == "cross":
        patch, named = draw(st.sampled_from(CROSS_FIELD))
        return yaml.safe_dump(_merged(patch)), named
    text = yaml.safe_dump(VALID, sort_keys=False)  # then `base.<section>` a second time, first in base
    return text.replace("base:\n", f"base:\n  {section}: {{}}\n", 1), f"key '{section}' is defined twice"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutants())
def test_every_mutant_raises_a_config_error_naming_the_field(mutant: tuple[str, str]) -> None:
    text, named = mutant
    with pytest.raises(ConfigError) as caught:
        parse_sweep(parse_yaml(text, "mutant.yaml"), source="mutant.yaml")
    assert named in str(caught.value), f"{named!r} not named in:\n{caught.value}"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(mutant=mutants())
def test_the_cli_launches_nothing_for_a_mutant(mutant: tuple[str, str], tmp_path: Path) -> None:
    from cluster.cli import app

    sweep_file = tmp_path / "mutant.yaml"  # tmp_path is shared by the examples: only files are rewritten
    sweep_file.write_text(mutant[0])
    workdir = tmp_path / "never-created"
    result = CliRunner().invoke(app, ["run", str(sweep_file), "--workdir", str(workdir)])
    assert result.exit_code == 2 and "config error" in result.output
    assert not workdir.exists()
    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized()
