"""`python -m prodcat.fuzz`: see `prodcat.fuzz.cli`."""

from prodcat.fuzz.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
