"""The base of every config section (unknown keys are errors, values are frozen) and the
validation context a config file is read with."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# Validation context key `load_config` sets for a config file: sections then reject every removed
# setting whatever its value (a config dumped with an exported model may still hold them).
FROM_FILE = "from_config_file"


class Section(BaseModel):
    """A config section: a typo in a key must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)
