"""The hierarchical classifier: a shared text trunk and one softmax head per taxonomy level.

Level k's head sees the trunk's features plus level k-1's predicted distribution (parent
feedback), so a confident "Animals & Pet Supplies" steers level 2 without forcing it. Heads cover
the taxonomy's full level vocabularies, so the output layout depends only on the taxonomy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from prodcat import features as F
from prodcat.config import ModelConfig, TextConfig

keras = tf.keras


@keras.utils.register_keras_serializable(package="prodcat")
class HashedEmbeddingBag(keras.layers.Layer):
    """Mean of the embeddings of a product's hashed token ids (a learned bag of n-grams)."""

    def __init__(self, buckets: int, dim: int, zero_init: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.buckets, self.dim, self.zero_init = buckets, dim, zero_init

    def build(self, input_shape) -> None:  # noqa: ANN001 (Keras signature)
        # zero_init: an id never seen in training (a new shop) contributes exactly nothing.
        initializer = "zeros" if self.zero_init else keras.initializers.RandomNormal(stddev=0.05)
        self.table = self.add_weight(name="table", shape=(self.buckets, self.dim), initializer=initializer)
        super().build(input_shape)

    def call(self, ids: tf.SparseTensor) -> tf.Tensor:
        return tf.nn.safe_embedding_lookup_sparse(self.table, ids, combiner="mean")

    def get_config(self) -> dict:
        return {**super().get_config(), "buckets": self.buckets, "dim": self.dim, "zero_init": self.zero_init}


@keras.utils.register_keras_serializable(package="prodcat")
class LabelSimilarity(keras.layers.Layer):
    """Scores every class of a level by cosine similarity between a learned projection of the
    product and the frozen embedding of the class's path name ("Animals & Pet Supplies > ...").

    A category with few or no training examples still gets a meaningful score from its name, so
    it can be predicted; a learned temperature sets how much the similarity counts.
    """

    def __init__(self, label_embeddings: np.ndarray | None = None, n_classes: int = 0, dim: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        if label_embeddings is not None:
            n_classes, dim = label_embeddings.shape
        self.n_classes, self.dim = int(n_classes), int(dim)
        self._initial = label_embeddings

    def build(self, input_shape) -> None:  # noqa: ANN001 (Keras signature)
        initial = self._initial
        self.labels = self.add_weight(
            name="label_embeddings", shape=(self.n_classes, self.dim), trainable=False,
            initializer=(lambda shape, dtype=None: tf.constant(initial, dtype=tf.float32)) if initial is not None else "zeros",
        )
        self.scale = self.add_weight(name="scale", shape=(), initializer=keras.initializers.Constant(10.0))
        super().build(input_shape)

    def call(self, query: tf.Tensor) -> tf.Tensor:
        return self.scale * tf.matmul(tf.math.l2_normalize(query, axis=-1), self.labels, transpose_b=True)

    def get_config(self) -> dict:
        return {**super().get_config(), "n_classes": self.n_classes, "dim": self.dim}


@keras.utils.register_keras_serializable(package="prodcat")
class PathDropout(keras.layers.Layer):
    """In training, hides a whole feature vector for a random share of products (zeroes it).

    The memorizing paths (hashed n-grams, shop) fit the training languages and shops so well
    that the model would ignore the multilingual sentence embedding; hiding them now and then
    makes every head also learn to classify from the embedding alone, which is what a product
    in another language or from a new shop has to rely on. At serving time it is the identity.
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rate, self.seed = float(rate), seed

    def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        if not training or self.rate <= 0.0:
            return inputs
        keep = tf.random.uniform(tf.stack([tf.shape(inputs)[0], 1]), seed=self.seed) >= self.rate
        return inputs * tf.cast(keep, inputs.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


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


def build_model(
    level_sizes: Sequence[int], model_cfg: ModelConfig, text_cfg: TextConfig,
    feature_dims: dict[str, object] | None = None, label_embeddings: Sequence[np.ndarray] | None = None,
) -> keras.Model:
    """A Keras model from transformed features to per-level class probabilities.

    Inputs: hashed n-gram ids (learned bag of n-grams) and, when Transform provides them, the
    frozen pretrained sentence embedding and image features (pretrained embedding or pixels for
    a learned CNN); all are concatenated into the shared trunk.
    """
    feature_dims = feature_dims or {}
    keras.utils.set_random_seed(model_cfg.seed)
    tokens = keras.Input(shape=(None,), sparse=True, dtype=tf.int64, name=F.TOKENS)
    inputs: dict[str, tf.Tensor] = {F.TOKENS: tokens}
    memorizing = [HashedEmbeddingBag(text_cfg.word_buckets, model_cfg.embedding_dim, name="token_embedding")(tokens)]
    if F.MERCHANT in feature_dims:
        merchant = keras.Input(shape=(None,), sparse=True, dtype=tf.int64, name=F.MERCHANT)
        inputs[F.MERCHANT] = merchant
        memorizing.append(HashedEmbeddingBag(text_cfg.merchant_buckets, model_cfg.merchant_dim, zero_init=True,
                                             name="merchant_embedding")(merchant))
    x = memorizing[0] if len(memorizing) == 1 else keras.layers.Concatenate(name="memorizing_features")(memorizing)
    if model_cfg.memorizing_path_dropout and feature_dims.get(F.TEXT_EMBEDDING):
        x = PathDropout(model_cfg.memorizing_path_dropout, seed=model_cfg.seed, name="memorizing_path_dropout")(x)
    parts = [x]
    if feature_dims.get(F.TEXT_EMBEDDING):
        embedding = keras.Input(shape=(feature_dims[F.TEXT_EMBEDDING],), dtype=tf.float32, name=F.TEXT_EMBEDDING)
        inputs[F.TEXT_EMBEDDING] = embedding
        parts.append(embedding)
    if F.HAS_IMAGE in feature_dims:
        has_image = keras.Input(shape=(), dtype=tf.float32, name=F.HAS_IMAGE)
        inputs[F.HAS_IMAGE] = has_image
        if F.IMAGE_PIXELS in feature_dims:
            pixels = keras.Input(shape=tuple(feature_dims[F.IMAGE_PIXELS]), dtype=tf.float32, name=F.IMAGE_PIXELS)
            inputs[F.IMAGE_PIXELS] = pixels
            parts.append(image_tower(pixels, has_image, model_cfg.image_units))
        else:
            embedding = keras.Input(shape=(feature_dims[F.IMAGE_EMBEDDING],), dtype=tf.float32, name=F.IMAGE_EMBEDDING)
            inputs[F.IMAGE_EMBEDDING] = embedding
            projected = keras.layers.Dense(model_cfg.image_units, activation="relu", name="image_features")(embedding)
            parts.append(_gated(projected, has_image))
    if len(parts) > 1:
        x = keras.layers.Concatenate(name="product_features")(parts)
    for i, units in enumerate(model_cfg.hidden_units):
        x = keras.layers.Dense(units, activation="relu", name=f"trunk_{i}")(x)
        x = keras.layers.Dropout(model_cfg.dropout, name=f"trunk_dropout_{i}")(x)
    trunk = x

    outputs: dict[str, tf.Tensor] = {}
    previous: tf.Tensor | None = None
    for level, size in enumerate(level_sizes, start=1):
        h = trunk
        if model_cfg.parent_feedback and previous is not None:
            h = keras.layers.Concatenate(name=f"level_{level}_input")([trunk, previous])
        if model_cfg.level_hidden_units:
            h = keras.layers.Dense(model_cfg.level_hidden_units, activation="relu", name=f"level_{level}_hidden")(h)
            h = keras.layers.Dropout(model_cfg.dropout, name=f"level_{level}_dropout")(h)
        logits = keras.layers.Dense(size, name=f"level_{level}_logits")(h)
        if label_embeddings is not None:
            query = keras.layers.Dense(label_embeddings[level - 1].shape[1], name=f"level_{level}_query")(h)
            similarity = LabelSimilarity(label_embeddings[level - 1], name=f"level_{level}_label_similarity")(query)
            logits = keras.layers.Add(name=f"level_{level}_scores")([logits, similarity])
        probs = keras.layers.Activation("softmax", name=F.level_output(level))(logits)
        outputs[F.level_output(level)] = probs
        previous = probs
    return keras.Model(inputs=inputs, outputs=outputs, name="prodcat_hierarchical")


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


@keras.utils.register_keras_serializable(package="prodcat")
class MaskedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy over products that have a class at this level (label >= 0), class-weighted.

    Products whose category is shallower than the level carry -1 and contribute nothing.
    """

    def __init__(self, class_weights: Sequence[float] | None = None, name: str = "masked_xent", **kwargs) -> None:
        super().__init__(name=name, reduction=keras.losses.Reduction.NONE, **kwargs)
        self.class_weights = list(class_weights) if class_weights is not None else None

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        labels = tf.reshape(tf.cast(y_true, tf.int64), [-1])
        valid = labels >= 0
        safe = tf.where(valid, labels, tf.zeros_like(labels))
        xent = keras.losses.sparse_categorical_crossentropy(safe, y_pred)
        weights = tf.cast(valid, xent.dtype)
        if self.class_weights is not None:
            weights *= tf.gather(tf.constant(self.class_weights, xent.dtype), safe)
        return xent * weights

    def get_config(self) -> dict:
        return {**super().get_config(), "class_weights": self.class_weights}


@keras.utils.register_keras_serializable(package="prodcat")
class MaskedAccuracy(keras.metrics.Mean):
    """Accuracy at one level over the products that have a class at that level."""

    def __init__(self, name: str = "accuracy", **kwargs) -> None:
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):  # noqa: ANN001 (Keras signature)
        labels = tf.reshape(tf.cast(y_true, tf.int64), [-1])
        correct = tf.cast(tf.equal(labels, tf.argmax(y_pred, axis=-1)), tf.float32)
        return super().update_state(correct, sample_weight=tf.cast(labels >= 0, tf.float32))


def compile_model(model: keras.Model, level_class_weights: Sequence[Sequence[float] | None], model_cfg: ModelConfig) -> None:
    """Weighted sum of per-level losses, per-level masked accuracy."""
    n_levels = len(level_class_weights)
    loss_weights = model_cfg.loss_weights or (1.0,) * n_levels
    if len(loss_weights) < n_levels:
        loss_weights = tuple(loss_weights) + (loss_weights[-1],) * (n_levels - len(loss_weights))
    names = [F.level_output(level) for level in range(1, n_levels + 1)]
    model.compile(
        optimizer=keras.optimizers.Adam(model_cfg.learning_rate),
        loss={name: _SumOverBatch(MaskedSparseCrossentropy(w)) for name, w in zip(names, level_class_weights)},
        loss_weights=dict(zip(names, loss_weights)),
        metrics={name: [MaskedAccuracy()] for name in names},
    )


class _SumOverBatch:
    """Normalises a masked per-example loss by the number of products that count at this level."""

    def __init__(self, loss: MaskedSparseCrossentropy) -> None:
        self.loss = loss
        self.__name__ = loss.name

    def __call__(self, y_true: tf.Tensor, y_pred: tf.Tensor, sample_weight=None) -> tf.Tensor:  # noqa: ANN001
        per_example = self.loss(y_true, y_pred)
        counted = tf.reduce_sum(tf.cast(tf.reshape(y_true, [-1]) >= 0, per_example.dtype))
        return tf.math.divide_no_nan(tf.reduce_sum(per_example), counted)


def label_embeddings(taxonomy, encoder, batch_size: int = 256) -> list[np.ndarray]:  # noqa: ANN001
    """Per level, the encoder's embedding of every class's full path name, in class order."""
    levels = []
    for level in range(1, taxonomy.depth + 1):
        paths = [taxonomy[cid].path_str for cid in taxonomy.level_ids(level)]
        chunks = [encoder(tf.constant(paths[i:i + batch_size])).numpy() for i in range(0, len(paths), batch_size)]
        levels.append(np.concatenate(chunks).astype(np.float32))
    return levels
