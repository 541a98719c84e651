"""WebShop's reward for a purchase (``web_agent_site/engine/goal.py``), written for this project.

    R = r_type * (|attributes matched| + |options matched| + 1[price <= budget]) / (|attributes| + |options| + 1)

* An attribute matches when a product attribute has a token-set ratio > 85 with it, or when it
  occurs in the title, the features or the description. An option matches when a chosen option
  value has a token-set ratio > 85 with it, after both are reduced to their first colour word.
  Ratios come from ``rapidfuzz`` with thefuzz's preprocessing (lower case, punctuation to spaces).
* ``r_type``: 1 when the product type matches (same query, or >= 2 shared breadcrumb parts, or a
  title score > 0.2), else 0.5; 0.1 when the title score < 0.1; 0 when it is 0. The title score is
  the share of the goal product's title words found in the purchased title. WebShop keeps only the
  nouns (spaCy); here every word that is not a stop word or a number counts (no spaCy model offline).
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz, utils

MATCH = 85
COLORS = ("beige", "black", "blue", "bronze", "brown", "burgundy", "charcoal", "clear", "coral", "cream",
          "gold", "gray", "green", "grey", "ivory", "khaki", "lavender", "maroon", "navy", "olive", "orange",
          "pink", "purple", "red", "rose", "sage", "silver", "teal", "turquoise", "violet", "white", "yellow")
STOP = frozenset("a an and the for with of in on to by from at or is are this that it its as be your you "
                 "pack count oz fl ounce pound inch".split())
WORD = re.compile(r"[a-z]+")


def ratio(a: str, b: str) -> float:
    return fuzz.token_set_ratio(a, b, processor=utils.default_process)


def normalize_color(text: str) -> str:
    """The first colour word in an option value, or the value itself (WebShop's normalisation)."""
    for color in COLORS:
        if color in text:
            return color
    return text


def title_words(title: str) -> set[str]:
    return {w for w in WORD.findall(title.lower()) if len(w) > 1 and w not in STOP}


def type_reward(product: dict, goal: dict) -> dict:
    query_match = product["query"] == goal["query"]
    bought = {x.strip() for x in product["product_category"].split("›")}
    wanted = {x.strip() for x in goal["product_category"].split("›")}
    category_match = len(bought & wanted) >= 2
    desired = title_words(goal["name"])
    title_score = len(title_words(product["title"]) & desired) / len(desired) if desired else 0.2
    r_type = 1.0 if (query_match or category_match or title_score > 0.2) else 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return {"r_type": r_type, "query_match": query_match, "category_match": category_match,
            "title_score": round(title_score, 4)}


def attribute_matches(product: dict, goal: dict) -> int:
    text = " ".join([product["title"], " ".join(product["features"]), product["description"]]).lower()
    count = 0
    for wanted in goal["attributes"]:
        if any(ratio(have, wanted) > MATCH for have in product["attributes"]) or wanted.lower() in text:
            count += 1
    return count


def option_matches(chosen: list[str], wanted: list[str]) -> int:
    chosen = [normalize_color(o.lower()) for o in chosen]
    return sum(any(ratio(c, normalize_color(w.lower())) > MATCH for c in chosen) for w in wanted)


def reward(product: dict, goal: dict, chosen_options: dict, price: float | None = None) -> tuple[float, dict]:
    """The reward of buying ``product`` with ``chosen_options`` ({group: value}) for ``goal``, and its parts."""
    price = product["price"] if price is None else price
    kind = type_reward(product, goal)
    r_price = price <= goal["price_upper"]
    n_attr = attribute_matches(product, goal)
    n_opt = option_matches(list(chosen_options.values()), goal["options"])
    total = (n_attr + n_opt + int(r_price)) / (len(goal["attributes"]) + len(goal["options"]) + 1)
    info = {**kind, "r_att": n_attr / len(goal["attributes"]), "r_option": (n_opt / len(goal["options"]))
            if goal["options"] else None, "r_price": r_price}
    return round(total * kind["r_type"], 6), info
