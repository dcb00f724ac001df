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
from prodcat.trainer.optimizers import LazyAdam

keras = tf.keras


@keras.utils.register_keras_serializable(package="prodcat")
class HashedEmbeddingBag(keras.layers.Layer):
    """A learned bag of n-grams: the embeddings of a product's hashed token ids, pooled.

    Without `idf` the pool is the mean. With `idf` (one weight per bucket, from the training
    data) it is the TF-IDF-weighted sum, L2-normalised (`sqrtn`): what makes linear models on
    TF-IDF strong product-title classifiers. Rare, telling tokens (brands, codes) then outweigh
    the many character n-grams every title shares, instead of being averaged away among them.
    """

    def __init__(self, buckets: int, dim: int, zero_init: bool = False, use_idf: bool = False,
                 idf: np.ndarray | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.buckets, self.dim, self.zero_init = buckets, dim, zero_init
        self.use_idf = bool(use_idf or idf is not None)
        self._idf = idf

    def build(self, input_shape) -> None:  # noqa: ANN001 (Keras signature)
        # zero_init: an id never seen in training (a new shop) contributes exactly nothing.
        initializer = "zeros" if self.zero_init else keras.initializers.RandomNormal(stddev=0.05)
        self.table = self.add_weight(name="table", shape=(self.buckets, self.dim), initializer=initializer)
        if self.use_idf:
            idf = self._idf
            self.idf = self.add_weight(
                name="idf", shape=(self.buckets,), trainable=False,
                initializer=(lambda shape, dtype=None: tf.constant(idf, tf.float32)) if idf is not None else "ones",
            )
        super().build(input_shape)

    def call(self, ids: tf.SparseTensor) -> tf.Tensor:
        if not self.use_idf:
            return tf.nn.safe_embedding_lookup_sparse(self.table, ids, combiner="mean")
        weights = tf.SparseTensor(ids.indices, tf.gather(self.idf, ids.values), ids.dense_shape)
        return tf.nn.safe_embedding_lookup_sparse(self.table, ids, weights, combiner="sqrtn")

    def get_config(self) -> dict:
        return {**super().get_config(), "buckets": self.buckets, "dim": self.dim, "zero_init": self.zero_init,
                "use_idf": self.use_idf}


def inverse_document_frequency(document_frequency: np.ndarray, documents: int) -> np.ndarray:
    """Smoothed idf per bucket (scikit-learn's `smooth_idf`): log((1 + n) / (1 + df)) + 1."""
    return (np.log((1.0 + documents) / (1.0 + document_frequency)) + 1.0).astype(np.float32)


class WideFeatures:
    """What the wide path remembers: which hashed n-gram buckets get a weight per class (the ones
    in enough training products, most frequent first) with their idf, and per output the classes
    that have training products.

    Only seen buckets and seen classes get weights: a full [2^18 buckets x 5,595 categories]
    table would be billions of parameters, most of which no training product could ever move.
    """

    def __init__(self, row_map: np.ndarray, idf: np.ndarray, seen_classes: Sequence[np.ndarray]) -> None:
        self.row_map = np.asarray(row_map, np.int64)
        self.idf = np.asarray(idf, np.float32)
        self.seen_classes = [np.asarray(s, bool) for s in seen_classes]

    @classmethod
    def from_training_statistics(
        cls, document_frequency: np.ndarray, documents: int, class_counts: Sequence[np.ndarray],
        max_features: int, min_df: int,
    ) -> WideFeatures:
        """Buckets in at least `min_df` training products, at most `max_features` of them."""
        df = np.asarray(document_frequency)
        kept = np.flatnonzero(df >= min_df)
        kept = kept[np.argsort(-df[kept], kind="stable")][:max_features]
        kept.sort()
        row_map = np.full(df.size, -1, np.int64)
        row_map[kept] = np.arange(kept.size)
        idf = inverse_document_frequency(df[kept], documents)
        return cls(row_map, idf, [np.asarray(c) > 0 for c in class_counts])

    @property
    def rows(self) -> int:
        return int(self.idf.size)


@keras.utils.register_keras_serializable(package="prodcat")
class WideLinear(keras.layers.Layer):
    """A linear model on the TF-IDF vector of a product's hashed n-grams, straight to the logits of
    every output (each taxonomy level, or the flat one): one weight per (n-gram, class), as a
    TF-IDF + linear SVM has.

    The deep path shares a 64-dimensional n-gram embedding among all classes; this path lets a
    rare code or brand point at its own category. One table holds the classes with training
    products of all outputs side by side, so a product's n-grams are looked up once. Weights start
    at zero (the deep model's scores unchanged); unseen classes get no wide score at all.

    `gain` multiplies the table's scores, which makes it the table's own learning rate relative to
    the model's (Adam moves a weight by about the learning rate per step whatever its gradient,
    and a rare n-gram's row is looked up in a handful of steps per epoch). On MWPD 1 measured
    best: 0.3, 10 and 30 all lost (BENCHMARKS.md).
    """

    def __init__(self, wide: WideFeatures | None = None, buckets: int = 0, rows: int = 0,
                 n_classes: Sequence[int] = (), n_seen: int = 0, gain: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.gain = float(gain)
        self._initial = None
        if wide is not None:
            seen = np.concatenate(wide.seen_classes)
            buckets, rows, n_classes, n_seen = wide.row_map.size, wide.rows, [s.size for s in wide.seen_classes], seen.sum()
            # each class's column in the table; classes without training products read an extra zero column
            columns = np.full(seen.size, n_seen, np.int64)
            columns[seen] = np.arange(n_seen)
            self._initial = (wide.row_map, wide.idf, columns)
        self.buckets, self.rows, self.n_seen = int(buckets), int(rows), int(n_seen)
        self.n_classes = [int(n) for n in n_classes]

    def build(self, input_shape) -> None:  # noqa: ANN001 (Keras signature)
        def constant(i: int):  # noqa: ANN202
            return (lambda shape, dtype=None: tf.constant(self._initial[i], dtype)) if self._initial else "zeros"

        self.row_map = self.add_weight(name="row_map", shape=(self.buckets,), dtype=tf.int64, trainable=False,
                                       initializer=constant(0))
        self.idf = self.add_weight(name="idf", shape=(self.rows,), trainable=False, initializer=constant(1))
        self.columns = self.add_weight(name="columns", shape=(sum(self.n_classes),), dtype=tf.int64, trainable=False,
                                       initializer=constant(2))
        self.table = self.add_weight(name="table", shape=(self.rows, self.n_seen), initializer="zeros")
        super().build(input_shape)

    def call(self, ids: tf.SparseTensor) -> list[tf.Tensor]:
        rows = tf.gather(self.row_map, ids.values)
        mapped = tf.sparse.retain(tf.SparseTensor(ids.indices, rows, ids.dense_shape), rows >= 0)
        weights = tf.SparseTensor(mapped.indices, tf.gather(self.idf, mapped.values), mapped.dense_shape)
        seen_scores = tf.nn.safe_embedding_lookup_sparse(self.table, mapped, weights, combiner="sqrtn")
        if self.gain != 1.0:
            seen_scores *= self.gain
        scores = tf.gather(tf.pad(seen_scores, [[0, 0], [0, 1]]), self.columns, axis=1)
        return tf.split(scores, self.n_classes, axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "buckets": self.buckets, "rows": self.rows, "n_classes": self.n_classes,
                "n_seen": self.n_seen, "gain": self.gain}


class _CategoryNames(keras.layers.Layer):
    """A layer holding a level's frozen category-name embeddings ([n_classes, dim], not trained);
    subclasses add their learned scales in `build` and score inputs against `self.labels`."""

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

    def get_config(self) -> dict:
        return {**super().get_config(), "n_classes": self.n_classes, "dim": self.dim}


def category_name_embeddings(model: keras.Model, level_sizes: Sequence[int]) -> list[tf.Variable] | None:
    """Per level, the frozen path-name embeddings a trained model scores its classes against
    (the decoder's name fallback reads them; no second copy in the export); None without label
    semantics."""
    layers = {layer.name: layer for layer in model.submodules if isinstance(layer, _CategoryNames)}  # nested models too
    if "flat_name_scores" in layers:  # the flat classifier: every level's classes in one matrix, level 1 first
        offsets = np.cumsum([0, *level_sizes])
        names = layers["flat_name_scores"].labels
        return [names[offsets[k]:offsets[k + 1]] for k in range(len(level_sizes))]
    per_level = [layers.get(f"level_{k}_name_scores") for k in range(1, len(level_sizes) + 1)]
    if any(layer is None for layer in per_level):
        return None
    return [layer.labels for layer in per_level]


def seen_class_masks(model: keras.Model, level_sizes: Sequence[int]) -> list[np.ndarray] | None:
    """Per level, which classes had training products, as the model's `UnseenClassScores` layers
    recorded it (the decoder's name fallback hands over only the others); None where the model
    keeps no record (`unseen_classes` 'trained', the flat classifier, no label semantics)."""
    layers = {layer.name: layer for layer in model.submodules if isinstance(layer, UnseenClassScores)}  # nested too
    if not layers:
        return None
    # A level without the layer: a model built when it was made only for levels with unseen classes.
    return [np.asarray(layers[f"level_{k}_scores"].seen) > 0.5 if f"level_{k}_scores" in layers else np.ones(n, bool)
            for k, n in enumerate(level_sizes, start=1)]


@keras.utils.register_keras_serializable(package="prodcat")
class LabelSimilarity(_CategoryNames):
    """One vector's name scores (`NameScores` with one input), as models trained before
    `NameScores` saved them: kept so their Keras models still load (e.g. to tune thresholds)."""

    def build(self, input_shape) -> None:  # noqa: ANN001 (Keras signature)
        super().build(input_shape)
        self.scale = self.add_weight(name="scale", shape=(), initializer=keras.initializers.Constant(10.0))
        keras.layers.Layer.build(self, input_shape)

    def call(self, query: tf.Tensor) -> tf.Tensor:
        return self.scale * tf.matmul(tf.math.l2_normalize(query, axis=-1), self.labels, transpose_b=True)


@keras.utils.register_keras_serializable(package="prodcat")
class NameScores(_CategoryNames):
    """A level's classes scored by the frozen embeddings of their path names against one or more
    product vectors (the heads' learned query; the plain sentence embedding, i.e. the zero-shot
    score), each by cosine similarity times its own learned scale. A category with few or no
    training products still gets a meaningful score from its name, so it can be predicted.

    sum_i scale_i * cos(x_i, name) = (sum_i scale_i * x_i / |x_i|) . name, so however many vectors
    there are, the names matrix (up to 2,203 x 512 at one level of the Google taxonomy) is
    multiplied once: at an online server's small batches that product costs what reading the
    matrix costs, and with one product per vector it was half of the heads' matrix time.
    """

    def __init__(self, label_embeddings: np.ndarray | None = None, n_classes: int = 0, dim: int = 0, n_inputs: int = 1,
                 **kwargs) -> None:
        super().__init__(label_embeddings, n_classes, dim, **kwargs)
        self.n_inputs = int(n_inputs)

    def build(self, input_shape) -> None:  # noqa: ANN001 (Keras signature)
        super().build(input_shape)
        self.scales = self.add_weight(name="scales", shape=(self.n_inputs,), initializer=keras.initializers.Constant(10.0))
        keras.layers.Layer.build(self, input_shape)

    def call(self, inputs: tf.Tensor | list[tf.Tensor]) -> tf.Tensor:
        vectors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(vectors) != self.n_inputs:
            raise ValueError(f"{self.name} expects {self.n_inputs} input vector(s), got {len(vectors)}")
        combined = tf.add_n([self.scales[i] * tf.math.l2_normalize(v, axis=-1) for i, v in enumerate(vectors)])
        return tf.matmul(combined, self.labels, transpose_b=True)

    def get_config(self) -> dict:
        return {**super().get_config(), "n_inputs": self.n_inputs}


@keras.utils.register_keras_serializable(package="prodcat")
class UnseenClassScores(keras.layers.Layer):
    """A level's scores from its class-specific terms (per-class weights, wide path) and its
    class-generic ones (similarity to the category names), for a level where some classes have no
    training products.

    A softmax trained with such classes in only learns that they never occur, which is true of the
    training shops and false of the next shop: every step pushes their scores down, through their
    own weights and through the parts all classes share. So in training they are left out of the
    softmax, and at serving they are scored by the generic terms alone, less `offset` (calibrated
    stacking), as the zero-shot peer scores every class.
    """

    def __init__(self, seen: np.ndarray | None = None, n_classes: int = 0, offset: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self._initial = None if seen is None else np.asarray(seen, np.float32)
        self.n_classes = int(n_classes if seen is None else len(seen))
        self.offset = float(offset)

    def build(self, input_shape) -> None:  # noqa: ANN001 (Keras signature)
        initial = self._initial
        self.seen = self.add_weight(
            name="seen", shape=(self.n_classes,), trainable=False,
            initializer=(lambda shape, dtype=None: tf.constant(initial, dtype)) if initial is not None else "zeros")
        super().build(input_shape)

    def call(self, inputs: list[tf.Tensor], training: bool | None = None) -> tf.Tensor:
        specific, generic = inputs
        seen = tf.broadcast_to(self.seen > 0.5, tf.shape(specific))
        if training:
            return tf.where(seen, specific + generic, tf.fill(tf.shape(specific), -1e9))
        return tf.where(seen, specific + generic, generic - self.offset)

    def get_config(self) -> dict:
        return {**super().get_config(), "n_classes": self.n_classes, "offset": self.offset}


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
    token_idf: np.ndarray | None = None, flat_layout: FlatLayout | None = None, wide: WideFeatures | None = None,
    seen_classes: Sequence[np.ndarray] | None = None,
) -> keras.Model:
    """A Keras model from transformed features to per-level class probabilities.

    Inputs: hashed n-gram ids (learned bag of n-grams) and, when Transform provides them, the
    frozen pretrained sentence embedding and image features (pretrained embedding or pixels for
    a learned CNN); all are concatenated into the shared trunk. With `wide`, each output also gets
    a linear score straight from the TF-IDF vector of the hashed n-grams (wide & deep).
    `seen_classes` (per level, which classes have training products) lets classes without any be
    scored by their names alone (`model.unseen_classes`).
    """
    feature_dims = feature_dims or {}
    keras.utils.set_random_seed(model_cfg.seed)
    inputs: dict[str, tf.Tensor] = {}
    memorizing = []
    ngram_bag = model_cfg.ngram_features or not feature_dims.get(F.TEXT_EMBEDDING)  # the only text input otherwise
    tokens = None
    if ngram_bag or wide is not None:
        tokens = keras.Input(shape=(None,), sparse=True, dtype=tf.int64, name=F.TOKENS)
        inputs[F.TOKENS] = tokens
    if ngram_bag:
        memorizing.append(HashedEmbeddingBag(text_cfg.word_buckets, model_cfg.embedding_dim, idf=token_idf,
                                             name="token_embedding")(tokens))
    if F.MERCHANT in feature_dims and model_cfg.merchant_feature:
        merchant = keras.Input(shape=(None,), sparse=True, dtype=tf.int64, name=F.MERCHANT)
        inputs[F.MERCHANT] = merchant
        memorizing.append(HashedEmbeddingBag(text_cfg.merchant_buckets, model_cfg.merchant_dim, zero_init=True,
                                             name="merchant_embedding")(merchant))
    sentence: tf.Tensor | None = None
    parts = []
    if memorizing:
        x = memorizing[0] if len(memorizing) == 1 else keras.layers.Concatenate(name="memorizing_features")(memorizing)
        if model_cfg.memorizing_path_dropout and feature_dims.get(F.TEXT_EMBEDDING):
            x = PathDropout(model_cfg.memorizing_path_dropout, seed=model_cfg.seed, name="memorizing_path_dropout")(x)
        parts.append(x)
    if feature_dims.get(F.TEXT_EMBEDDING):
        embedding = keras.Input(shape=(feature_dims[F.TEXT_EMBEDDING],), dtype=tf.float32, name=F.TEXT_EMBEDDING)
        inputs[F.TEXT_EMBEDDING] = sentence = embedding
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
    x = parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="product_features")(parts)
    for i, units in enumerate(model_cfg.hidden_units):
        x = keras.layers.Dense(units, activation="relu", name=f"trunk_{i}")(x)
        x = keras.layers.Dropout(model_cfg.dropout, name=f"trunk_dropout_{i}")(x)
    trunk = x
    # wide & deep: one linear score per output from the n-grams' TF-IDF vector (None: no classes to score)
    wide_scores = None
    if wide is not None and any(seen.any() for seen in wide.seen_classes):
        wide_scores = [scores if seen.any() else None for seen, scores in
                       zip(wide.seen_classes, WideLinear(wide, gain=model_cfg.wide_gain, name="wide_path")(tokens))]
    if model_cfg.heads == "flat":
        if flat_layout is None:
            raise ValueError("the flat classifier needs the taxonomy's flat layout")
        return _flat_model(inputs, trunk, model_cfg, flat_layout, label_embeddings, wide_scores[0] if wide_scores else None)

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
        if wide_scores and wide_scores[level - 1] is not None:
            logits = keras.layers.Add(name=f"level_{level}_scores_with_wide")([logits, wide_scores[level - 1]])
        generic = None  # scores shared by every class through its name: meaningful without training products
        if label_embeddings is not None:
            names = label_embeddings[level - 1]
            vectors = [keras.layers.Dense(names.shape[1], name=f"level_{level}_query")(h)]
            if model_cfg.label_prior and sentence is not None and names.shape[1] == sentence.shape[-1]:
                vectors.append(sentence)  # the label prior: the plain zero-shot similarity
            generic = NameScores(names, n_inputs=len(vectors), name=f"level_{level}_name_scores")(vectors)
        seen = None if seen_classes is None else np.asarray(seen_classes[level - 1], bool)
        if generic is not None and model_cfg.unseen_classes == "label_semantics" and seen is not None:
            # also where every class is seen: the layer is the record of it (`seen_class_masks`)
            logits = UnseenClassScores(seen, offset=model_cfg.unseen_class_offset,
                                       name=f"level_{level}_scores")([logits, generic])
        elif generic is not None:
            logits = keras.layers.Add(name=f"level_{level}_scores")([logits, generic])
        probs = keras.layers.Activation("softmax", name=F.level_output(level))(logits)
        outputs[F.level_output(level)] = probs
        previous = probs
    return keras.Model(inputs=inputs, outputs=outputs, name="prodcat_hierarchical")


class FlatLayout:
    """Every category of the taxonomy in one list (level 1's classes, then level 2's, ...), and for
    each level the class index of each category's ancestor there (-1 for shallower categories)."""

    def __init__(self, level_sizes: Sequence[int], ancestor_indices: Sequence[np.ndarray]) -> None:
        self.level_sizes = [int(n) for n in level_sizes]
        self.offsets = np.cumsum([0, *self.level_sizes[:-1]]).astype(np.int64)
        self.size = int(sum(self.level_sizes))
        self.ancestor_indices = [np.asarray(a, np.int64) for a in ancestor_indices]

    @classmethod
    def from_taxonomy(cls, taxonomy) -> FlatLayout:  # noqa: ANN001
        order = [cid for level in range(1, taxonomy.depth + 1) for cid in taxonomy.level_ids(level)]
        ancestors = [taxonomy.ancestors(cid) for cid in order]
        per_level = [
            np.array([taxonomy.level_index(k, chain[k - 1]) if len(chain) >= k else -1 for chain in ancestors])
            for k in range(1, taxonomy.depth + 1)
        ]
        return cls(taxonomy.level_sizes(), per_level)

    def level_counts(self, flat_counts: np.ndarray) -> list[np.ndarray]:
        """Per level, each class's count when `flat_counts` counts products by their own category."""
        flat_counts = np.asarray(flat_counts, np.float64)
        return [np.bincount(ancestors[ancestors >= 0], weights=flat_counts[ancestors >= 0], minlength=size)
                for ancestors, size in zip(self.ancestor_indices, self.level_sizes)]

    def flat_label(self, level_labels: Sequence[tf.Tensor]) -> tf.Tensor:
        """A product's own category in the flat list: its deepest level's class (-1: no label)."""
        flat = tf.fill(tf.shape(level_labels[0]), tf.constant(-1, tf.int64))
        for offset, labels in zip(self.offsets, level_labels):
            labels = tf.cast(labels, tf.int64)
            flat = tf.where(labels >= 0, labels + int(offset), flat)
        return flat


@keras.utils.register_keras_serializable(package="prodcat")
class SubtreeSum(keras.layers.Layer):
    """One level's distribution from the flat one: each class gets the mass of its whole subtree."""

    def __init__(self, ancestor_index: Sequence[int], n_classes: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ancestor_index, self.n_classes = [int(i) for i in ancestor_index], int(n_classes)
        members = [i for i, a in enumerate(self.ancestor_index) if a >= 0]
        self._members = tf.constant(members, tf.int64)
        self._segments = tf.constant([self.ancestor_index[i] for i in members], tf.int64)

    def call(self, flat_probs: tf.Tensor) -> tf.Tensor:
        columns = tf.transpose(tf.gather(flat_probs, self._members, axis=1))
        return tf.transpose(tf.math.unsorted_segment_sum(columns, self._segments, self.n_classes))

    def get_config(self) -> dict:
        return {**super().get_config(), "ancestor_index": self.ancestor_index, "n_classes": self.n_classes}


def _flat_model(
    inputs: dict[str, tf.Tensor], trunk: tf.Tensor, model_cfg: ModelConfig, layout: FlatLayout,
    label_embeddings: Sequence[np.ndarray] | None, wide_scores: tf.Tensor | None = None,
) -> keras.Model:
    """The flat classifier: one softmax over all categories; per-level outputs summed from it."""
    h = trunk
    if model_cfg.level_hidden_units:
        h = keras.layers.Dense(model_cfg.level_hidden_units, activation="relu", name="flat_hidden")(h)
        h = keras.layers.Dropout(model_cfg.dropout, name="flat_dropout")(h)
    logits = keras.layers.Dense(layout.size, name="flat_logits")(h)
    if label_embeddings is not None:
        names = np.concatenate(list(label_embeddings))
        query = keras.layers.Dense(names.shape[1], name="flat_query")(h)
        logits = keras.layers.Add(name="flat_scores")([logits, NameScores(names, name="flat_name_scores")(query)])
    if wide_scores is not None:
        logits = keras.layers.Add(name="flat_scores_with_wide")([logits, wide_scores])
    flat = keras.layers.Activation("softmax", name=F.FLAT_OUTPUT)(logits)
    outputs = {F.FLAT_OUTPUT: flat}
    for level, (size, ancestors) in enumerate(zip(layout.level_sizes, layout.ancestor_indices), start=1):
        outputs[F.level_output(level)] = SubtreeSum(ancestors, size, name=F.level_output(level))(flat)
    return keras.Model(inputs=inputs, outputs=outputs, name="prodcat_flat")


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
class MaskedLevelLoss(keras.losses.Loss):
    """One level's loss over products that have a class at this level (label >= 0), class-weighted:
    cross-entropy, a multi-class hinge (Crammer-Singer) on the scores, or their sum.

    Products whose category is shallower than the level carry -1 and contribute nothing. The
    hinge reads the scores as log-probabilities (the softmax's per-row constant cancels in the
    difference between two classes): it asks the true class to beat the best other by `margin`
    and then lets the product go, where cross-entropy keeps pushing every easy product further.
    On sparse n-gram features that is what separates a linear SVM from logistic regression; for
    this model it measured within the seed spread of cross-entropy on MWPD (BENCHMARKS.md).
    """

    KINDS = ("cross_entropy", "hinge", "cross_entropy_and_hinge")

    def __init__(self, class_weights: Sequence[float] | None = None, kind: str = "cross_entropy", margin: float = 1.0,
                 name: str = "masked_level_loss", **kwargs) -> None:
        super().__init__(name=name, reduction=keras.losses.Reduction.NONE, **kwargs)
        if kind not in self.KINDS:
            raise ValueError(f"loss kind must be one of {self.KINDS}, got {kind!r}")
        self.class_weights = list(class_weights) if class_weights is not None else None
        self.kind, self.margin = kind, float(margin)

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        labels = tf.reshape(tf.cast(y_true, tf.int64), [-1])
        valid = labels >= 0
        safe = tf.where(valid, labels, tf.zeros_like(labels))
        loss = tf.zeros(tf.shape(labels), y_pred.dtype)
        if self.kind != "hinge":
            loss += keras.losses.sparse_categorical_crossentropy(safe, y_pred)
        if self.kind != "cross_entropy":
            loss += self._hinge(safe, y_pred)
        weights = tf.cast(valid, loss.dtype)
        if self.class_weights is not None:
            weights *= tf.gather(tf.constant(self.class_weights, loss.dtype), safe)
        return loss * weights

    def _hinge(self, labels: tf.Tensor, probs: tf.Tensor) -> tf.Tensor:
        scores = tf.math.log(tf.clip_by_value(probs, 1e-30, 1.0))
        own = tf.one_hot(labels, tf.shape(probs)[-1], dtype=probs.dtype)
        true_score = tf.reduce_sum(scores * own, axis=-1)
        best_other = tf.reduce_max(scores - own * 1e9, axis=-1)
        return tf.nn.relu(self.margin - (true_score - best_other))

    def get_config(self) -> dict:
        return {**super().get_config(), "class_weights": self.class_weights, "kind": self.kind, "margin": self.margin}


@keras.utils.register_keras_serializable(package="prodcat")
class MaskedAccuracy(keras.metrics.Mean):
    """Accuracy at one level over the products that have a class at that level."""

    def __init__(self, name: str = "accuracy", **kwargs) -> None:
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):  # noqa: ANN001 (Keras signature)
        labels = tf.reshape(tf.cast(y_true, tf.int64), [-1])
        correct = tf.cast(tf.equal(labels, tf.argmax(y_pred, axis=-1)), tf.float32)
        return super().update_state(correct, sample_weight=tf.cast(labels >= 0, tf.float32))


def compile_model(
    model: keras.Model, level_class_weights: Sequence[Sequence[float] | None], model_cfg: ModelConfig,
    flat_class_weights: Sequence[float] | None = None,
) -> None:
    """Weighted sum of per-level losses (flat: the loss of the product's own category), per-level
    masked accuracy."""
    n_levels = len(level_class_weights)
    names = [F.level_output(level) for level in range(1, n_levels + 1)]
    metrics = {name: [MaskedAccuracy()] for name in names}
    optimizer = (LazyAdam if model_cfg.optimizer == "lazy_adam" else keras.optimizers.Adam)(model_cfg.learning_rate)

    def level_loss(class_weights: Sequence[float] | None) -> MaskedLevelLoss:
        return MaskedLevelLoss(class_weights, model_cfg.loss, model_cfg.hinge_margin)

    if model_cfg.heads == "flat":
        model.compile(optimizer=optimizer, loss={F.FLAT_OUTPUT: _SumOverBatch(level_loss(flat_class_weights))},
                      metrics=metrics)
        return
    loss_weights = model_cfg.loss_weights or (1.0,) * n_levels
    if len(loss_weights) < n_levels:
        loss_weights = tuple(loss_weights) + (loss_weights[-1],) * (n_levels - len(loss_weights))
    model.compile(
        optimizer=optimizer,
        loss={name: _SumOverBatch(level_loss(w)) for name, w in zip(names, level_class_weights)},
        loss_weights=dict(zip(names, loss_weights)),
        metrics=metrics,
    )


class _SumOverBatch:
    """Normalises a masked per-example loss by the number of products that count at this level."""

    def __init__(self, loss: MaskedLevelLoss) -> None:
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
