"""`prodcat predict`, `client` and `tune-thresholds`: the commands that use a trained model, in
this process, through a TF Serving-compatible server, or to choose its serving thresholds."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from prodcat.cli.quiet_logs import _quiet_libraries
from prodcat.records import RecordError


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


def _cmd_tune_thresholds(args: argparse.Namespace) -> int:
    _quiet_libraries(args.verbose)
    from prodcat.reporting.tuning import tune_run
    from prodcat.thresholds.result_table import format_result

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
