"""Hostile and careless clients against `prodcat serve` in its own process: a 10 MB single-word
title over gRPC and REST, and random adversarial strings, each answered (or refused with a clean
error) with the server's peak RSS growth under a stated bound, and the server still serving."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prodcat.benchmarks.serving import ServerProcess
from prodcat.records import Product
from prodcat.serving.client import PredictionClient, PredictionError, build_predict_request

RSS_GROWTH_BOUND_MB = 200  # over the warm server, for a request carrying a 10 MB title


def _status_kb(pid: int, key: str) -> int:
    return next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith(key))


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # Linux: the high-water mark restarts from the current RSS


@pytest.fixture(scope="module")
def server(demo_run) -> Iterator[ServerProcess]:
    with ServerProcess(demo_run.serving_base) as running:
        yield running


def _rest(server: ServerProcess, payload: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{server.rest_port}/v1/models/prodcat:predict", data=payload, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.slow
@pytest.mark.parametrize("megabytes", [1, 10])
def test_a_huge_single_word_title_costs_bounded_memory(server: ServerProcess, megabytes: int) -> None:
    word = "x" * (megabytes * 1_000_000)

    def rest(title: str) -> tuple[int, dict]:
        return _rest(server, json.dumps({"instances": [{"id": "huge", "title": title}]}).encode())

    with PredictionClient(server.target) as client:
        client.predict([Product("warm", "dog bed")])  # warm: every code path of both APIs loaded once
        assert rest("dog bed")[0] == 200
        growth_mb = {}
        for api, send in (("gRPC", lambda: client.predict([Product("huge", word)])), ("REST", lambda: rest(word))):
            _reset_peak(server.pid)
            base = _status_kb(server.pid, "VmRSS:")
            answer = send()
            growth_mb[api] = (_status_kb(server.pid, "VmHWM:") - base) / 1024
            assert answer[0] == 200 if api == "REST" else answer[0].id == "huge"
        print(f"\n{megabytes} MB single-word title: server peak RSS growth per request "
              + ", ".join(f"{api} {mb:.0f} MB" for api, mb in growth_mb.items()))
        assert all(mb < RSS_GROWTH_BOUND_MB for mb in growth_mb.values()), growth_mb
        assert client.predict([Product("after", "dog bed")])[0].id == "after"  # still serving


_TEXT = st.one_of(
    st.text(min_size=0, max_size=300),  # every Unicode category, NULs included
    st.builds(lambda c, n: c * n, st.characters(), st.integers(1, 70_000)),  # long runs of one character
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
)


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=_TEXT, raw_bytes=st.binary(min_size=1, max_size=200))
def test_adversarial_strings_get_an_answer_or_a_clean_error(server: ServerProcess, title: str, raw_bytes: bytes) -> None:
    with PredictionClient(server.target) as client:
        request = build_predict_request([Product("p", title or "t")], raw_input_names=["id", "title"])
        request.inputs["title"].string_val[0] = raw_bytes  # any bytes at all, valid UTF-8 or not
        try:
            client.call(request)
        except PredictionError as err:  # refused: a client error with a readable message, never an internal one
            assert err.code == grpc.StatusCode.INVALID_ARGUMENT and "Graph execution error" not in err.details
        [answer] = client.predict([Product("p", title or "t")])
        assert answer.id == "p"
    status, body = _rest(server, json.dumps({"instances": [{"title": title or "t"}]}).encode())
    assert status in (200, 400), body  # a lone surrogate is the client's error; never a 500
    assert server.alive()
