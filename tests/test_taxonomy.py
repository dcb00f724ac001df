"""The taxonomy parser and tree API, on the real Google file and on malformed ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prodcat.taxonomy import Taxonomy, TaxonomyError, load_taxonomy


def test_real_google_taxonomy_shape(google_taxonomy: Taxonomy) -> None:
    t = google_taxonomy
    assert len(t) == 5595
    assert t.depth == 7
    assert t.level_sizes() == [21, 192, 1349, 2203, 1385, 397, 48]
    assert t.version == "2021-09-21"
    assert len(t.children(None)) == 21


def test_real_google_taxonomy_counts_match_an_independent_parse(google_taxonomy_path: Path, google_taxonomy: Taxonomy) -> None:
    lines = [l for l in google_taxonomy_path.read_text(encoding="utf-8").splitlines() if l and not l.startswith("#")]
    depths = [len(l.split(" - ", 1)[1].split(" > ")) for l in lines]
    assert len(lines) == len(google_taxonomy)
    assert [depths.count(d) for d in range(1, 8)] == google_taxonomy.level_sizes()


def test_tree_queries(google_taxonomy: Taxonomy) -> None:
    t = google_taxonomy
    node = t.by_path("Religious & Ceremonial")
    assert node is not None and node.level == 1 and node.parent is None
    deep = next(c for c in t.categories if c.level == 7)
    chain = t.ancestors(deep.id)
    assert len(chain) == 7 and chain[-1] == deep.id
    assert [t[c].level for c in chain] == list(range(1, 8))
    assert t.resolve(deep.path_str) == deep and t.resolve(deep.id) == deep
    assert t.path_indices(deep.id) == [t.level_index(k, c) for k, c in enumerate(chain, start=1)]
    assert deep.id in t.subtree(chain[0])
    assert t.is_under(deep.id, chain[2]) and not t.is_under(chain[2], deep.id)


def test_child_masks_agree_with_parents(google_taxonomy: Taxonomy) -> None:
    t = google_taxonomy
    for level in range(2, t.depth + 1):
        mask = t.child_mask(level)
        assert mask.shape == (t.level_sizes()[level - 2], t.level_sizes()[level - 1])
        assert np.all(mask.sum(axis=0) == 1), "every class has exactly one parent"
        for j, cid in enumerate(t.level_ids(level)[:50]):
            assert mask[t.level_index(level - 1, t.parent(cid)), j]


def test_round_trip_through_google_format(tiny_google: Taxonomy, tmp_path: Path) -> None:
    path = tiny_google.save(tmp_path / "t.txt")
    again = Taxonomy.from_google_file(path)
    assert [c.path for c in again.categories] == [c.path for c in tiny_google.categories]
    assert again.fingerprint() == tiny_google.fingerprint()


def test_from_paths_is_deterministic_and_adds_ancestors() -> None:
    a = Taxonomy.from_paths(["Shoes > Boots", "Bags", "Shoes > Sneakers > Running"])
    b = Taxonomy.from_paths(["Shoes > Sneakers > Running", "Shoes > Boots", "Bags"])
    assert [(c.id, c.path) for c in a.categories] == [(c.id, c.path) for c in b.categories]
    assert a.by_path("Shoes > Sneakers") is not None
    assert a.depth == 3 and a.level_sizes() == [2, 2, 1]


@pytest.mark.parametrize(
    "text, message",
    [
        ("1 - A\n1 - B\n", "line 2: duplicate id 1"),
        ("1 - A\n2 - A > B\n3 - A > B\n", "line 3: duplicate path"),
        ("1 - A\n2 - X > Y\n", "line 2: orphan category"),
        ("1 - A\nnot a category line\n", "line 2: expected 'ID - A > B > C'"),
        ("1 - A\n2 - A >  > C\n", "line 2: empty category name"),
        ("# only a comment\n", "no categories"),
        ("gid://shopify/TaxonomyCategory/aa : A\ngid://shopify/TaxonomyCategory/aa-1 A > B\n",
         "line 2: expected 'gid://shopify/TaxonomyCategory/ID : A > B'"),
        ("gid://shopify/TaxonomyCategory/aa : A\ngid://shopify/TaxonomyCategory/aa-1 : X > B\n", "line 2: orphan category"),
    ],
)
def test_malformed_files_name_the_line(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TaxonomyError, match=message.replace("(", r"\(")):
        Taxonomy.from_google_file(path)


def test_shopify_taxonomy_file_is_a_taxonomy_too(shared: Path, tmp_path: Path) -> None:
    """Shopify's `categories.txt` (`gid://shopify/TaxonomyCategory/<id> : A > B`) loads like Google's file."""
    path = shared / "taxonomy" / "shopify_categories.en.2025-06-unstable.txt"
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("gid://")]
    t = load_taxonomy(path)
    # the shared README's counts: 10,595 categories, 26 level-1 categories, depth 8
    assert len(t) == len(lines) == 10595 and t.depth == 8 and len(t.children(None)) == 26
    assert t.version == "2025-06-unstable"
    node = t.resolve("gid://shopify/TaxonomyCategory/aa-1")
    assert node is t.resolve("aa-1") is t.resolve("Apparel & Accessories > Clothing") and node.parent == "aa"
    # a model stores its tree in Google's format; the Shopify ids and paths survive the round trip
    again = Taxonomy.from_file(t.save(tmp_path / "saved.txt"))
    assert again.fingerprint() == t.fingerprint() and again["aa-1"].path == node.path


def test_load_taxonomy_prefers_explicit_path_then_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_google: Taxonomy) -> None:
    path = tiny_google.save(tmp_path / "tiny.txt")
    monkeypatch.setenv("PRODCAT_TAXONOMY", str(path))
    assert len(load_taxonomy()) == 5
    with pytest.raises(TaxonomyError, match="not found"):
        load_taxonomy(tmp_path / "missing.txt")


def test_load_taxonomy_reports_download_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRODCAT_TAXONOMY", raising=False)
    monkeypatch.setenv("PRODCAT_CACHE", str(tmp_path))
    with pytest.raises(TaxonomyError, match="could not download"):
        load_taxonomy("http://127.0.0.1:9/taxonomy.txt")


def test_load_taxonomy_uses_the_cached_official_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_google: Taxonomy) -> None:
    monkeypatch.delenv("PRODCAT_TAXONOMY", raising=False)
    monkeypatch.setenv("PRODCAT_CACHE", str(tmp_path))
    tiny_google.save(tmp_path / "taxonomy-with-ids.en-US.txt")
    assert len(load_taxonomy()) == 5
