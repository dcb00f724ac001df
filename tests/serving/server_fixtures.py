"""Shared by the test_server_*.py files: a fake model's versions, and the pushed demo model served from a hard-linked copy."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import portpicker
import pytest
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from prodcat.contract.signatures import Prediction
from prodcat.contract.warmup import write_warmup_requests
from prodcat.readers import read_products
from prodcat.records import Product
from prodcat.serving.client import PredictionClient
from prodcat.serving.predict import Predictor, resolve_model_dir
from prodcat.serving.server import ModelServer, ServerOptions
from prodcat.serving.server.servable import read_signature_defs


# ============================================================================= a fake model (fast)
class _FakeServable:
    def __init__(self, version: int) -> None:
        self.version, self.closed = version, False

    def close(self) -> None:
        self.closed = True


def _fake_loader(version: int, path: Path) -> _FakeServable:
    if (path / "saved_model.pb").read_bytes() != b"ok":
        raise ValueError("not a SavedModel")
    return _FakeServable(version)


def _push(base: Path, version: int, content: bytes = b"ok") -> Path:
    """Writes a version the way a careful Pusher does: into a temporary directory, then rename."""
    tmp = base / f".tmp-{version}"
    tmp.mkdir(parents=True)
    (tmp / "saved_model.pb").write_bytes(content)
    return tmp.rename(base / str(version))


def _fake_model_server(base: Path, **options: object) -> ModelServer:
    if not base.exists():
        _push(base, 1)
    return ModelServer(ServerOptions(model_base_path=str(base), port=0, file_system_poll_wait_seconds=60, **options), loader=_fake_loader)


# ============================================================================= the pushed model
def _hardlink_copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, copy_function=os.link)
    return dst


@pytest.fixture(scope="module")
def products(demo_run) -> list[Product]:
    products = read_products(demo_run.products_path)[:50]
    products[3].image = bytes(range(256)) * 4  # image bytes travel too
    return products


@pytest.fixture(scope="module")
def expected(demo_run, products) -> dict[bool, list[Prediction]]:
    predictor = Predictor(demo_run.serving_base)
    return {full: predictor.predict(products, full_depth=full) for full in (False, True)}


@pytest.fixture(scope="module")
def base_copy(demo_run, tmp_path_factory: pytest.TempPathFactory, products) -> Path:
    base = _hardlink_copy(demo_run.serving_base, tmp_path_factory.mktemp("serving") / "prodcat")
    version = resolve_model_dir(base)
    write_warmup_requests(version, products[:8], sorted(read_signature_defs(version)["serving_raw"].inputs))
    return base


@pytest.fixture(scope="module")
def server(base_copy: Path) -> Iterator[ModelServer]:
    options = ServerOptions(
        model_base_path=str(base_copy), port=portpicker.pick_unused_port(), rest_api_port=portpicker.pick_unused_port(),
        max_request_bytes=4 * 1024 * 1024, max_batch_size=32, batch_timeout_micros=2000, max_batch_rows=64,
    )
    with ModelServer(options) as running:
        yield running


@pytest.fixture(scope="module")
def target(server: ModelServer) -> str:
    return f"127.0.0.1:{server.port}"


@pytest.fixture(scope="module")
def client(target: str) -> Iterator[PredictionClient]:
    with PredictionClient(target) as c:
        yield c


@pytest.fixture(scope="module")
def stubs(target: str) -> Iterator[tuple]:
    channel = grpc.insecure_channel(target)
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel), model_service_pb2_grpc.ModelServiceStub(channel)
    channel.close()


def assert_same_predictions(got: list[Prediction], want: list[Prediction]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (g.id, g.category_id, g.depth, g.category_path) == (w.id, w.category_id, w.depth, w.category_path)
        assert [(lv.level, lv.id, lv.name) for lv in g.levels] == [(lv.level, lv.id, lv.name) for lv in w.levels]
        assert [lv.confidence for lv in g.levels] == pytest.approx([lv.confidence for lv in w.levels], abs=1e-5)
