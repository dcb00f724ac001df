"""`python -m prodcat.cli ...`: the `prodcat` command without its console script."""

import sys

from prodcat.cli import main

if __name__ == "__main__":
    sys.exit(main())
