"""The printed report: one server's tables, ratios and targets, and `--workers` counts side by side.

The report states what was measured and how (machine, model, server command, load generator)
next to the figures, since a figure from a shared machine means little without them.
"""

from __future__ import annotations

from collections.abc import Sequence

from .results import ServingBenchmarkResult
from .server_process import REPLAY_MODULE


def _met(ok: bool | None) -> str:
    return "not run" if ok is None else ("MET" if ok else "MISSED")


def format_report(result: ServingBenchmarkResult) -> str:
    """One server's run as text: how it was measured, the phase table, RSS, batch references, ratios, targets."""
    r = result
    lines = [
        "prodcat serving benchmark",
        r.machine.describe(),
        f"model: {r.model_base_path} (version {r.model_version}); products: {r.n_products} from {r.products_source}",
        (f"server: running at {r.server_command[1]} ({', '.join(r.server_command[2:])}), started outside the benchmark"
         + ("" if r.server_command[-1].startswith("pid") else "; no --server-pid: its RSS and CPU are not read")
         if r.external_server else
         f"server: separate process, `{' '.join(['prodcat serve', *r.server_command[3:]])}`, ready in {r.server_startup_s:.1f} s")
        + (f"\nMODEL CALLS REPLAYED ({REPLAY_MODULE}): every answer is one recorded row, no TensorFlow runs; the figures "
           "are the server's own cost and the ceiling any model could reach through it; targets do not apply"
           if r.replayed_model else ""),
        "load generator: separate process, one thread and one connection per concurrent request, pre-serialized serving_raw "
        "PredictRequests over a raw-bytes gRPC stub",
        "",
        f"{'request':<8} {'conc':>4} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'req/s':>8} {'products/s':>10} {'srv CPU':>7} {'gen CPU':>7} {'req/batch':>9} {'inline':>6}",
    ]
    for p in r.phases:
        per_batch = p.batched_requests / p.batches if p.batches else float("nan")
        lines.append(
            f"{p.label:<8} {p.concurrency:>4} {p.requests:>8} {p.n_errors:>6} {p.p50_ms:>8.1f} {p.p95_ms:>8.1f} {p.p99_ms:>8.1f} "
            f"{p.max_ms:>8.1f} {p.requests_per_s:>8.1f} {p.products_per_s:>10.1f} {p.server_cpu_s / p.wall_s:>7.2f} "
            f"{p.client_cpu_s / p.wall_s:>7.2f} {per_batch:>9.1f} {p.inline_requests:>6.0f}")
    lines.append("(srv CPU / gen CPU: CPU seconds per wall second of the server / the load generator process; "
                 "req/batch: requests per batcher run; inline: requests run outside the batcher)")
    for p in r.phases:
        if p.errors:
            lines.append(f"errors {p.label} c{p.concurrency}: {p.errors}; e.g. {p.error_samples[:2]}")
        if p.response_problem:
            lines.append(f"response check {p.label} c{p.concurrency}: {p.response_problem}")
    lines += [
        "",
        f"server RSS (VmRSS): model loaded, idle {r.rss_idle_mib:.0f} MiB; after warm-up {r.rss_warm_mib:.0f} MiB; "
        f"after the run {r.rss_end_mib:.0f} MiB (peak VmHWM {r.rss_peak_mib:.0f} MiB)",
        f"batch Predictor.predict (this process, model loaded in {r.predictor_load_s:.1f} s, batches of {r.predict_before.batch_size}, "
        f"{r.predict_before.parallel_calls} at once, {r.predict_before.products} predictions): before serving {r.predict_before.products_per_s:.1f}, after "
        f"{r.predict_after.products_per_s:.1f}, mean {r.predict_products_per_s:.1f} products/s",
        f"prodcat predict (same products as a JSONL file, batches of {r.predict_before.batch_size}, as many at once; steady state after "
        f"the first batch: read, predict, write): before serving {r.predict_file_before.steady_products_per_s:.1f}, "
        f"after {r.predict_file_after.steady_products_per_s:.1f}, mean {r.predict_file_products_per_s:.1f} products/s",
    ]
    top = max((p.concurrency for p in r.phases), default=0)
    for per_request in sorted({p.products_per_request for p in r.phases}):
        label = "single-product" if per_request == 1 else f"{per_request}-product"
        at = r.phase(per_request, top)
        lines.append(f"ratio {label} serving at concurrency {top} ({at.products_per_s:.1f} products/s) / prodcat predict "
                     f"({r.predict_file_products_per_s:.1f}): {r.ratio(per_request):.2f}; / Predictor.predict "
                     f"({r.predict_products_per_s:.1f}): {r.ratio(per_request, against='Predictor.predict'):.2f}")
    if r.replayed_model:
        return "\n".join(lines)
    lines += ["", "targets:"]
    lines += [f"  {target:<66} {measured:<30} {_met(ok)}" for target, measured, ok in r.targets()]
    return "\n".join(lines)


def format_workers_comparison(results: Sequence[ServingBenchmarkResult]) -> str:
    """Single-product serving of each `--workers` count side by side, each against its own `prodcat predict`."""
    lines = ["workers side by side (same products and machine, one server after the other; each ratio against the "
             "`prodcat predict` measured around that server):",
             f"{'workers':>7} {'conc':>4} {'products/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'srv CPU':>7} {'/ predict':>9}"]
    for r in results:
        for p in (p for p in r.phases if p.products_per_request == 1):
            lines.append(f"{r.workers:>7} {p.concurrency:>4} {p.products_per_s:>10.1f} {p.p50_ms:>8.1f} {p.p99_ms:>8.1f} "
                         f"{p.server_cpu_s / p.wall_s:>7.2f} {p.products_per_s / r.predict_file_products_per_s:>9.2f}")
    first, top = results[0], max(p.concurrency for p in results[0].phases)
    for r in results[1:]:
        mine, base = r.phase(1, top), first.phase(1, top)
        if mine and base:
            lines.append(f"{r.workers} workers / {first.workers} at concurrency {top}: {mine.products_per_s / base.products_per_s:.2f}x "
                         f"products/s; RSS idle {r.rss_idle_mib:.0f} vs {first.rss_idle_mib:.0f} MiB")
    return "\n".join(lines)

