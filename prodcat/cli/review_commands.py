"""`prodcat review`: serve the local review app over a queue of predictions (built from a pushed
model, or built before), or print the audited precision from the review log (`review stats`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _cmd_review(args: argparse.Namespace) -> int:
    if args.action == "stats":
        return _review_stats(args)
    from prodcat.review.serve import open_session, serve

    queue_path = Path(args.queue_file) if args.queue_file else None
    if args.model:
        from prodcat.review.build import prepare_queue

        products = args.products or _eval_split_of(args.model)
        print(f"prodcat: building the {args.queue} queue of {args.model} from {len(products)} product file(s) "
              "(loading TensorFlow and the model takes a while) ...", file=sys.stderr, flush=True)
        queue_path, built = prepare_queue(args.queue, args.model, products, Path(args.log).parent, weights=args.weights,
                                          margin=args.margin, confidence=args.confidence, seed=args.seed,
                                          min_confidence=args.min_confidence)
        print(f"prodcat: {'built' if built else 'reusing'} queue {queue_path}", file=sys.stderr, flush=True)
    elif queue_path is None:
        raise ValueError("review needs --model (to build a queue) or --queue-file (a queue built before)")
    session = open_session(queue_path, args.log, args.reviewer, args.names, args.host, args.port)
    serve(session, args.host, args.port)
    return 0


def _review_stats(args: argparse.Namespace) -> int:
    from prodcat.review.stats import format_stats, read_stats
    from prodcat.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(args.taxonomy) if args.taxonomy else None
    stats = read_stats(args.log, taxonomy, args.confidence)
    print(json.dumps([s.to_json() for s in stats], indent=2) if args.json else format_stats(stats))
    return 0


def _eval_split_of(model: str) -> list[str]:
    """The eval split of the run that pushed `model` (its shipped config names the run's output)."""
    from prodcat.reporting.tuning import find_run_artifacts
    from prodcat.review.build import served_model

    return find_run_artifacts(served_model(model).config.output_dir).eval_files
