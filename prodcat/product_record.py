"""The canonical product record (`Product`), what every reader yields, and `RecordError`, how a
bad record is reported (source, line/row, field), with `ReadOptions`, the limits readers apply.

These are the types the readers, ExampleGen, serving and the review tool exchange; they live apart
from the validation that builds them (`prodcat.records`, which re-exports them for their old
import path) so that they read on one page.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any, Literal

from prodcat import features as F

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_FIELD_CHARS = 64 * 1024  # the default of `ingest.max_field_chars`
ErrorPolicy = Literal["fail", "collect"]


class RecordError(ValueError):
    """A product record that cannot be used, with where it came from.

    `record_id` is the record's id when it could be read (it helps find the record in big files).
    """

    def __init__(
        self, source: str, line: int | None, field: str | None, message: str, *, record_id: str | None = None
    ) -> None:
        self.source, self.line, self.field, self.reason = source, line, field, message
        self.record_id = record_id
        where = source + (f":{line}" if line is not None else "")
        what = f" field '{field}'" if field else ""
        super().__init__(f"{where}:{what} {message}".replace(":: ", ": "))

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "line": self.line, "field": self.field, "error": self.reason}


@dataclasses.dataclass(frozen=True)
class ReadOptions:
    """Limits and the image policy the readers apply to every record.

    The defaults keep the readers' long-standing behaviour for every caller (no text limit, an
    unusable image rejects its record); ExampleGen passes the run's `ingest` settings
    (`IngestConfig.read_options`). `max_field_chars` bounds each text value (each list item
    too) so a 1 MB title is reported rather than fed to the model; `keep_bad_images` keeps a
    product whose image cannot be used, without the image, and says why in `Product.image_error`.
    """

    max_field_chars: int | None = None
    max_image_bytes: int = MAX_IMAGE_BYTES
    keep_bad_images: bool = False


DEFAULT_READ_OPTIONS = ReadOptions()


@dataclasses.dataclass
class Product:
    """One product as prodcat sees it, whatever the source format.

    `category` is a taxonomy id or a full path ("A > B > C"); it is absent for inference.
    `image` holds encoded image bytes; `image_uri` records where they came from (or a URL
    that was not fetched). `image_error` says why an image was dropped (only set when the
    reader was asked to keep products with unusable images).
    """

    id: str
    title: str
    description: str = ""
    vendor: str = ""
    product_type: str = ""
    tags: list[str] = dataclasses.field(default_factory=list)
    collections: list[str] = dataclasses.field(default_factory=list)
    shop: str = ""
    image: bytes | None = None
    image_uri: str = ""
    language: str = ""
    category: str | None = None
    image_error: str = dataclasses.field(default="", compare=False)

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-safe dict (image bytes as a data URI) in the canonical JSONL layout."""
        out: dict[str, Any] = {
            F.ID: self.id,
            F.TITLE: self.title,
            F.DESCRIPTION: self.description,
            F.VENDOR: self.vendor,
            F.PRODUCT_TYPE: self.product_type,
            F.TAGS: self.tags,
            F.COLLECTIONS: self.collections,
            F.SHOP: self.shop,
            F.LANGUAGE: self.language,
            F.CATEGORY: self.category,
        }
        if self.image is not None:
            out[F.IMAGE] = "data:application/octet-stream;base64," + base64.b64encode(self.image).decode()
        elif self.image_uri:
            out[F.IMAGE] = self.image_uri
        return out
