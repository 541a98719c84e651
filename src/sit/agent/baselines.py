"""Two agents without a model: a rule baseline and a random one. Both see only what an LLM agent sees
(the observation and the available actions) and answer in AgentBench's reply format.

* Rule: search the goal text (without the budget), open the result whose title matches the goal
  best, click every option value the goal names, buy. Sub-pages: go back.
* Random: on the search page, search a few random words of the goal; elsewhere click a random clickable.
"""

from __future__ import annotations

import random
import re

from rapidfuzz import fuzz, utils

from ..runtime import derive_seed
from .actions import reply
from .env import BACK, BUY, PREV, SEP, SUB_PAGES

BUTTONS = {b.lower() for b in (BACK, PREV, BUY, "Next >", *SUB_PAGES)}
BUDGET = re.compile(r",? and price lower than .*$")


def instruction_of(observation: str) -> str:
    parts = observation.split(SEP)
    return parts[parts.index("Instruction:") + 1] if "Instruction:" in parts else ""


def search_terms(instruction: str) -> str:
    return BUDGET.sub("", instruction).strip()


def mentioned(value: str, text: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(value)}(?![\w.])", text) is not None


class RuleAgent:
    name = "rule"

    def replies(self, states) -> list[str]:
        return [self.act(s.observation, s.available) for s in states]

    def act(self, observation: str, available: dict) -> str:
        instruction = instruction_of(observation)
        clickables = available["clickables"]
        if available["has_search_bar"]:
            return reply("I think I should use the search bar to look for the product I need.",
                         f"search[{search_terms(instruction)}]")
        if BUY.lower() in clickables:
            clicked = set(re.findall(r"You have clicked (.+?)\.(?: \[SEP\]|$)", observation))
            for value in clickables:
                if value not in BUTTONS and value not in clicked and mentioned(value, instruction):
                    return reply(f"I think I should click on the '{value}' option that the instruction asks for.",
                                 f"click[{value}]")
            return reply("I think I should click on the 'Buy Now' button to purchase the product.", "click[Buy Now]")
        products = [c for c in clickables if c not in BUTTONS]
        if products:
            best = max(products, key=lambda pid: (self._match(pid, observation, instruction), -products.index(pid)))
            return reply(f"I think I should click on the product that matches best, which is {best}.",
                         f"click[{best}]")
        if PREV.lower() in clickables:
            return reply("I think I should go back to the item page.", f"click[{PREV}]")
        return reply("I think I should start a new search.", f"click[{BACK}]")

    @staticmethod
    def _match(pid: str, observation: str, instruction: str) -> float:
        parts = observation.split(SEP)
        lowered = [p.lower() for p in parts]
        title = parts[lowered.index(pid) + 1] if pid in lowered else ""
        return fuzz.token_set_ratio(title, search_terms(instruction), processor=utils.default_process)


class RandomAgent:
    name = "random"

    def __init__(self, seed: int):
        self.seed = seed

    def replies(self, states) -> list[str]:
        return [self.act(s) for s in states]

    def act(self, state) -> str:
        rng = random.Random(derive_seed(self.seed, "random-agent", state.goal["id"], len(state.turns)))
        if state.available["has_search_bar"]:
            words = search_terms(instruction_of(state.observation)).split()
            terms = " ".join(rng.sample(words, min(3, len(words))))
            return reply("I think I should search for something.", f"search[{terms}]")
        return reply("I think I should click something.", f"click[{rng.choice(state.available['clickables'])}]")
