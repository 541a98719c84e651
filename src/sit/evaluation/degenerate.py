"""Results that measure nothing, told from the per-item records: a model that gives the same multiple-choice
letter to (almost) every question, a judge that writes a parsable rating for fewer than half the turns it is
given, a judge that gives (almost) every answer the same rating, an agent that never makes a valid move. The
comparison and the report name them, through :func:`find_degenerate`, instead of giving them a verdict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from ..workspace import STAGES

LETTERS = "ABCDEFGHIJ"
CONSTANT_SHARE = 0.9  # one answer for at least this share of the questions: a constant answer
JUDGE_SHARE = 0.8  # one rating of ten for at least this share of the turns: the judge cannot tell answers apart
RATED_SHARE = 0.5  # parsable ratings for fewer than this share of the turns: the mean rests on the judge's few hits
ANY = "*"  # a judge's rating habit concerns every model and stage it rated
CONSTANT, UNRATED, ALIKE, STUCK = "constant answer", "judge fails to rate", "judge rates alike", "no valid move"


@dataclass(frozen=True)
class Degenerate:
    model: str  # model id (or agent label); ANY for the judge's habit over every stage
    stage: str  # stage; ANY for the judge's habit over every stage
    benchmark: str  # mmlu, mt_bench, webshop
    what: str  # what happened, as a reader reads it ("answers B to all 24 questions")
    kind: str  # CONSTANT | UNRATED | ALIKE | STUCK

    def concerns(self, model: str, stage: str, benchmark: str) -> bool:
        return self.benchmark == benchmark and self.model in (ANY, model) and self.stage in (ANY, stage)


def find_degenerate(items: Mapping[tuple[str, str, str], list[dict]],
                    episodes: Mapping[tuple[str, str], list[dict]] | None = None) -> list[Degenerate]:
    """Every degenerate result among per-item records keyed (model, stage, benchmark) and agent episodes keyed
    (agent, stage), per model in stage order: what the comparison and the report both name."""
    order = {stage: k for k, stage in enumerate(STAGES)}
    found = []
    for (model, stage, benchmark), records in sorted(items.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 9))):
        if benchmark == "mmlu" and (what := constant_answer(records)):
            found.append(Degenerate(model, stage, benchmark, what, CONSTANT))
        elif benchmark == "mt_bench" and (what := judge_unrated(records)):
            found.append(Degenerate(model, stage, benchmark, what, UNRATED))
    if what := judge_alike(mt_bench_ratings([records for (_, _, b), records in items.items() if b == "mt_bench"])):
        found.append(Degenerate(ANY, ANY, "mt_bench", what, ALIKE))
    for (agent, stage), records in sorted((episodes or {}).items()):
        if what := no_valid_move(records):
            found.append(Degenerate(agent, stage, "webshop", what, STUCK))
    return found


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


def judge_rated(items: list[dict]) -> tuple[int, int]:
    """(turns the judge rated, turns it judged) over a stage's MT-Bench items: a turn whose judgment holds no
    parsable ``[[rating]]`` counts as judged but not rated; one left out for NaN/inf logits as neither."""
    rated = unparsable = 0
    for it in items:
        score = it["scores"].get("score")
        rated += sum(r is not None for r in (score if isinstance(score, list) else [score]))
        unparsable += int(it["scores"].get("unparsable") or 0)
    return rated, rated + unparsable


def judge_unrated(items: list[dict]) -> str:
    """``the judge rated 1 of 16 turns (6%; ...)`` when it wrote a parsable rating for fewer than half of them."""
    rated, judged = judge_rated(items)
    if not judged or rated >= RATED_SHARE * judged:
        return ""
    return (f"the judge rated {rated} of {judged} turns ({100 * rated / judged:.0f}%; the other judgments hold no "
            "parsable rating)")


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
