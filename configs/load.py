"""The only YAML loader: sweep files → validated, fully expanded `SweepConfig`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from configs.errors import ConfigError, format_validation_error
from configs.grid import resolved_base
from configs.schema import TrialConfig
from configs.sweep import SweepConfig
from configs.yaml_io import read_yaml

SWEEPS_DIR = Path(__file__).parent / "sweeps"


PRESET_PREFIX = "preset:"


def available_presets() -> list[str]:
    """Names of the sweep presets shipped in `configs/sweeps/`."""
    return sorted(p.stem for p in SWEEPS_DIR.glob("*.yaml"))


def resolve_sweep_path(spec: str | Path) -> Path:
    """A sweep file path, or a preset name (``demo`` or ``preset:demo``) → the file to read.

    A path and a preset never shadow each other: anything with a directory part or a
    ``.yaml``/``.yml`` suffix is a path and must exist; a bare name is a preset.

    Raises:
        ConfigError: the path does not exist, or the name is not a preset.
    """
    text = str(spec)
    presets = available_presets()
    if text.startswith(PRESET_PREFIX) or _is_bare_name(text):
        name = text.removeprefix(PRESET_PREFIX)
        if name in presets:
            return SWEEPS_DIR / f"{name}.yaml"
        hint = f"; if you meant a file, write ./{name}" if Path(name).exists() else ""
        raise ConfigError(f"'{name}' is not a sweep preset (presets: {', '.join(presets)}){hint}")
    path = Path(text)
    if path.is_file():
        return path
    hint = f"; to run the preset of that name, write `{path.stem}`" if path.stem in presets else ""
    raise ConfigError(f"sweep file '{text}' does not exist{hint}")


def _is_bare_name(text: str) -> bool:
    return "/" not in text and "\\" not in text and Path(text).suffix not in (".yaml", ".yml")


def load_sweep(spec: str | Path) -> SweepConfig:
    """Parse, validate and expand a sweep YAML; every trial is validated before returning.

    Args:
        spec: a path to a YAML file, or a preset name (see `resolve_sweep_path`).

    Raises:
        ConfigError: the file is missing, is not a mapping, has a duplicated key, or any
            field (of the sweep or of any expanded trial) is invalid. The message names
            each bad field.
    """
    sweep_path = resolve_sweep_path(spec)
    return parse_sweep(read_yaml(sweep_path), source=str(sweep_path))


def parse_sweep(raw: Any, source: str = "<dict>") -> SweepConfig:
    """Validate an already-parsed sweep mapping (see `load_sweep`)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: top level must be a mapping with at least `name:`")
    try:
        sweep = SweepConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{source}: " + format_validation_error(err, model=SweepConfig)) from None
    _check_base_keys(sweep, source)
    try:
        sweep.trials()  # validates every grid point now, before anything launches
    except ConfigError as err:  # grid and cross-field errors name the file too
        raise err if str(err).startswith(source) else ConfigError(f"{source}: {err}") from None
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
