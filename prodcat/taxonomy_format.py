"""What a taxonomy file says: its line formats, and the `Category` nodes it defines as a tree.

Two formats are read, told apart by the first category line: Google's
`taxonomy-with-ids.<locale>.txt` (`ID - A > B > C` per line) and Shopify's `categories.txt`
(`gid://shopify/TaxonomyCategory/aa-1 : A > B`); a list of category paths (a shop's own tree) is
the third source. Parsing lives apart from the tree's queries (`prodcat.category_tree.Taxonomy`,
whose constructors call it) because checking that a file forms a tree, and naming the line where
it does not, is a job of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence

PATH_SEPARATOR = " > "
SHOPIFY_GID_PREFIX = "gid://shopify/TaxonomyCategory/"


class TaxonomyError(ValueError):
    """A taxonomy file or path list that cannot form a tree; the message names the line."""


@dataclasses.dataclass(frozen=True)
class Category:
    """One node of the tree. `level` is 1 for top-level categories."""

    id: str
    path: tuple[str, ...]
    parent: str | None

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def level(self) -> int:
        return len(self.path)

    @property
    def path_str(self) -> str:
        return PATH_SEPARATOR.join(self.path)


def parse_taxonomy_text(text: str, source: str = "<text>") -> tuple[list[Category], str]:
    """(categories, version) of a taxonomy file's text in Google's or Shopify's format.

    Shopify categories keep their short id (`aa-1`); `Taxonomy.resolve` takes either.
    """
    first = next((line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")), "")
    if first.startswith(SHOPIFY_GID_PREFIX):
        return _categories_of_lines(text, source, shopify_category_line, "'gid://shopify/TaxonomyCategory/ID : A > B'")
    return _categories_of_lines(text, source, _google_line, "'ID - A > B > C'")


def _categories_of_lines(
    text: str, source: str, split_line: Callable[[str], tuple[str, str] | None], expected: str
) -> tuple[list[Category], str]:
    """The tree of `ID <separator> path` lines; every parent path on an earlier line."""
    version = ""
    categories: list[Category] = []
    ids_seen: dict[str, int] = {}
    paths_seen: dict[tuple[str, ...], int] = {}
    path_ids: dict[tuple[str, ...], str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            for marker in ("Version:", "Categories:"):
                if marker in line and not version:
                    version = line.split(marker, 1)[1].strip()
            continue
        parts = split_line(line)
        if parts is None:
            raise TaxonomyError(f"{source}, line {lineno}: expected {expected}, got {raw!r}")
        cid, path_text = (part.strip() for part in parts)
        if not cid or not path_text:
            raise TaxonomyError(f"{source}, line {lineno}: empty id or path in {raw!r}")
        path = _split_path(path_text)
        if any(not name for name in path):
            raise TaxonomyError(f"{source}, line {lineno}: empty category name in path {path_text!r}")
        if cid in ids_seen:
            raise TaxonomyError(
                f"{source}, line {lineno}: duplicate id {cid} (first defined on line {ids_seen[cid]})"
            )
        if path in paths_seen:
            raise TaxonomyError(
                f"{source}, line {lineno}: duplicate path {path_text!r} (first on line {paths_seen[path]})"
            )
        parent_path = path[:-1]
        parent_id = None
        if parent_path:
            if parent_path not in paths_seen:
                raise TaxonomyError(
                    f"{source}, line {lineno}: orphan category {path_text!r}: its parent "
                    f"{PATH_SEPARATOR.join(parent_path)!r} is not defined on an earlier line"
                )
            parent_id = path_ids[parent_path]
        ids_seen[cid] = lineno
        paths_seen[path] = lineno
        path_ids[path] = cid
        categories.append(Category(id=cid, path=path, parent=parent_id))
    if not categories:
        raise TaxonomyError(f"{source}: no categories found")
    return categories, version


def categories_of_paths(paths: Iterable[str | Sequence[str]]) -> list[Category]:
    """Builds a tree from labelled category paths (e.g. a shop's own tree, GS1 GPC).

    Every prefix of every path becomes a node. Ids are assigned 1..N in sorted path order, so
    the same set of paths always yields the same ids.
    """
    nodes: set[tuple[str, ...]] = set()
    for raw in paths:
        path = _split_path(raw) if isinstance(raw, str) else tuple(n.strip() for n in raw)
        if not path or any(not name for name in path):
            raise TaxonomyError(f"invalid category path {raw!r}: empty name")
        for k in range(1, len(path) + 1):
            nodes.add(path[:k])
    ordered = sorted(nodes)
    ids = {path: str(i) for i, path in enumerate(ordered, start=1)}
    categories = [Category(id=ids[p], path=p, parent=ids.get(p[:-1])) for p in ordered]
    if not categories:
        raise TaxonomyError("no category paths given")
    return categories


def _google_line(line: str) -> tuple[str, str] | None:
    return tuple(line.split(" - ", 1)) if " - " in line else None  # type: ignore[return-value]


def shopify_category_line(line: str) -> tuple[str, str] | None:
    """(short id, path text) of a line of Shopify's `categories.txt`; None for any other line."""
    line = line.strip()
    if not line.startswith(SHOPIFY_GID_PREFIX) or " : " not in line:
        return None
    gid, path = line.split(" : ", 1)
    return strip_shopify_gid(gid).strip(), path


def strip_shopify_gid(label: str) -> str:
    """`gid://shopify/TaxonomyCategory/aa-1` -> `aa-1`; any other label unchanged."""
    return label[len(SHOPIFY_GID_PREFIX):] if label.startswith(SHOPIFY_GID_PREFIX) else label


def _split_path(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(PATH_SEPARATOR.strip()))
