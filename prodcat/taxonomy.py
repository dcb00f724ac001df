"""The category tree every stage of prodcat derives from.

One `Taxonomy` object answers all tree questions (levels, parents, children, per-level
vocabularies, id <-> path). Transform, the model, decoding, metrics and serving all build their
lookup tables from it, so there is exactly one parser and one ordering of classes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

PATH_SEPARATOR = " > "
GOOGLE_TAXONOMY_URL = "https://www.google.com/basepages/producttype/taxonomy-with-ids.{locale}.txt"
SHOPIFY_GID_PREFIX = "gid://shopify/TaxonomyCategory/"
TAXONOMY_ENV = "PRODCAT_TAXONOMY"
CACHE_ENV = "PRODCAT_CACHE"


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


class Taxonomy:
    """An immutable category tree with per-level class vocabularies.

    Class order within a level is the order of first appearance in the source (Google's file
    order), which is stable across versions of the file for existing categories.
    """

    def __init__(self, categories: Sequence[Category], version: str = "") -> None:
        self.version = version
        self._ordered = list(categories)
        self._by_id: dict[str, Category] = {}
        self._by_path: dict[tuple[str, ...], Category] = {}
        for cat in categories:
            self._by_id[cat.id] = cat
            self._by_path[cat.path] = cat
        self._children: dict[str | None, list[str]] = {}
        for cat in categories:
            self._children.setdefault(cat.parent, []).append(cat.id)
        self.depth = max((c.level for c in categories), default=0)
        self._level_ids: list[list[str]] = [[] for _ in range(self.depth)]
        for cat in categories:
            self._level_ids[cat.level - 1].append(cat.id)
        self._level_index: list[dict[str, int]] = [
            {cid: i for i, cid in enumerate(ids)} for ids in self._level_ids
        ]

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Taxonomy:
        """Parses a taxonomy file in Google's or Shopify's format (see `from_text`)."""
        text = Path(path).read_text(encoding="utf-8-sig")
        return cls.from_text(text, source=str(path))

    from_google_file = from_file  # Google's files are what most users pass

    @classmethod
    def from_text(cls, text: str, source: str = "<text>") -> Taxonomy:
        """Google's `taxonomy-with-ids.<locale>.txt` (`ID - A > B > C` per line) or Shopify's
        `categories.txt` (`gid://shopify/TaxonomyCategory/aa-1 : A > B`), told apart by the first
        category line. Shopify categories keep their short id (`aa-1`); `resolve` takes either."""
        first = next((line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")), "")
        if first.startswith(SHOPIFY_GID_PREFIX):
            return cls._from_lines(text, source, shopify_category_line, "'gid://shopify/TaxonomyCategory/ID : A > B'")
        return cls._from_lines(text, source, _google_line, "'ID - A > B > C'")

    from_google_text = from_text

    @classmethod
    def _from_lines(cls, text: str, source: str, split_line, expected: str) -> Taxonomy:  # noqa: ANN001
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
        return cls(categories, version=version)

    @classmethod
    def from_paths(cls, paths: Iterable[str | Sequence[str]], version: str = "") -> Taxonomy:
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
        return cls(categories, version=version)

    # ----------------------------------------------------------------- serialization
    def to_google_text(self) -> str:
        header = f"# Google_Product_Taxonomy_Version: {self.version}\n" if self.version else ""
        return header + "".join(f"{c.id} - {c.path_str}\n" for c in self.categories)

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.to_google_text(), encoding="utf-8")
        os.replace(tmp, path)
        return path

    def fingerprint(self) -> str:
        """Content hash: two taxonomies with the same fingerprint give the same model classes."""
        return hashlib.sha256(self.to_google_text().encode("utf-8")).hexdigest()[:16]

    # ----------------------------------------------------------------- tree queries
    @property
    def categories(self) -> list[Category]:
        return list(self._ordered)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, category_id: object) -> bool:
        return category_id in self._by_id

    def __getitem__(self, category_id: str) -> Category:
        try:
            return self._by_id[category_id]
        except KeyError:
            raise KeyError(f"unknown category id {category_id!r}") from None

    def get(self, category_id: str) -> Category | None:
        return self._by_id.get(category_id)

    def by_path(self, path: str | Sequence[str]) -> Category | None:
        key = _split_path(path) if isinstance(path, str) else tuple(path)
        return self._by_path.get(key)

    def resolve(self, label: str) -> Category | None:
        """Maps a label that is either a category id or a full path ("A > B > C") to its node."""
        label = strip_shopify_gid(label.strip())
        return self._by_id.get(label) or self._by_path.get(_split_path(label))

    def children(self, category_id: str | None) -> list[str]:
        """Child ids; `None` asks for the top-level categories."""
        return list(self._children.get(category_id, []))

    def parent(self, category_id: str) -> str | None:
        return self[category_id].parent

    def ancestors(self, category_id: str, include_self: bool = True) -> list[str]:
        """Ids from the top level down to the category."""
        chain: list[str] = []
        node: str | None = category_id if include_self else self[category_id].parent
        while node is not None:
            chain.append(node)
            node = self._by_id[node].parent
        return chain[::-1]

    def is_leaf(self, category_id: str) -> bool:
        return not self._children.get(category_id)

    def is_under(self, category_id: str, ancestor_id: str) -> bool:
        return ancestor_id in self.ancestors(category_id)

    def level_ids(self, level: int) -> list[str]:
        """The class vocabulary of `level` (1-based), in model output order."""
        return list(self._level_ids[level - 1])

    def level_sizes(self) -> list[int]:
        return [len(ids) for ids in self._level_ids]

    def level_index(self, level: int, category_id: str) -> int:
        return self._level_index[level - 1][category_id]

    def path_indices(self, category_id: str) -> list[int]:
        """Per-level class indices of the category's ancestors (length = its level)."""
        return [self._level_index[i][cid] for i, cid in enumerate(self.ancestors(category_id))]

    def child_mask(self, level: int) -> np.ndarray:
        """Boolean [n(level-1), n(level)] matrix: entry (p, c) is true when c is a child of p.

        Decoding multiplies the level's probabilities by the row of the chosen parent, which is
        what keeps predictions consistent with the tree.
        """
        if level < 2:
            raise ValueError("level 1 has no parent level")
        parents = self._level_index[level - 2]
        mask = np.zeros((len(parents), len(self._level_ids[level - 1])), dtype=bool)
        for j, cid in enumerate(self._level_ids[level - 1]):
            mask[parents[self._by_id[cid].parent], j] = True
        return mask

    def subtree(self, category_id: str) -> list[str]:
        """The category and all its descendants."""
        out, stack = [], [category_id]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(self._children.get(node, []))
        return out


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


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "prodcat")


def load_taxonomy(source: str | os.PathLike | None = None, locale: str = "en-US") -> Taxonomy:
    """Loads a taxonomy (Google's or Shopify's format) from a path, a URL, $PRODCAT_TAXONOMY, or
    Google's official file.

    Without a source, the official file is downloaded once into the user cache; later calls read
    the cached copy.
    """
    source = source or os.environ.get(TAXONOMY_ENV) or None
    if source is None:
        cached = default_cache_dir() / f"taxonomy-with-ids.{locale}.txt"
        if not cached.exists():
            _download(GOOGLE_TAXONOMY_URL.format(locale=locale), cached)
        return Taxonomy.from_file(cached)
    text_source = str(source)
    if text_source.startswith(("http://", "https://")):
        digest = hashlib.sha256(text_source.encode()).hexdigest()[:12]
        cached = default_cache_dir() / f"taxonomy-{digest}.txt"
        if not cached.exists():
            _download(text_source, cached)
        return Taxonomy.from_file(cached)
    path = Path(text_source).expanduser()
    if not path.exists():
        raise TaxonomyError(f"taxonomy file not found: {path}")
    return Taxonomy.from_file(path)


def _download(url: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (https URL)
            tmp.write_bytes(response.read())
    except OSError as err:
        raise TaxonomyError(
            f"could not download the taxonomy from {url} ({err}); pass a local file with "
            f"--taxonomy or set ${TAXONOMY_ENV}"
        ) from err
    os.replace(tmp, dest)
