"""Deterministic synthetic marketplace listings for demos, tests and benchmarks.

Real labelled product data is large, licensed and slow to obtain, but every part of prodcat (the
importers, the TFX pipeline, the trainer, serving, the benchmarks) needs labelled products to run.
This package fabricates listings that look like a marketplace feed and have the properties that make
product categorization hard, each under explicit control:

* any taxonomy (Google's 5,595-node tree or a six-node test tree), labels spread over many level-1
  subtrees and over shallow (level 2-3) and deep (level 4+) leaves;
* Zipf-skewed class frequencies (head classes common, tail classes rare, none empty);
* several languages with a built-in lexicon, and localized category names when a localized
  taxonomy is given (e.g. Google's German file);
* specialised shops, so a split by shop is a real distribution shift;
* noisy titles (typos, shuffled and dropped words, SKU codes, marketing phrases);
* optional PNG images whose shape and hue depend on the category, so an image model can learn them;
* optional *ambiguous titles*: the chosen categories come in sibling pairs whose texts are drawn
  from one shared word pool, so only the image separates the two. This exists for the multimodal
  benchmark, which measures how much the image signal adds over text;
* optional realism, off by default and on in the demo (`prodcat.config.DemoConfig`), so a model
  trained on the listings is good but not perfect: sibling categories sharing vocabulary, terse
  titles, one-off sellers that a split by product puts in eval unseen, and mislabelled rows.

Everything is a pure function of (taxonomy, config, localized taxonomies): the same inputs give
byte-identical output. Randomness comes only from seeded `random.Random` / `numpy` generators,
one independent stream per purpose, so switching images on does not change any text.

The modules, in the order `generate` uses them: `config` (the knobs), `random_streams` (one seeded
stream per purpose), `categories` (which categories, in which pairs, how many listings each),
`shops` (merchants, brands, one-off sellers), `lexicon` (template words per language), `listing`
(one listing's fields), `noise` (noisy and terse titles, wrong labels), `images` (the PNGs),
`generator` (`generate`) and `dataset_files` (`write_demo_dataset`).
"""

from __future__ import annotations

from prodcat.synth.categories import SHALLOW_MAX_LEVEL as SHALLOW_MAX_LEVEL
from prodcat.synth.categories import ambiguous_pairs, select_categories
from prodcat.synth.config import SynthConfig
from prodcat.synth.dataset_files import write_demo_dataset
from prodcat.synth.generator import generate
from prodcat.synth.images import IMAGE_SIZE as IMAGE_SIZE
from prodcat.synth.lexicon import lexicon_languages

# The public API. IMAGE_SIZE and SHALLOW_MAX_LEVEL stay importable from here, as before the split.
__all__ = [
    "SynthConfig",
    "ambiguous_pairs",
    "generate",
    "lexicon_languages",
    "select_categories",
    "write_demo_dataset",
]
