"""`python -m prodcat.fuzz --out DIR --taxonomy FILE`: writes a corpus from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from prodcat.fuzz import __doc__ as PACKAGE_DOC  # its first paragraph is --help's description
from prodcat.fuzz.config import FuzzConfig
from prodcat.fuzz.corpus import write_fuzz_corpus
from prodcat.fuzz.files import DATA_DIR
from prodcat.fuzz.manifest import MANIFEST


def main(argv: list[str] | None = None) -> int:
    """Writes the corpus the flags describe and says where; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m prodcat.fuzz", description=PACKAGE_DOC.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="directory for data/ and manifest.json")
    parser.add_argument("--taxonomy", default=None, help="taxonomy file or URL (default: as `prodcat run`)")
    parser.add_argument("--good", type=int, default=FuzzConfig.n_good)
    parser.add_argument("--bad", type=int, default=FuzzConfig.n_bad)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from prodcat.taxonomy import load_taxonomy

    manifest = write_fuzz_corpus(args.out, load_taxonomy(args.taxonomy),
                                 FuzzConfig(n_good=args.good, n_bad=args.bad, seed=args.seed))
    bad = len(manifest.rejected("reject"))
    print(f"{len(manifest.records) - bad} good and {bad} bad records in {Path(args.out) / DATA_DIR}; "
          f"manifest: {Path(args.out) / MANIFEST}")
    return 0
