"""Actions as AgentBench v0.2 parses them from a reply: ``search[keywords]`` or ``click[value]``."""

from __future__ import annotations

import re

# AgentBench v0.2's pattern (its WebShop task), used unchanged.
ACTION = re.compile(r"[Aa]ction: *\n* *((search|click)\[.+?])")
# WebShop's own split of an action into name and argument.
PARTS = re.compile(r"(.+)\[(.+)\]")


def extract_action(reply: str) -> str | None:
    """The first action in a reply, or None when there is none (AgentBench then ends the episode)."""
    match = ACTION.search(reply)
    return match.group(1) if match else None


def split_action(action: str) -> tuple[str, str | None]:
    """``click[Buy Now]`` -> ("click", "Buy Now")."""
    match = PARTS.match(action)
    return (match.group(1), match.group(2)) if match else (action, None)


def reply(thought: str, action: str) -> str:
    """A reply in the format of AgentBench's prompt."""
    return f"Thought:\n{thought}\n\nAction:\n{action}"
