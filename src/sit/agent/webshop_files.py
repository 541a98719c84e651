"""Reading WebShop's own published small-catalog files into this project's schema.

WebShop ships (outside any package) ``items_shuffle_1000.json`` (a list of scraped products),
``items_ins_v2_1000.json`` (per product id: ``attributes``, a synthetic ``instruction`` and its
``instruction_attributes``) and ``items_human_ins.json`` (per product id: a list of human goals with
``instruction``, ``instruction_attributes``, ``instruction_options``). A user who has them passes the
paths; the goals become a seeded dev/test split (WebShop's own split is by index into a shuffled list).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from ..config import ConfigError
from .schema import Catalog, validate

PRICE_STEPS = [10.0 * i for i in range(1, 100)]


def _read(path: Path, kind: type):
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"WebShop file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, kind):
        raise ConfigError(f"{path}: expected a JSON {kind.__name__} at the top level")
    return data


def _prices(text, where: str) -> list[float]:
    if text in (None, "", []):
        return [100.0]  # WebShop's default for a product without a price
    if not isinstance(text, str):
        raise ConfigError(f"{where}: field 'pricing' must be a string like '$12.99' or '$5.99 - $9.99'")
    values = [float(re.sub(r"[^\d.]", "", part)) for part in text.split("$")[1:] if re.sub(r"[^\d.]", "", part)]
    if not values:
        raise ConfigError(f"{where}: field 'pricing' has no price in {text!r}")
    return values[:2]


def _product(raw: dict, attributes: dict, where: str) -> dict:
    for name in ("asin", "name", "query", "category", "product_category"):
        if not isinstance(raw.get(name), str):
            raise ConfigError(f"{where}: missing or non-text field '{name}'")
    options = {}
    for group, contents in (raw.get("customization_options") or {}).items():
        if contents is None:
            continue
        if not isinstance(contents, list) or not all(isinstance(c, dict) and "value" in c for c in contents):
            raise ConfigError(f"{where}: field 'customization_options.{group}' must be a list of {{'value': ...}}")
        options[group.lower()] = [c["value"].strip().replace("/", " | ").lower() for c in contents]
    bullets = raw.get("small_description") or []
    return {
        "id": raw["asin"], "title": raw["name"], "category": raw["category"], "query": raw["query"].lower().strip(),
        "product_category": raw["product_category"], "price": _prices(raw.get("pricing"), where)[0],
        "attributes": list(attributes.get(raw["asin"], {}).get("attributes") or []), "options": options,
        "description": raw.get("full_description") or "",
        "features": bullets if isinstance(bullets, list) else [bullets],
        "reviews": [], "rating": "N.A.",
    }


def _budget(rng: random.Random, price: float) -> float:
    """WebShop's rule: two of the next four multiples of ten above the price; the larger is the budget."""
    above = [p for p in PRICE_STEPS if p > price][:4]
    return sorted(rng.sample(above, 2))[1] if len(above) >= 2 else 1000000.0


def load_webshop(items_path: str | Path, attributes_path: str | Path, human_goals_path: str | Path | None = None,
                 *, seed: int = 233, dev_share: float = 0.3) -> Catalog:
    """Products from ``items_shuffle*.json`` + ``items_ins_v2*.json``; goals from the human goals file when given,
    else from the synthetic instructions of ``items_ins_v2``. Products WebShop skips (bad or duplicate ids) are
    skipped here too; a goal with no attributes is skipped as WebShop does."""
    items = _read(items_path, list)
    attributes = _read(attributes_path, dict)
    products, seen = [], set()
    for k, raw in enumerate(items):
        where = f"{items_path}: item {k} ({raw.get('asin', '?') if isinstance(raw, dict) else '?'})"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a JSON object")
        asin = raw.get("asin")
        if not isinstance(asin, str) or asin == "nan" or len(asin) > 10 or asin in seen:
            continue
        seen.add(asin)
        products.append(_product(raw, attributes, where))
    by_id = {p["id"]: p for p in products}
    rng = random.Random(seed)
    raw_goals = []
    if human_goals_path is not None:
        for asin, entries in _read(human_goals_path, dict).items():
            for k, entry in enumerate(entries if isinstance(entries, list) else []):
                where = f"{human_goals_path}: goal {k} of product {asin}"
                if not isinstance(entry, dict) or not isinstance(entry.get("instruction"), str):
                    raise ConfigError(f"{where}: missing or non-text field 'instruction'")
                raw_goals.append((asin, entry["instruction"], entry.get("instruction_attributes") or [],
                                  entry.get("instruction_options") or [], where))
    else:
        for asin, entry in attributes.items():
            if isinstance(entry, dict) and entry.get("instruction"):
                raw_goals.append((asin, entry["instruction"], entry.get("instruction_attributes") or [], [],
                                  f"{attributes_path}: product {asin}"))
    goals = []
    for asin, text, attrs, opts, where in raw_goals:
        if not attrs:
            continue
        if asin not in by_id:
            raise ConfigError(f"{where}: field 'asin': product '{asin}' is not in {items_path}")
        product = by_id[asin]
        budget = _budget(rng, product["price"])
        price_text = f", and price lower than {budget:.2f} dollars" if budget < 1000000 else ""
        goals.append({"product_id": asin, "instruction": text.strip(".") + price_text, "attributes": list(attrs),
                      "options": [str(o) for o in opts], "price_upper": budget, "query": product["query"],
                      "category": product["category"], "product_category": product["product_category"],
                      "name": product["title"]})
    rng.shuffle(goals)
    cut = round(len(goals) * dev_share)
    for k, goal in enumerate(goals):
        split = "dev" if k < cut else "test"
        goal.update(id=f"{split}-{k if k < cut else k - cut:05d}", split=split)
    source = f"WebShop files ({items_path})"
    validate(products, goals, source)
    return Catalog(products=products, goals=goals, source=source)
