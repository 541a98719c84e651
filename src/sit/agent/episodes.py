"""Running episodes in rounds, many at once, and keeping them as JSONL that a restart resumes from.

Every round, all live episodes of a chunk ask the agent together (one batched generation for an
LLM agent), then each reply is parsed and applied. A chunk's episodes are appended (fsynced) as soon
as all of them end, one line per episode: the goal, every turn (observation, available actions,
reply, action, valid), the reward and why the episode ended. A killed run loses at most the chunk
in progress; a restart runs only the goals that have no line yet. Every line carries the run's
fingerprint, and a file written by another agent, model, catalog or setting is refused, not mixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import ConfigError
from ..store import JsonlStore
from .actions import extract_action
from .env import Shop, ShopEpisode

ENDS = ("bought", "invalid_format", "round_limit")
MAX_ROUNDS = 10  # AgentBench v0.2


@dataclass
class EpisodeState:
    """What an agent may look at: the goal id, the current observation and actions, the past turns."""

    goal: dict
    env: ShopEpisode
    turns: list[dict] = field(default_factory=list)
    end: str | None = None

    @property
    def observation(self) -> str:
        return self.env.observation

    @property
    def available(self) -> dict:
        return self.env.available_actions()


def check_resume(path: Path, stored: list[dict], run: dict) -> None:
    for record in stored:
        if record.get("run") != run:
            old = record.get("run") or {}
            changes = ", ".join(f"{k}: {old.get(k)!r} -> {v!r}" for k, v in run.items() if old.get(k) != v)
            raise ConfigError(f"{path} holds episodes of another run ({changes}). Refusing to mix them. "
                              f"To start fresh, delete {path} (or use another workspace).")


def play_round(agent, states: list[EpisodeState]) -> None:
    """One round for every live episode: one batched call to the agent, then every action applied."""
    live = [s for s in states if s.end is None]
    if not live:
        return
    replies = agent.replies(live)
    for state, text in zip(live, replies, strict=True):
        turn = {"observation": state.observation, "available_actions": state.available, "reply": text}
        action = extract_action(text)
        if action is None:
            state.turns.append({**turn, "action": None, "valid": False})
            state.end = "invalid_format"
            continue
        step = state.env.step(action)
        state.turns.append({**turn, "action": action, "valid": step.valid})
        if step.done:
            state.end = "bought"


def record(state: EpisodeState, run: dict) -> dict:
    env = state.env
    bought = state.end == "bought"
    return {
        "id": state.goal["id"], "goal": {k: state.goal[k] for k in ("instruction", "product_id", "attributes",
                                                                   "options", "price_upper")},
        "turns": state.turns, "rounds": len(state.turns), "end": state.end,
        "invalid_actions": sum(not t["valid"] for t in state.turns),
        "reward": env.reward if bought else 0.0, "success": bool(bought and env.reward >= 1.0 - 1e-9),
        "purchased": {"product_id": env.product["id"], "options": env.options} if bought else None,
        "reward_info": env.reward_info, "run": run,
    }


def run_episodes(shop: Shop, goals: list[dict], agent, path: Path, run: dict, *, max_rounds: int = MAX_ROUNDS,
                 batch_size: int = 16, progress: bool = True, desc: str = "episodes") -> list[dict]:
    """Every goal's episode record, in ``goals`` order; only goals without a stored line are played."""
    from tqdm.auto import tqdm

    if batch_size <= 0:
        raise ValueError(f"batch size must be > 0, got {batch_size}")
    store = JsonlStore(path)
    stored = store.read()
    check_resume(path, stored, run)
    done = {r["id"]: r for r in stored}
    todo = [g for g in goals if g["id"] not in done]
    ids = set(done)
    with tqdm(total=len(goals), initial=len(goals) - len(todo), desc=desc, unit="episode",
              disable=not progress) as bar:
        for start in range(0, len(todo), batch_size):
            states = [EpisodeState(goal, shop.episode(goal)) for goal in todo[start:start + batch_size]]
            for _ in range(max_rounds):
                play_round(agent, states)
            for state in states:
                state.end = state.end or "round_limit"
            records = [record(s, run) for s in states]
            store.append(records, existing_ids=ids)
            done.update((r["id"], r) for r in records)
            bar.update(len(records))
    return [done[g["id"]] for g in goals]
