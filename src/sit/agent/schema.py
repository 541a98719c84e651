"""The catalog and goal schema, its validation and its JSON files.

A catalog file is a JSON object ``{"products": [...], "goals": [...]}`` (or two files, one list each).

Product (WebShop's fields, renamed to plain words)::

    id                str   unique product id (WebShop: asin), e.g. "B07XK3M9QZ"
    title             str   shown on result and item pages (WebShop: name / Title)
    category          str   coarse category (WebShop: category)
    query             str   the product type it was collected for (WebShop: query)
    product_category  str   breadcrumb, parts joined by " › " (WebShop: product_category)
    price             float (WebShop: pricing, its first value)
    attributes        [str] (WebShop: items_ins_v2 "attributes")
    options           {group: [value, ...]}, lower case (WebShop: customization_options)
    description       str   (WebShop: full_description)
    features          [str] (WebShop: small_description, "BulletPoints")
    reviews           [{"title": str, "score": int, "body": str}]
    rating            float or "N.A."

Goal::

    id                str   unique, e.g. "test-0007"
    split             str   train | dev | test
    product_id        str   the product the goal was written for (must exist)
    instruction       str   what the shopper asks, budget included
    attributes        [str] attributes the purchase must have (at least one)
    options           [str] option values the purchase must have
    price_upper       float budget
    query, category, product_category, name   the target's, for WebShop's type reward
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..config import ConfigError
from ..store import dumps

PRODUCT_FIELDS = {"id": str, "title": str, "category": str, "query": str, "product_category": str,
                  "price": (int, float), "attributes": list, "options": dict, "description": str,
                  "features": list, "reviews": list, "rating": (int, float, str)}
GOAL_FIELDS = {"id": str, "split": str, "product_id": str, "instruction": str, "attributes": list,
               "options": list, "price_upper": (int, float), "query": str, "category": str,
               "product_category": str, "name": str}
SPLIT_NAMES = ("train", "dev", "test")


@dataclass
class Catalog:
    products: list[dict]
    goals: list[dict]
    source: str = "catalog"
    by_id: dict = field(init=False, repr=False)

    def __post_init__(self):
        self.by_id = {p["id"]: p for p in self.products}

    def split(self, name: str, limit: int | None = None) -> list[dict]:
        """The goals of one split, in file order (the first ``limit`` of them)."""
        if name not in SPLIT_NAMES:
            raise ConfigError(f"unknown split '{name}' (known: {', '.join(SPLIT_NAMES)})")
        goals = [g for g in self.goals if g["split"] == name]
        if not goals:
            raise ConfigError(f"{self.source}: no goals in split '{name}'")
        return goals[:limit] if limit else goals

    def digest(self) -> str:
        """A content hash (stored with every episode: another catalog is another benchmark)."""
        payload = dumps({"products": self.products, "goals": self.goals})
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _check_fields(record, fields: dict, where: str) -> None:
    if not isinstance(record, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for name, kind in fields.items():
        if name not in record:
            raise ConfigError(f"{where}: missing field '{name}'")
        if not isinstance(record[name], kind) or isinstance(record[name], bool):
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise ConfigError(f"{where}: field '{name}' must be {expected}, got {type(record[name]).__name__}")


def _check_product(product: dict, where: str) -> None:
    _check_fields(product, PRODUCT_FIELDS, where)
    for group, values in product["options"].items():
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            raise ConfigError(f"{where}: field 'options.{group}' must be a list of non-empty strings")
    for name in ("attributes", "features"):
        if not all(isinstance(v, str) for v in product[name]):
            raise ConfigError(f"{where}: field '{name}' must be a list of strings")
    for k, review in enumerate(product["reviews"]):
        _check_fields(review, {"title": str, "score": (int, float), "body": str}, f"{where}, review {k}")


def validate_catalog(catalog: Catalog) -> None:
    validate(catalog.products, catalog.goals, catalog.source)


def validate(products: list, goals: list, source: str) -> None:
    """Raise :class:`ConfigError` naming the file, the item and the field of the first problem."""
    seen = set()
    for k, product in enumerate(products):
        where = f"{source}: product {k} ({product.get('id', '?') if isinstance(product, dict) else '?'})"
        _check_product(product, where)
        if product["id"] in seen:
            raise ConfigError(f"{where}: field 'id': duplicate product id")
        seen.add(product["id"])
    goal_ids = set()
    for k, goal in enumerate(goals):
        where = f"{source}: goal {k} ({goal.get('id', '?') if isinstance(goal, dict) else '?'})"
        _check_fields(goal, GOAL_FIELDS, where)
        if goal["split"] not in SPLIT_NAMES:
            raise ConfigError(f"{where}: field 'split' is '{goal['split']}' (known: {', '.join(SPLIT_NAMES)})")
        if goal["product_id"] not in seen:
            raise ConfigError(f"{where}: field 'product_id': product '{goal['product_id']}' is not in the catalog")
        if not goal["attributes"]:
            raise ConfigError(f"{where}: field 'attributes' is empty (a goal needs at least one)")
        if goal["id"] in goal_ids:
            raise ConfigError(f"{where}: field 'id': duplicate goal id")
        goal_ids.add(goal["id"])


def _read(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"catalog file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None


def load_catalog_file(path: str | Path, goals_path: str | Path | None = None) -> Catalog:
    """A catalog in this schema: one file with ``products`` and ``goals``, or products + goals files."""
    path = Path(path)
    data = _read(path)
    if goals_path is None:
        if not isinstance(data, dict) or "products" not in data or "goals" not in data:
            raise ConfigError(f"{path}: expected an object with 'products' and 'goals' lists")
        products, goals, source = data["products"], data["goals"], str(path)
    else:
        products, goals, source = data, _read(Path(goals_path)), f"{path} + {goals_path}"
    for name, value, where in (("products", products, path), ("goals", goals, goals_path or path)):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: '{name}' must be a list")
    validate(products, goals, source)
    return Catalog(products=products, goals=goals, source=source)


def save_catalog(catalog: Catalog, path: str | Path) -> Path:
    from ..store import write_json_atomic

    return write_json_atomic(path, {"products": catalog.products, "goals": catalog.goals})
