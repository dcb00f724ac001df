"""What the figures were measured on: the machine is shared, so every report names it and its load.

Absolute rates only mean something next to the CPUs, memory and load average they came with;
the load average is read before and after the run, so a busy neighbour shows in the report.
"""

from __future__ import annotations

import dataclasses
import os
import socket

from .process_figures import proc_kib


@dataclasses.dataclass(frozen=True)
class MachineInfo:
    """What the figures were measured on: CPUs, memory, load average (1/5/15 min) before and after."""

    hostname: str
    cpu_count: int
    cpus_usable: int
    cpu_model: str
    mem_total_mib: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @classmethod
    def now(cls) -> MachineInfo:
        mem = proc_kib("/proc/meminfo", "MemTotal")
        try:
            usable = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            usable = os.cpu_count() or 1
        return cls(socket.gethostname(), os.cpu_count() or 1, usable, cpu_model(), (mem or 0) / 1024, os.getloadavg())

    def finish(self) -> MachineInfo:
        return dataclasses.replace(self, load_after=os.getloadavg())

    def describe(self) -> str:
        fmt = lambda load: " ".join(f"{v:.2f}" for v in load)  # noqa: E731
        return (f"machine: {self.hostname}, {self.cpu_count} CPUs ({self.cpus_usable} usable, shared), {self.cpu_model}, "
                f"{self.mem_total_mib / 1024:.1f} GiB RAM\n"
                f"load average (1/5/15 min): before {fmt(self.load_before)}, after {fmt(self.load_after)}")


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo, else what `platform` knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()
