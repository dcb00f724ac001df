"""Errors a client reads name the field and the rule, never TensorFlow's node names."""

from __future__ import annotations

from prodcat.serving.server.errors import model_error_message

# What TensorFlow 2.16 raises when a serialized tf.Example lacks a required feature.
MISSING_TITLE = ("Graph execution error:\n\nDetected at node ParseExample/ParseExampleV2 defined at (most recent call last):\n"
                 "<stack traces unavailable>\nName: <unknown>, Feature: title (data type: string) is required but could "
                 "not be found.\n\t [[{{node ParseExample/ParseExampleV2}}]] [Op:__inference_signature_wrapper_19499]")


def test_a_missing_feature_names_the_field() -> None:
    assert model_error_message(MISSING_TITLE) == (
        "the tf.Example has no feature 'title', which is required (every other product field is optional)")


def test_other_graph_errors_lose_the_node_names() -> None:
    message = ("Graph execution error:\n\nDetected at node DecodeJpeg defined at (most recent call last):\n"
               "<stack traces unavailable>\nInvalid JPEG data or crop window.\n\t [[{{node DecodeJpeg}}]] [Op:__inference_x_1]")
    assert model_error_message(message) == "Invalid JPEG data or crop window."
