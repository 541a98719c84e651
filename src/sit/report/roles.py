"""Who played which part in the run, from its artifacts and the registry.

A run's targets may be base models or instruct models (the registry says which), the generator may be one
of the targets, and the reward model may be the toy world's stand-in beside real models. The sentences
that name these parts ask here instead of assuming one setup: "base models" only where the targets are
base models, "the generator's Magpie answer" only for the answers the generator wrote in step 1, and the
reward model's scores labelled as a stand-in's wherever they come from one.
"""

from __future__ import annotations

from ..preference.pairs import GENERATOR_SOURCE, answer_sources
from ..session import toy_stand_ins
from .evidence import Evidence
from .verdicts import short

MAGPIE_SIDE = "generator's Magpie answer"
TARGET_SIDE = "answer as the target"
NO_REAL_REWARD = "no real reward model is available offline"


def joined(names: list[str]) -> str:
    """``A``, ``A and B``, ``A, B and C``."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""


def generator(ev: Evidence) -> str | None:
    return (ev.raw_manifest or {}).get("generator")


def is_target(ev: Evidence, model: str | None) -> bool:
    """A model tuned in this run: trained or compared by stage here, or a target in the registry."""
    if model is None:
        return False
    if any(t.model == model for t in ev.trained) or any(r["model"] == model for r in ev.stages or []):
        return True
    spec = ev.specs.get(model)
    return bool(spec and "target" in spec.roles)


def answering_targets(ev: Evidence) -> list[str]:
    """The target models whose own answers were candidates for the pairs (the generator's answers are not
    a target's, unless the generator is a target too)."""
    used = (ev.preference_report or {}).get("models_used", [])
    return [m for m in used if m != GENERATOR_SOURCE and (m != generator(ev) or is_target(ev, m))]


def generator_is_candidate(ev: Evidence) -> bool:
    """Whether the generator's own Magpie answers were candidates (``preference.include_generator_response``)."""
    config = (ev.preference_manifest or {}).get("config") or {}
    if "include_generator_response" in config:
        return bool(config["include_generator_response"])
    used = (ev.preference_report or {}).get("models_used", [])
    return any(m in {GENERATOR_SOURCE, generator(ev)} for m in used)


def target_models(ev: Evidence) -> list[str]:
    """The run's targets: those trained or compared by stage, else those that answered for the pairs, else the
    registry's."""
    found = [t.model for t in ev.trained] + [r["model"] for r in ev.stages or []]
    found = found or answering_targets(ev) or [s.id for s in ev.specs.values() if "target" in s.roles]
    return list(dict.fromkeys(found))


def kind(ev: Evidence, models: list[str]) -> str:
    """``base`` when no model of ``models`` is an instruct model in the registry, ``instruct`` when all are,
    else empty (a mix)."""
    instruct = [bool((spec := ev.specs.get(m)) and spec.instruct) for m in models]
    if instruct and all(instruct):
        return "instruct"
    return "" if any(instruct) else "base"


def models_noun(ev: Evidence, models: list[str] | None = None, plural: bool = True) -> str:
    """``base models``, ``instruct models`` or ``models``: what the run's targets are."""
    which = kind(ev, target_models(ev) if models is None else models)
    return f"{which} model{'s' if plural else ''}".strip()


def answering_phrase(ev: Evidence) -> str:
    """Who answered each instruction: ``3 base models and the instruct generator (Llama-3.1-8B-Instruct)``, or
    ``SmolLM2-135M-Instruct (the target) and the generator's own Magpie answers``."""
    targets, source = answering_targets(ev), generator(ev)
    if len(targets) == 1:
        phrase = f"{short(targets[0])} (the target)"
    else:
        phrase = f"{len(targets)} {models_noun(ev, targets, plural=len(targets) != 1)}"
    if generator_is_candidate(ev):
        if source in targets:
            phrase += " and the generator's own Magpie answers" + (f" ({short(source)}'s)" if len(targets) > 1 else "")
        else:
            phrase += f" and the instruct generator ({short(source or 'the Magpie generator')})"
    return phrase


# --------------------------------------------------------------------------- the sides of a pair


def magpie_answers(ev: Evidence) -> dict[str, str]:
    """The generator's Magpie answer of every filtered instruction, the text phase 03 copied as a candidate."""
    return {r["id"]: r["response"] for r in ev.filtered or []}


def splits_generator(ev: Evidence) -> bool:
    """The generator is also a target and both of its answers were candidates: the pairs name one model for two
    sources, so each side is told apart by its text (the Magpie answer is the filtered record's)."""
    source = generator(ev)
    return bool(source in answering_targets(ev) and generator_is_candidate(ev) and ev.filtered)


def is_magpie_side(ev: Evidence, pair: dict, side: str) -> bool:
    """Whether ``side`` (``chosen``/``rejected``) of a pair is the generator's own Magpie answer."""
    magpie = magpie_answers(ev) if generator_is_candidate(ev) else {}
    chosen, rejected = answer_sources(pair, magpie, generator(ev))
    if pair[f"{side}_model"] == generator(ev) and not is_target(ev, generator(ev)):
        return True  # a generator that is no target wrote only its Magpie answers
    return (chosen if side == "chosen" else rejected).magpie


def side_label(ev: Evidence, pair: dict, side: str) -> str:
    """Who wrote ``side`` of a pair: the model id, with which of its answers when the generator is a target."""
    model = pair[f"{side}_model"]
    if not splits_generator(ev) or model != generator(ev):
        return model
    return f"{model} ({MAGPIE_SIDE if is_magpie_side(ev, pair, side) else TARGET_SIDE})"


def labelled_pairs(ev: Evidence) -> list[dict]:
    """The pairs with each side's model replaced by :func:`side_label` (for the per-model counts and chart)."""
    return [{**p, "chosen_model": side_label(ev, p, "chosen"), "rejected_model": side_label(ev, p, "rejected")}
            for p in ev.pairs or []]


def choice_counts(ev: Evidence) -> list[tuple[str, int, int]]:
    """(who, chosen, rejected) of the kept pairs: per model as the preference report counts them, or per answer
    source when the generator is a target."""
    report = ev.preference_report or {}
    if not splits_generator(ev):
        chosen, rejected = report.get("chosen", {}), report.get("rejected", {})
        return [(m, chosen.get(m, 0), rejected.get(m, 0)) for m in report.get("models_used", [])]
    pairs = labelled_pairs(ev)
    labels = sorted({p["chosen_model"] for p in pairs} | {p["rejected_model"] for p in pairs})
    return [(label, sum(p["chosen_model"] == label for p in pairs), sum(p["rejected_model"] == label for p in pairs))
            for label in labels]


def magpie_chosen(ev: Evidence) -> int:
    """How many kept pairs have the generator's own Magpie answer as the chosen one."""
    return sum(is_magpie_side(ev, p, "chosen") for p in ev.pairs or [])


def rejected_beside_magpie(ev: Evidence) -> str:
    """What DPO pushes away from where the chosen answer is the generator's: ``the rejected base-model answer``,
    or whose answer it is when the rejected answers are not base models'."""
    rejected = list(dict.fromkeys(p["rejected_model"] for p in ev.pairs or [] if is_magpie_side(ev, p, "chosen")))
    which = kind(ev, rejected)
    if not rejected or which == "base":
        return "the rejected base-model answer"
    article = {"instruct": "an instruct model"}.get(which, "base and instruct models")
    own = set(rejected) == set(target_models(ev)) and len(rejected) == 1
    return (f"the rejected answer, written by {joined([short(m) for m in rejected])} as the target ({article}"
            + (", the very model being tuned)" if own else ")"))


# --------------------------------------------------------------------------- the reward model


def reward_model(ev: Evidence) -> str | None:
    """The reward model that chose the pairs (and scores every stage's held-out answers), else the registry's."""
    recorded = (ev.preference_report or {}).get("reward") or (ev.preference_manifest or {}).get("reward") or {}
    return recorded.get("model") or next((s.id for s in ev.specs.values() if "reward" in s.roles), None)


def reward_is_stand_in(ev: Evidence) -> bool:
    """The reward model's scores come from the toy world's stand-in in a run whose other models are real. (In a
    wholly toy world every model is a stand-in, and the report says so once, up front.)"""
    world, model = ev.world or "", reward_model(ev)
    if not world or world.startswith("toy") or model is None:
        return False
    return any(spec.id == model for spec in toy_stand_ins(world, list(ev.specs.values())))


def reward_name(ev: Evidence, full: bool = True) -> str:
    """The reward model as the report names it: ``the toy stand-in of <id>`` when its scores come from one."""
    model = reward_model(ev) or "a reward model"
    name = model if full else short(model)
    return f"the toy stand-in of {name}" if reward_is_stand_in(ev) else name


def reward_stand_in_note(ev: Evidence) -> str:
    """One sentence for wherever reward scores appear (empty when the reward model is real, or all is toy)."""
    if not reward_is_stand_in(ev):
        return ""
    return (f"No real reward model is available offline, so these reward scores come from the toy stand-in of "
            f"{short(reward_model(ev) or 'the reward model')}: a tiny model trained by `sit toy-world` that tests "
            "the code path and says nothing about the answers' quality.")


# --------------------------------------------------------------------------- the generator's prompt


def pre_query_template(ev: Evidence) -> str:
    """This run's Magpie pre-query template, as the generation step recorded it or the registry's family gives it
    (newlines shown as ``\\n``); without either, where a model's own chat template puts it."""
    source = generator(ev)
    spec = ev.specs.get(source) if source else None
    text = (ev.raw_manifest or {}).get("pre_query_template") or (spec.pre_query_template if spec else None)
    if text:
        return f"for {short(source or 'the generator')} `{text.replace(chr(10), chr(92) + 'n')}`"
    if source:
        return f"for {short(source)} its own chat template up to where the user's message begins"
    return "the chat template up to where the user's message begins"
