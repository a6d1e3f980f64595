"""The base class of every config schema."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FrozenModel(BaseModel):
    """Base of every config schema: immutable, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")
