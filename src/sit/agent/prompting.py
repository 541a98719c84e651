"""What an LLM agent reads: AgentBench v0.2's WebShop prompt and one-shot example, then the episode.

The conversation is ``user: task prompt`` / ``assistant: Ok.``, the one-shot example (four rounds),
then one ``Observation:\\n… \\n\\nAvailable Actions:\\n{…}`` user turn per round with the agent's
replies between them. It is trimmed to the context window oldest first: the one-shot rounds, then the
episode's earlier rounds, then the task prompt; the current observation, which holds the
instruction, is never dropped (at worst its last page items are cut).

``mode = "observation"`` shows only the current observation: the toy world's 2-layer generator has
a 512-token window and learns the protocol from exactly that view (see :mod:`sit.agent.trajectories`).
"""

from __future__ import annotations

import json

from .env import SEP

MODES = ("agentbench", "observation")

TASK_PROMPT = """
You are web shopping.
I will give you instructions about what to do.
You have to follow the instructions.
Every round I will give you an observation and a list of available actions, \
you have to respond an action based on the state and instruction.
You can use search action if search is available.
You can click one of the buttons in clickables.
An action should be of the following structure:
search[keywords]
click[value]
If the action is not valid, perform nothing.
Keywords in search are up to you, but the value in click must be a value in the list of available actions.
Remember that your keywords in search should be carefully designed.
Your response should use the following format:

Thought:
I think ...

Action:
click[something]
"""

_GOAL = "i need a long lasting 6.76 fl oz bottle of l'eau d'issey, and price lower than 100.00 dollars"
_ITEM = (f'"Instruction: [SEP] {_GOAL} [SEP] Back to Search [SEP] < Prev [SEP] size [SEP] 2.5 fl oz [SEP] '
         "6.76 fl oz (pack of 1) [SEP] L'eau D'issey By Issey Miyake for MenEau De Toilette Spray, 6.7 Fl Oz Bottle "
         '[SEP] Price: $64.98 [SEP] Rating: N.A. [SEP] Description [SEP] Features [SEP] Reviews [SEP] Buy Now"')
_RESULTS = [("B000VOHH8I", "L'eau D'issey By Issey Miyake for MenEau De Toilette Spray, 6.7 Fl Oz Bottle", "$64.98"),
            ("B000MJZOPK", "L'eau d'Issey by Issey Miyake for Women 3.3 oz Eau de Toilette Spray", "$49.98"),
            ("B0012S249E", "L'eau D'issey By Issey Miyake For Women. Shower Cream 6.7-Ounces", "$31.36"),
            ("B01H8PGKZS", "L'eau D'Issey FOR MEN by Issey Miyake - 6.7 oz EDT Spray", "$67.97"),
            ("B00G3C8FHE", "L'Eau d'Issey pour Homme - Eau de Toilette 4.2 fl oz", "$51.25"),
            ("B000R94HRG", "Issey Miyake L'Eau D'Issey Pour Homme Eau De Toilette Natural Spray", "$44.99"),
            ("B000C214CO", "Issey Miyake L'eau D'issey Eau de Toilette Spray for Men, 4.2 Fl Oz", "$53.99"),
            ("B0018SBRDC", "Issey Miyake L'eau d'Issey for Women EDT, White, 0.84 Fl Oz", "$27.04"),
            ("B000XEAZ9Y", "L'eau De Issey By Issey Miyake For Men. Eau De Toilette Spray 6.7 Fl Oz", "$67.08"),
            ("B079HZR2RX", "L'eau d'Issey Pure by Issey Miyake for Women 3.0 oz Nectar de Parfum Spray", "$71.49")]


def _elided(n: int, search: bool) -> str:
    return json.dumps({"has_search_bar": search, "clickables": ["..."] * n})


def one_shot() -> list[dict]:
    """AgentBench's example rounds (its clickables are elided as "...", as there)."""
    results = SEP.join(SEP.join(r) for r in _RESULTS)
    rounds = [
        (f'"WebShop [SEP] Instruction: [SEP] {_GOAL} [SEP] Search"', _elided(1, True),
         "I think I should use the search bar to look for the product I need.",
         "search[l'eau d'issey 6.76 fl oz bottle price < 100.00]"),
        (f'"Instruction: [SEP] {_GOAL} [SEP] Back to Search [SEP] Page 1 (Total results: 50) [SEP] Next > [SEP] '
         f'{results}"', _elided(12, False),
         "I think I should click on the product I need, which is B000VOHH8I.", "click[B000VOHH8I]"),
        (_ITEM, _elided(8, False),
         "I think I should click on the '6.76 fl oz (pack of 1)' option to select the size I need.",
         "click[6.76 fl oz (pack of 1)]"),
        (_ITEM, _elided(8, False), "I think I should click on the 'Buy Now' button to purchase the product.",
         "click[Buy Now]"),
    ]
    out = []
    for observation, available, thought, action in rounds:
        out += [{"role": "user", "content": f"Observation:\n{observation}\n\nAvailable Actions:\n{available}"},
                {"role": "assistant", "content": f"Thought:\n{thought}\n\nAction:\n{action}"}]
    return out


def observation_turn(observation: str, available: dict) -> dict:
    return {"role": "user", "content": f"Observation:\n{observation}\n\nAvailable Actions:\n{json.dumps(available)}"}


def blocks(mode: str, turns: list[dict], observation: str, available: dict) -> list[list[dict]]:
    """The conversation as droppable blocks, in the order they are dropped; the last block is the current turn."""
    if mode not in MODES:
        from ..config import ConfigError

        raise ConfigError(f"unknown agent prompt mode '{mode}' (known: {', '.join(MODES)})")
    current = [observation_turn(observation, available)]
    if mode == "observation":
        return [current]
    shot = one_shot()
    history = [[observation_turn(t["observation"], t["available_actions"]),
                {"role": "assistant", "content": t["reply"]}] for t in turns]
    intro = [{"role": "user", "content": TASK_PROMPT}, {"role": "assistant", "content": "Ok."}]
    return [*[shot[i:i + 2] for i in range(0, len(shot), 2)], *history, intro, current]


def ordered(kept: list[list[dict]], mode: str) -> list[dict]:
    """Blocks back in conversation order (the intro, if kept, goes first)."""
    if mode == "observation":
        return kept[0]
    *rest, current = kept
    intro = [b for b in rest if b and b[0]["content"] == TASK_PROMPT]
    others = [b for b in rest if not (b and b[0]["content"] == TASK_PROMPT)]
    return [m for block in [*intro, *others, current] for m in block]


def fit(mode: str, turns: list[dict], observation: str, available: dict, count, budget: int) -> list[dict]:
    """Messages trimmed to ``count(messages) <= budget``: oldest blocks first, then the observation's tail."""
    kept = blocks(mode, turns, observation, available)
    while len(kept) > 1 and count(ordered(kept, mode)) > budget:
        kept.pop(0)
    parts = observation.split(SEP)
    while count(ordered(kept, mode)) > budget and len(parts) > 3:
        parts.pop()  # the instruction is parts[1:3] on every page
        kept[-1] = [observation_turn(SEP.join(parts), available)]
    return ordered(kept, mode)
