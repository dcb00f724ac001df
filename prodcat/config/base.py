"""The base of every config section (unknown keys are errors, values are frozen), the
validation context a config file is read with, and how validation errors read."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

# Validation context key `load_config` sets for a config file: sections then reject every removed
# setting whatever its value (a config dumped with an exported model may still hold them).
FROM_FILE = "from_config_file"


class Section(BaseModel):
    """A config section: a typo in a key must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def validation_problems(err: ValidationError) -> str:
    """Every problem of a config on one line, each named by its setting: a user fixing a config
    should see all its mistakes at once, not one per run."""
    return "; ".join(f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in err.errors())
