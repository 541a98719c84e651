"""The bundled shop: a deterministic catalog and goals built from the project's own templates.

Products come in *families*: one product plus near-misses that share its type, brand and title
words but lack one of its attributes or offer other option values. A goal names one product's
attributes, one value per option group and a budget, so buying a near-miss scores less than 1 and
reading the item page (features, options) matters. Goals are split train / dev / test by product:
a test goal's product is never the target of a train goal (the toy generator learns on train).

Product and goal fields follow WebShop's (see :mod:`sit.agent.schema`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .schema import Catalog, validate_catalog

SPLITS = ("train", "dev", "test")
SPLIT_FAMILIES = {"test": 50, "dev": 20}  # families whose products are the split's targets; the rest: train


@dataclass(frozen=True)
class Category:
    name: str
    path: str  # WebShop's product_category, parts joined by " › "
    types: tuple[str, ...]  # product type nouns; each is also the search query of its products
    brands: tuple[str, ...]
    attributes: tuple[str, ...]  # no attribute is a word-subset of another (fuzzy matching)
    options: dict  # option group -> values
    price: tuple[float, float]
    uses: tuple[str, ...]  # neutral phrases for descriptions and features


CATEGORIES: tuple[Category, ...] = (
    Category("clothing", "Clothing, Shoes & Jewelry › Men › Clothing", ("t-shirt", "hoodie"),
             ("northline", "coastwear", "urbanknit", "peakform"),
             ("organic cotton", "machine washable", "relaxed fit", "moisture wicking", "tagless collar",
              "reinforced seams"),
             {"size": ("small", "medium", "large"), "color": ("black", "white", "navy", "olive", "gray")},
             (12.0, 45.0), ("everyday wear", "layering in cool weather", "weekend trips")),
    Category("shoes", "Clothing, Shoes & Jewelry › Women › Shoes", ("running shoe", "walking sneaker"),
             ("stridex", "trailpace", "softstep", "aerorun"),
             ("non slip sole", "arch support", "breathable mesh", "memory foam insole", "wide toe box",
              "reflective details"),
             {"size": ("6", "7", "8", "9", "10"), "color": ("black", "pink", "white", "purple", "teal")},
             (35.0, 120.0), ("long walks", "gym sessions", "all day comfort")),
    Category("shampoo", "Beauty & Personal Care › Hair Care › Shampoo", ("shampoo", "conditioner"),
             ("herbalis", "puremane", "silkroot", "oceanleaf"),
             ("sulfate free", "paraben free", "for dry hair", "argan oil", "color safe", "cruelty free"),
             {"size": ("8 fl oz", "12 fl oz", "16.9 fl oz", "33.8 fl oz")},
             (6.0, 32.0), ("daily washing", "curly and wavy hair", "a salon feel at home")),
    Category("coffee", "Grocery & Gourmet Food › Beverages › Coffee", ("coffee beans", "ground coffee"),
             ("roastery", "highland", "morningcup", "bluepeak"),
             ("single origin", "dark roast", "fair trade", "usda organic", "low acid", "decaf"),
             {"size": ("12 ounce", "2 pound", "5 pound"), "flavor": ("original", "hazelnut", "vanilla", "mocha")},
             (9.0, 48.0), ("drip machines", "french press brewing", "espresso at home")),
    Category("phone cases", "Cell Phones & Accessories › Cases & Covers", ("phone case", "wallet case"),
             ("shieldpro", "gripcase", "clearline", "armorlite"),
             ("shockproof corners", "slim profile", "wireless charging compatible", "raised camera lip",
              "card slot", "anti yellowing"),
             {"model": ("iphone 13", "iphone 14", "galaxy s23", "pixel 8"), "color": ("black", "clear", "blue", "red")},
             (8.0, 35.0), ("daily protection", "drops from pocket height", "a clean look")),
    Category("headphones", "Electronics › Headphones › Over-Ear Headphones", ("headphones", "earbuds"),
             ("sonique", "bassline", "quietwave", "auralis"),
             ("active noise cancelling", "bluetooth 5.3", "40 hour battery", "built in microphone",
              "foldable design", "sweat resistant"),
             {"color": ("black", "white", "silver", "navy")},
             (25.0, 180.0), ("commuting", "home office calls", "workouts")),
    Category("lamps", "Home & Kitchen › Lighting › Desk Lamps", ("desk lamp", "floor lamp"),
             ("lumina", "brightnest", "glowcraft", "solstice"),
             ("dimmable", "usb charging port", "eye caring light", "touch control", "adjustable arm",
              "energy saving led"),
             {"color": ("black", "white", "silver", "gold"), "style": ("modern", "classic", "industrial")},
             (18.0, 95.0), ("reading at night", "a study desk", "a cozy living room")),
    Category("yoga mats", "Sports & Outdoors › Exercise & Fitness › Yoga", ("yoga mat", "exercise mat"),
             ("zenflow", "corebalance", "lotusfit", "groundwork"),
             ("extra thick", "eco friendly", "carrying strap", "alignment lines", "sweat proof", "latex free"),
             {"color": ("purple", "blue", "green", "black", "pink"), "size": ("68 inch", "72 inch", "84 inch")},
             (15.0, 70.0), ("home workouts", "pilates classes", "stretching after runs")),
    Category("snacks", "Grocery & Gourmet Food › Snacks › Protein Bars", ("protein bar", "granola bar"),
             ("fuelbite", "trailmix", "nutrisnap", "oatwell"),
             ("gluten free", "high protein", "low sugar", "plant based", "keto friendly", "non gmo"),
             {"flavor": ("chocolate", "peanut butter", "almond", "berry"), "size": ("12 count", "24 count")},
             (10.0, 40.0), ("a quick breakfast", "hiking trips", "an afternoon snack")),
    Category("bedding", "Home & Kitchen › Bedding › Sheets", ("sheet set", "duvet cover"),
             ("dreamweave", "cottonhaus", "nightcalm", "linenly"),
             ("deep pocket", "wrinkle resistant", "hypoallergenic", "cooling fabric", "long staple fibers",
              "fade resistant"),
             {"size": ("twin", "full", "queen", "king"), "color": ("white", "gray", "beige", "navy", "sage")},
             (25.0, 110.0), ("warm nights", "guest rooms", "a fresh bedroom")),
    Category("backpacks", "Luggage & Travel Gear › Backpacks", ("laptop backpack", "hiking backpack"),
             ("trekline", "metropack", "summitgear", "carryall"),
             ("water resistant", "laptop compartment", "padded straps", "anti theft pocket", "usb port",
              "chest strap"),
             {"color": ("black", "gray", "green", "blue", "red")},
             (22.0, 90.0), ("daily commutes", "weekend hikes", "business travel")),
    Category("skin care", "Beauty & Personal Care › Skin Care › Face Moisturizers", ("face moisturizer", "night cream"),
             ("dermaglow", "clearbloom", "velvetskin", "aquapure"),
             ("fragrance free", "spf 30", "for sensitive skin", "hyaluronic acid", "non comedogenic",
              "vitamin c"),
             {"size": ("1.7 fl oz", "2.5 fl oz", "3.4 fl oz")},
             (11.0, 60.0), ("morning routines", "dry winter skin", "under makeup")),
)

INSTRUCTION_TEMPLATES = (
    "i need a {type} that is {attrs}{opts}",
    "i am looking for a {attrs} {type}{opts}",
    "find me a {attrs} {type}{opts}",
    "i want to buy a {type} which is {attrs}{opts}",
)
REVIEW_TITLES = {5: ("love it", "exactly what i wanted", "great value"), 4: ("pretty good", "works well"),
                 3: ("okay for the price", "mixed feelings"), 2: ("not great", "disappointed"), 1: ("returned it",)}
REVIEW_BODIES = {5: "It is {a} and works great for {u}.", 4: "Nice {t}, {a} as described. Good for {u}.",
                 3: "The {t} is fine for {u}, nothing special.", 2: "Expected more from this {t}.",
                 1: "Did not work for {u}."}


def _product_id(rng: random.Random, taken: set) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    while True:
        pid = "B0" + "".join(rng.choice(alphabet) for _ in range(8))
        if pid not in taken:
            taken.add(pid)
            return pid


def _title(brand: str, kind: str, attrs: list[str]) -> str:
    """Brand, the first two attributes and the type; later attributes appear only on the item page."""
    return f"{brand.title()} {' '.join(attrs[:2]).title()} {kind.title()}"


def _reviews(rng: random.Random, kind: str, attrs: list[str], use: str) -> tuple[list[dict], float]:
    scores = [rng.choice((5, 5, 4, 4, 3, 2, 1)) for _ in range(rng.randint(1, 3))]
    reviews = [{"title": rng.choice(REVIEW_TITLES[s]), "score": s,
                "body": REVIEW_BODIES[s].format(a=attrs[0], u=use, t=kind)} for s in scores]
    return reviews, round(sum(scores) / len(scores), 1)


def _product(rng, taken, cat: Category, kind: str, brand: str, attrs: list[str], options: dict,
             price: float) -> dict:
    use = rng.choice(cat.uses)
    reviews, rating = _reviews(rng, kind, attrs, use)
    return {
        "id": _product_id(rng, taken), "title": _title(brand, kind, attrs), "category": cat.name,
        "query": kind, "product_category": f"{cat.path} › {kind.title()}", "price": price,
        "attributes": list(attrs), "options": {k: list(v) for k, v in options.items()},
        "description": f"This {kind} from {brand.title()} is made for {use}. It is {', '.join(attrs[:-1])} "
                       f"and {attrs[-1]}.",
        "features": [f"{a.capitalize()}." for a in attrs] + [f"Designed for {use}."],
        "reviews": reviews, "rating": rating,
    }


def _family(rng, taken, cat: Category, kind: str, brand: str) -> list[dict]:
    """A product and its near-misses: one lacks an attribute, one offers other option values."""
    attrs = rng.sample(cat.attributes, 4)
    spare = [a for a in cat.attributes if a not in attrs]
    options = {g: sorted(rng.sample(vals, max(2, len(vals) - 1)), key=vals.index) for g, vals in cat.options.items()}
    price = round(rng.uniform(*cat.price), 2)
    base = _product(rng, taken, cat, kind, brand, attrs, options, price)
    # Same title (the swapped attribute is not among the two the title shows): only the item page tells.
    swapped = attrs[:2] + [rng.choice(spare)] + attrs[3:]
    attr_miss = _product(rng, taken, cat, kind, brand, swapped, options, round(price * rng.uniform(0.85, 1.1), 2))
    other = {g: [v for v in vals if v not in options[g]] or vals[:1] for g, vals in cat.options.items()}
    option_miss = _product(rng, taken, cat, kind, brand, attrs, other, round(price * rng.uniform(0.9, 1.05), 2))
    return [base, attr_miss, option_miss]


def _goal(rng: random.Random, product: dict, split: str, number: int) -> dict:
    """A WebShop-style instruction for ``product``: its hidden attributes first, one value per option group."""
    attrs = product["attributes"]
    wanted = [attrs[2], *rng.sample([attrs[0], attrs[1], attrs[3]], rng.randint(1, 2))]
    chosen = {group: rng.choice(values) for group, values in product["options"].items()}
    opts = "".join(_option_text(group, value) for group, value in chosen.items())
    budget = sorted(rng.sample([10.0 * i for i in range(1, 120) if 10.0 * i > product["price"]][:4], 2))[1]
    text = rng.choice(INSTRUCTION_TEMPLATES).format(type=product["query"], attrs=" and ".join(wanted), opts=opts)
    return {"id": f"{split}-{number:04d}", "split": split, "product_id": product["id"],
            "instruction": f"{text}, and price lower than {budget:.2f} dollars", "attributes": wanted,
            "options": list(chosen.values()), "price_upper": budget, "query": product["query"],
            "category": product["category"], "product_category": product["product_category"],
            "name": product["title"]}


def _option_text(group: str, value: str) -> str:
    if group == "color":
        return f" in {value} color"
    if group == "size":
        return f" in size {value}"
    if group == "flavor":
        return f" with {value} flavor"
    return f" for {value}" if group == "model" else f" in {value} {group}"


def build_catalog(seed: int) -> Catalog:
    """The bundled catalog (360 products over 12 categories) and its goals, a pure function of ``seed``.

    Families are split, not products: 50 families give the test goals (100), 20 the dev goals (40),
    and the other 50 the train goals, so no test product has a sibling in train."""
    rng = random.Random(f"sit-agent-catalog-{seed}")
    taken: set = set()
    families = []
    for cat in CATEGORIES:
        for kind in cat.types:
            for brand in rng.sample(cat.brands, len(cat.brands)) + [rng.choice(cat.brands)]:
                families.append(_family(rng, taken, cat, kind, brand))
    rng.shuffle(families)
    goals = []
    start = 0
    for split in ("test", "dev"):
        chosen = families[start:start + SPLIT_FAMILIES[split]]
        start += SPLIT_FAMILIES[split]
        for family in chosen:
            for product in (family[0], rng.choice(family[1:])):
                goals.append(_goal(rng, product, split, sum(g["split"] == split for g in goals)))
    for family in families[start:]:
        for product in family:
            for _ in range(2):  # other options, other wording
                goals.append(_goal(rng, product, "train", sum(g["split"] == "train" for g in goals)))
    products = [p for family in families for p in family]
    rng.shuffle(products)
    catalog = Catalog(products=products, goals=goals, source=f"bundled (seed {seed})")
    validate_catalog(catalog)
    return catalog
