"""The hierarchical classifier: a shared trunk and one softmax head per taxonomy level.

Level k's head sees the trunk's features plus level k-1's predicted distribution (parent
feedback), so a confident "Animals & Pet Supplies" steers level 2 without forcing it. Heads cover
the taxonomy's full level vocabularies, so the output layout depends only on the taxonomy.
Importing this module registers every custom Keras object an exported model holds, for
`tf.keras.models.load_model` (`trainer.layers`, the margin head's layers, losses, LazyAdam).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from prodcat import features as F
from prodcat.config import ModelConfig, TextConfig, ThresholdConfig
from prodcat.taxonomy import Taxonomy
from prodcat.trainer import losses, margin  # noqa: F401  (register their Keras objects for reloading)
from prodcat.trainer.decoding import HierarchicalDecoder
from prodcat.trainer.layers import CategoryNames, HashedEmbeddingBag, NameScores, UnseenClassScores, WideLinear
from prodcat.trainer.statistics import WideFeatures

keras = tf.keras


@dataclasses.dataclass
class Trunk:
    """The model's inputs and the shared features every head reads."""

    inputs: dict[str, tf.Tensor]
    features: tf.Tensor
    tokens: tf.Tensor | None  # the hashed n-gram ids (the wide path reads them too)
    sentence: tf.Tensor | None  # the pretrained sentence embedding (the label prior reads it)


def model_feature_dims(transformed_feature_spec: dict) -> dict[str, object]:
    """The transformed features the model reads, with their dense shape (None: sparse ids)."""
    dims: dict[str, object] = {F.TOKENS: None}
    if F.MERCHANT in transformed_feature_spec:
        dims[F.MERCHANT] = None
    for name in (F.TEXT_EMBEDDING, F.IMAGE_EMBEDDING):
        if name in transformed_feature_spec:
            dims[name] = int(transformed_feature_spec[name].shape[-1])
    if F.IMAGE_PIXELS in transformed_feature_spec:
        dims[F.IMAGE_PIXELS] = tuple(int(d) for d in transformed_feature_spec[F.IMAGE_PIXELS].shape)
    if F.HAS_IMAGE in transformed_feature_spec:
        dims[F.HAS_IMAGE] = 1
    return dims


def build_trunk(model_cfg: ModelConfig, text_cfg: TextConfig, feature_dims: dict[str, object],
                token_idf: np.ndarray | None = None, with_tokens: bool = False) -> Trunk:
    """Inputs and shared features: hashed n-grams (a learned bag), the shop, the frozen sentence
    embedding and image features (pretrained embedding or pixels for a learned CNN), concatenated
    and passed through the trunk's dense layers. `with_tokens`: the n-gram ids are an input even
    when the bag is off (the wide path reads them). Seeds Keras with `model_cfg.seed` first."""
    keras.utils.set_random_seed(model_cfg.seed)
    inputs: dict[str, tf.Tensor] = {}
    memorizing = []
    ngram_bag = model_cfg.ngram_features or not feature_dims.get(F.TEXT_EMBEDDING)  # the only text input otherwise
    tokens = None
    if ngram_bag or with_tokens:
        tokens = keras.Input(shape=(None,), sparse=True, dtype=tf.int64, name=F.TOKENS)
        inputs[F.TOKENS] = tokens
    if ngram_bag:
        memorizing.append(HashedEmbeddingBag(text_cfg.word_buckets, model_cfg.embedding_dim, idf=token_idf,
                                             name="token_embedding")(tokens))
    if F.MERCHANT in feature_dims and model_cfg.merchant_feature:
        merchant = keras.Input(shape=(None,), sparse=True, dtype=tf.int64, name=F.MERCHANT)
        inputs[F.MERCHANT] = merchant
        shop = HashedEmbeddingBag(text_cfg.merchant_buckets, model_cfg.merchant_dim, zero_init=True,
                                  name="merchant_embedding")(merchant)
        if model_cfg.merchant_dropout:  # hides the whole embedding of a product, as a new shop's is zero
            shop = keras.layers.Dropout(model_cfg.merchant_dropout, noise_shape=(None, 1), name="merchant_dropout")(shop)
        memorizing.append(shop)
    sentence: tf.Tensor | None = None
    parts = []
    if memorizing:
        parts.append(memorizing[0] if len(memorizing) == 1
                     else keras.layers.Concatenate(name="memorizing_features")(memorizing))
    if feature_dims.get(F.TEXT_EMBEDDING):
        embedding = keras.Input(shape=(feature_dims[F.TEXT_EMBEDDING],), dtype=tf.float32, name=F.TEXT_EMBEDDING)
        inputs[F.TEXT_EMBEDDING] = sentence = embedding
        parts.append(embedding)
    if F.HAS_IMAGE in feature_dims:
        parts.append(_image_features(inputs, feature_dims, model_cfg.image_units))
    x = parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="product_features")(parts)
    for i, units in enumerate(model_cfg.hidden_units):
        x = keras.layers.Dense(units, activation="relu", name=f"trunk_{i}")(x)
        x = keras.layers.Dropout(model_cfg.dropout, name=f"trunk_dropout_{i}")(x)
    return Trunk(inputs, x, tokens, sentence)


def _image_features(inputs: dict[str, tf.Tensor], feature_dims: dict[str, object], units: int) -> tf.Tensor:
    """Adds the image inputs; their features, zero for products without an image."""
    has_image = keras.Input(shape=(), dtype=tf.float32, name=F.HAS_IMAGE)
    inputs[F.HAS_IMAGE] = has_image
    if F.IMAGE_PIXELS in feature_dims:
        pixels = keras.Input(shape=tuple(feature_dims[F.IMAGE_PIXELS]), dtype=tf.float32, name=F.IMAGE_PIXELS)
        inputs[F.IMAGE_PIXELS] = pixels
        return image_tower(pixels, has_image, units)
    embedding = keras.Input(shape=(feature_dims[F.IMAGE_EMBEDDING],), dtype=tf.float32, name=F.IMAGE_EMBEDDING)
    inputs[F.IMAGE_EMBEDDING] = embedding
    projected = keras.layers.Dense(units, activation="relu", name="image_features")(embedding)
    return _gated(projected, has_image)


def image_tower(pixels: tf.Tensor, has_image: tf.Tensor, units: int) -> tf.Tensor:
    """A compact CNN learned end to end on the decoded pixels (when no pretrained weights exist)."""
    x = pixels
    for i, filters in enumerate((32, 64, 96)):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu", name=f"image_conv_{i}")(x)
        x = keras.layers.BatchNormalization(name=f"image_bn_{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="image_pool")(x)
    return _gated(keras.layers.Dense(units, activation="relu", name="image_features")(x), has_image)


def _gated(features: tf.Tensor, has_image: tf.Tensor) -> tf.Tensor:
    """Zeroes image features of products without an image (and appends the flag itself)."""
    flag = keras.layers.Reshape((1,), name="has_image_flag")(has_image)
    gated = keras.layers.Multiply(name="image_gate")([features, flag])
    return keras.layers.Concatenate(name="image_gated")([gated, flag])


def wide_scores(tokens: tf.Tensor | None, wide: WideFeatures | None) -> list[tf.Tensor | None] | None:
    """Wide & deep: per output of `wide`, a linear score from the n-grams' TF-IDF vector (None for
    an output without classes to score; None overall without the wide path)."""
    if wide is None or not any(seen.any() for seen in wide.seen_classes):
        return None
    scores = WideLinear(wide, name="wide_path")(tokens)
    return [s if seen.any() else None for seen, s in zip(wide.seen_classes, scores)]


def build_model(
    level_sizes: Sequence[int], model_cfg: ModelConfig, text_cfg: TextConfig,
    feature_dims: dict[str, object] | None = None, label_embeddings: Sequence[np.ndarray] | None = None,
    token_idf: np.ndarray | None = None, wide: WideFeatures | None = None,
    seen_classes: Sequence[np.ndarray] | None = None,
) -> keras.Model:
    """A Keras model from transformed features to per-level class probabilities.

    With `wide`, each level also gets a linear score straight from the TF-IDF vector of the hashed
    n-grams; with `label_embeddings`, a score from the similarity to each category's name.
    `seen_classes` (per level, which classes have training products) lets classes without any be
    scored by their names alone (`model.unseen_classes`).
    """
    trunk = build_trunk(model_cfg, text_cfg, feature_dims or {}, token_idf, with_tokens=wide is not None)
    wide_level_scores = wide_scores(trunk.tokens, wide)
    outputs: dict[str, tf.Tensor] = {}
    previous: tf.Tensor | None = None
    for level, size in enumerate(level_sizes, start=1):
        h = trunk.features
        if model_cfg.parent_feedback and previous is not None:
            h = keras.layers.Concatenate(name=f"level_{level}_input")([trunk.features, previous])
        if model_cfg.level_hidden_units:
            h = keras.layers.Dense(model_cfg.level_hidden_units, activation="relu", name=f"level_{level}_hidden")(h)
            h = keras.layers.Dropout(model_cfg.dropout, name=f"level_{level}_dropout")(h)
        logits = keras.layers.Dense(size, name=f"level_{level}_logits")(h)
        if wide_level_scores and wide_level_scores[level - 1] is not None:
            logits = keras.layers.Add(name=f"level_{level}_scores_with_wide")([logits, wide_level_scores[level - 1]])
        generic = None  # scores shared by every class through its name: meaningful without training products
        if label_embeddings is not None:
            generic = _name_scores(level, h, label_embeddings[level - 1], trunk.sentence, model_cfg.label_prior)
        seen = None if seen_classes is None else np.asarray(seen_classes[level - 1], bool)
        if generic is not None and model_cfg.unseen_classes == "label_semantics" and seen is not None:
            # also where every class is seen: the layer is the record of it (`seen_class_masks`)
            # None: the trainer chooses it after training; until then it is 0, so early stopping judges
            # each epoch with those names at full strength (it then stops before the heads grow
            # over-confident on unfamiliar shops; docs/experiments.md)
            offset = model_cfg.unseen_class_offset
            logits = UnseenClassScores(seen, offset=0.0 if offset is None else offset,
                                       name=f"level_{level}_scores")([logits, generic])
        elif generic is not None:
            logits = keras.layers.Add(name=f"level_{level}_scores")([logits, generic])
        probs = keras.layers.Activation("softmax", name=F.level_output(level))(logits)
        outputs[F.level_output(level)] = probs
        previous = probs
    return keras.Model(inputs=trunk.inputs, outputs=outputs, name="prodcat_hierarchical")


def _name_scores(level: int, h: tf.Tensor, names: np.ndarray, sentence: tf.Tensor | None, label_prior: bool) -> tf.Tensor:
    """A level's scores by category name: its learned query and, with the label prior, the plain
    sentence embedding (the zero-shot similarity), each against the names."""
    vectors = [keras.layers.Dense(names.shape[1], name=f"level_{level}_query")(h)]
    if label_prior and sentence is not None and names.shape[1] == sentence.shape[-1]:
        vectors.append(sentence)
    return NameScores(names, n_inputs=len(vectors), name=f"level_{level}_name_scores")(vectors)


def category_name_embeddings(model: keras.Model, level_sizes: Sequence[int]) -> list[tf.Variable] | None:
    """Per level, the frozen path-name embeddings a trained model scores its classes against
    (the decoder's name fallback reads them; no second copy in the export); None without label
    semantics."""
    layers = {layer.name: layer for layer in model.submodules if isinstance(layer, CategoryNames)}  # nested models too
    per_level = [layers.get(f"level_{k}_name_scores") for k in range(1, len(level_sizes) + 1)]
    if any(layer is None for layer in per_level):
        return None
    return [layer.labels for layer in per_level]


def seen_class_masks(model: keras.Model, level_sizes: Sequence[int]) -> list[np.ndarray] | None:
    """Per level, which classes had training products, as the model's `UnseenClassScores` layers
    recorded it (the decoder's name fallback hands over only the others); None where the model
    keeps no record (`unseen_classes` 'trained', no label semantics)."""
    layers = {layer.name: layer for layer in model.submodules if isinstance(layer, UnseenClassScores)}  # nested too
    if not layers:
        return None
    # A level without the layer: a model built when it was made only for levels with unseen classes.
    return [np.asarray(layers[f"level_{k}_scores"].seen) > 0.5 if f"level_{k}_scores" in layers else np.ones(n, bool)
            for k, n in enumerate(level_sizes, start=1)]


def label_embeddings(taxonomy, encoder, batch_size: int = 256) -> list[np.ndarray]:  # noqa: ANN001
    """Per level, every class's name embedding, in class order: the mean direction of its full
    path ("Home & Garden > Lighting > Lamps") and its own name ("Lamps"), unit length.

    The path alone matches a product to its siblings' parents about as well as to the category
    itself; the own name pulls the match down to the right node (BENCHMARKS.md, name matching).
    """
    def embed(texts: list[str]) -> np.ndarray:
        chunks = [encoder(tf.constant(texts[i:i + batch_size])).numpy() for i in range(0, len(texts), batch_size)]
        vectors = np.concatenate(chunks).astype(np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    levels = []
    for level in range(1, taxonomy.depth + 1):
        ids = taxonomy.level_ids(level)
        both = embed([taxonomy[cid].path_str for cid in ids]) + embed([taxonomy[cid].name for cid in ids])
        levels.append(both / np.maximum(np.linalg.norm(both, axis=1, keepdims=True), 1e-12))
    return levels


def model_decoder(keras_model, taxonomy: Taxonomy, thresholds: ThresholdConfig) -> HierarchicalDecoder:  # noqa: ANN001
    """The decoder a trained model is exported with: the configured beam width and thresholds,
    and the model's own category-name embeddings, record of its unseen classes and sample of
    training products for the name fallback."""
    return HierarchicalDecoder(taxonomy, thresholds, beam_width=thresholds.beam_width,
                               category_names=category_name_embeddings(keras_model, taxonomy.level_sizes()),
                               seen_classes=seen_class_masks(keras_model, taxonomy.level_sizes()),
                               training_sample=training_sample(keras_model))


def training_sample(keras_model) -> np.ndarray | None:  # noqa: ANN001
    """The training products' sentence embeddings a model was trained with (`trainer.run.train`
    attaches them) or exported with (its decoder carries them); None for a model without."""
    sample = getattr(keras_model, "training_sample", None)
    if sample is None:
        sample = getattr(getattr(keras_model, "decoder", None), "training_sample", None)
    return None if sample is None else np.asarray(sample)
