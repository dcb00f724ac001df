"""The review web app (Flask): one product at a time, a decision per click or key, each one logged.

It listens on the loopback interface for one reviewer. Every state-changing request must come from
its own page: the Host must be the one it serves (no DNS rebinding), an Origin or Referer must be
its own, and the form must carry the session's CSRF token. Bad input gets a 4xx with a one-line
message and changes nothing. After a decision the browser is redirected (post/redirect/get), so a
reload never posts twice; a re-posted form is still recorded once (its request id).
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import uuid
from collections.abc import Collection
from urllib.parse import urlsplit

from flask import Flask, Response, abort, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from prodcat.review.items import Queue, QueueItem
from prodcat.review.log import Decision, DecisionError, ReviewLog, now
from prodcat.review.search import CategoryIndex


@dataclasses.dataclass
class Session:
    """What one running app serves: a queue, its log, who reviews and what they may type."""

    queue: Queue
    log: ReviewLog
    index: CategoryIndex
    reviewer: str
    allowed_hosts: Collection[str]  # "host:port" values a request's Host header may carry
    csrf_token: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(32))
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def position(self, item_id: str) -> int:
        return next(n for n, item in enumerate(self.queue.items) if item.item_id == item_id)

    def next_open(self, after: int = -1) -> QueueItem | None:
        """The first undecided item after position `after`, wrapping round to skipped ones."""
        decided = self.log.decided(self.queue.meta.queue, self.queue.meta.model_version)
        items = self.queue.items
        for n in [*range(after + 1, len(items)), *range(0, after + 1)]:
            if items[n].product_id not in decided:
                return items[n]
        return None


def _fail(status: int, message: str) -> None:
    abort(Response(message + "\n", status=status, mimetype="text/plain"))


def create_app(session: Session) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024

    @app.before_request
    def _same_origin_only() -> None:
        if request.host not in session.allowed_hosts:
            _fail(400, f"unexpected Host header {request.host!r}; open the address prodcat review printed")
        if request.method != "POST":
            return
        source = request.headers.get("Origin") or request.headers.get("Referer")
        if source is not None and urlsplit(source).netloc != request.host:
            _fail(403, f"cross-origin request from {source!r} refused")
        if not secrets.compare_digest(request.form.get("csrf_token", ""), session.csrf_token):
            _fail(403, "missing or wrong CSRF token; reload the review page")

    @app.after_request
    def _locked_down(response: Response) -> Response:
        # its own scripts and styles only, images inline; no framing (no clickjacking of the keys)
        response.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data:; "
                                                       "frame-ancestors 'none'; form-action 'self'")
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.errorhandler(HTTPException)
    def _one_line(error: HTTPException) -> Response:
        if error.response is not None:
            return error.response
        return Response(f"{error.code} {error.name}: {error.description}\n", status=error.code, mimetype="text/plain")

    @app.get("/")
    def next_item() -> Response:
        with session.lock:
            item = session.next_open(request.args.get("after", -1, type=int))
        if item is None:
            return render_template("done.html.j2", queue=session.queue, decided=len(_decided()))
        return redirect(url_for("show", item_id=item.item_id), code=303)

    @app.get("/item/<path:item_id>")
    def show(item_id: str) -> str:
        item = _item(item_id)
        decision = next((d for d in _decided() if d.product_id == item.product_id), None)
        query = request.args.get("q", "")
        return render_template(
            "review.html.j2", item=item, queue=session.queue, decision=decision, query=query,
            results=session.index.search(query) if query else [], position=session.position(item_id),
            decided=len(_decided()), csrf_token=session.csrf_token, request_id=uuid.uuid4().hex,
            reviewer=session.reviewer, taxonomy=session.index.taxonomy)

    @app.get("/search")
    def search() -> Response:
        return jsonify([m.to_json() for m in session.index.search(request.args.get("q", ""))])

    @app.post("/decide")
    def decide() -> Response:
        form = request.form
        item = _item(form.get("item_id", ""))
        verdict, category_id = form.get("verdict", ""), form.get("category_id") or None
        if verdict == "accept" and category_id not in {c.category_id for c in item.candidates}:
            _fail(400, f"category {category_id!r} is not a candidate of product {item.product_id!r}")
        elif verdict == "correct" and category_id not in session.index.taxonomy:
            _fail(400, f"unknown category id {category_id!r}")
        elif verdict == "cannot_tell":
            category_id = None
        elif verdict not in ("accept", "correct"):
            _fail(400, f"unknown verdict {verdict!r} (accept, correct or cannot_tell)")
        request_id = form.get("request_id", "")
        if not 8 <= len(request_id) <= 64:
            _fail(400, "missing or malformed request_id")
        meta = session.queue.meta
        decision = Decision(request_id, meta.queue, meta.model_version, item.product_id, verdict, category_id,
                            item.served_id, item.stratum, session.reviewer, now(), item.product)
        with session.lock:
            try:
                session.log.record(decision)
            except DecisionError as err:
                _fail(409, str(err))
        return redirect(url_for("next_item", after=session.position(item.item_id)), code=303)

    def _item(item_id: str) -> QueueItem:
        item = session.queue.item(item_id)
        if item is None:
            _fail(404, f"no item {item_id!r} in the {session.queue.meta.queue} queue")
        return item

    def _decided() -> list[Decision]:
        with session.lock:
            return session.log.decisions(session.queue.meta.queue, session.queue.meta.model_version)

    return app
