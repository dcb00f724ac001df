"""Starting a review session: a saved queue, its log, and the web app on a loopback port."""

from __future__ import annotations

import getpass
import os
import socket
import sys
from collections.abc import Sequence

from werkzeug.serving import make_server

from prodcat.review.app import Session, create_app
from prodcat.review.items import load_queue, queue_taxonomy
from prodcat.review.log import ReviewLog
from prodcat.review.search import CategoryIndex

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def allowed_hosts(host: str, port: int) -> set[str]:
    """The Host headers a browser sends for this server; any loopback name when bound to loopback."""
    names = set(LOOPBACK) if host in LOOPBACK else {host}
    return {f"[{n}]:{port}" if ":" in n else f"{n}:{port}" for n in names}


def open_session(queue_path: str | os.PathLike, log_path: str | os.PathLike, reviewer: str | None = None,
                 names: Sequence[str | os.PathLike] = (), host: str = "127.0.0.1", port: int = 8765) -> Session:
    """A session over a saved queue; the taxonomy is the one the queue's model ships with."""
    queue = load_queue(queue_path)
    taxonomy = queue_taxonomy(queue.meta.model_dir)
    log = ReviewLog(log_path)
    log.record_queue(queue.meta)
    return Session(queue, log, CategoryIndex.from_files(taxonomy, names), reviewer or getpass.getuser(),
                   allowed_hosts(host, port))


def serve(session: Session, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serves until interrupted; prints the address to open (port 0: a free one)."""
    try:  # bound here, not by werkzeug, which exits the process when the port is taken
        listening = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as err:  # port taken, address not on this machine
        raise ValueError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    server = make_server(host, port, create_app(session), threaded=False, fd=listening.fileno())
    port = server.socket.getsockname()[1]
    session.allowed_hosts = allowed_hosts(host, port)
    shown = f"[{host}]" if ":" in host else host
    print(f"prodcat: reviewing {len(session.queue.items)} products of the {session.queue.meta.queue} queue "
          f"(model {session.queue.meta.model_version}) at http://{shown}:{port}/ ; decisions go to "
          f"{session.log.path}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        listening.close()
        session.log.close()
