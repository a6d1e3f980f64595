"""The named model-size ladder (`gpt_debug`, `gpt_tiny`, …), one YAML file per flavor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from configs.errors import ConfigError
from configs.yaml_io import read_yaml

MODELS_DIR = Path(__file__).parent


def available_models() -> list[str]:
    """Names of the model presets shipped in this folder."""
    return sorted(p.stem for p in MODELS_DIR.glob("*.yaml"))


def resolve_model(value: Any) -> Any:
    """A preset name → its dict of ModelConfig fields; anything else passes through."""
    if not isinstance(value, str):
        return value
    path = MODELS_DIR / f"{value}.yaml"
    if not path.exists():
        raise ConfigError(
            f"model preset '{value}' does not exist; available: {', '.join(available_models())}"
        )
    loaded: dict[str, Any] = read_yaml(path)
    return loaded
