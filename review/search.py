"""Finding a category by name, in any language the reviewer has a taxonomy file for.

Google publishes its taxonomy per locale with the same ids (../shared/taxonomy has en-US, pt-BR,
de-DE), so a reviewer can type "Hundebett" or "cama para cachorro" and get the same category. Ids a
name file has that the model's taxonomy lacks are ignored: the reviewer can only choose categories
the model knows.
"""

from __future__ import annotations

import dataclasses
import os
import unicodedata
from collections.abc import Sequence

from prodcat.taxonomy import Taxonomy


def fold(text: str) -> str:
    """Case- and accent-insensitive form ("Bücher" and "bucher" match)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclasses.dataclass(frozen=True)
class Match:
    category_id: str
    path: str  # in the model's taxonomy (the language decisions are recorded in)
    matched: str  # the path the query matched, in whichever language it did

    def to_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)


class CategoryIndex:
    """Every category's path in each language, searchable by words in any order."""

    def __init__(self, taxonomy: Taxonomy, translations: Sequence[Taxonomy] = ()) -> None:
        self.taxonomy = taxonomy
        self._entries: list[tuple[str, str, str, str]] = []  # (id, matched path, folded path, folded name)
        for names in (taxonomy, *translations):
            for category in names.categories:
                if category.id in taxonomy:
                    self._entries.append((category.id, category.path_str, fold(category.path_str), fold(category.name)))

    @classmethod
    def from_files(cls, taxonomy: Taxonomy, paths: Sequence[str | os.PathLike]) -> CategoryIndex:
        return cls(taxonomy, [Taxonomy.from_file(p) for p in paths])

    def search(self, query: str, limit: int = 20) -> list[Match]:
        """Categories whose path holds every word of the query; the name matching first, then shallow ones."""
        words = fold(query).split()
        if not words:
            return []
        scored: dict[str, tuple[tuple[int, int, int], str]] = {}
        for category_id, path, folded, name in self._entries:
            if not all(word in folded for word in words):
                continue
            in_name = sum(word in name for word in words)
            score = (-in_name, self.taxonomy[category_id].level, len(folded))
            if category_id not in scored or score < scored[category_id][0]:
                scored[category_id] = (score, path)
        ranked = sorted(scored.items(), key=lambda item: (item[1][0], item[0]))[:limit]
        return [Match(cid, self.taxonomy[cid].path_str, matched) for cid, (_, matched) in ranked]
