"""What the cards say about the world their artifacts come from, beyond what the artifacts record.

A world id (``hub``, ``toy:<hash>``, ``real:<slug>@<distribution>==<version>+toy:<hash>``) says which weights
the model names stand for. A card of any world but the hub's says so at its top, in words and as the id:
which models ran from weights shipped in a package (a local GGUF file, not the hub's own weights), and which
were toy stand-ins, whose outputs and scores say nothing about quality. The registry adds what a card needs
to describe the answers: which targets are instruct models (asked through their chat template) and which
are base models (asked in a completion format).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ModelSpec, load_registry
from ..report.roles import joined
from ..session import toy_stand_ins

if TYPE_CHECKING:
    from ..session import Session

TOY_BANNER = ("> **Toy world (`{world}`).** Made by the offline toy world of Synthetic Instruction Tuner: tiny "
              "stand-in models, for testing the code path. This folder is a dry run and is never pushed to the Hub.\n")
STAND_IN = "a tiny model trained offline to test the code path"
DRY_RUN = "This folder is a dry run and is never pushed to the Hub."


@dataclass(frozen=True)
class CardWorld:
    id: str
    label: str  # the world in words: "real SmolLM2-135M-Instruct (Q4_1, dequantized), toy reward model"
    packaged: dict[str, str] = field(default_factory=dict)  # model id -> where its weights came from
    stand_ins: dict[str, tuple[str, ...]] = field(default_factory=dict)  # the run's toy stand-ins -> their roles
    targets: frozenset[str] = frozenset()  # model ids registered as targets
    instruct: frozenset[str] = frozenset()  # models asked through their chat template (no completion format)

    @property
    def hub(self) -> bool:
        return self.id == "hub"

    @property
    def toy(self) -> bool:
        """Every model is a toy stand-in."""
        return self.id.startswith("toy")

    @property
    def has_stand_ins(self) -> bool:
        return any(part.startswith("toy") for part in self.id.split("+"))

    def stand_in(self, model_id: str | None) -> bool:
        """Whether ``model_id``'s outputs came from a toy stand-in in this world."""
        return bool(model_id) and self.has_stand_ins and model_id not in self.packaged

    def banner(self) -> str:
        """The quoted paragraph at the top of every card of this world; none for the hub's."""
        if self.hub:
            return ""
        if self.toy:
            return TOY_BANNER.format(world=self.id)
        said = [f"`{model}` ran from {source}, not from the weights on its hub page."
                for model, source in self.packaged.items()]
        if self.stand_ins:
            names = joined([f"the {'/'.join(roles)} model `{model}`" for model, roles in self.stand_ins.items()])
            one = len(self.stand_ins) == 1
            scores = "reward scores" if all("reward" in roles for roles in self.stand_ins.values()) else "outputs"
            what = f"is a toy stand-in, {STAND_IN}" if one else f"are toy stand-ins, {STAND_IN}s"
            said.append(f"{names[0].upper()}{names[1:]} {what}: {'its' if one else 'their'} {scores} say nothing "
                        "about answer quality.")
        elif self.has_stand_ins:
            said.append(f"Its other models are toy stand-ins, {STAND_IN}s: their outputs say nothing about quality.")
        return f"> **Local world (`{self.id}`): {self.label}.** " + " ".join([*said, DRY_RUN]) + "\n"

    def scores_from_stand_in(self, reward: str | None) -> bool:
        """Whether the cards say, wherever ``reward``'s scores or margins appear, that a toy stand-in made them:
        in a world that mixes real and toy models. The toy world's banner already says every model is one."""
        return self.stand_in(reward) and not self.toy

    def reward_note(self, reward: str | None, scores: str = "the scores") -> str:
        """A sentence for wherever the reward model's scores or margins appear; "" when they are its own."""
        if not self.scores_from_stand_in(reward):
            return ""
        return (f"In this world (`{self.id}`) {scores} come from a toy stand-in of `{reward}`, {STAND_IN}: "
                "they say nothing about answer quality.")


def card_world(session: Session, world: str) -> CardWorld:
    """The card's view of ``world`` (the one the artifacts name). When it is the session's own world its
    words and its stand-ins come from the session's profile; otherwise from the id alone."""
    full = load_registry()
    specs = {spec.id: spec for spec in full}
    specs.update({spec.id: spec for spec in session.registry})
    packaged = {}
    for part in world.split("+"):
        if part.startswith("real:"):
            slug = part.removeprefix("real:").split("@", 1)[0]
            spec = next((s for s in full if s.slug == slug and s.weights), None)
            if spec is not None:
                packaged[spec.id] = packaged_source(spec)
    matched = world == session.world_id
    if matched:
        label = session.world_label
        stand_ins = {spec.id: spec.roles for spec in toy_stand_ins(world, session.registry)}
    else:
        label = ", ".join([f"real {m.split('/')[-1]} ({packaged_quant(specs[m])}, dequantized)" for m in packaged]
                          + ["toy stand-in models" for p in world.split("+") if p.startswith("toy")]
                          + [f"{p} models" for p in world.split("+") if not p.startswith(("toy", "real:"))])
        stand_ins = {}
    targets = frozenset(spec.id for spec in session.registry.by_role("target"))
    instruct = frozenset(model for model, spec in specs.items() if spec.instruct)
    return CardWorld(world, label, packaged, stand_ins, targets, instruct)


def packaged_quant(spec: ModelSpec) -> str:
    return Path(spec.weights["gguf"]).stem.rsplit(".", 1)[-1]


def packaged_source(spec: ModelSpec) -> str:
    return (f"its {packaged_quant(spec)} GGUF file in the `{spec.weights['distribution']}` package, dequantized "
            f"to {spec.load}")
