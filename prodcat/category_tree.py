"""The category tree every stage of prodcat derives from.

One `Taxonomy` object answers all tree questions (levels, parents, children, per-level
vocabularies, id <-> path). Transform, the model, decoding, metrics and serving all build their
lookup tables from it, so there is exactly one parser (`prodcat.taxonomy_format`) and one
ordering of classes. Loading one from a path, URL or the cache is `prodcat.taxonomy`, which also
keeps these names' import path.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from prodcat.taxonomy_format import (
    Category,
    _split_path,
    categories_of_paths,
    parse_taxonomy_text,
    strip_shopify_gid,
)


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
        categories, version = parse_taxonomy_text(text, source)
        return cls(categories, version=version)

    from_google_text = from_text

    @classmethod
    def from_paths(cls, paths: Iterable[str | Sequence[str]], version: str = "") -> Taxonomy:
        """Builds a tree from labelled category paths (e.g. a shop's own tree, GS1 GPC).

        Every prefix of every path becomes a node. Ids are assigned 1..N in sorted path order, so
        the same set of paths always yields the same ids.
        """
        return cls(categories_of_paths(paths), version=version)

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
