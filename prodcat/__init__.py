"""prodcat: hierarchical product categorization into the Google Product Taxonomy, built on TFX."""

import os

# TFX 1.16 and its Keras model code need Keras 2 (tf_keras); set before TensorFlow is imported.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
USER_TF_LOG_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")  # the CLI quiets TensorFlow further unless set
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
