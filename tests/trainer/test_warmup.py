"""The warm-up requests the Trainer writes fit the model it exported (TF Serving refuses to load a
version whose warm-up replay fails)."""

from __future__ import annotations

import tensorflow as tf

from prodcat import features as F
from prodcat.contract.signatures import EXAMPLES_SIGNATURE, RAW_SIGNATURE, WARMUP_PRODUCTS
from prodcat.serving.predict import resolve_model_dir
from prodcat.serving.warmup import read_signature_defs, read_warmup_requests


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
