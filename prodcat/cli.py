"""The `prodcat` command. Each subcommand parses its flags and calls one typed function."""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

from prodcat.config import Config, ConfigError, load_config
from prodcat.records import RecordError
from prodcat.taxonomy import TaxonomyError

# `prodcat bench NAME ...` runs benchmarks/<module>.py with the remaining flags.
BENCHMARKS = {
    "serving": "serving", "batch": "batch", "soak": "soak", "quality": "quality",
    "cross-language": "cross_language", "image-signal": "image_signal", "text-encoder": "text_encoder_throughput",
    "ablation": "ablation", "scaling": "scaling",
}

USER_ERRORS: tuple[type[BaseException], ...] = (RecordError, TaxonomyError, ConfigError, FileNotFoundError, ValueError, LookupError)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


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


def _quiet_libraries(verbose: bool) -> None:
    """Keeps the terminal for prodcat's own progress lines; library chatter only with --verbose."""
    import logging
    import warnings

    logging.basicConfig(level=logging.INFO, format="prodcat: %(message)s", stream=sys.stderr)
    if verbose:
        return
    warnings.filterwarnings("ignore")
    for name in ("tensorflow", "apache_beam", "absl", "tfx", "ml_metadata", "root"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger("prodcat").setLevel(logging.INFO)  # prodcat's own lines (epochs, warnings) stay
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)


def _cmd_run(args: argparse.Namespace) -> int:
    _quiet_libraries(args.verbose)
    from prodcat.pipeline import local_runner
    from prodcat.reporting.report_data import synthetic_data_note
    from prodcat.reporting.summary import format_summary, latest_run_summary

    config = load_config(args.config).with_overrides(
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


def _cmd_predict(args: argparse.Namespace) -> int:
    if args.text is not None:
        from prodcat.serving.predict import explain_text

        print(f"prodcat: loading the model from {args.model} ...", file=sys.stderr, flush=True)
        print(explain_text(args.model, args.text))
        return 0
    if not (args.input and args.output):
        raise ValueError("predict needs --input and --output (or --text TITLE for one product)")
    if args.runner == "beam":
        _quiet_libraries(False)
        from prodcat.serving.beam_predict import run_beam_predict

        prefix = str(Path(args.output).with_suffix(""))
        run_beam_predict(args.model, args.input, prefix, full_depth=args.full_depth, beam_args=args.beam_arg)
        print(f"prodcat: predictions written to {prefix}-*.jsonl (rejects: {prefix}-rejects-*.jsonl)", file=sys.stderr)
        return 0
    from prodcat.serving.predict import predict_file

    rejects: list[RecordError] | None = [] if args.skip_bad_records else None
    started = time.time()
    count = predict_file(args.model, args.input, args.output, full_depth=args.full_depth,
                         batch_size=args.batch_size, progress=not args.quiet, rejects=rejects,
                         parallel_calls=args.parallel_calls)
    seconds = time.time() - started
    rate = count / max(seconds, 1e-9)
    shown = f"{rate:,.0f}" if rate >= 10 else f"{rate:.2g}"  # 15 products in 40 s: 0.38, not 0
    print(f"prodcat: {count} predictions -> {args.output} in {seconds:.1f} s ({shown} products/s)", file=sys.stderr)
    for error in rejects or []:
        print(f"prodcat: skipped {error}", file=sys.stderr)
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


def _cmd_client(args: argparse.Namespace) -> int:
    from prodcat.serving.client import PredictionError, TlsOptions, predict_file

    rejects: list[RecordError] | None = [] if args.skip_bad_records else None
    tls = TlsOptions(ca_cert=args.tls_ca_cert, client_cert=args.tls_client_cert, client_key=args.tls_client_key,
                     server_name=args.tls_server_name)
    if not args.tls and tls == TlsOptions():
        tls = None
    try:
        count = predict_file(args.target, args.input, args.output, model_name=args.model_name,
                             signature_name=args.signature, full_depth=args.full_depth, progress=not args.quiet,
                             rejects=rejects, tls=tls, **{k: v for k, v in (("batch_size", args.batch_size),
                                                                             ("concurrency", args.concurrency)) if v})
    except PredictionError as err:  # e.g. UNAVAILABLE: server down, or TLS on one side only / certificate refused
        print(f"prodcat: error: {args.target}: {err}", file=sys.stderr)
        return 1
    print(f"prodcat: {count} predictions from {args.target} -> {args.output}", file=sys.stderr)
    for error in rejects or []:
        print(f"prodcat: skipped {error}", file=sys.stderr)
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


def _metadata_connection(args: argparse.Namespace, pushed: str | None = None):
    """The ML Metadata store `runs` and `lineage` read: a MySQL server when --mysql-host is given,
    else the SQLite file of a local run (--metadata, or the one under --output / the config's output;
    for a pushed version directory and none of these, the run that pushed it)."""
    from prodcat.reporting.mlmd import mysql_connection_config, sqlite_connection_config

    if args.mysql_host:
        return mysql_connection_config(args.mysql_host, args.mysql_port, args.mysql_database, args.mysql_user,
                                       password_env=args.mysql_password_env)
    recorded = _metadata_of_pushed_version(pushed) if pushed and not (args.metadata or args.output or args.config) else None
    path = args.metadata or recorded or load_config(args.config).with_overrides(output_dir=args.output).metadata_path
    return sqlite_connection_config(path)


def _metadata_of_pushed_version(pushed: str) -> Path | None:
    """The metadata of the run that pushed a version directory: the config the version ships names it."""
    from prodcat.contract.signatures import ASSETS_EXTRA, CONFIG_ASSET

    try:
        shipped = Config.model_validate(json.loads(Path(pushed, ASSETS_EXTRA, CONFIG_ASSET).read_text(encoding="utf-8")))
    except (OSError, ValueError):  # no such file, not JSON, not a config (pydantic's error is a ValueError)
        return None
    return shipped.metadata_path if shipped.metadata_path.is_file() else None


def _cmd_runs(args: argparse.Namespace) -> int:
    _quiet_libraries(False)
    from prodcat.reporting.runs import format_runs, list_runs

    runs = list_runs(_metadata_connection(args), limit=args.limit)
    print(json.dumps([r.to_json() for r in runs], indent=2) if args.json else format_runs(runs))
    return 0


def _cmd_lineage(args: argparse.Namespace) -> int:
    _quiet_libraries(False)
    from prodcat.reporting.lineage import format_lineage, trace_pushed_model

    lineage = trace_pushed_model(_metadata_connection(args, args.pushed), args.pushed)
    print(json.dumps(lineage.to_json(), indent=2) if args.json else format_lineage(lineage))
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    _quiet_libraries(args.verbose)
    from prodcat.reporting.report import write_report

    target = Path(args.target)
    if target.is_dir():
        metadata = target / "metadata.sqlite"
    elif target.is_file():
        metadata = target if target.suffix in (".sqlite", ".db") else load_config(target).metadata_path
    else:
        raise FileNotFoundError(f"{target}: neither a run's output directory nor a config file")
    print(f"prodcat: reading run {args.run or '(newest)'} from {metadata}; decoding its eval split with its model "
          "(loading TensorFlow and the model takes a while) ...", file=sys.stderr, flush=True)
    print(write_report(metadata, args.output, run_id=args.run))
    return 0


def _add_metadata_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="the run's YAML config (its output_dir holds metadata.sqlite)")
    p.add_argument("--output", help="the run's output directory (default: the config's output_dir)")
    p.add_argument("--metadata", help="path of an ML Metadata SQLite file (instead of --output/--config)")
    p.add_argument("--json", action="store_true", help="machine-readable JSON instead of text")
    g = p.add_argument_group("MySQL", "read ML Metadata from a MySQL server instead of a local SQLite file")
    g.add_argument("--mysql-host")
    g.add_argument("--mysql-port", type=int, default=3306)
    g.add_argument("--mysql-database", default="mlmd")
    g.add_argument("--mysql-user", default="root")
    g.add_argument("--mysql-password-env", default="PRODCAT_MLMD_PASSWORD", metavar="VAR",
                   help="environment variable holding the password (default: %(default)s; unset: no password)")


def _cmd_tune_thresholds(args: argparse.Namespace) -> int:
    _quiet_libraries(args.verbose)
    from prodcat.reporting.tuning import tune_run
    from prodcat.thresholds.tuning import format_result

    print(f"prodcat: decoding the eval split of {args.run} with its model, then searching thresholds ...",
          file=sys.stderr, flush=True)
    outcome = tune_run(args.run, target_precision=args.target_precision, sensitive_precision=args.sensitive_precision,
                       calibrate=args.calibrate, write=args.write, export=args.export, max_products=args.max_products,
                       report=args.json, serving_base=args.serving_base)
    artifacts = outcome.artifacts
    print(f"prodcat: model {artifacts.model_dir} ({'pushed to ' + artifacts.pushed_version_dir if artifacts.pushed_version_dir else 'not pushed'}), "
          f"eval split {', '.join(artifacts.eval_files)}", file=sys.stderr)
    print(format_result(outcome.result))
    if not outcome.result.reached:
        print("prodcat: error: target not reachable; nothing written", file=sys.stderr)
        return 2
    if outcome.written:
        print(f"prodcat: thresholds written to {outcome.written} (prodcat run --config {outcome.written} "
              "retrains with them; --export re-exports without retraining)", file=sys.stderr)
    if outcome.exported:
        print(f"prodcat: re-exported with the tuned thresholds as new serving version {outcome.exported}", file=sys.stderr)
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prodcat", description="Hierarchical product categorization (TFX).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("import", help="convert a public dataset into canonical products (+ its taxonomy)")
    p.add_argument("dataset", choices=["mwpd", "shopify", "flipkart", "myntra"])
    p.add_argument("src", help="the dataset's directory (or a Shopify products_export.csv)")
    p.add_argument("--out", required=True, help="output directory (products.jsonl, taxonomy.txt, reports)")
    p.add_argument("--taxonomy", help="Google taxonomy file/URL for datasets labelled in it (shopify)")
    p.add_argument("--shopify-mapping", metavar="YAML", help="shopify: Shopify's Shopify -> Google mapping "
                   "(from_shopify.yml of Shopify/product-taxonomy); products labelled only with a Shopify category "
                   "get the Google id it maps to")
    p.add_argument("--shopify-categories", metavar="TXT", nargs="+", help="shopify: Shopify's categories.txt files "
                   "(any languages) whose paths the products' Shopify labels are looked up in, for --shopify-mapping")
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser("run", help="run the TFX pipeline locally; without arguments, the demo")
    p.add_argument("--config", help="YAML config (see configs/)")
    p.add_argument("--data", help="product file or directory (JSONL, CSV, Parquet, TFRecord)")
    p.add_argument("--taxonomy", help="taxonomy file or URL (default: $PRODCAT_TAXONOMY or Google's file)")
    p.add_argument("--output", help="output directory (pipeline root, metadata, serving/)")
    p.add_argument("--no-cache", action="store_true", help="re-run every component")
    p.add_argument("--verbose", action="store_true", help="show TFX, Beam and TensorFlow logs")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("predict", help="categorize a file of products with a pushed model")
    p.add_argument("--model", required=True, help="a model version directory or a model base path (newest version)")
    p.add_argument("--input", help="products (.jsonl/.csv/.parquet/.tfrecord) or a directory of them")
    p.add_argument("--output", help="predictions JSONL")
    p.add_argument("--text", help="try one product title instead: print its decoded path, each level's "
                                  "confidence and what the thresholds serve (no files)")
    p.add_argument("--full-depth", action="store_true", help="ignore thresholds; return the whole decoded path (beam search)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--parallel-calls", type=_positive_int, default=None,
                   help="model calls at once, each on single-threaded ops (default: one per available core; "
                        "1: one call at a time, each op on every core)")
    p.add_argument("--skip-bad-records", action="store_true", help="report bad input records and go on")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--runner", choices=["local", "beam"], default="local",
                   help="local: stream through one process (all cores); beam: a RunInference job")
    p.add_argument("--beam-arg", action="append", default=[], help="Beam pipeline option, e.g. --runner=DataflowRunner")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("serve", help="serve pushed models over TF Serving's gRPC/REST API (flags as tensorflow_model_server)",
                       add_help=False)
    p.add_argument("server_args", nargs="*", help="--model_base_path DIR [--port 8500] ... (prodcat serve --help)")

    p = sub.add_parser("bench", help="run a benchmark that prints figures: " + ", ".join(BENCHMARKS))
    p.add_argument("benchmark", choices=sorted(BENCHMARKS), help="(flags after it go to the benchmark; NAME --help)")

    p = sub.add_parser("client", help="categorize a file of products through a TF Serving-compatible endpoint")
    p.add_argument("--target", default="127.0.0.1:8500", help="host:port of the gRPC endpoint")
    p.add_argument("--model-name", default="prodcat")
    p.add_argument("--signature", default="serving_raw", choices=["serving_raw", "serving_default"])
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--full-depth", action="store_true")
    p.add_argument("--batch-size", type=_positive_int, help="products per request (default 64)")
    p.add_argument("--concurrency", type=_positive_int,
                   help="requests in flight at once, answers still written in input order (default 4)")
    p.add_argument("--skip-bad-records", action="store_true")
    p.add_argument("--quiet", action="store_true")
    g = p.add_argument_group("TLS", "for a server started with --ssl_config_file (any --tls-* flag implies --tls)")
    g.add_argument("--tls", action="store_true", help="connect over TLS, trusting the system's root CAs unless --tls-ca-cert")
    g.add_argument("--tls-ca-cert", metavar="PEM", help="CA certificate(s) the server's certificate must chain to")
    g.add_argument("--tls-client-cert", metavar="PEM", help="client certificate, for a server with client_verify: true (mutual TLS)")
    g.add_argument("--tls-client-key", metavar="PEM", help="the client certificate's private key (unencrypted PEM)")
    g.add_argument("--tls-server-name", metavar="NAME",
                   help="name the server's certificate must carry, when it is not the --target host (e.g. an IP address)")
    p.set_defaults(func=_cmd_client)

    p = sub.add_parser("compile", help="compile the pipeline for an orchestrator")
    p.add_argument("orchestrator", choices=["kubeflow"])
    p.add_argument("--config", help="YAML config (its `cluster:` section: image, roots, resources)")
    p.add_argument("--output", required=True, help="pipeline spec file (.json for Vertex/TFX, .yaml for the KFP UI)")
    p.add_argument("--data", help="product data URI the cluster reads (default: the config's data)")
    p.add_argument("--taxonomy", help="taxonomy file or URL")
    p.add_argument("--vertex-project", help="train on Vertex AI (multi-worker pools) in this project")
    p.add_argument("--vertex-region")
    p.add_argument("--vertex-machine-type")
    p.set_defaults(func=_cmd_compile)

    p = sub.add_parser("submit", help="submit a compiled pipeline to Kubeflow Pipelines or Vertex AI Pipelines")
    p.add_argument("spec", help="the compiled pipeline spec")
    p.add_argument("--endpoint", help="KFP API endpoint (e.g. https://kfp.example.com)")
    p.add_argument("--experiment", default="prodcat")
    p.add_argument("--run-name")
    p.add_argument("--param", action="append", default=[], help="KEY=VALUE runtime parameter (repeatable)")
    p.add_argument("--cron", help="recurring run schedule (KFP: 6 fields with seconds; Vertex: 5 fields)")
    p.add_argument("--vertex-project")
    p.add_argument("--vertex-region")
    p.add_argument("--no-cache", action="store_true")
    p.set_defaults(func=_cmd_submit)

    p = sub.add_parser("taxonomy", help="load a taxonomy and print its shape")
    p.add_argument("source", nargs="?", help="file or URL (default: $PRODCAT_TAXONOMY or Google's file)")
    p.set_defaults(func=_cmd_taxonomy)

    p = sub.add_parser("synth", help="generate a deterministic synthetic product dataset")
    p.add_argument("--out", required=True, help="output directory (products.jsonl, and images/ with --images)")
    p.add_argument("--n", type=_positive_int, default=3000, help="products to generate (default 3000)")
    p.add_argument("--categories", type=_positive_int, default=40, help="leaf categories they are spread over (default 40)")
    p.add_argument("--images", action="store_true", help="also draw a small image per product, shaped by its category")
    p.add_argument("--seed", type=int, default=0, help="the same seed always gives the same products (default 0)")
    p.add_argument("--taxonomy", help="taxonomy file or URL (default: $PRODCAT_TAXONOMY or Google's file)")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("runs", help="list the pipeline runs recorded in ML Metadata (data, validation, model, "
                                    "metrics, blessing, pushed version)")
    p.add_argument("--limit", type=int, help="only the newest N runs")
    _add_metadata_flags(p)
    p.set_defaults(func=_cmd_runs)

    p = sub.add_parser("lineage", help="trace a pushed model back to its data, Transform graph and evaluation")
    p.add_argument("pushed", help="a pushed version number, or the path of a pushed model directory")
    _add_metadata_flags(p)
    p.set_defaults(func=_cmd_lineage)

    p = sub.add_parser("report", help="(re)write a run's HTML report: precision-coverage, slices and gates, "
                                      "confusion, worst categories, mistakes")
    p.add_argument("target", help="the run's output directory (holding metadata.sqlite) or its YAML config")
    p.add_argument("--output", help="report directory (default: <output_dir>/report)")
    p.add_argument("--run", help="a pipeline run id (default: the newest run)")
    p.add_argument("--verbose", action="store_true", help="show TFX, Beam and TensorFlow logs")
    p.set_defaults(func=_cmd_report)
    p = sub.add_parser("review", help="review predictions in a local web app: withheld products, an audit sample, "
                                      "label/model disagreements; decisions go to a review log")
    p.add_argument("action", nargs="?", choices=["serve", "stats"], default="serve",
                   help="serve (default): the review app; stats: audited precision from the log's audit decisions")
    p.add_argument("--model", help="a pushed model version or model base path (newest version) to build the queue with")
    p.add_argument("--queue", choices=["withheld", "audit", "disagreements"], default="withheld",
                   help="withheld: served above the decoded path; audit: a stratified random sample of served "
                        "predictions; disagreements: confident model against the data's label (default: %(default)s)")
    p.add_argument("--products", nargs="+", metavar="PRODUCTS",
                   help="product files or directories to review (default: the eval split of the run that pushed --model)")
    p.add_argument("--queue-file", help="serve a queue built before (no model needed)")
    p.add_argument("--log", default="outputs/review/review.sqlite",
                   help="the review log (SQLite; its directory also keeps the queues built; default: %(default)s)")
    p.add_argument("--reviewer", help="name recorded with each decision (default: the user name)")
    p.add_argument("--names", nargs="+", default=[], metavar="TAXONOMY",
                   help="taxonomy files with the same ids in other languages, searchable too (e.g. Google's pt-BR file)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)")
    p.add_argument("--port", type=int, default=8765, help="port (default: %(default)s; 0: any free port)")
    p.add_argument("--weights", help="withheld: JSONL of {\"id\", \"weight\"} (traffic or catalogue value) per product")
    p.add_argument("--margin", type=float, default=0.05, help="audit: target margin of error per stratum (default: %(default)s)")
    p.add_argument("--confidence", type=float, default=0.95,
                   help="audit: confidence level of the margin, and of the intervals `stats` prints (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="stats: machine-readable JSON")
    p.add_argument("--taxonomy", help="stats: the taxonomy, when a queue's model directory is gone")
    p.add_argument("--seed", type=int, default=0, help="audit: the sample's seed (default: %(default)s)")
    p.add_argument("--min-confidence", type=float, default=0.9,
                   help="disagreements: model confidence at the level leaving the label's path (default: %(default)s)")
    p.set_defaults(func=_cmd_review)

    p = sub.add_parser("tune-thresholds", help="choose per-level thresholds for a target hierarchical precision "
                                               "on a finished run's eval split")
    p.add_argument("--run", required=True, metavar="OUTPUT_DIR", help="the run's output directory (holding metadata.sqlite)")
    p.add_argument("--target-precision", type=float, help="overall hierarchical precision to reach (default: "
                   "the model config's thresholds.tune.target_precision, 0.9)")
    p.add_argument("--sensitive-precision", type=float, help="hierarchical precision each sensitive subtree's slice must "
                   "reach (default: thresholds.tune.sensitive_precision, 0.98)")
    p.add_argument("--calibrate", action=argparse.BooleanOptionalAction, default=None,
                   help="fit a temperature per level on the eval split first (default: thresholds.tune.calibrate)")
    p.add_argument("--write", metavar="CONFIG", help="write the thresholds into this config (.yaml/.json; an existing "
                   "file keeps its other settings)")
    p.add_argument("--export", action="store_true", help="re-export the pushed model with the tuned thresholds as a new "
                   "serving version (no retraining)")
    p.add_argument("--serving-base", metavar="DIR", help="model base path for --export (default: where the run pushed)")
    p.add_argument("--max-products", type=int, help="eval products used (default: thresholds.tune.max_products)")
    p.add_argument("--json", metavar="FILE", help="also write the full result (curves per level included) as JSON")
    p.add_argument("--verbose", action="store_true", help="show TFX, Beam and TensorFlow logs")
    p.set_defaults(func=_cmd_tune_thresholds)
    return parser


def _quiet_startup(argv: Sequence[str]) -> None:
    """Before TensorFlow loads: no C++ log lines (on a CPU machine TensorFlow logs three CUDA
    factory registrations at error level, though nothing is wrong) and no Python-version
    FutureWarnings from Google's client libraries. `--verbose`, or TF_CPP_MIN_LOG_LEVEL set by
    the user, keeps them."""
    import prodcat

    if prodcat.USER_TF_LOG_LEVEL is None:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if "--verbose" in argv else "3"
    if "--verbose" in argv:
        return
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _quiet_startup(argv)
    if argv[:1] == ["serve"]:  # its flags mirror tensorflow_model_server's; the server parses them
        from prodcat.serving import server

        return server.main(argv[1:])
    if argv[:1] == ["bench"] and len(argv) > 1 and argv[1] in BENCHMARKS:
        import importlib

        return importlib.import_module(f"prodcat.benchmarks.{BENCHMARKS[argv[1]]}").main(argv[2:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as err:
        print(f"prodcat: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("prodcat: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`prodcat lineage V | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 0


if __name__ == "__main__":
    sys.exit(main())
