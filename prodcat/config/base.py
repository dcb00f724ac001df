"""The base of every config section: unknown keys are errors, values are frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section: a typo in a key must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)
