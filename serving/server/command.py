"""`prodcat serve FLAGS` / `python -m prodcat.serving.server FLAGS`: parse, then run one server or a pool.

Kept apart from `model_server` so that the parent of `--workers N`, which only starts and watches
the workers, never imports TensorFlow.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from prodcat.serving.server.options import ServerOptions, build_arg_parser
from prodcat.serving.server.workers import LINK_ENV, ParentLink, WorkerPool, WorkerStartError

log = logging.getLogger("prodcat.serving")


def main(argv: Sequence[str] | None = None) -> int:
    """0 after a clean shutdown, 2 for bad options (or a port or worker that cannot start)."""
    args = build_arg_parser().parse_args(argv)
    pool_side = args.workers != 1 or bool(os.environ.get(LINK_ENV))  # a parent or a worker: say which process speaks
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s"
                        + ("[%(process)d]" if pool_side else "") + ": %(message)s")
    try:
        options = ServerOptions.from_args(args)
        if options.workers != 1:
            if options.ssl_config_file:  # checked once here, not N times in the workers' logs
                from prodcat.serving.server.tls import checked_ssl_settings

                checked_ssl_settings(options.ssl_config_file, options.host)
            WorkerPool(options, args.log_level).start().wait()
            return 0
        from prodcat.serving.server.model_server import ModelServer

        link = ParentLink.from_environment()  # set when this process is one of a WorkerPool's workers
        server = ModelServer(options, reuse_port=link is not None).start()
        if link is not None:
            link.serving()
        server.wait()
    except (ValueError, OSError, WorkerStartError) as err:
        log.error("%s", err)
        return 2
    return 0
