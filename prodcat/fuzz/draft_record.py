"""A record between its content and its bytes: the fields (or the exact broken line) and what it tests.

The content module fills it in, the rendering module turns it into lines, and the corpus writer
notes the line it starts on for the manifest.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from prodcat.fuzz.kinds import Kind

# Placeholders in a field's text that rendering replaces with bytes no str can carry as-is.
BAD_BYTES_MARK = "QQINVALIDUTF8QQ"
NUL_MARK = "QQNULQQ"


@dataclasses.dataclass
class DraftRecord:
    kind: Kind
    fields: dict[str, Any]
    id: str | None
    field: str | None
    raw: bytes | None = None  # the exact line, for records that are not valid JSON/CSV
    bad_bytes: bytes = b""  # replaces BAD_BYTES_MARK in the rendered record
    ascii_json: bool = False
    line: int = 0
