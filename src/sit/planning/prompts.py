"""Prompt lengths the plan needs but cannot read from a profile: MMLU's few-shot prompts, the agent's.

**MMLU.** lm-eval's 5-shot prompt of a subject is a one-line description, the subject's first five
``dev`` questions with their answers, then the test question. The longest prompt of a run is that
context plus the subject's longest test question. MMLU is not available offline, so these lengths
cannot be measured here: :data:`MMLU_TOKENS` holds *estimates* (tokens of a Llama-3-style BPE), set
from typical question lengths of each subject so that the two long subjects give the ~2,000-3,000-token
5-shot prompts that ``professional_law`` and ``high_school_us_history`` are known to have. A subject
missing from the table gets :data:`MMLU_DEFAULT`. With the offline fixture (``tasks: local``) the
fixture files are measured, at :data:`CHARS_PER_TOKEN`.

**The agent.** AgentBench's prompt is the task prompt, the one-shot example and every round so far,
trimmed to ``context_window - max_new_tokens`` (:mod:`sit.agent.prompting`). Its untrimmed length is
measured in characters from the project's own prompt texts and converted at :data:`CHARS_PER_TOKEN`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .workload import lookup

CHARS_PER_TOKEN = 4.0  # English prose in a 32k-150k BPE vocabulary; an estimate, stated with the plan

# subject -> (mean tokens of one shot: question, four choices and "Answer: X"; longest test question
# with its choices). Estimates, not measurements (see the module docstring).
MMLU_TOKENS = {
    "abstract_algebra": (50, 150),
    "anatomy": (45, 150),
    "college_biology": (80, 300),
    "high_school_european_history": (520, 1100),
    "high_school_geography": (40, 120),
    "high_school_us_history": (380, 750),
    "marketing": (60, 200),
    "moral_scenarios": (85, 100),
    "nutrition": (60, 250),
    "philosophy": (50, 200),
    "professional_law": (290, 1000),
}
MMLU_DEFAULT = (110, 400)  # 110 tokens a shot: the mean over all 57 subjects
MMLU_DESCRIPTION = 20  # "The following are multiple choice questions (with answers) about ..."
CHAT_TOKENS_PER_TURN = 5  # role header and end-of-turn token of one message (few-shot as multi-turn)


@dataclass(frozen=True)
class MmluPrompts:
    longest: int  # tokens of the longest prompt of the run: what one log-likelihood batch must hold
    longest_subject: str
    mean: int  # tokens of an average prompt: what the time estimate uses
    source: str  # where the numbers come from, printed with the plan


def mmlu_prompts(profile: dict) -> MmluPrompts:
    """The longest and the mean MMLU prompt of the profile's subjects and shots."""
    shots = int(lookup(profile, "evaluation.mmlu.num_fewshot", 5))
    turns = 2 * (shots + 1) * CHAT_TOKENS_PER_TURN  # chat template on: each shot is a user and an assistant turn
    if lookup(profile, "evaluation.mmlu.tasks") == "local":
        table, source = _fixture_tokens(), f"measured on the offline fixture at {CHARS_PER_TOKEN:g} characters a token"
    else:
        table, source = MMLU_TOKENS, ("estimated per subject (MMLU is not available offline to measure; "
                                      "sit.planning.prompts.MMLU_TOKENS)")
    subjects = lookup(profile, "evaluation.mmlu.subjects") or list(table) or ["-"]
    sizes = {s: table.get(s, MMLU_DEFAULT) for s in subjects}
    longest = {s: MMLU_DESCRIPTION + turns + shots * per_shot + question for s, (per_shot, question) in sizes.items()}
    subject = max(longest, key=longest.get)
    mean = MMLU_DESCRIPTION + turns + (shots + 1) * sum(p for p, _ in sizes.values()) / len(sizes)
    measured = lookup(profile, "evaluation.mmlu.max_prompt_tokens")
    if measured:
        return MmluPrompts(int(measured), "evaluation.mmlu.max_prompt_tokens", int(mean),
                           "longest prompt set in the profile; mean " + source)
    return MmluPrompts(longest[subject], subject, int(mean), source)


def _fixture_tokens() -> dict[str, tuple[int, int]]:
    """(mean, longest) tokens of each offline fixture subject's test questions."""
    from importlib import resources

    try:
        files = [f for f in (resources.files("sit.evaluation") / "data").iterdir() if f.name.endswith("_test.jsonl")]
    except (ModuleNotFoundError, OSError):
        return {}
    out = {}
    for f in files:
        rows = [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        chars = [len(r["question"]) + sum(len(c) + 4 for c in r["choices"]) + len("\nAnswer: A\n\n") for r in rows]
        if chars:
            name = f.name.removeprefix("mmlu_").removesuffix("_test.jsonl")
            out[name] = (int(sum(chars) / len(chars) / CHARS_PER_TOKEN) + 1, int(max(chars) / CHARS_PER_TOKEN) + 1)
    return out


@dataclass(frozen=True)
class AgentPrompts:
    chars: int  # characters of the untrimmed prompt's messages
    longest: int  # tokens of the longest prompt (the last round of a full episode, after trimming)
    untrimmed: int  # what that prompt would be without the window
    window: int | None  # the trimming budget (context_window - max_new_tokens); None: not trimmed


def agent_prompts(profile: dict, model_window: int | None = None) -> AgentPrompts:
    """The longest agent prompt: the task prompt, the one-shot example, and ``max_rounds - 1`` earlier rounds
    (each a full results page and a reply of ``max_new_tokens``) before the current page."""
    from ..agent import prompting

    mode = lookup(profile, "agent.prompt", "agentbench")
    rounds = int(lookup(profile, "agent.max_rounds", 10))
    new = int(lookup(profile, "agent.max_new_tokens", 256))
    page = _page_chars(int(lookup(profile, "agent.results_per_page", 10)))
    if mode == "observation":
        chars = page
    else:
        shot = sum(len(m["content"]) for m in prompting.one_shot())
        chars = len(prompting.TASK_PROMPT) + shot + rounds * page + (rounds - 1) * new * CHARS_PER_TOKEN
    messages = 1 if mode == "observation" else 2 * rounds + 9  # task prompt, reply, one-shot, episode
    untrimmed = int(chars / CHARS_PER_TOKEN) + messages * CHAT_TOKENS_PER_TURN
    window = lookup(profile, "agent.context_window") or model_window
    if window is None or untrimmed <= int(window) - new:
        return AgentPrompts(int(chars), untrimmed, untrimmed, None)
    return AgentPrompts(int(chars), int(window) - new, untrimmed, int(window) - new)


def _page_chars(results: int) -> int:
    """Characters of a search-results page with ``results`` items, as the one-shot example's page shows them
    (id, title, price per item), with its available actions."""
    from ..agent import prompting

    page = next(m["content"] for m in prompting.one_shot() if "Total results" in m["content"])
    per_item = (len(page) - 200) / page.count("$")  # one price per result
    clickables = results * 16 + 80  # '"b0xxxxxxxx", ' per item, plus search, back and next
    return int(200 + results * per_item + clickables)
