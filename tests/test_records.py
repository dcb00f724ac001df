"""Canonical product records: every reader, Shopify's export format, and bad-input reporting."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from prodcat.contract.examples import TFRECORD_READERS, example_to_mapping, product_to_example
from prodcat.records import Product, ReadOptions, RecordError
from prodcat.readers import iter_numbered_products, read_products, write_jsonl
from prodcat.shopify_csv import strip_html

PRODUCTS = [
    Product(id="p1", title="Hundebett XL", tags=["hund", "bett"], shop="Tierladen", language="de", category="1"),
    Product(id="p2", title="Stunt kite 2m", description="Dual line.", vendor="Skyco", category="Toys > Kites"),
]


def _write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_jsonl_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    assert write_jsonl(PRODUCTS, path) == 2
    assert read_products(path) == PRODUCTS


def test_csv_and_parquet_readers(tmp_path: Path) -> None:
    csv_path = tmp_path / "p.csv"
    csv_path.write_text('id,title,tags,category\np1,"Kite, red","a, b",3\n', encoding="utf-8")
    [product] = read_products(csv_path)
    assert product.title == "Kite, red" and product.tags == ["a", "b"] and product.category == "3"

    table = pa.table({"id": ["x"], "title": ["Pot"], "image": [b"\x89PNG"], "tags": [["t1"]], "category": ["5"]})
    pq.write_table(table, tmp_path / "p.parquet")
    [product] = read_products(tmp_path / "p.parquet")
    assert product.image == b"\x89PNG" and product.tags == ["t1"]


def test_tfrecord_reader_reads_examples(tmp_path: Path) -> None:
    path = tmp_path / "p.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for product in PRODUCTS:
            writer.write(product_to_example(product).SerializeToString())
    assert [p.id for p in read_products(path, extra_readers=TFRECORD_READERS)] == ["p1", "p2"]
    with pytest.raises(RecordError, match="TFRecord files are read by the pipeline"):  # the domain has no TensorFlow
        read_products(path)
    assert example_to_mapping(product_to_example(PRODUCTS[0]).SerializeToString())["tags"] == ["hund", "bett"]


def test_images_by_relative_path_and_data_uri(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(b"PNGDATA")
    path = _write_jsonl(tmp_path / "p.jsonl", [
        {"id": "a", "title": "t", "image": "img/a.png"},
        {"id": "b", "title": "t", "image": "data:image/png;base64,UE5H"},
        {"id": "c", "title": "t", "image": "https://cdn.example.com/c.png"},
    ])
    a, b, c = read_products(path)
    assert a.image == b"PNGDATA" and b.image == b"PNG"
    assert c.image is None and c.image_uri == "https://cdn.example.com/c.png"


def test_shopify_export_folds_variant_rows(tmp_path: Path) -> None:
    path = tmp_path / "products_export.csv"
    path.write_text(
        "Handle,Title,Body (HTML),Vendor,Product Category,Type,Tags,Image Src,Google Shopping / Google Product Category\n"
        'blue-mug,Blue Mug,"<p>Stoneware <b>mug</b> &amp; saucer</p>",Potter,Home & Garden > Kitchen & Dining,Mug,"blue, mug",https://x/1.jpg,\n'
        "blue-mug,,,,,,,https://x/2.jpg,\n"
        "red-kite,Red Kite,,Skyco,,Kite,,,1234\n",
        encoding="utf-8",
    )
    mug, kite = read_products(path)
    assert mug.id == "blue-mug" and mug.description == "Stoneware mug & saucer"
    assert mug.category == "Home & Garden > Kitchen & Dining" and mug.tags == ["blue", "mug"]
    assert mug.image_uri == "https://x/1.jpg"
    assert kite.category == "1234"


def test_strip_html_drops_scripts() -> None:
    assert strip_html("<div>a<script>evil()</script> b<br>c</div>") == "a b c"


def test_numeric_ids_are_accepted_as_shops_export_them(tmp_path: Path) -> None:
    [product] = read_products(_write_jsonl(tmp_path / "p.jsonl", [{"id": 12, "title": "Dog bed", "category": 4}]))
    assert (product.id, product.category) == ("12", "4")


@pytest.mark.parametrize(
    "line, field, message",
    [
        ('{"id": "x", "title": ""}', "title", "missing or empty"),
        ('{"id": "x"}', "title", "missing or empty"),
        ('{"title": "t"}', "id", "missing or empty"),
        ('{"id": "x", "title": 5.5}', "title", "expected a string"),
        ('{"id": "x", "title": 42}', "title", "expected a string, got int"),
        ('{"id": "x", "title": "t", "vendor": 7}', "vendor", "expected a string, got int"),
        ('{"id": true, "title": "t"}', "id", "expected a string, got bool"),
        ('{"id": "x", "title": "t", "tags": [1, 2]}', "tags", "list of strings"),
        ('{"id": "x", "title": "t"', None, "invalid JSON"),
        ('[1, 2]', None, "expected a JSON object"),
    ],
)
def test_bad_jsonl_record_names_file_line_field(tmp_path: Path, line: str, field: str | None, message: str) -> None:
    path = _write_jsonl(tmp_path / "p.jsonl", [{"id": "ok", "title": "fine"}, line])
    with pytest.raises(RecordError) as info:
        read_products(path)
    error = info.value
    assert (error.source, error.line, error.field) == (str(path), 2, field)
    assert message in str(error) and f"{path}:2" in str(error)


def test_quarantine_collects_every_bad_record_and_keeps_the_good(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"id": "a", "title": "first"}\r\n'
        b'{"id": "b", "title": "bad \xff utf8"}\n'
        b'{"id": "a", "title": "duplicate id"}\n'
        b'\n'
        b'{"id": "c", "title": "last"}\n'
    )
    rejects: list[RecordError] = []
    products = list(iter_numbered_products(path, rejects))
    assert [(line, p.id) for line, p in products] == [(1, "a"), (5, "c")]
    assert [(e.line, e.field) for e in rejects] == [(2, "title"), (3, "id")]
    assert "invalid UTF-8" in str(rejects[0]) and "duplicate id" in str(rejects[1])


def test_broken_csv_quoting_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text('id,title\na,"ok"\nb,"unterminated\n', encoding="utf-8")
    rejects: list[RecordError] = []
    products = list(iter_numbered_products(path, rejects))
    assert [p.id for _, p in products] == ["a"]
    assert len(rejects) == 1 and "malformed CSV" in str(rejects[0])


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="unsupported format"):
        read_products(tmp_path / "p.xlsx")
    with pytest.raises(RecordError, match="file not found"):
        read_products(tmp_path / "nope.jsonl")


# ----------------------------------------------------------------------------- hostile input
def _read_all(path: Path, options: ReadOptions = ReadOptions()) -> tuple[list[tuple[int, str]], list[tuple]]:
    rejects: list[RecordError] = []
    products = [(line, p.id) for line, p in iter_numbered_products(path, rejects, options=options)]
    return products, [(e.line, e.field, e.record_id) for e in rejects]


def test_csv_broken_quoting_resumes_on_the_next_line_and_names_the_column(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text('id,title,category\na,"ok",2\nb,"never closed,2\nc,"Kite, red",2\nd,"x"junk,2\ne,plain,2\n'
                    'f,"two\nlines",2\n', encoding="utf-8")
    rejects: list[RecordError] = []
    products = list(iter_numbered_products(path, rejects))
    assert [(line, p.id) for line, p in products] == [(2, "a"), (4, "c"), (6, "e"), (7, "f")]
    assert products[-1][1].title == "two\nlines", "a quoted cell may span lines"
    assert [(e.line, e.field) for e in rejects] == [(3, "title"), (5, "title")]
    assert "not closed on this line" in str(rejects[0]) and "broken quoting" in str(rejects[1])


def test_csv_bad_bytes_nul_and_cell_counts_are_reported_per_row(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(b'\xef\xbb\xbfid,title,description\r\n'
                     b'a,Kite \xff red,d\r\n'  # invalid UTF-8 in one row only
                     b'b,Kite,with \x00 NUL\r'  # lone CR line ending
                     b'c,Kite,d,extra\n'
                     b'd,Kite\n'
                     b'\n'
                     b'e,Kite,fine')  # no final line break
    products, rejects = _read_all(path)
    assert products == [(7, "e")]
    assert rejects == [(2, "title", "a"), (3, "description", "b"), (4, None, "c"), (5, None, "d")]


def test_jsonl_accepts_mixed_line_endings_and_boms_and_rejects_hostile_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(b'{"id": "a", "title": "t"}\r'
                     b'\xef\xbb\xbf{"id": "b", "title": "t"}\r\n'  # a BOM where two files were concatenated
                     b'{"id": "c", "title": "t", "tags": ' + b"[" * 50_000 + b"]" * 50_000 + b'}\n'
                     b'{"id": ' + b"9" * 5_000 + b', "title": "t"}\n'
                     b'{"id": "e", "title": "t \\ud800"}\n'
                     b'{"id": "f", "title": "t", "notes": "\xc3\x28"}\n'
                     b'{"id": "g", \xff "title": "t"}\n'
                     b'{"id": "h", "title": "t"}')
    products, rejects = _read_all(path)
    assert products == [(1, "a"), (2, "b"), (8, "h")]
    assert rejects == [(3, None, None), (4, None, None), (5, "title", "e"), (6, "notes", "f"), (7, None, None)]
    utf16 = tmp_path / "u.jsonl"
    utf16.write_bytes('{"id": "a", "title": "t"}\n'.encode("utf-16"))
    with pytest.raises(RecordError, match="UTF-16"):
        read_products(utf16)


def test_field_length_and_image_limits(tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(b"\x89PNG" + b"\0" * 2_000)
    path = _write_jsonl(tmp_path / "p.jsonl", [
        {"id": "a", "title": "x" * 11},
        {"id": "b", "title": "t", "tags": ["ok", "y" * 11]},
        {"id": "c", "title": "t", "image": "big.png"},
        {"id": "d", "title": "t", "image": "no.png"},
        {"id": "e", "title": "x" * 10, "image": "data:image/png;base64," + "A" * 4_000},
    ])
    options = ReadOptions(max_field_chars=10, max_image_bytes=1_000)
    products, rejects = _read_all(path, options)
    assert products == []
    assert rejects == [(1, "title", "a"), (2, "tags", "b"), (3, "image", "c"), (4, "image", "d"), (5, "image", "e")]
    kept = list(iter_numbered_products(path, [], options=dataclasses.replace(options, keep_bad_images=True)))
    assert [(line, p.id, p.image, bool(p.image_error)) for line, p in kept] == [
        (3, "c", None, True), (4, "d", None, True), (5, "e", None, True)]


def test_duplicate_ids_across_files_keep_the_first(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "a.jsonl", [{"id": "x", "title": "first"}])
    (tmp_path / "b.csv").write_text("id,title\ny,other\nx,second\n", encoding="utf-8")
    rejects: list[RecordError] = []
    assert [p.title for p in read_products(tmp_path, rejects)] == ["first", "other"]
    assert [(Path(e.source).name, e.line, e.field) for e in rejects] == [("b.csv", 3, "id")]
    assert f"first at {tmp_path / 'a.jsonl'}:1" in str(rejects[0])


def test_tfrecord_with_a_record_that_is_not_an_example(tmp_path: Path) -> None:
    path = tmp_path / "p.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(product_to_example(PRODUCTS[0]).SerializeToString())
        writer.write(b"\x0a\xff")
    rejects: list[RecordError] = []
    assert [p.id for p in read_products(path, rejects, extra_readers=TFRECORD_READERS)] == ["p1"]
    assert [(e.line, e.field) for e in rejects] == [(2, None)] and "not a tf.Example" in str(rejects[0])
