"""The shop as a text environment with WebShop's pages and AgentBench's observation format.

Pages: search -> results (``Page n (Total results: N)``, ``< Prev`` / ``Next >``, product id, title,
price) -> item (options, ``Description`` / ``Features`` / ``Reviews`` sub-pages, ``Buy Now``), and
``Back to Search`` everywhere after the first page. Page texts are joined with `` [SEP] ``; the
clickables are the page's buttons, product ids and option values in lower case, as WebShop lists them.

What happens on a bad action follows AgentBench over WebShop: a reply without a parsable action ends
the episode with reward 0; a click on something not clickable, or a search without a search bar,
changes nothing (the round is spent). Both are counted as invalid. Two choices differ from WebShop's
simple text mode: ``Next >`` shows only when there is a next page, and the item page ends with
``You have clicked <value>.`` for each chosen option (WebShop's rich text mode says this too), since
an agent with a trimmed history cannot otherwise know its choices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .actions import split_action
from .reward import reward
from .schema import Catalog
from .search import SearchEngine

SEP = " [SEP] "
BACK, NEXT, PREV, BUY = "Back to Search", "Next >", "< Prev", "Buy Now"
SUB_PAGES = ("Description", "Features", "Reviews")
RESULTS_PER_PAGE = 10  # WebShop's page size


@dataclass
class Step:
    observation: str
    reward: float
    done: bool
    valid: bool


@dataclass
class Shop:
    """What all episodes share: the catalog and its search index."""

    catalog: Catalog
    results_per_page: int = RESULTS_PER_PAGE
    engine: SearchEngine = field(init=False)

    def __post_init__(self):
        self.engine = SearchEngine(self.catalog.products)

    def episode(self, goal: dict) -> ShopEpisode:
        return ShopEpisode(self, goal)


class ShopEpisode:
    """One shopper's session for one goal."""

    def __init__(self, shop: Shop, goal: dict):
        self.shop = shop
        self.goal = goal
        self.page = "search"
        self.keywords = ""
        self.results: list[str] = []
        self.page_number = 1
        self.product: dict | None = None
        self.options: dict[str, str] = {}
        self.done = False
        self.reward = 0.0
        self.reward_info: dict | None = None

    # ----------------------------------------------------------------- what the agent sees

    @property
    def instruction(self) -> str:
        return self.goal["instruction"]

    def _page_results(self) -> list[dict]:
        size = self.shop.results_per_page
        ids = self.results[(self.page_number - 1) * size:self.page_number * size]
        return [self.shop.catalog.by_id[i] for i in ids]

    def _has_next(self) -> bool:
        return self.page_number * self.shop.results_per_page < len(self.results)

    def _buttons(self) -> list[str]:
        if self.page == "search":
            return []
        if self.page == "results":
            return [BACK] + ([PREV] if self.page_number > 1 else []) + ([NEXT] if self._has_next() else [])
        if self.page == "item":
            return [BACK, PREV, *SUB_PAGES, BUY]
        if self.page in SUB_PAGES:
            return [BACK, PREV]
        return []

    def clickables(self) -> list[str]:
        """WebShop's order: buttons, then product links, then option values (all lower case)."""
        items = [b.lower() for b in self._buttons()]
        if self.page == "results":
            items += [p["id"].lower() for p in self._page_results()]
        if self.page == "item":
            items += [v for values in self.product["options"].values() for v in values if v not in items]
        return items

    def available_actions(self) -> dict:
        return {"has_search_bar": self.page == "search", "clickables": self.clickables()}

    @property
    def observation(self) -> str:
        head = ["Instruction:", self.instruction]
        if self.page == "search":
            return SEP.join(["WebShop", *head, "Search"])
        if self.page == "done":
            return SEP.join(["Thank you for shopping with us!", "Your score (min 0.0, max 1.0)", f"{self.reward}"])
        parts = [*head, *self._buttons()[:1]]
        if self.page == "results":
            parts.append(f"Page {self.page_number} (Total results: {len(self.results)})")
            parts += self._buttons()[1:]
            for product in self._page_results():
                parts += [product["id"], product["title"], f"${product['price']:.2f}"]
        elif self.page == "item":
            parts.append(PREV)
            for group, values in self.product["options"].items():
                parts += [group, *values]
            parts += [self.product["title"], f"Price: ${self.product['price']:.2f}",
                      f"Rating: {self.product['rating']}", *SUB_PAGES, BUY]
            parts += [f"You have clicked {v}." for v in self.options.values()]
        else:
            parts.append(PREV)
            parts += self._sub_page()
        return SEP.join(parts)

    def _sub_page(self) -> list[str]:
        product = self.product
        if self.page == "Description":
            return [product["description"]]
        if self.page == "Features":
            return list(product["features"])
        out = []
        for review in product["reviews"]:
            out += [f'"{review["title"]}"', f"{review['score']}", review["body"]]
        return out

    # ----------------------------------------------------------------- acting

    def step(self, action: str) -> Step:
        """Apply ``search[...]`` / ``click[...]``; an action that cannot apply here changes nothing."""
        if self.done:
            raise RuntimeError("the episode is over")
        name, arg = split_action(action)
        valid = self._apply(name, arg.strip() if arg else None)
        return Step(self.observation, self.reward if self.done else 0.0, self.done, valid)

    def _apply(self, name: str, arg: str | None) -> bool:
        if not arg:
            return False
        if name == "search":
            if self.page != "search":
                return False
            self.keywords = arg
            self.results = self.shop.engine.search(arg)
            self.page, self.page_number, self.product, self.options = "results", 1, None, {}
            return True
        if name != "click" or arg.lower() not in self.clickables():
            return False
        self._click(arg.lower())
        return True

    def _click(self, target: str) -> None:
        if target == BACK.lower():
            self.page, self.product, self.options, self.results = "search", None, {}, []
        elif target == NEXT.lower():
            self.page_number += 1
        elif target == PREV.lower():
            if self.page == "results":
                self.page_number -= 1
            elif self.page == "item":
                self.page, self.product, self.options = "results", None, {}
            else:
                self.page = "item"
        elif target == BUY.lower():
            self.reward, self.reward_info = reward(self.product, self.goal, self.options)
            self.page, self.done = "done", True
        elif target in [s.lower() for s in SUB_PAGES]:
            self.page = next(s for s in SUB_PAGES if s.lower() == target)
        elif self.page == "results":
            self.product = next(p for p in self._page_results() if p["id"].lower() == target)
            self.page, self.options = "item", {}
        else:  # an option value
            group = next(g for g, values in self.product["options"].items() if target in values)
            self.options[group] = target
