"""Extra skills of the toy chat stand-ins, taught by conversations that other phases provide.

A real generator can act as a WebShop agent and a real judge writes FastChat judgments; their toy
stand-ins learn that from conversations built by the phase that uses the skill (``sit.agent``,
``sit.evaluation``), so the data follows the phase's own prompt and protocol code. Each entry of
:data:`SKILLS` names the role it teaches, the function that returns the conversations
(``fn(seed) -> list[list[dict]]``, chat messages) and the source files that shape them; those files
are part of the world's content hash, so a change to them rebuilds the world.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Skill:
    role: str  # the registry role that learns it (generator | judge)
    function: str  # "package.module:function", returns a list of conversations
    sources: tuple[str, ...]  # files under src/sit/ whose content decides the conversations


SKILLS: tuple[Skill, ...] = (
    Skill(role="generator", function="sit.agent.trajectories:toy_conversations",
          sources=("agent/trajectories.py", "agent/catalog.py", "agent/env.py", "agent/baselines.py",
                   "agent/prompting.py", "agent/episodes.py", "agent/actions.py", "agent/search.py",
                   "agent/reward.py", "agent/schema.py")),
    Skill(role="judge", function="sit.evaluation.judge_data:toy_judgments",
          sources=("evaluation/judge_data.py", "evaluation/judge_prompts.py")),
)


def skills_for(roles) -> list[Skill]:
    return [skill for skill in SKILLS if skill.role in set(roles)]


def skill_conversations(roles, seed: int) -> list[list[dict]]:
    """Every conversation that teaches a model with these roles its extra skills."""
    conversations = []
    for skill in skills_for(roles):
        module, name = skill.function.split(":")
        conversations += getattr(importlib.import_module(module), name)(seed)
    return conversations


def source_files() -> list[Path]:
    """The files that shape any skill's conversations (for the world's content hash)."""
    package = Path(__file__).resolve().parents[1]
    return [package / source for skill in SKILLS for source in skill.sources]
