"""Results that measure nothing, told from the per-item records: a model that gives the same multiple-choice
letter to (almost) every question, a judge that gives (almost) every answer the same rating, an agent that
never makes a valid move. The comparison and the report name them instead of giving them a verdict.
"""

from __future__ import annotations

from collections import Counter

LETTERS = "ABCDEFGHIJ"
CONSTANT_SHARE = 0.9  # one answer for at least this share of the questions: a constant answer
JUDGE_SHARE = 0.8  # one rating of ten for at least this share of the turns: the judge cannot tell answers apart


def constant_answer(items: list[dict]) -> str:
    """``answers B to 23 of 24 questions`` when one option takes at least 90 % of the answers; without the
    picked options (older runs), what the key and the correct answers say."""
    if not items:
        return ""
    choices = [it.get("choice") for it in items]
    if all(c is not None for c in choices):
        letter, count = Counter(choices).most_common(1)[0]
        if count >= CONSTANT_SHARE * len(items):
            every = f"all {len(items)}" if count == len(items) else f"{count} of {len(items)}"
            return f"answers {LETTERS[int(letter)]} to {every} questions"
        return ""
    correct = [it for it in items if it["scores"].get("acc")]
    if not correct:
        return (f"answers none of the {len(items)} questions right (what a constant answer on a letter the key "
                "never uses scores)")
    keys = {it.get("target") for it in correct}
    if len(keys) == 1:
        key = keys.pop()
        if sum(it.get("target") == key for it in items) == len(correct) and len(correct) < len(items):
            letter = LETTERS[int(key)] if str(key).isdigit() else key
            return (f"is right exactly on the {len(correct)} questions keyed {letter} and wrong on all others "
                    f"(what always answering {letter} scores)")
    return ""


def judge_alike(ratings: list[float]) -> str:
    """``the judge gave 8 to 152 of 160 rated turns (95%)`` when one rating takes at least 80 % of them."""
    if len(ratings) < 10:
        return ""
    rating, count = Counter(ratings).most_common(1)[0]
    if count < JUDGE_SHARE * len(ratings):
        return ""
    every = f"all {len(ratings)}" if count == len(ratings) else f"{count} of {len(ratings)}"
    return (f"the judge gave {rating:g} to {every} rated turns ({100 * count / len(ratings):.0f}%), so it barely "
            "tells answers apart")


def no_valid_move(episodes: list[dict]) -> str:
    """``never made a valid move: all 20 episodes ended on turn 1 with invalid_format``."""
    if not episodes or any(t.get("valid") for e in episodes for t in e.get("turns", [])):
        return ""
    ends = Counter(e.get("end") or "unknown" for e in episodes)
    rounds = Counter(e.get("rounds", 0) for e in episodes)
    how = ", ".join(f"{n} {end}" for end, n in ends.most_common())
    turn = f" on turn {next(iter(rounds))}" if len(rounds) == 1 else ""
    every = f"all {len(episodes)} episodes ended{turn}"
    return f"never made a valid move: {every} ({how})"


def mt_bench_ratings(item_lists) -> list[float]:
    """Every rated turn's rating (an MT-Bench item is a question: its score is the list of its turns')."""
    ratings = []
    for items in item_lists:
        for it in items:
            score = it["scores"].get("score")
            ratings += [r for r in (score if isinstance(score, list) else [score]) if r is not None]
    return ratings
