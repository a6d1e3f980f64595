"""The only YAML loader: sweep files → validated, fully expanded `SweepConfig`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from configs.errors import ConfigError, format_validation_error
from configs.grid import resolved_base
from configs.schema import TrialConfig
from configs.sweep import SweepConfig

SWEEPS_DIR = Path(__file__).parent / "sweeps"


def resolve_sweep_path(path: str | Path) -> Path:
    """A file path, or the name of a preset in `configs/sweeps/` (e.g. ``demo``)."""
    candidate = Path(path)
    if candidate.exists():
        return candidate
    preset = SWEEPS_DIR / f"{candidate.stem}.yaml"
    if candidate.suffix in ("", ".yaml") and preset.exists():
        return preset
    presets = ", ".join(sorted(p.stem for p in SWEEPS_DIR.glob("*.yaml")))
    raise ConfigError(f"sweep file '{path}' does not exist and is not a preset ({presets})")


def load_sweep(path: str | Path) -> SweepConfig:
    """Parse, validate and expand a sweep YAML; every trial is validated before returning.

    Raises:
        ConfigError: the file is missing, is not a mapping, or any field (of the sweep or
            of any expanded trial) is invalid. The message names each bad field.
    """
    sweep_path = resolve_sweep_path(path)
    try:
        raw = yaml.safe_load(sweep_path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{sweep_path}: not valid YAML: {err}") from None
    return parse_sweep(raw, source=str(sweep_path))


def parse_sweep(raw: Any, source: str = "<dict>") -> SweepConfig:
    """Validate an already-parsed sweep mapping (see `load_sweep`)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: top level must be a mapping with at least `name:`")
    try:
        sweep = SweepConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{source}: " + format_validation_error(err, model=SweepConfig)) from None
    _check_base_keys(sweep, source)
    sweep.trials()  # validates every grid point now, before anything launches
    return sweep


def _check_base_keys(sweep: SweepConfig, source: str) -> None:
    """Validate `base` on its own so its errors read `base.<field>` with a spelling hint."""
    base = dict(resolved_base(sweep.base), sweep=sweep.name)
    try:
        TrialConfig.model_validate(base)
    except ValidationError as err:
        only_cross_field = all(e["type"] == "value_error" for e in err.errors())
        if only_cross_field and sweep.grid:
            return  # e.g. warmup ≥ steps in base may be fixed by every grid point
        raise ConfigError(
            f"{source}: " + format_validation_error(err, prefix="base", model=TrialConfig)
        ) from None
