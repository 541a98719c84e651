"""Product search: BM25 (``rank_bm25``, the library WebShop's own code imports) over the catalog.

A product's document is what WebShop indexes: title, description, first feature and the option values.
"""

from __future__ import annotations

import re

TOKEN = re.compile(r"[a-z0-9]+")
SEARCH_RETURN_N = 50  # WebShop returns the top 50


def tokenize(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


def document(product: dict) -> str:
    options = ", and ".join(f"{group}: {', '.join(values)}" for group, values in product["options"].items())
    first = product["features"][0] if product["features"] else ""
    return " ".join([product["title"], product["description"], first, options])


class SearchEngine:
    def __init__(self, products: list[dict]):
        from rank_bm25 import BM25Okapi

        self.ids = [p["id"] for p in products]
        self.bm25 = BM25Okapi([tokenize(document(p)) or ["_"] for p in products])

    def search(self, keywords: str, k: int = SEARCH_RETURN_N) -> list[str]:
        """Ids of the ``k`` best matches; ties keep catalog order, no match scores nothing."""
        terms = tokenize(keywords)
        if not terms:
            return []
        scores = self.bm25.get_scores(terms)
        order = sorted(range(len(self.ids)), key=lambda i: (-scores[i], i))
        return [self.ids[i] for i in order[:k] if scores[i] > 0]
