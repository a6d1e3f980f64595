"""scalinglab's config language: schemas, the YAML loader, metric names, presets.

Imports neither torch nor ray (a unit test enforces it).
"""

from configs.errors import ConfigError
from configs.load import load_sweep, parse_sweep
from configs.data import DataConfig
from configs.schema import (
    InitConfig,
    ModelConfig,
    OptimConfig,
    TrialConfig,
)
from configs.train import TrainConfig
from configs.sweep import SweepConfig

__all__ = [
    "ConfigError",
    "DataConfig",
    "InitConfig",
    "ModelConfig",
    "OptimConfig",
    "SweepConfig",
    "TrainConfig",
    "TrialConfig",
    "load_sweep",
    "parse_sweep",
]
