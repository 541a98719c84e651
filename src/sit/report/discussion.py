"""The discussion: what the run's own measurements say about why the numbers moved.

Each paragraph is built from facts the artifacts hold, never from what a method usually does: how much of
the held-out reward gain comes with answers that learned to end their turn; whether the reward model that
chose the pairs also scores the stages; what share of the chosen answers are the generator's own (already
trained on in SFT); and which benchmarks moved at all.
"""

from __future__ import annotations

from .degenerate import find_degenerate
from .document import Section, Text, fmt, missing
from .evidence import Evidence
from .roles import (
    NO_REAL_REWARD,
    generator_is_candidate,
    magpie_chosen,
    rejected_beside_magpie,
    reward_is_stand_in,
    reward_name,
)
from .verdicts import HELD_OUT, STAGE_NAMES, all_changes, short


def end_of_turn_share(ev: Evidence, model: str, stage: str = "sft", vs: str = "base") -> dict | None:
    """How much of ``stage``'s held-out reward gain over ``vs`` comes from answers that ended their turn at
    ``stage`` but not at ``vs``: {gain, newly, newly_gain, share, ended_vs, ended_stage, n}."""
    before, after = ev.answers.get((model, vs)), ev.answers.get((model, stage))
    scores_before = {it["id"]: it["scores"].get("mean_reward") for it in ev.items.get((model, vs, "reward"), [])}
    scores_after = {it["id"]: it["scores"].get("mean_reward") for it in ev.items.get((model, stage, "reward"), [])}
    if not before or not after or not scores_before or not scores_after:
        return None
    ended_before = {r["id"]: bool(r.get("ended_with_eot")) for r in before}
    ended_after = {r["id"]: bool(r.get("ended_with_eot")) for r in after}
    ids = [i for i in scores_before if i in scores_after and i in ended_before and i in ended_after
           and scores_before[i] is not None and scores_after[i] is not None]
    if not ids:
        return None
    gains = {i: scores_after[i] - scores_before[i] for i in ids}
    newly = [i for i in ids if ended_after[i] and not ended_before[i]]
    total = sum(gains.values())
    return {"gain": total / len(ids), "newly": len(newly), "n": len(ids),
            "newly_gain": sum(gains[i] for i in newly) / len(newly) if newly else None,
            "other_gain": (sum(gains[i] for i in ids if i not in newly) / (len(ids) - len(newly))
                           if len(ids) > len(newly) else None),
            "share": sum(gains[i] for i in newly) / total if total else None,
            "ended_vs": sum(ended_before[i] for i in ids) / len(ids),
            "ended_stage": sum(ended_after[i] for i in ids) / len(ids)}


def _end_of_turn(ev: Evidence) -> str:
    parts = []
    for model in dict.fromkeys(m for m, s in ev.answers if s == "sft"):
        fact = end_of_turn_share(ev, model)
        if fact is None or fact["share"] is None:
            continue
        head = (f"{short(model)}: {fmt(fact['ended_vs'] * 100, 0)}% → {fmt(fact['ended_stage'] * 100, 0)}% of answers "
                "ended their turn; ")
        if fact["newly"] == fact["n"]:
            parts.append(head + f"every answer newly did, so the whole mean gain of {fmt(fact['gain'])} comes with "
                                "learning to stop")
        elif not fact["newly"]:
            parts.append(head + f"no answer newly did, so none of the mean gain of {fmt(fact['gain'])} comes with "
                                "learning to stop")
        else:
            parts.append(head + f"the {fact['newly']} of {fact['n']} answers that newly did gained "
                                f"{fmt(fact['newly_gain'])} on average against {fmt(fact['other_gain'])} for the rest, "
                                f"{fmt(fact['share'] * 100, 0)}% of the mean gain of {fmt(fact['gain'])}")
    if not parts:
        return ""
    return ("**Held-out reward and the end of the turn.** Part of what SFT teaches is to stop: a base model "
            "that runs on to its token limit writes rambling answers the reward model scores low. Per model (SFT "
            "vs base, the same held-out instructions): " + "; ".join(parts) + ". Where most of the gain comes "
            "with newly ended answers, the held-out reward measures learning to end the turn as much as "
            "answering better.")


def _same_judge(ev: Evidence) -> str:
    chooser = ((ev.preference_report or {}).get("reward") or {}).get("model")
    scorers = {str((it.get("fingerprint") or {}).get("reward_model"))
               for (_, _, b), items in ev.items.items() if b == "reward" for it in items[:1]}
    if not chooser or not scorers:
        return ""
    if scorers == {chooser}:
        name = reward_name(ev, full=False)
        stand_in = (f" Since {NO_REAL_REWARD}, that taste is the toy stand-in's, trained on a synthetic corpus: a "
                    "held-out reward gain here says nothing about answer quality.") if reward_is_stand_in(ev) else ""
        return (f"**One reward model on both sides.** {name[0].upper() + name[1:]} chose the chosen and rejected "
                "answers of the DPO pairs and also scores the held-out answers of every stage, so a DPO gain in "
                "held-out reward is partly the model learning this reward model's taste (its length preference "
                "included); the benchmarks, scored without it, are the independent check." + stand_in)
    return (f"**Different reward models.** The pairs were chosen by {short(chooser)}; the stages are scored by "
            f"{', '.join(short(s) for s in sorted(scorers))}.")


def _own_answers(ev: Evidence) -> str:
    report = ev.preference_report or {}
    kept = report.get("pairs_kept")
    if not report or not generator_is_candidate(ev) or not kept:
        return ""
    own = magpie_chosen(ev)
    return (f"**Whose answers DPO learns from.** {fmt(own)} of the {fmt(kept)} chosen answers "
            f"({fmt(100 * own / kept, 0)}%) are the generator's own Magpie answers, the same texts SFT already "
            f"trained on; for those pairs DPO mostly pushes the model away from {rejected_beside_magpie(ev)} "
            "rather than towards anything new.")


def _which_moved(ev: Evidence) -> str:
    changes = [c for c in all_changes(ev) if c.vs == "base" and c.measure != HELD_OUT]
    if not changes:
        return ""
    moved: dict[str, list[str]] = {}
    still: dict[str, int] = {}
    void: dict[str, int] = {}  # measures whose every change rests on a degenerate result: no measurement at all
    for c in changes:
        if c.verdict in ("higher", "lower"):
            moved.setdefault(c.measure, []).append(f"{short(c.model)} {STAGE_NAMES[c.stage]} {c.verdict}")
        elif c.degenerate:
            void[c.measure] = void.get(c.measure, 0) + 1
        else:
            still[c.measure] = still.get(c.measure, 0) + 1
    said = [f"{measure}: {', '.join(items)}" for measure, items in moved.items()]
    quiet = [m for m in still if m not in moved]
    unmeasured = [m for m in void if m not in moved and m not in still]
    degenerate = sorted({d.kind for d in find_degenerate(ev)})
    text = "**Which benchmarks moved.** "
    text += ("Changes whose interval excludes 0: " + "; ".join(said) + ". ") if said else \
        "No benchmark moved beyond its interval for any model. "
    if quiet:
        text += "No change beyond the interval on " + ", ".join(quiet) + ". "
    if unmeasured:
        text += "No verdict at all on " + ", ".join(unmeasured) + ": every change there rests on a degenerate result. "
    if degenerate:
        text += ("Some of these results are degenerate (" + ", ".join(degenerate) + "; see Section 3) and carry "
                 "no verdict.")
    return text.strip()


def discussion(ev: Evidence) -> Section:
    section = Section("discussion", "4 · Discussion")
    paragraphs = [p for p in (_end_of_turn(ev), _same_judge(ev), _own_answers(ev), _which_moved(ev)) if p]
    if not paragraphs:
        return missing(section, "a stage comparison (`evaluation/stages.csv`, `evaluation/comparison.csv`)",
                       "Run notebooks 05 and 06; the discussion is built from what they measure.")
    section.add(*[Text(p) for p in paragraphs])
    return section
