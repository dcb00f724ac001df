"""What the Trainer exports, as TF Serving meets it: warm-up requests that fit the signatures (TF
Serving refuses a version whose warm-up replay fails), and `serving_default` taking tf.Examples
with only the fields a client has."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from prodcat import features as F
from prodcat.contract.signatures import EXAMPLES_SIGNATURE, RAW_SIGNATURE, WARMUP_PRODUCTS
from prodcat.serving.predict import resolve_model_dir
from prodcat.contract.warmup import read_warmup_requests
from prodcat.serving.server.servable import read_signature_defs
from prodcat.trainer.model import training_sample
from prodcat.trainer.run import NOVELTY_SAMPLE_SIZE


def test_every_warmup_request_of_the_pushed_model_is_answered(demo_run) -> None:
    version = resolve_model_dir(demo_run.serving_base)
    requests = read_warmup_requests(version)
    assert {r.model_spec.signature_name for r in requests} == {RAW_SIGNATURE, EXAMPLES_SIGNATURE}
    signature_defs = read_signature_defs(version)
    model = tf.saved_model.load(str(version))
    for request in requests:
        name = request.model_spec.signature_name
        assert set(request.inputs) == set(signature_defs[name].inputs), name
        inputs = {key: tf.constant(tf.make_ndarray(proto)) for key, proto in request.inputs.items()}
        outputs = model.signatures[name](**inputs)
        rows = next(iter(inputs.values())).shape[0]
        assert rows in (1, len(WARMUP_PRODUCTS)) and outputs[F.OUT_DEPTH].shape[0] == rows


def _example(**fields: str) -> bytes:
    feature = {k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode()])) for k, v in fields.items()}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_serving_default_takes_examples_with_only_the_fields_a_client_has(demo_run) -> None:
    """A plain TF Serving client sends the fields it has; the missing ones count as empty, as ExampleGen writes them."""
    from prodcat.contract.examples import product_to_example
    from prodcat.records import Product

    model = tf.saved_model.load(str(resolve_model_dir(demo_run.serving_base)))
    serve = model.signatures[EXAMPLES_SIGNATURE]
    full = [product_to_example(Product(id="", title="Hundebett aus Plüsch")).SerializeToString(),
            product_to_example(Product(id="", title="dog bed", description="soft, washable")).SerializeToString()]
    partial = [_example(title="Hundebett aus Plüsch"), _example(title="dog bed", description="soft, washable")]
    expected, answered = serve(examples=tf.constant(full)), serve(examples=tf.constant(partial))
    for key in (F.OUT_LEVEL_IDS, F.OUT_LEVEL_CONFIDENCES, F.OUT_DEPTH):
        assert (answered[key].numpy() == expected[key].numpy()).all(), key
    with pytest.raises(tf.errors.InvalidArgumentError, match="title"):  # the one required field
        serve(examples=tf.constant([_example(description="no title")]))


def test_the_pushed_model_carries_its_sample_of_training_products(demo_run) -> None:
    """A re-export (`prodcat tune-thresholds --export`) rebuilds the decoder from the pushed model:
    it must find the training products the name fallback tells new kinds of products by."""
    keras_model = tf.keras.models.load_model(str(resolve_model_dir(demo_run.serving_base)), compile=False)
    sample = training_sample(keras_model)
    assert sample is not None and sample.shape[1] == 512
    assert 100 < len(sample) <= min(NOVELTY_SAMPLE_SIZE, demo_run.config.demo.n_products)
    np.testing.assert_allclose(np.linalg.norm(sample, axis=1), 1.0, atol=1e-5)
    assert len(np.unique(sample.round(4), axis=0)) > 0.9 * len(sample)  # products, not one row repeated
