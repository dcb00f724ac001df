"""`python -m prodcat.pipeline.service_guard MODULE ARGS...`: run a Beam service that dies with its parent.

The portable runner's job service and worker pool run in their own process groups (so one signal
stops a service and every SDK worker it forked). A run that is killed outright (SIGKILL, OOM) gets
no chance to signal them; without this guard they would outlive it, holding ports and memory.
The guard runs MODULE as `python -m MODULE ARGS` in this process and watches its stdin, a pipe
whose other end only the parent holds: when it reads end-of-file, the parent is gone, and the
guard kills its whole process group at once (there is nobody left to stop it gracefully for).
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading


def _stop_group_when_parent_is_gone() -> None:
    while os.read(sys.stdin.fileno(), 4096):  # the parent never writes: b"" means it exited
        pass
    os.killpg(0, signal.SIGKILL)


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: python -m prodcat.pipeline.service_guard MODULE [ARGS...]")
    threading.Thread(target=_stop_group_when_parent_is_gone, name="parent-lifeline", daemon=True).start()
    sys.argv = argv
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
