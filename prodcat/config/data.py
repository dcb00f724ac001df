"""Where products come from: the generated demo, reviewers' decisions, the train/eval split, bad input."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from prodcat.config.base import Section

if TYPE_CHECKING:
    from prodcat.records import ReadOptions
    from prodcat.synth import SynthConfig


class DemoConfig(Section):
    """The generated dataset used when no `data` is configured."""

    n_products: int = Field(3000, ge=10, description="how many products to generate")
    n_categories: int = Field(40, ge=2, description="how many categories of the taxonomy the products are labelled with")
    n_shops: int = Field(12, ge=1, description="how many shops sell them (each a few level-1 subtrees)")
    images: bool = Field(False, description="attach a generated image whose shape and hue depend on the category")
    seed: int = Field(0, description="the same seed generates the same products")
    # Realism, so the demo model is good but not perfect and the report has something to show: a
    # real precision-coverage curve, slices that differ, gates that could fail (prodcat.synth).
    sibling_overlap: float = Field(
        0.3, ge=0.0, le=1.0, description="share of products written with a sibling category's words too "
        "(categories are then drawn in sibling pairs)")
    short_titles: float = Field(
        0.4, ge=0.0, le=1.0, description="share of terse products: brand, at most one category word, a code; "
        "no product type, tags or collections")
    one_off_sellers: float = Field(
        0.2, ge=0.0, le=1.0, description="share of products from a shop with that one product (in eval, a shop "
        "training never saw)")
    label_noise: float = Field(
        0.05, ge=0.0, le=1.0, description="share of products labelled with a wrong category, marked nowhere")

    def synth_config(self) -> SynthConfig:
        """The generator's settings for these demo products."""
        from prodcat.synth import SynthConfig

        return SynthConfig(**self.model_dump())


class SplitConfig(Section):
    """How ExampleGen splits products into train and eval.

    `shop` keeps whole shops out of training, so evaluation never sees a training shop (the
    realistic case for a platform onboarding new merchants) and early stopping, the margin head's
    weight, the thresholds and the gates are chosen for new merchants: shops in a hash order, cut
    where their products reach `eval_fraction`; a product without a shop is hashed on its id.
    `auto` (the default) splits by shop when the products name at least `min_shops` shops, by
    product id otherwise. `hash` is TFX's hash of the whole record; `files` takes the splits as
    given: files matching `train_pattern` and `eval_pattern` inside the data directory (e.g. a
    dataset's official train/validation files).
    """

    method: Literal["auto", "shop", "hash", "files"] = Field(
        "auto", description="auto: shop if the data names min_shops shops, else by product id; shop: by shop "
        "name (no eval shop in training); hash: by product; files: as given")
    min_shops: int = Field(20, ge=1, description="auto: how many shops the data must name to be split by shop")
    eval_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="share of products kept for eval (whole shops with shop)")
    buckets: int = Field(20, ge=2, description="hash buckets the split is made of (the eval share is rounded to them)")
    train_pattern: str = Field("train*", description="files: the training files' name pattern in the data directory")
    eval_pattern: str = Field("eval*", description="files: the eval files' name pattern in the data directory")


class IngestConfig(Section):
    """What ExampleGen does with input it cannot use.

    `on_bad_record`: `fail` stops the run naming the first bad record (file, line, field);
    `quarantine` keeps every good record and lists each bad one in the Examples artifact's
    `Rejects/` file. `on_bad_image` decides whether an unusable image (unreadable, undecodable,
    truncated, larger than `max_image_bytes` or than the pixel limit) makes its record bad
    (`reject`) or only loses the image (`drop_image`: the product's text is still good; it is
    kept and listed in `DroppedImages/`). Limits bound what one record may carry, so a 1 MB
    title is reported instead of reaching the model.
    """

    on_bad_record: Literal["fail", "quarantine"] = Field(
        "fail", description="fail: stop at the first bad record; quarantine: keep the good ones, list the bad")
    on_bad_image: Literal["drop_image", "reject"] = Field(
        "drop_image", description="drop_image: keep the product without its unusable image; reject: a bad record")
    max_field_chars: int = Field(64 * 1024, ge=1, description="longest text value (each list item too), in characters")
    max_image_bytes: int = Field(20 * 1024 * 1024, ge=1, description="largest encoded image, in bytes")

    def read_options(self) -> ReadOptions:
        """The readers' options for these settings (the preflight check and ExampleGen share them)."""
        from prodcat.records import ReadOptions

        return ReadOptions(max_field_chars=self.max_field_chars, max_image_bytes=self.max_image_bytes,
                           keep_bad_images=self.on_bad_image == "drop_image")



# Written beside products relabelled by reviewers (prodcat.review.corrections): which review logs,
# with their SHA-256; ExampleGen records it on the Examples artifact as a custom property.
REVIEW_PROVENANCE_FILE = "review-provenance.txt"
REVIEW_LOGS_PROPERTY = "review_logs"
SPLIT_PROPERTY = "split"  # the Examples artifact's record of how train and eval were split


class ReviewConfig(Section):
    """Decisions of human reviewers (`prodcat review`) the run learns from and reports.

    Each decision with a category becomes a labelled product: it overrides a conflicting label of
    the same product id (one not at or below the reviewer's category), and adds the product when
    the data lacks it (the review log keeps the whole
    record). Which logs, with their content hashes, is recorded on the Examples artifact in ML
    Metadata. The logs' audits (`prodcat review stats`) are shown in the run report, and
    `evaluation.audit_gate` can gate on them.
    """

    logs: tuple[str, ...] = Field((), description="review logs (SQLite, from `prodcat review --log`) whose "
                                  "decisions are labelled products of the run; later logs win for the same product")
