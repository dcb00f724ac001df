"""The fuzz corpus generator: deterministic, complete, and its manifest agrees with itself."""

from __future__ import annotations

from pathlib import Path

from prodcat.fuzz import DATA_DIR, FILES, KINDS, MANIFEST, FuzzConfig, FuzzManifest, main, write_fuzz_corpus
from prodcat.taxonomy import Taxonomy


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_corpus(tmp_path: Path, tiny_google: Taxonomy) -> None:
    config = FuzzConfig(n_good=300, n_bad=80, seed=11)
    first = write_fuzz_corpus(tmp_path / "a", tiny_google, config)
    second = write_fuzz_corpus(tmp_path / "b", tiny_google, config)
    assert _files(tmp_path / "a") == _files(tmp_path / "b") and first == second
    write_fuzz_corpus(tmp_path / "c", tiny_google, FuzzConfig(n_good=300, n_bad=80, seed=12))
    assert _files(tmp_path / "c" / DATA_DIR) != _files(tmp_path / "a" / DATA_DIR)
    assert FuzzManifest.load(tmp_path / "a" / MANIFEST) == first


def test_manifest_counts_kinds_and_policies(tmp_path: Path, tiny_google: Taxonomy) -> None:
    manifest = write_fuzz_corpus(tmp_path, tiny_google, FuzzConfig(n_good=500, n_bad=100, seed=1))
    assert {r.kind for r in manifest.records} == set(KINDS)
    assert sum(r.outcome == "good" for r in manifest.records) == 500
    assert len(manifest.rejected("reject")) == 100
    images = manifest.dropped_images("drop_image")
    assert images and len(manifest.rejected("drop_image")) == 100 - len(images)
    assert manifest.kept_ids("drop_image") == manifest.kept_ids("reject") | {r.id for r in images}
    assert len({(r.file, r.line) for r in manifest.records}) == len(manifest.records), "one record per start line"
    assert {f.name for f in FILES} == {p.name for p in (tmp_path / DATA_DIR).iterdir() if p.is_file()}
    assert (tmp_path / DATA_DIR / "02-bom-crlf.jsonl").read_bytes().startswith(b"\xef\xbb\xbf")
    mixed = (tmp_path / DATA_DIR / "06-mixed-eol.csv").read_bytes()
    assert b"\r\n" in mixed and b"\r" in mixed.replace(b"\r\n", b"") and not mixed.endswith(b"\n")


def test_command_line(tmp_path: Path, tiny_google: Taxonomy, capsys) -> None:  # noqa: ANN001 (pytest fixture)
    taxonomy = tiny_google.save(tmp_path / "taxonomy.txt")
    assert main(["--out", str(tmp_path / "out"), "--taxonomy", str(taxonomy), "--good", "100", "--bad", "40"]) == 0
    assert "100 good and 40 bad records" in capsys.readouterr().out
    assert (tmp_path / "out" / MANIFEST).exists()
