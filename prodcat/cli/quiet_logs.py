"""Keeps the terminal for prodcat's own lines: the libraries' log noise, silenced before and after
TensorFlow loads. Every command that loads TensorFlow, TFX or Beam calls these, so they live apart."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def _quiet_libraries(verbose: bool) -> None:
    """Keeps the terminal for prodcat's own progress lines; library chatter only with --verbose."""
    import logging
    import warnings

    logging.basicConfig(level=logging.INFO, format="prodcat: %(message)s", stream=sys.stderr)
    if verbose:
        return
    warnings.filterwarnings("ignore")
    for name in ("tensorflow", "apache_beam", "absl", "tfx", "ml_metadata", "root"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger("prodcat").setLevel(logging.INFO)  # prodcat's own lines (epochs, warnings) stay
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)


def _quiet_startup(argv: Sequence[str]) -> None:
    """Before TensorFlow loads: no C++ log lines (on a CPU machine TensorFlow logs three CUDA
    factory registrations at error level, though nothing is wrong) and no Python-version
    FutureWarnings from Google's client libraries. `--verbose`, or TF_CPP_MIN_LOG_LEVEL set by
    the user, keeps them."""
    import prodcat

    if prodcat.USER_TF_LOG_LEVEL is None:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if "--verbose" in argv else "3"
    if "--verbose" in argv:
        return
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
