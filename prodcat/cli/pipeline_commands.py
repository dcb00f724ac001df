"""`prodcat import`, `run`, `taxonomy`, `synth`, `compile` and `submit`: the commands that bring
products and a taxonomy in and run the TFX pipeline on them, here (the local runner) or on a
cluster (a compiled spec submitted to Kubeflow or Vertex AI Pipelines)."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
from pathlib import Path

from prodcat.cli.quiet_logs import _quiet_libraries
from prodcat.config import load_config
from prodcat.config.settings import config_with_settings


def _cmd_import(args: argparse.Namespace) -> int:
    from prodcat.importers import import_dataset
    from prodcat.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(args.taxonomy) if args.taxonomy else None
    mapping = None
    if args.shopify_mapping:
        from prodcat.importers.shopify_mapping import ShopifyToGoogle

        mapping = ShopifyToGoogle.from_files(args.shopify_mapping, args.shopify_categories or ())
    elif args.shopify_categories:
        raise ValueError("--shopify-categories names Shopify paths for --shopify-mapping; pass the mapping too")
    started = time.time()
    report = import_dataset(args.dataset, Path(args.src), Path(args.out), taxonomy, mapping)
    report["seconds"] = round(time.time() - started, 2)
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    _quiet_libraries(args.verbose)
    from prodcat.pipeline import local_runner
    from prodcat.reporting.report_data import synthetic_data_note
    from prodcat.reporting.summary import format_summary, latest_run_summary

    config = config_with_settings(load_config(args.config), args.settings).with_overrides(
        data=args.data, taxonomy=args.taxonomy, output_dir=args.output,
        enable_cache=False if args.no_cache else None,
    )
    prepared = local_runner.prepare(config)
    preflight = prepared.preflight
    print(f"prodcat: {preflight.products} products ({preflight.with_image} with images, images {prepared.config.image.mode}) "
          f"from {prepared.inputs.data_root} ({preflight.rejected} rejected), taxonomy {prepared.taxonomy.version or '(unversioned)'} "
          f"with {len(prepared.taxonomy)} categories, output {config.output_path}", file=sys.stderr)
    wall = local_runner.run(prepared, verbose=args.verbose)
    config = prepared.config
    summary = latest_run_summary(config.metadata_path)
    text = format_summary(summary, wall, prepared.taxonomy.depth)
    note = synthetic_data_note(config)
    if note:
        text += "\n" + textwrap.fill(note, width=100, initial_indent="  ", subsequent_indent="  ")
    (config.output_path / "run_summary.txt").write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def _cmd_taxonomy(args: argparse.Namespace) -> int:
    from prodcat.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(args.source)
    info = {"version": taxonomy.version, "categories": len(taxonomy), "depth": taxonomy.depth,
            "per_level": taxonomy.level_sizes(), "fingerprint": taxonomy.fingerprint()}
    print(json.dumps(info, indent=2))
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from prodcat.synth import SynthConfig, write_demo_dataset
    from prodcat.taxonomy import load_taxonomy

    config = SynthConfig(n_products=args.n, n_categories=args.categories, images=args.images, seed=args.seed)
    path = write_demo_dataset(load_taxonomy(args.taxonomy), Path(args.out), config)
    print(path)
    return 0


def _cmd_compile(args: argparse.Namespace) -> int:
    _quiet_libraries(False)
    print(f"prodcat: compiling the pipeline of {args.config or 'the demo config'} for Kubeflow ...", file=sys.stderr,
          flush=True)
    from prodcat.kubeflow.runner import compile_command

    path = compile_command(args.config, args.output, data=args.data, taxonomy=args.taxonomy,
                           vertex_project=args.vertex_project, vertex_region=args.vertex_region,
                           vertex_machine_type=args.vertex_machine_type)
    print(path)
    return 0


def _cmd_submit(args: argparse.Namespace) -> int:
    import dataclasses

    from prodcat.kubeflow.submit import SubmissionError, parse_parameters, submit

    try:
        submission = submit(
            args.spec, endpoint=args.endpoint, experiment=args.experiment, run_name=args.run_name,
            parameters=parse_parameters(args.param), recurring_cron=args.cron,
            vertex_project=args.vertex_project, vertex_region=args.vertex_region,
            enable_caching=False if args.no_cache else None,
        )
    except SubmissionError as err:
        print(f"prodcat: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(dataclasses.asdict(submission), indent=2, default=str))
    return 0
