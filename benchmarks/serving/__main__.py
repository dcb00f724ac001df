"""`python -m prodcat.benchmarks.serving` (or `python -m benchmarks.serving` from the repo root).

The load generator's types live in the package's modules, never in `__main__`, so its spawned
process can unpickle them however the benchmark was started.
"""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
