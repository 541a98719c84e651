"""Conversations that teach the toy generator the WebShop protocol (``sit.toy.skills``).

The rule baseline plays every *train* goal of the bundled catalog; each of its rounds becomes one
conversation: the observation as the LLM agent sees it in the demo profile (prompt mode
``observation``, :data:`TOY_RESULTS_PER_PAGE` results per page) and the rule agent's reply. One round
per conversation keeps each under the toy world's sequence limit. Dev and test goals are never used.
"""

from __future__ import annotations

from .baselines import RuleAgent
from .catalog import build_catalog
from .env import Shop
from .episodes import EpisodeState, play_round
from .prompting import fit

TOY_RESULTS_PER_PAGE = 3  # the demo profile's agent.results_per_page (a test checks they agree)
TOY_PROMPT_MODE = "observation"


def toy_conversations(seed: int) -> list[list[dict]]:
    catalog = build_catalog(seed)
    shop = Shop(catalog, results_per_page=TOY_RESULTS_PER_PAGE)
    states = [EpisodeState(goal, shop.episode(goal)) for goal in catalog.split("train")]
    agent = RuleAgent()
    for _ in range(10):
        play_round(agent, states)
    conversations = []
    for state in states:
        for turn in state.turns:
            messages = fit(TOY_PROMPT_MODE, [], turn["observation"], turn["available_actions"], len, 10**9)
            conversations.append([*messages, {"role": "assistant", "content": turn["reply"]}])
    return conversations
