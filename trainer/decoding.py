"""Hierarchy-consistent decoding and confidence thresholds, as TensorFlow ops in the serving graph.

Greedy decoding takes the best level-1 class, then at each deeper level the best *child of the
previous choice*, so a prediction is always a real path of the taxonomy. Beam search (width > 1)
keeps several partial paths and picks the one with the highest product of level probabilities. Thresholds then cut the
path at the last level whose confidence passes its floor; sensitive subtrees get stricter floors.
Thresholds (and per-level calibration temperatures) are constants of the exported graph:
re-exporting with new ones needs no retraining (`prodcat tune-thresholds --export`).

Every level's decision also weighs the category names (`thresholds.name_evidence`): a category's
log-probability gains a multiple of how near the product is to the names of its subtree
(`name_scores.py`). The heads learned the training shops' categories and vocabulary; a new shop's
products are often worded unlike them, and their own words then name the category. Where the heads
are sure, the names change little.

When the decoded path is unsure somewhere (a level's confidence below
`thresholds.name_fallback_below`), the product may get instead the category whose name is nearest
(over every level, less the level penalty): by default (`name_fallback_classes: auto`) only if that
category had no training products or the product is unlike the training data (its nearest name
within `thresholds.novel_margin` of its nearest training product, of a sample). `unseen` never
hands a product to a trained category, `all` always may (BENCHMARKS.md).

A product unlike the training data (`familiarity`) is served under the stricter of its floors and
`thresholds.per_level_unfamiliar`: the heads are as sure of a new shop's unfamiliar products as of
familiar ones, and much more often wrong below level 1.

A path ends at a category training products were labelled with when none was labelled deeper in
its subtree (`thresholds.stop_where_labels_stop`): below it the training data supports no choice,
and a deeper guess only costs hierarchical precision.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from prodcat import features as F
from prodcat.config import ThresholdConfig
from prodcat.taxonomy import Taxonomy
from prodcat.trainer.decoding_tables import calibrated, label_end_masks, stop_where_labels_stop, threshold_vectors
from prodcat.trainer.name_scores import CategoryNameScores


class HierarchicalDecoder(tf.Module):
    """Turns per-level probabilities into a thresholded, tree-consistent prediction."""

    def __init__(self, taxonomy: Taxonomy, thresholds: ThresholdConfig, beam_width: int = 1, name: str = "decoder",
                 category_names: Sequence[tf.Tensor | np.ndarray] | None = None,
                 seen_classes: Sequence[np.ndarray] | None = None, training_sample: np.ndarray | None = None) -> None:
        """`category_names`: per level, the path-name embedding of every class ([classes, dim]),
        for the name fallback; None: no fallback. `seen_classes`: per level, which classes had
        training products; with `thresholds.name_fallback_classes` 'unseen' the fallback hands a
        product only to the others (None: to any), and with `thresholds.stop_where_labels_stop` a
        path ends where the training labels of its subtree end. `training_sample`: sentence
        embeddings of training products ([n, dim]); with 'auto' a product whose nearest category
        name is within `thresholds.novel_margin` of its nearest one of them may be handed to any
        category (None: as 'unseen'), and a product much nearer one of them than any name gets the
        smaller name weight `name_evidence_familiar` (None: `name_evidence` for all)."""
        super().__init__(name=name)
        self.depth = taxonomy.depth
        self.beam_width = beam_width
        self.fallback_below = float(thresholds.name_fallback_below)
        self.name_evidence = float(thresholds.name_evidence)
        self.name_evidence_familiar = float(thresholds.name_evidence_familiar)
        self.familiar_margin = float(thresholds.name_evidence_margin)
        self.category_names = None
        if category_names is not None and (self.fallback_below > 0.0 or self.name_evidence > 0.0
                                           or bool(thresholds.per_level_unfamiliar)):
            if len(category_names) != self.depth:
                raise ValueError(f"expected category names for {self.depth} levels, got {len(category_names)}")
            self.category_names = list(category_names)
        if seen_classes is not None and [len(s) for s in seen_classes] != list(taxonomy.level_sizes()):
            raise ValueError(f"seen-class masks of sizes {[len(s) for s in seen_classes]} do not fit the "
                             f"taxonomy's levels {taxonomy.level_sizes()}")
        self.seen_classes = None
        if self.category_names is not None and seen_classes is not None and thresholds.name_fallback_classes != "all":
            self.seen_classes = [tf.constant(np.asarray(s, bool)) for s in seen_classes]
        self.novel_margin = float(thresholds.novel_margin)
        self.fallback_auto = self.seen_classes is not None and thresholds.name_fallback_classes == "auto"
        self.training_sample = None
        if self.category_names is not None and training_sample is not None:
            # a variable, so the exported model carries it and a re-export finds it (`model_decoder`)
            self.training_sample = tf.Variable(np.asarray(training_sample, np.float32), trainable=False,
                                               name="training_sample")
        self.label_ends = None
        if seen_classes is not None and thresholds.stop_where_labels_stop:
            self.label_ends = [tf.constant(m) for m in label_end_masks(taxonomy, seen_classes)]
        self.level_ids = [tf.constant(taxonomy.level_ids(k), tf.string) for k in range(1, self.depth + 1)]
        self.level_names = [
            tf.constant([taxonomy[c].name for c in taxonomy.level_ids(k)], tf.string)
            for k in range(1, self.depth + 1)
        ]
        # parent_index[k][j]: index (at level k) of the parent of class j of level k+1.
        self.parent_index = [
            tf.constant(
                [taxonomy.level_index(k, taxonomy[c].parent) for c in taxonomy.level_ids(k + 1)], tf.int64
            )
            for k in range(1, self.depth)
        ]
        self.name_scores = None if self.category_names is None else CategoryNameScores(
            self.category_names, self.parent_index, thresholds.name_level_penalty)
        floor_vectors = threshold_vectors(taxonomy, thresholds)
        self.floors = [tf.constant(v) for v in floor_vectors]
        self.unfamiliar_floors = None  # telling an unlike product apart needs the names and the sample
        if self.name_scores is not None and self.training_sample is not None and thresholds.per_level_unfamiliar:
            self.unfamiliar_floors = [tf.constant(np.maximum(v, np.float32(thresholds.for_level_unfamiliar(k))))
                                      for k, v in enumerate(floor_vectors, start=1)]
        # Per-level calibration (softmax temperature); 1.0 leaves a level's probabilities as they are.
        self.temperatures = [thresholds.temperature(k) for k in range(1, self.depth + 1)]

    def __call__(self, level_probs: Sequence[tf.Tensor], sentence: tf.Tensor | None = None,
                 name_query: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """`sentence`: the products' sentence embeddings ([batch, dim]), for the names;
        `name_query`: a second embedding of their short text the names are also matched against."""
        return self.decode(level_probs, sentence, name_query)[0]

    def decode(self, level_probs: Sequence[tf.Tensor], sentence: tf.Tensor | None = None,
               name_query: tf.Tensor | None = None) -> tuple[dict[str, tf.Tensor], tf.Tensor | None]:
        """The outputs, and which products were served under `per_level_unfamiliar` ([batch] bool;
        None: none could be), for threshold tuning to score what serving does."""
        if len(level_probs) != self.depth:
            raise ValueError(f"expected {self.depth} levels of probabilities, got {len(level_probs)}")
        level_probs = [calibrated(p, t) for p, t in zip(level_probs, self.temperatures)]
        with_names = (self.name_scores is not None and sentence is not None
                      and sentence.shape[-1] == self.name_scores.dim)
        if name_query is not None and (not with_names or name_query.shape[-1] != self.name_scores.dim):
            name_query = None
        nearest = familiar = None  # cosine to the nearest sampled training product; like the training data
        if with_names and self.name_evidence > 0.0:
            level_probs, nearest, familiar = self._with_name_evidence(level_probs, sentence, name_query)
        if with_names and self.unfamiliar_floors is not None and familiar is None:
            familiar, nearest = self.familiarity(sentence, name_query=name_query)
        unfamiliar = None if familiar is None or self.unfamiliar_floors is None else tf.logical_not(familiar)
        choices = self._beam_path(level_probs) if self.beam_width > 1 else self._greedy_path(level_probs)
        if with_names and self.fallback_below > 0.0:
            choices = self._with_name_fallback(level_probs, choices, sentence, nearest, name_query)
        if self.label_ends is not None:
            choices = stop_where_labels_stop(choices, self.label_ends)
        ids, names, confidences, valid, passed = [], [], [], [], []
        for k, (probs, choice) in enumerate(zip(level_probs, choices)):
            has_class = choice >= 0
            safe = tf.maximum(choice, 0)
            confidence = tf.gather(probs, safe, batch_dims=1)
            valid.append(has_class)
            floor = tf.gather(self.floors[k], safe)
            if unfamiliar is not None:
                floor = tf.where(unfamiliar, tf.gather(self.unfamiliar_floors[k], safe), floor)
            passed.append(tf.logical_and(has_class, confidence >= floor))
            ids.append(tf.where(has_class, tf.gather(self.level_ids[k], safe), ""))
            names.append(tf.where(has_class, tf.gather(self.level_names[k], safe), ""))
            confidences.append(tf.where(has_class, confidence, 0.0))
        return self._outputs(ids, names, confidences, valid, passed), unfamiliar

    def _greedy_path(self, level_probs: Sequence[tf.Tensor]) -> list[tf.Tensor]:
        """Per level, the best child of the previous choice ([batch] class index, -1 past a leaf)."""
        choices: list[tf.Tensor] = []
        for k, probs in enumerate(level_probs):
            if k == 0:
                choices.append(tf.argmax(probs, axis=1, output_type=tf.int64))
                continue
            is_child = tf.equal(self.parent_index[k - 1][None, :], choices[-1][:, None])
            best = tf.argmax(tf.where(is_child, probs, -tf.ones_like(probs)), axis=1, output_type=tf.int64)
            choices.append(tf.where(tf.reduce_any(is_child, axis=1), best, -1))
        return choices

    def _beam_path(self, level_probs: Sequence[tf.Tensor]) -> list[tf.Tensor]:
        """Beam search over the tree: keeps the `beam_width` best partial paths by the product of
        their level probabilities; a path that reaches a leaf competes with its final score."""
        log_probs = [tf.math.log(tf.maximum(p, 1e-12)) for p in level_probs]
        width = min(self.beam_width, int(level_probs[0].shape[-1]))
        score, first = tf.math.top_k(log_probs[0], k=width)
        paths = [tf.cast(first, tf.int64)]                      # each [batch, width]
        alive = tf.ones_like(score, dtype=tf.bool)
        neg_inf = tf.constant(-np.inf, tf.float32)
        for k in range(1, self.depth):
            n = int(level_probs[k].shape[-1])
            is_child = tf.logical_and(
                tf.equal(self.parent_index[k - 1][None, None, :], paths[-1][:, :, None]), alive[:, :, None])
            child_scores = tf.where(is_child, score[:, :, None] + log_probs[k][:, None, :], neg_inf)
            stop_scores = tf.where(tf.reduce_any(is_child, axis=2), neg_inf, score)
            candidates = tf.concat([tf.reshape(child_scores, [-1, width * n]), stop_scores], axis=1)
            new_width = min(self.beam_width, width * n + width)
            score, pick = tf.math.top_k(candidates, k=new_width)
            pick = tf.cast(pick, tf.int64)
            stopped = pick >= width * n
            parent = tf.where(stopped, pick - width * n, pick // n)
            paths = [tf.gather(p, parent, batch_dims=1) for p in paths] + [
                tf.where(stopped, tf.constant(-1, tf.int64), pick % n)]
            alive = tf.logical_and(tf.logical_not(stopped), score > neg_inf)
            width = new_width
        best = tf.argmax(score, axis=1, output_type=tf.int64)
        return [tf.gather(p, best, batch_dims=1) for p in paths]

    def path_confidence(self, level_probs: Sequence[tf.Tensor], choices: Sequence[tf.Tensor]) -> tf.Tensor:
        """[batch] the smallest confidence along each decoded path (1.0 for an empty path)."""
        per_level = [tf.where(c >= 0, tf.gather(p, tf.maximum(c, 0), batch_dims=1), 1.0)
                     for p, c in zip(level_probs, choices)]
        return tf.reduce_min(tf.stack(per_level, axis=1), axis=1)

    def _nearest_training(self, sentence: tf.Tensor) -> tf.Tensor:
        """[batch] cosine of each product to its nearest product of the training sample."""
        query = tf.math.l2_normalize(tf.cast(sentence, tf.float32), axis=-1)
        return tf.reduce_max(tf.matmul(query, self.training_sample, transpose_b=True), axis=1)

    def familiarity(self, sentence: tf.Tensor, level1_scores: tf.Tensor | None = None,
                    name_query: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """([batch] bool, [batch] cosine): whether each product is like the training data (a sampled
        training product more than `name_evidence_margin` nearer than any category name), and its
        cosine to the nearest sampled training product. Needs the names and the training sample."""
        if level1_scores is None:
            level1_scores = self.name_scores.subtree_scores(sentence, name_query)[0]
        nearest = self._nearest_training(sentence)
        return tf.reduce_max(level1_scores, axis=1) + self.familiar_margin <= nearest, nearest  # level 1: best of all

    def _with_name_evidence(self, level_probs: Sequence[tf.Tensor], sentence: tf.Tensor,
                            name_query: tf.Tensor | None) -> tuple[list[tf.Tensor], tf.Tensor | None, tf.Tensor | None]:
        """Per level, softmax(log p + weight x subtree name score): the heads' probabilities and the
        names' similarity as one distribution (a product of experts). The weight is
        `name_evidence_familiar` for a product like the training data (a sampled training product
        more than `name_evidence_margin` nearer than any category name), where the heads know best.
        Also returns the nearest-training cosines and familiarity when it needed them (the fallback
        and the unfamiliar floors reuse them)."""
        scores = self.name_scores.subtree_scores(sentence, name_query)
        weight = tf.fill(tf.shape(sentence)[:1], self.name_evidence)
        nearest = familiar = None
        if self.training_sample is not None and (self.name_evidence_familiar != self.name_evidence
                                                 or self.unfamiliar_floors is not None):
            familiar, nearest = self.familiarity(sentence, scores[0])
            weight = tf.where(familiar, self.name_evidence_familiar, weight)
        return [tf.nn.softmax(tf.math.log(tf.maximum(p, 1e-12)) + weight[:, None] * names, axis=-1)
                for p, names in zip(level_probs, scores)], nearest, familiar

    def _with_name_fallback(self, level_probs: Sequence[tf.Tensor], choices: list[tf.Tensor],
                            sentence: tf.Tensor, nearest: tf.Tensor | None = None,
                            name_query: tf.Tensor | None = None) -> list[tf.Tensor]:
        """Products whose path is unsure somewhere take the path of their nearest category name
        (with seen-class masks: only where that category had no training products).

        Only those products are matched against the names (one [unsure, dim] x [dim, classes]
        product per level), so a batch of sure products costs nothing more. `nearest`: the
        batch's nearest-training cosines if already computed."""
        unsure = tf.where(self.path_confidence(level_probs, choices) < self.fallback_below)[:, 0]
        unsure_sentences = tf.gather(sentence, unsure)
        unsure_queries = None if name_query is None else tf.gather(name_query, unsure)
        best_score = tf.fill(tf.shape(unsure), tf.constant(-np.inf, tf.float32))
        best_level = tf.zeros_like(unsure)
        best_class = tf.zeros_like(unsure)
        best_seen = tf.zeros_like(unsure, dtype=tf.bool)
        for k, cosine in enumerate(self.name_scores.level_scores(unsure_sentences, unsure_queries)):
            score, index = tf.reduce_max(cosine, axis=1), tf.argmax(cosine, axis=1, output_type=tf.int64)
            better = score > best_score
            best_score = tf.where(better, score, best_score)
            best_level = tf.where(better, tf.constant(k, tf.int64), best_level)
            best_class = tf.where(better, index, best_class)
            if self.seen_classes is not None:
                best_seen = tf.where(better, tf.gather(self.seen_classes[k], index), best_seen)
        if self.seen_classes is not None:  # a trained class: the heads' choice stands ...
            handed_over = tf.logical_not(best_seen)
            if self.fallback_auto and self.training_sample is not None:  # ... unless a name is as near as training
                near = self._nearest_training(unsure_sentences) if nearest is None else tf.gather(nearest, unsure)
                handed_over = tf.logical_or(handed_over, best_score + self.novel_margin > near)
            unsure, best_level, best_class = (tf.boolean_mask(t, handed_over) for t in (unsure, best_level, best_class))
        # the matched class and its ancestors, deepest level first; -1 below the matched level
        path: list[tf.Tensor] = [None] * self.depth  # type: ignore[list-item]
        current = tf.fill(tf.shape(unsure), tf.constant(-1, tf.int64))
        for k in reversed(range(self.depth)):
            if k + 1 < self.depth:
                current = tf.where(current >= 0, tf.gather(self.parent_index[k], tf.maximum(current, 0)), -1)
            current = tf.where(best_level == k, best_class, current)
            path[k] = current
        rows = unsure[:, None]
        return [tf.tensor_scatter_nd_update(choice, rows, fallback) for choice, fallback in zip(choices, path)]

    def _outputs(self, ids, names, confidences, valid, passed) -> dict[str, tf.Tensor]:  # noqa: ANN001
        level_ids = tf.stack(ids, axis=1)
        level_names = tf.stack(names, axis=1)
        passed_prefix = tf.math.cumprod(tf.cast(tf.stack(passed, axis=1), tf.int32), axis=1)
        depth = tf.reduce_sum(passed_prefix, axis=1)
        full_depth = tf.reduce_sum(tf.cast(tf.stack(valid, axis=1), tf.int32), axis=1)
        in_path = tf.sequence_mask(depth, self.depth)
        category_id = tf.where(
            depth > 0, tf.gather(level_ids, tf.maximum(depth - 1, 0), batch_dims=1), ""
        )
        category_path = tf.strings.reduce_join(
            tf.ragged.boolean_mask(level_names, in_path), axis=1, separator=" > "
        )
        return {
            F.OUT_CATEGORY_ID: category_id,
            F.OUT_CATEGORY_PATH: category_path,
            F.OUT_DEPTH: depth,
            F.OUT_FULL_DEPTH: full_depth,
            F.OUT_LEVEL_IDS: level_ids,
            F.OUT_LEVEL_NAMES: level_names,
            F.OUT_LEVEL_CONFIDENCES: tf.stack(confidences, axis=1),
        }
