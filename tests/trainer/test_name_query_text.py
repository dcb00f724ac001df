"""The short text the decoder matches against category names: which fields, and that Transform
embeds it beside the sentence embedding without mixing up rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from test_preprocessing import RAW_SPEC
from text_encoder_fixtures import use_encoder  # noqa: F401 (fixture)

from prodcat import features as F
from prodcat.config import Config
from prodcat.module_config import ModuleConfig
from prodcat.taxonomy import Taxonomy
from prodcat.trainer.preprocessing import preprocessing_fn
from prodcat.trainer.text import present_fields_text, product_text

NAME_FIELDS = ("title", "product_type", "tags", "vendor", "collections", "shop")


def _row(pid: str, title: str, description: str, vendor: str, collections: list[str]) -> dict:
    return {F.ID: [pid], F.TITLE: [title], F.DESCRIPTION: [description], F.VENDOR: [vendor], F.PRODUCT_TYPE: [""],
            F.SHOP: [""], F.LANGUAGE: [""], F.IMAGE: [b""], F.CATEGORY: ["3"], F.TAGS: [], F.COLLECTIONS: collections}


ROWS = [_row("a", "Fixie 700c", "Ein leichtes Stadtrad mit Stahlrahmen.", "Pure Fix Cycles", ["Bikes", "Sale"]),
        _row("b", "Teak bench", "", " Great Outdoor ", []),
        _row("c", "Kite", "A stunt kite for two lines.", "", [])]
SHORT = ["Fixie 700c | Pure Fix Cycles | Bikes, Sale", "Teak bench | Great Outdoor", "Kite"]


def test_empty_fields_leave_no_separator_behind() -> None:
    inputs = {F.TITLE: tf.constant([[" Fixie 700c "], ["Kite"]]), F.VENDOR: tf.constant([["Pure Fix Cycles"], [""]]),
              F.COLLECTIONS: tf.sparse.from_dense(tf.constant([["Bikes", "Sale"], ["", ""]])),
              F.SHOP: tf.constant([[""], ["  "]])}
    got = [t.decode() for t in present_fields_text(inputs, NAME_FIELDS).numpy()]
    assert got == ["Fixie 700c | Pure Fix Cycles | Bikes, Sale", "Kite"]
    with pytest.raises(ValueError, match="none of the text fields"):
        present_fields_text(inputs, ("description",))


@pytest.mark.slow
@pytest.mark.parametrize("name_fields", [NAME_FIELDS, ()])
def test_transform_embeds_the_short_text_beside_the_sentence(use_encoder, tiny_google: Taxonomy, tmp_path: Path,  # noqa: F811
                                                             name_fields: tuple[str, ...]) -> None:
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    taxonomy_path = tiny_google.save(tmp_path / "t.txt")
    config = Config.model_validate({"text": {"name_fields": list(name_fields)}})
    custom = ModuleConfig(config, str(taxonomy_path)).to_custom_config()
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(RAW_SPEC))
    with tft_beam.Context(temp_dir=str(tmp_path / "tft"), force_tf_compat_v1=False):
        (transformed, _), _ = (ROWS, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing_fn(inputs, custom), output_record_batches=False)
    long_inputs = {name: tf.constant([[r[name][0]] for r in ROWS]) for name in (F.TITLE, F.PRODUCT_TYPE, F.DESCRIPTION)}
    long_inputs[F.TAGS] = tf.sparse.from_dense(tf.constant([[""] for _ in ROWS]))
    long_text = product_text(long_inputs, config.text.embedding_fields)
    expected_sentence = use_encoder(long_text).numpy()
    matched = []
    for row in transformed:  # the row whose sentence it is, then that row's short text
        i = int(np.argmax(expected_sentence @ np.asarray(row[F.TEXT_EMBEDDING])))
        matched.append(i)
        np.testing.assert_allclose(row[F.TEXT_EMBEDDING], expected_sentence[i], atol=1e-5)
        if name_fields:
            expected_short = use_encoder(tf.constant([SHORT[i]])).numpy()[0]
            np.testing.assert_allclose(row[F.NAME_QUERY_EMBEDDING], expected_short, atol=1e-5)
        else:
            assert F.NAME_QUERY_EMBEDDING not in row
    assert sorted(matched) == list(range(len(ROWS)))
