"""RSS and CPU of a process tree, read from /proc: what serving costs beside what it answers.

The figures come from the kernel, not from the server, so `prodcat serve` (with its `--workers`
children) and an external server given by pid are measured the same way. NaN stands for a figure
that cannot be read (no pid, a process gone), so a report still prints.
"""

from __future__ import annotations

import os
from collections.abc import Callable


def proc_kib(path: str, key: str) -> int | None:
    """A `Key:  123 kB` value of a /proc status-like file, in KiB (None if absent)."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def proc_mib(pid: int, key: str) -> float:
    """A memory figure of /proc/<pid>/status (VmRSS, VmHWM) in MiB (NaN if it cannot be read)."""
    kib = proc_kib(f"/proc/{pid}/status", key)
    return float("nan") if kib is None else kib / 1024


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (NaN if it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


class ProcessFigures:
    """RSS, peak RSS and CPU seconds of the server's process and its children (`--workers`) from /proc (NaN without a pid)."""

    pid: int | None

    def _pids(self) -> list[int]:
        import psutil

        try:
            return [self.pid, *(child.pid for child in psutil.Process(self.pid).children(recursive=True))]
        except psutil.Error:
            return [self.pid]

    def _sum(self, figure: Callable[[int], float]) -> float:
        return sum(figure(pid) for pid in self._pids()) if self.pid else float("nan")

    def rss_mib(self) -> float:
        return self._sum(lambda pid: proc_mib(pid, "VmRSS"))

    def peak_rss_mib(self) -> float:
        """The sum of each process's own peak (with workers, an upper bound on the peak of the whole)."""
        return self._sum(lambda pid: proc_mib(pid, "VmHWM"))

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server's processes so far."""
        return self._sum(proc_cpu_seconds)
