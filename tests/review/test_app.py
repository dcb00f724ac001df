"""The review app's requests: decisions land in the log; bad or forged requests get a 4xx and change nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from prodcat.review.app import create_app
from prodcat.review.log import ReviewLog
from prodcat.review.serve import allowed_hosts, open_session

HOST = "127.0.0.1:8765"


@pytest.fixture
def session(review_queue: Path, tmp_path: Path):
    session = open_session(review_queue, tmp_path / "log" / "review.sqlite", "ana", [tmp_path / "names.de.txt"])
    yield session
    session.log.close()


@pytest.fixture
def client(session) -> FlaskClient:
    return create_app(session).test_client()


def _form(client: FlaskClient, item_id: str) -> dict[str, str]:
    page = client.get(f"/item/{item_id}", base_url=f"http://{HOST}").get_data(as_text=True)
    return {name: re.search(rf'name="{name}" value="([^"]*)"', page).group(1) for name in ("csrf_token", "request_id")}


def _post(client: FlaskClient, data: dict[str, str], **headers: str):
    return client.post("/decide", data=data, base_url=f"http://{HOST}", headers=headers)


def test_the_first_page_is_the_queue_head_and_a_decision_moves_on(client: FlaskClient, session) -> None:
    first = session.queue.items[0]
    assert client.get("/", base_url=f"http://{HOST}").headers["Location"] == f"/item/{first.item_id}"
    form = _form(client, first.item_id) | {"item_id": first.item_id, "verdict": "accept", "category_id": "3"}
    response = _post(client, form, Origin=f"http://{HOST}")
    assert response.status_code == 303 and response.headers["Location"] == "/?after=0"
    assert _post(client, form).status_code == 303  # the same page posted again: recorded once
    [logged] = session.log.decisions()
    assert (logged.product_id, logged.verdict, logged.category_id, logged.reviewer, logged.model_version) == (
        first.product_id, "accept", "3", "ana", "17")
    assert client.get("/?after=0", base_url=f"http://{HOST}").headers["Location"] == f"/item/{session.queue.items[1].item_id}"


def test_pages_may_not_be_framed_nor_load_anything_foreign(client: FlaskClient, session) -> None:
    response = client.get(f"/item/{session.queue.items[0].item_id}", base_url=f"http://{HOST}")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_search_finds_categories_in_any_language_given(client: FlaskClient) -> None:
    found = client.get("/search?q=lenkdrachen", base_url=f"http://{HOST}").get_json()
    assert [(m["category_id"], m["path"]) for m in found] == [("3", "Toys > Kites > Stunt Kites")]
    # the word in the name first, shallower first, then the shorter path
    assert [m["category_id"] for m in client.get("/search?q=kites", base_url=f"http://{HOST}").get_json()] == ["2", "4", "3"]


@pytest.mark.parametrize(("change", "headers", "status", "message"), [
    ({"category_id": "999"}, {}, 400, "category '999' is not a candidate of product 'p5'"),  # the nearest miss heads the queue
    ({"verdict": "correct", "category_id": "999"}, {}, 400, "unknown category id '999'"),
    ({"item_id": "withheld:nope"}, {}, 404, "no item 'withheld:nope' in the withheld queue"),
    ({"verdict": "maybe"}, {}, 400, "unknown verdict 'maybe'"),
    ({"csrf_token": "forged"}, {}, 403, "missing or wrong CSRF token"),
    ({}, {"Origin": "http://evil.example"}, 403, "cross-origin request from 'http://evil.example' refused"),
    ({}, {"Referer": "http://evil.example/page"}, 403, "cross-origin request"),
    ({"request_id": ""}, {}, 400, "missing or malformed request_id"),
])
def test_bad_or_forged_decisions_are_refused_with_one_line_and_change_nothing(
        client: FlaskClient, session, change: dict[str, str], headers: dict[str, str], status: int, message: str) -> None:
    item = session.queue.items[0]
    form = _form(client, item.item_id) | {"item_id": item.item_id, "verdict": "accept", "category_id": "3"} | change
    response = _post(client, form, **headers)
    body = response.get_data(as_text=True)
    assert response.status_code == status and message in body and body.count("\n") == 1, body
    assert session.log.decisions() == []


def test_a_foreign_host_header_is_refused(client: FlaskClient, session) -> None:
    response = client.get("/", base_url="http://attacker.example:8765")
    assert response.status_code == 400 and "unexpected Host header 'attacker.example:8765'" in response.get_data(as_text=True)
    assert allowed_hosts("127.0.0.1", 9) == {"127.0.0.1:9", "localhost:9", "[::1]:9"}


def test_a_second_decision_for_a_decided_product_is_a_conflict(client: FlaskClient, session) -> None:
    item = session.queue.items[0]
    tabs = [_form(client, item.item_id) for _ in range(2)]  # the same product open in two tabs
    for form, category, expected in ((tabs[0], "3", 303), (tabs[1], "2", 409)):
        response = _post(client, form | {"item_id": item.item_id, "verdict": "accept", "category_id": category})
        assert response.status_code == expected
    assert [d.category_id for d in ReviewLog(session.log.path).decisions()] == ["3"]


def test_when_every_product_is_decided_the_queue_says_so(client: FlaskClient, session) -> None:
    for item in session.queue.items:
        form = _form(client, item.item_id) | {"item_id": item.item_id, "verdict": "cannot_tell"}
        assert _post(client, form).status_code == 303
    page = client.get("/", base_url=f"http://{HOST}").get_data(as_text=True)
    assert "Every product of this queue is decided (5 decisions)" in page
