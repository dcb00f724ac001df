"""ProductExampleGen's executor on small product files (labels, images, shop splits, rejects) and on a fuzz corpus."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import tensorflow as tf
from PIL import Image
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from prodcat.components.product_example_gen import (
    DROPPED_IMAGES_DIR,
    BadRecordsError,
    Executor,
    make_custom_config,
    read_rejects,
)
from prodcat.config import Config, IngestConfig, SplitConfig
from prodcat.config.data import SPLIT_PROPERTY
from prodcat.fuzz import DATA_DIR, KINDS, FuzzConfig, FuzzManifest, FuzzRecord, write_fuzz_corpus
from prodcat.module_config import ModuleConfig
from prodcat.pipeline.pipeline import split_config
from prodcat.reporting.artifacts import count_rejects
from prodcat.reporting.summary import RunSummary, describe_split, format_summary
from prodcat.taxonomy import Taxonomy


def _run(tmp_path: Path, taxonomy: Taxonomy, rows: list, config: Config) -> Path:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "products.jsonl").write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows),
                                         encoding="utf-8")
    return _execute(tmp_path, data, "*.jsonl", taxonomy, config)


def _execute(tmp_path: Path, data: Path, pattern: str, taxonomy: Taxonomy, config: Config) -> Path:
    """Runs the executor as TFX would, on the product files matching `pattern` in `data`; the
    Examples artifact's `split` property is kept in `_SPLITS` by its uri."""
    taxonomy_path = taxonomy.save(tmp_path / "taxonomy.txt")
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    exec_properties = {
        standard_component_specs.INPUT_BASE_KEY: str(data),
        standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="products", pattern=pattern)])),
        standard_component_specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(split_config(config)),
        standard_component_specs.CUSTOM_CONFIG_KEY: proto_utils.proto_to_json(
            make_custom_config(ModuleConfig(config, str(taxonomy_path)).to_custom_config())),
    }
    Executor().Do({}, {standard_component_specs.EXAMPLES_KEY: [examples]}, exec_properties)
    _SPLITS[examples.uri] = json.loads(examples.get_string_custom_property(SPLIT_PROPERTY))
    return Path(examples.uri)


_SPLITS: dict[str, dict] = {}


def _read(split_dir: Path) -> list[tf.train.Example]:
    files = [str(p) for p in split_dir.glob("*.gz")]
    return [tf.train.Example.FromString(r) for r in tf.data.TFRecordDataset(files, "GZIP").as_numpy_iterator()]


def _value(example: tf.train.Example, name: str) -> bytes:
    return example.features.feature[name].bytes_list.value[0]


def test_shop_split_keeps_every_shop_on_one_side(tmp_path: Path, tiny_google: Taxonomy) -> None:
    (tmp_path / "data").mkdir()
    Image.new("RGB", (600, 300), (10, 200, 10)).save(tmp_path / "data" / "k.png")
    (tmp_path / "data" / "broken.png").write_bytes(b"\x89PNG-truncated")
    rows = [{"id": f"p{i}", "title": f"kite {i}", "shop": f"shop{i % 17}", "category": "Toys > Kites" if i % 2 else "4",
             "image": {3: "k.png", 5: "broken.png"}.get(i)} for i in range(200)]
    uri = _run(tmp_path, tiny_google, rows, Config(split=SplitConfig(method="shop", eval_fraction=0.3)))
    train, evaluation = _read(uri / "Split-train"), _read(uri / "Split-eval")
    assert len(train) + len(evaluation) == 200 and train and evaluation
    train_shops = {_value(e, "shop") for e in train}
    eval_shops = {_value(e, "shop") for e in evaluation}
    assert not train_shops & eval_shops
    everything = train + evaluation
    assert {_value(e, "category") for e in everything} == {b"2", b"4"}, "paths are resolved to taxonomy ids"
    with_image = [e for e in everything if _value(e, "id") == b"p3"][0]
    with Image.open(io.BytesIO(_value(with_image, "image"))) as image:
        assert image.format == "JPEG" and image.size == (256, 128), "images are normalised at ingestion"
    broken = [e for e in everything if _value(e, "id") == b"p5"][0]
    assert _value(broken, "image") == b"", "an undecodable image is dropped, the product kept"
    assert read_rejects(str(uri)) == [], "a product kept without its image is not a bad record"
    assert [(r["line"], r["field"], r["id"]) for r in read_rejects(str(uri), DROPPED_IMAGES_DIR)] == [(6, "image", "p5")]


def _shops(examples: list[tf.train.Example]) -> set[bytes]:
    return {_value(e, "shop") for e in examples} - {b""}


def test_auto_split_is_by_shop_with_enough_shops_and_hashes_products_without_one(
        tmp_path: Path, tiny_google: Taxonomy) -> None:
    rows = [{"id": f"p{i}", "title": f"kite {i}", "category": "2", **({"shop": f"shop{i % 25}"} if i < 300 else {})}
            for i in range(400)]
    uri = _run(tmp_path, tiny_google, rows, Config(split=SplitConfig(method="auto", min_shops=25)))
    train, evaluation = _read(uri / "Split-train"), _read(uri / "Split-eval")
    assert len(train) + len(evaluation) == 400
    assert _shops(train) and _shops(evaluation) and not _shops(train) & _shops(evaluation), "25 shops: by shop"
    shopless = [sum(1 for e in split if not _value(e, "shop")) for split in (train, evaluation)]
    assert sum(shopless) == 100 and min(shopless) > 5, "products without a shop are hashed on their id, not lumped"
    recorded = _SPLITS[str(uri)]
    assert recorded == {"by": "shop", "shops": 25,
                        "shops_per_split": {"train": len(_shops(train)), "eval": len(_shops(evaluation))}}
    assert describe_split(recorded) == f"eval split by shop: {len(_shops(evaluation))} of 25 shops, none of them in training"


def test_auto_split_with_too_few_shops_is_by_product(tmp_path: Path, tiny_google: Taxonomy) -> None:
    rows = [{"id": f"p{i}", "title": f"kite {i}", "category": "2", "shop": f"shop{i % 5}"} for i in range(200)]
    uri = _run(tmp_path, tiny_google, rows, Config(split=SplitConfig(method="auto", min_shops=6)))
    train, evaluation = _read(uri / "Split-train"), _read(uri / "Split-eval")
    assert 20 < len(evaluation) < 70, "about a fifth of the products"
    assert _shops(train) & _shops(evaluation) == _shops(evaluation) == {f"shop{i}".encode() for i in range(5)}
    assert _SPLITS[str(uri)] == {"by": "product", "shops": 5, "min_shops": 6}
    assert "by product: 5 shops, fewer than split.min_shops (6)" in describe_split(_SPLITS[str(uri)])


def test_the_hash_split_is_recorded_as_by_product(tmp_path: Path, tiny_google: Taxonomy) -> None:
    rows = [{"id": f"p{i}", "title": f"kite {i}", "category": "2", "shop": f"shop{i % 30}"} for i in range(100)]
    uri = _run(tmp_path, tiny_google, rows, Config(split=SplitConfig(method="hash")))
    assert _SPLITS[str(uri)] == {"by": "product"} and describe_split(_SPLITS[str(uri)]) == "eval split by product"
    summary = RunSummary("run", [], {"example_count": 20.0}, None, None, split=_SPLITS[str(uri)])
    assert "    eval split by product\n" in format_summary(summary, None, 3)


def test_bad_record_fails_the_component_with_its_location(tmp_path: Path, tiny_google: Taxonomy) -> None:
    rows = [{"id": "a", "title": "kite", "category": "2"}, {"id": "b", "title": "kite", "category": "Toys > Drones"}]
    with pytest.raises(BadRecordsError, match=r"products.jsonl:2: field 'category'.*'Toys > Drones' is not in the taxonomy"):
        _run(tmp_path, tiny_google, rows, Config())
    assert not any((tmp_path / "examples").iterdir()), "a failed run leaves no output behind"


def test_quarantine_writes_rejects_and_keeps_the_good(tmp_path: Path, tiny_google: Taxonomy) -> None:
    rows = [{"id": f"g{i}", "title": "kite", "category": "2"} for i in range(20)]
    rows += ['{"id": "broken"', {"id": "nolabel", "title": "kite"}, {"id": "g1", "title": "duplicate"}]
    uri = _run(tmp_path, tiny_google, rows, Config(ingest=IngestConfig(on_bad_record="quarantine")))
    kept = _read(uri / "Split-train") + _read(uri / "Split-eval")
    assert sorted(_value(e, "id") for e in kept) == sorted(f"g{i}".encode() for i in range(20))
    rejects = [json.loads(line) for f in (uri / "Rejects").glob("*.jsonl") for line in f.read_text().splitlines()]
    assert sorted((r["line"], r["field"]) for r in rejects) == [(21, None), (22, "category"), (23, "id")]


# ----------------------------------------------------------------------------- the fuzz corpus
def _reported(rejects: list[dict]) -> list[tuple[str, int, str | None, str | None]]:
    return [(Path(r["source"]).name, r["line"], r["field"], r["id"]) for r in rejects]


def _expected(records: list[FuzzRecord]) -> list[tuple[str, int, str | None, str | None]]:
    return [(r.file, r.line, r.field, r.id) for r in records]


def _ingest_config(manifest: FuzzManifest, on_bad_record: str, on_bad_image: str) -> Config:
    return Config(ingest=IngestConfig(on_bad_record=on_bad_record, on_bad_image=on_bad_image,
                                      max_field_chars=manifest.config.max_field_chars,
                                      max_image_bytes=manifest.config.max_image_bytes))


def test_fuzz_corpus_keeps_exactly_the_good_and_rejects_exactly_the_bad(tmp_path: Path, tiny_google: Taxonomy) -> None:
    """10,000 good and 1,000 bad records (every kind in prodcat.fuzz.KINDS) in JSONL and CSV files."""
    manifest = write_fuzz_corpus(tmp_path / "corpus", tiny_google, FuzzConfig(n_good=10_000, n_bad=1_000, seed=7))
    assert {r.kind for r in manifest.records} == set(KINDS), "the corpus covers every kind"
    uri = _execute(tmp_path, tmp_path / "corpus" / DATA_DIR, "*", tiny_google,
                   _ingest_config(manifest, "quarantine", "reject"))

    kept = [_value(e, "id").decode() for e in _read(uri / "Split-train") + _read(uri / "Split-eval")]
    assert len(kept) == len(set(kept)) == 10_000, "each good product exactly once"
    assert set(kept) == manifest.kept_ids("reject")

    rejects = read_rejects(str(uri))
    assert len(rejects) == 1_000
    assert _reported(rejects) == _expected(manifest.rejected("reject")), "file, line, field and id of each bad record"
    assert all(r["error"] and Path(r["source"]).parent == tmp_path / "corpus" / DATA_DIR for r in rejects)
    assert read_rejects(str(uri), DROPPED_IMAGES_DIR) == []

    assert count_rejects(str(uri)) == 1_000
    summary = RunSummary("run", [], {}, None, None, rejects=count_rejects(str(uri)), rejects_dir=str(uri / "Rejects"))
    assert f"rejected records: 1000 (listed in {uri / 'Rejects'})" in format_summary(summary, None, 3)


def test_fuzz_corpus_with_drop_image_keeps_products_whose_image_is_bad(tmp_path: Path, tiny_google: Taxonomy) -> None:
    manifest = write_fuzz_corpus(tmp_path / "corpus", tiny_google, FuzzConfig(n_good=600, n_bad=150, seed=3))
    uri = _execute(tmp_path, tmp_path / "corpus" / DATA_DIR, "*", tiny_google,
                   _ingest_config(manifest, "quarantine", "drop_image"))
    kept = {_value(e, "id").decode(): e for e in _read(uri / "Split-train") + _read(uri / "Split-eval")}
    assert set(kept) == manifest.kept_ids("drop_image")
    assert _reported(read_rejects(str(uri))) == _expected(manifest.rejected("drop_image"))
    dropped = manifest.dropped_images("drop_image")
    assert dropped and _reported(read_rejects(str(uri), DROPPED_IMAGES_DIR)) == _expected(dropped)
    assert all(_value(kept[r.id], "image") == b"" for r in dropped), "kept without the image"
    assert count_rejects(str(uri), DROPPED_IMAGES_DIR) == len(dropped)


def test_fuzz_corpus_with_policy_fail_names_the_first_bad_record(tmp_path: Path, tiny_google: Taxonomy) -> None:
    manifest = write_fuzz_corpus(tmp_path / "corpus", tiny_google, FuzzConfig(n_good=300, n_bad=60, seed=5))
    first = manifest.rejected("drop_image")[0]
    with pytest.raises(BadRecordsError) as info:
        _execute(tmp_path, tmp_path / "corpus" / DATA_DIR, "*", tiny_google, _ingest_config(manifest, "fail", "drop_image"))
    error = info.value
    assert (Path(error.source).name, error.line, error.field) == (first.file, first.line, first.field)
    where = f"{first.file}:{first.line}:" + (f" field '{first.field}'" if first.field else "")
    assert where in str(error) and f"{len(manifest.rejected('drop_image'))} bad records in total" in str(error)
    assert not any((tmp_path / "examples").iterdir()), "nothing partially written is left as output"
