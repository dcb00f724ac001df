"""Every feature name prodcat uses, in one place.

Raw names are the canonical product record's fields (and the tf.Example keys ExampleGen writes);
transformed names are what Transform hands the Trainer. Nothing else spells these strings.
"""

from __future__ import annotations

ID = "id"
TITLE = "title"
DESCRIPTION = "description"
VENDOR = "vendor"
PRODUCT_TYPE = "product_type"
TAGS = "tags"
COLLECTIONS = "collections"
SHOP = "shop"
IMAGE = "image"
LANGUAGE = "language"
CATEGORY = "category"

TEXT_FIELDS = (TITLE, DESCRIPTION, VENDOR, PRODUCT_TYPE, SHOP, LANGUAGE)
LIST_FIELDS = (TAGS, COLLECTIONS)
RAW_STRING_FEATURES = (ID, *TEXT_FIELDS, *LIST_FIELDS, CATEGORY)

# Transformed features (outputs of preprocessing_fn).
TOKENS = "tokens_xf"
TEXT_EMBEDDING = "text_embedding_xf"
NAME_QUERY_EMBEDDING = "name_query_embedding_xf"  # the short text the decoder matches against category names
IMAGE_EMBEDDING = "image_embedding_xf"
IMAGE_PIXELS = "image_pixels_xf"
HAS_IMAGE = "has_image_xf"
MERCHANT = "merchant_xf"
# Slicing features for evaluation (not model inputs): the true level-1 category and the sensitive
# subtree the true category lies in ("" when none).
SLICE_LEVEL1 = "slice_level1_xf"
SLICE_SENSITIVE = "slice_sensitive_xf"


def level_label(level: int) -> str:
    """Transformed label: the class index of the product's ancestor at `level` (-1 if deeper)."""
    return f"label_l{level}_xf"


def level_output(level: int) -> str:
    """Model output: the probability distribution over `level`'s classes."""
    return f"level_{level}_probs"


# Serving outputs (the decoded, thresholded prediction).
OUT_CATEGORY_ID = "category_id"
OUT_CATEGORY_PATH = "category_path"
OUT_DEPTH = "depth"
OUT_FULL_DEPTH = "full_depth"
OUT_LEVEL_IDS = "level_ids"
OUT_LEVEL_NAMES = "level_names"
OUT_LEVEL_CONFIDENCES = "level_confidences"
