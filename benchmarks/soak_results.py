"""What one `benchmarks.soak` run measured, the targets it is judged on, and the printed report.

Kept apart from the run itself so the figures can be checked and formatted (and turned into
JSON) without starting a server.
"""

from __future__ import annotations

import dataclasses

from .serving import MachineInfo

TARGET_RSS_GROWTH = 0.10


@dataclasses.dataclass
class AbuseSummary:
    kind: str
    expected: str
    sent: int
    codes: dict[str, int]
    max_latency_ms: float
    example: str

    @property
    def clean(self) -> bool:
        return self.sent > 0 and self.codes == {self.expected: self.sent}


@dataclasses.dataclass
class SoakResult:
    machine: MachineInfo
    model_base_path: str
    model_version: int | None
    products_source: str
    requests: int
    concurrency: int
    max_request_bytes: int
    wall_s: float
    ok: int
    errors: dict[str, int]  # failed valid requests by code
    error_samples: list[str]
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests_per_s: float
    server_cpu_s: float
    client_cpu_s: float
    rss_idle_mib: float
    rss_warm_mib: float
    rss_end_mib: float
    rss_min_mib: float  # over the per-second samples during the soak
    rss_max_mib: float
    rss_samples: list[tuple[float, float]]  # (seconds into the soak, MiB)
    abuse: list[AbuseSummary]
    server_alive: bool
    server_available: bool
    valid_after: str | None  # None: a valid request after the soak got a correct answer
    server_requests_by_code: dict[str, float]

    @property
    def failed_valid(self) -> int:
        return sum(self.errors.values())

    @property
    def rss_growth(self) -> float:
        return (self.rss_end_mib - self.rss_warm_mib) / self.rss_warm_mib

    def targets(self) -> list[tuple[str, str, bool]]:
        clean = [a for a in self.abuse if a.clean]
        return [
            ("failed valid requests == 0", f"{self.failed_valid} of {self.requests}", self.failed_valid == 0),
            (f"RSS growth warm-up -> end < {TARGET_RSS_GROWTH:.0%}",
             f"{self.rss_growth:+.1%} ({self.rss_warm_mib:.0f} -> {self.rss_end_mib:.0f} MiB)", self.rss_growth < TARGET_RSS_GROWTH),
            ("every abusive request got its clean gRPC error", f"{len(clean)} of {len(self.abuse)} kinds clean",
             len(clean) == len(self.abuse) and bool(self.abuse)),
            ("server up and serving after the soak",
             "yes" if self.server_alive and self.server_available and self.valid_after is None else
             f"alive {self.server_alive}, available {self.server_available}, valid request: {self.valid_after or 'ok'}",
             self.server_alive and self.server_available and self.valid_after is None),
        ]

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        out["abuse"] = [dict(dataclasses.asdict(a), clean=a.clean) for a in self.abuse]
        out.update(failed_valid=self.failed_valid, rss_growth=self.rss_growth,
                   targets=[{"target": t, "measured": m, "met": ok} for t, m, ok in self.targets()])
        return out


def format_report(result: SoakResult) -> str:
    r = result
    n_abusive = sum(a.sent for a in r.abuse)
    lines = [
        "prodcat soak: sustained load with abusive requests interleaved",
        r.machine.describe(),
        f"model: {r.model_base_path} (version {r.model_version}); products from {r.products_source}",
        f"server: separate process, --max_request_bytes={r.max_request_bytes}; load generator: separate process",
        "",
        f"valid requests: {r.requests} single-product at concurrency {r.concurrency} (+ {n_abusive} abusive) in {r.wall_s:.1f} s, "
        f"{r.requests_per_s:.1f} req/s",
        f"  ok {r.ok}, failed {r.failed_valid} {r.errors or ''}",
        f"  latency p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms, max {r.max_ms:.1f} ms",
        f"  CPU seconds per wall second: server {r.server_cpu_s / r.wall_s:.2f}, load generator {r.client_cpu_s / r.wall_s:.2f}",
        f"  server-side request counts by code during the soak: {dict(sorted(r.server_requests_by_code.items()))}",
        "  (gRPC itself rejects oversized and undecodable requests before prodcat's handler counts them)",
    ]
    lines += [f"  e.g. {s}" for s in r.error_samples[:3]]
    lines += [
        "",
        f"server RSS: idle {r.rss_idle_mib:.0f} MiB, after warm-up {r.rss_warm_mib:.0f} MiB, end {r.rss_end_mib:.0f} MiB "
        f"(growth {r.rss_growth:+.1%}); during the soak min {r.rss_min_mib:.0f} / max {r.rss_max_mib:.0f} MiB "
        f"({len(r.rss_samples)} samples)",
    ]
    if r.rss_samples:
        picks = [r.rss_samples[int(i * (len(r.rss_samples) - 1) / 4)] for i in range(5)]
        lines.append("  RSS over time: " + ", ".join(f"{t:.0f}s {v:.0f}" for t, v in picks))
    lines += ["", f"{'abusive request':<18} {'expected':<19} {'sent':>5}  {'got':<32} {'max ms':>7}  clean"]
    for a in r.abuse:
        got = ", ".join(f"{code} x{n}" for code, n in sorted(a.codes.items())) or "-"
        lines.append(f"{a.kind:<18} {a.expected:<19} {a.sent:>5}  {got:<32} {a.max_latency_ms:>7.1f}  {'yes' if a.clean else 'NO'}")
    for a in r.abuse:
        lines.append(f"  {a.kind}: {a.example}")
    lines += ["", f"server after the soak: process alive {r.server_alive}, model AVAILABLE {r.server_available}, "
              f"valid request {'answered correctly' if r.valid_after is None else r.valid_after}", "", "targets:"]
    lines += [f"  {t:<48} {m:<36} {'MET' if ok else 'MISSED'}" for t, m, ok in r.targets()]
    return "\n".join(lines)
