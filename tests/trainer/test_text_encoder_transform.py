"""Text encoders inside tf.Transform, replayed by a saved and reloaded Keras model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from text_encoder_fixtures import tiny_models, use_encoder  # noqa: F401 (fixtures)

from prodcat.trainer.encoders.text import TextEncoderConfig, text_encoder, transform_encoder


@pytest.mark.slow
def test_inside_tf_transform(use_encoder, tiny_models, tmp_path: Path) -> None:
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    import tf_keras

    bag_config = TextEncoderConfig(kind="saved_model", handle=tiny_models["bag"])

    def preprocessing_fn(inputs):
        use = transform_encoder(name="use_multilingual")
        bag = transform_encoder(bag_config, name="hashed_bag")
        length = tft.scale_to_z_score(tf.cast(tf.strings.length(inputs["title"]), tf.float32))  # a real analyzer
        return {"use": use(inputs["title"]), "bag": bag(inputs["title"]), "length": length}

    titles = ["Kabellose Kopfhörer 🎧", "无线蓝牙耳机 降噪", "Robe d'été en lin", "", "<b>Sale</b> <s>20 €</s>"]
    raw = [{"title": t} for t in titles]
    metadata = tft.DatasetMetadata.from_feature_spec({"title": tf.io.FixedLenFeature([], tf.string)})
    output_dir = tmp_path / "transform_output"
    with tft_beam.Context(temp_dir=str(tmp_path / "tft_tmp"), force_tf_compat_v1=False):
        (transformed, transformed_metadata), transform_fn = (raw, metadata) | tft_beam.AnalyzeAndTransformDataset(
            preprocessing_fn
        )
        _ = transform_fn | tft_beam.WriteTransformFn(str(output_dir))

    bag = text_encoder(bag_config)
    expected_use = use_encoder(tf.constant(titles)).numpy()
    expected_bag = bag(tf.constant(titles)).numpy()
    np.testing.assert_allclose(np.stack([r["use"] for r in transformed]), expected_use, atol=1e-5)
    np.testing.assert_allclose(np.stack([r["bag"] for r in transformed]), expected_bag, atol=1e-6)
    tft_output = tft.TFTransformOutput(str(output_dir))
    assert tft_output.transformed_feature_spec()["use"] == tf.io.FixedLenFeature([512], tf.float32)
    assert tft_output.transformed_feature_spec()["bag"] == tf.io.FixedLenFeature([8], tf.float32)
    assert transformed_metadata.schema.feature  # the schema TFT inferred for the outputs

    # the Transform graph replayed by a Keras model, saved and reloaded (how the trainer exports it)
    layer = tft_output.transform_features_layer()
    title = tf_keras.Input(shape=(), dtype=tf.string, name="title")
    model = tf_keras.Model(title, layer({"title": title})["use"])
    model.tft_layer = layer

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="title")])
    def serve(texts):
        features = model.tft_layer({"title": texts})
        return {"use": features["use"], "bag": features["bag"]}

    np.testing.assert_allclose(model(tf.constant(titles)).numpy(), expected_use, atol=1e-5)
    export = tmp_path / "keras_model"
    model.save(str(export), signatures={"serving_default": serve})
    reloaded = tf.saved_model.load(str(export))
    served = reloaded.signatures["serving_default"](title=tf.constant(titles))
    np.testing.assert_allclose(served["use"].numpy(), expected_use, atol=1e-5)
    np.testing.assert_allclose(served["bag"].numpy(), expected_bag, atol=1e-6)
    np.testing.assert_allclose(reloaded(tf.constant(titles)).numpy(), expected_use, atol=1e-5)
