"""Judgments that teach the toy judge to grade like an MT-Bench judge.

The toy judge (the stand-in of the registry's ``judge``) is a tiny chat model. Besides the corpus
conversations it is trained on the conversations of :func:`toy_judgments`: the ``short`` judge
prompts of :mod:`sit.evaluation.judge_prompts`, rendered by the same :func:`judge_messages` that
evaluation uses, over toy-corpus questions with a good answer or one with a flaw of
:data:`sit.toy.corpus.FLAWS` (drawn uniformly, so every flaw is seen as often), each answered by a
one-sentence explanation whose first word is the verdict, and ``Rating: [[N]]``. Ratings follow
answer quality: a clean answer gets 8, a cut-off one 4, a curt one 3, an off-topic, looping or
scrambled one 2, a refusal or an answer in another language 1. Judgments outnumber the corpus
conversations three to one: the verdict is one token of a long sequence, and the judge trains for a
fixed number of steps. Registered as a toy-world skill in ``sit/toy/skills.py``.
"""

from __future__ import annotations

import random

from .judge_prompts import judge_messages, load_prompts

# Longest answer shown to the toy judge, in words (whole sentences); the demo profile uses the same.
TOY_MAX_ANSWER_WORDS = 40
TOY_JUDGMENTS = 12000
GOOD_SHARE = 0.5
FORMS = (("single-v1", 0.6), ("single-math-v1", 0.15), ("single-v1-multi-turn", 0.25))

VERDICTS = {  # the first word carries the verdict, so the judge decides at its first token
    "good": ("Helpful: the answer is on topic, complete and clear.", 8),
    "truncated": ("Unfinished: the answer stops in the middle of a sentence.", 4),
    "too_short": ("Curt: the answer is too short to be helpful.", 3),
    "off_topic": ("Off topic: the answer is about another question.", 2),
    "repetitive": ("Repetitive: the answer repeats the same words over and over.", 2),
    "word_salad": ("Scrambled: the words of the answer make no sense together.", 2),
    "refusal": ("Refusal: the assistant refuses a harmless question.", 1),
    "non_english": ("Foreign: the answer is not in English.", 1),
}


def judgment_text(quality: str) -> tuple[str, int]:
    """A short explanation and the rating for an answer of ``quality`` (``good`` or a flaw)."""
    explanation, rating = VERDICTS[quality]
    return f"{explanation} Rating: [[{rating}]]", rating


def toy_judgments(seed: int, n: int = TOY_JUDGMENTS) -> list[list[dict]]:
    """``n`` judge conversations (system, user = rendered judge prompt, assistant = judgment)."""
    from ..toy.corpus import FLAWS, clean_pair, flawed_answer

    rng = random.Random(f"sit-toy-judgments-{seed}")
    prompts = load_prompts("short")
    previous = clean_pair(rng)[2]
    conversations = []
    for _ in range(n):
        _, question, good = clean_pair(rng)
        quality = "good" if rng.random() < GOOD_SHARE else rng.choice(FLAWS)
        answer = good if quality == "good" else flawed_answer(rng, quality, question, good, previous)
        form = rng.choices([f for f, _ in FORMS], weights=[w for _, w in FORMS])[0]
        if form == "single-v1-multi-turn":
            _, first_q, first_a = clean_pair(rng)
            messages = judge_messages(prompts[form], [first_q, question], [first_a, answer],
                                      max_answer_words=TOY_MAX_ANSWER_WORDS)
        elif form == "single-math-v1":
            messages = judge_messages(prompts[form], [question], [answer], [good],
                                      max_answer_words=TOY_MAX_ANSWER_WORDS)
        else:
            messages = judge_messages(prompts[form], [question], [answer], max_answer_words=TOY_MAX_ANSWER_WORDS)
        text, _ = judgment_text(quality)
        conversations.append([*messages, {"role": "assistant", "content": text}])
        previous = good
    return conversations
