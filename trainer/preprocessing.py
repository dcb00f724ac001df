"""Transform's `preprocessing_fn`: raw product fields in, model features and per-level labels out.

Everything here becomes part of the Transform graph, which the exported serving model embeds:
what the model sees at training time is, op for op, what it sees in TF Serving.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from prodcat import features as F
from prodcat.taxonomy import Taxonomy
from prodcat.trainer import text
from prodcat.module_config import ModuleConfig
from prodcat.sensitive import sensitive_membership


class LabelTables(tf.Module):
    """Lookup tables from a category id to its per-level class index and its slicing keys.

    Built once per taxonomy and tracked by TFT (`tft.make_and_track_object`), so the tables are
    initialised when the graph is loaded, not on every call of the serving function.
    """

    def __init__(self, taxonomy: Taxonomy, sensitive_paths: tuple[str, ...]) -> None:
        super().__init__(name="label_tables")
        ids = [c.id for c in taxonomy.categories]
        self.levels = []
        for level in range(1, taxonomy.depth + 1):
            # Categories shallower than the level map to -1, which the loss masks: a product
            # labelled "Apparel & Accessories > Clothing" teaches levels 1-2 and nothing deeper.
            values = []
            for cid in ids:
                chain = taxonomy.ancestors(cid)
                values.append(taxonomy.level_index(level, chain[level - 1]) if len(chain) >= level else -1)
            self.levels.append(_table(ids, tf.constant(values, tf.int64), -1))
        self.level1_names = _table(ids, tf.constant([taxonomy[taxonomy.ancestors(c)[0]].name for c in ids]), "")
        membership = sensitive_membership(taxonomy, sensitive_paths)
        self.sensitive = _table(ids, tf.constant([membership.get(c, "") for c in ids]), "")


def _table(keys: list[str], values: tf.Tensor, default: object) -> tf.lookup.StaticHashTable:
    initializer = tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.string), values)
    return tf.lookup.StaticHashTable(initializer, default_value=default)


_TABLES: dict[tuple[str, tuple[str, ...]], LabelTables] = {}


def label_tables(taxonomy: Taxonomy, sensitive_paths: tuple[str, ...]) -> LabelTables:
    """The tables for `preprocessing_fn`: one object per taxonomy, reused across TFT's traces."""
    import tensorflow_transform as tft

    key = (taxonomy.fingerprint(), tuple(sensitive_paths))

    def build() -> LabelTables:
        if key not in _TABLES:
            _TABLES[key] = LabelTables(taxonomy, tuple(sensitive_paths))
        return _TABLES[key]

    return tft.make_and_track_object(build, name="label_tables")


def preprocessing_fn(inputs: dict[str, Any], custom_config: dict[str, Any]) -> dict[str, Any]:
    """tf.Transform preprocessing: hashed text tokens, the pretrained sentence embedding, and one
    label index per taxonomy level."""
    module_config = ModuleConfig.from_custom_config(custom_config)
    cfg, taxonomy = module_config.config, module_config.taxonomy()

    outputs: dict[str, Any] = {}
    product_text = text.product_text(inputs, cfg.text.fields)
    outputs[F.TOKENS] = text.hashed_tokens(
        product_text, cfg.text.word_buckets, cfg.text.char_ngrams, cfg.text.max_tokens
    )
    if cfg.model.merchant_feature:
        outputs[F.MERCHANT] = text.merchant_ids(text.dense_strings(inputs[F.SHOP], join=False), cfg.text.merchant_buckets)
    if cfg.text.encoder.kind != "none":
        from prodcat.trainer.encoders.text import transform_encoder

        encoder = transform_encoder(cfg.text.encoder)
        texts = text.product_text(inputs, cfg.text.embedding_fields)
        if cfg.text.name_fields:  # one encoder call for both texts: they share most of their pieces
            short = text.present_fields_text(inputs, cfg.text.name_fields)
            both = encoder(tf.concat([texts, short], axis=0))
            outputs[F.TEXT_EMBEDDING], outputs[F.NAME_QUERY_EMBEDDING] = tf.split(both, 2, axis=0)
        else:
            outputs[F.TEXT_EMBEDDING] = encoder(texts)
    if cfg.image.mode == "on":
        from prodcat.trainer.encoders import image

        size = cfg.image.pretrained_size if cfg.image.weights else cfg.image.size
        pixels, outputs[F.HAS_IMAGE] = image.decode_images(text.dense_strings(inputs[F.IMAGE], join=False), size)
        if cfg.image.weights:
            outputs[F.IMAGE_EMBEDDING] = image.transform_image_encoder(cfg.image)(pixels, training=False)
        else:
            outputs[F.IMAGE_PIXELS] = pixels
    category = text.dense_strings(inputs[F.CATEGORY], join=False)
    tables = label_tables(taxonomy, tuple(cfg.thresholds.sensitive.paths))
    for level, table in enumerate(tables.levels, start=1):
        outputs[F.level_label(level)] = table.lookup(category)
    outputs[F.SLICE_LEVEL1] = tables.level1_names.lookup(category)
    outputs[F.SLICE_SENSITIVE] = tables.sensitive.lookup(category)
    return outputs
