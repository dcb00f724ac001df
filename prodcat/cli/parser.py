"""The `prodcat` command line: every subcommand, its flags and the typed function it calls.

Only argparse and the command modules load here (they import their libraries when they run),
so `prodcat --help` and flag errors answer without loading TensorFlow.
"""

from __future__ import annotations

import argparse

from prodcat.cli.metadata_commands import _cmd_lineage, _cmd_report, _cmd_runs
from prodcat.cli.model_commands import _cmd_client, _cmd_predict, _cmd_tune_thresholds
from prodcat.cli.pipeline_commands import _cmd_compile, _cmd_import, _cmd_run, _cmd_submit, _cmd_synth, _cmd_taxonomy
from prodcat.cli.review_commands import _cmd_review

# `prodcat bench NAME ...` runs benchmarks/<module>.py with the remaining flags.
BENCHMARKS = {
    "serving": "serving", "batch": "batch", "soak": "soak", "quality": "quality",
    "cross-language": "cross_language", "image-signal": "image_signal", "text-encoder": "text_encoder_throughput",
    "ablation": "ablation", "scaling": "scaling",
}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


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
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="a config setting laid over --config (YAML value), e.g. --set model.seed=1; repeatable")
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
    p.add_argument("--param", action="append", default=[],
                   help="KEY=VALUE run parameter, repeatable: a compiled parameter (data_root=gs://...) or a "
                        "model/thresholds setting (model.epochs=3); VALUE is YAML")
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
