"""The README's config reference, generated from the schemas' field descriptions.

`python -m configs.reference` prints it; a unit test checks the README holds the current text.
"""

from __future__ import annotations

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from configs.data import DataConfig, DomainConfig, TokenizerConfig
from configs.eval import EvalConfig
from configs.recipe import RecipeConfig
from configs.schema import (
    InitConfig,
    ModelConfig,
    OptimConfig,
)
from configs.train import TrainConfig
from configs.sweep import ResourcesConfig, SweepConfig, TrackingConfig

SECTIONS: tuple[tuple[str, type[BaseModel]], ...] = (
    ("sweep (top level)", SweepConfig),
    ("model", ModelConfig),
    ("init", InitConfig),
    ("optim", OptimConfig),
    ("data", DataConfig),
    ("data.tokenizer (task: text)", TokenizerConfig),
    ("data.domains[] (task: text)", DomainConfig),
    ("train", TrainConfig),
    ("eval (probes)", EvalConfig),
    ("resources", ResourcesConfig),
    ("tracking", TrackingConfig),
    ("recipe (optional)", RecipeConfig),
)
NESTED = {"resources", "tracking", "recipe"}  # SweepConfig fields documented in their own table


def _default(field: FieldInfo) -> str:
    if field.default is not PydanticUndefined:
        return "`null`" if field.default is None else f"`{field.default}`"
    if field.default_factory is None:
        return "required"
    value = field.default_factory()  # type: ignore[call-arg]
    return "see its table" if isinstance(value, BaseModel) else f"`{value}`"


def render_config_reference() -> str:
    """Markdown tables, one per config section: key, default, description."""
    parts = []
    for title, model in SECTIONS:
        rows = ["| key | default | description |", "|---|---|---|"]
        for name, field in model.model_fields.items():
            if model is SweepConfig and name in NESTED:
                continue
            rows.append(f"| `{name}` | {_default(field)} | {field.description or ''} |")
        parts.append(f"**{title}**\n\n" + "\n".join(rows))
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render_config_reference(), end="")
