"""The LLM agent: a model stage (or the reference generator) answering every live episode in one batch.

Stages are loaded as every phase loads them (:func:`sit.stages.load_stage`). The registry's generator is the reference
agent (an instruct model). Decoding is greedy; the conversation is rendered with the tokenizer's chat
template (the base stage: in its completion format, stopped at phase 03's stop set, as in every benchmark,
see :mod:`sit.preference.base_prompting`); the shared engine trims it to the context window minus the reply
length, oldest rounds first (:mod:`sit.inference.window`), and each turn records whether its prompt was trimmed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ConfigError
from ..inference.engine import HFBackend, Prompt, SamplingSettings
from ..inference.runner import BatchLimit, generate_with_retry
from ..inference.window import fit_prompt
from ..models import load_decoding_lm, load_tokenizer, stop_token_ids
from ..preference.base_prompting import base_note, base_stops, completion_template
from ..runtime import derive_seed
from ..stages import check_stage, load_stage, require_stage
from ..workspace import TRAINING_STAGES
from .prompting import blocks, ordered

if TYPE_CHECKING:
    from ..session import Session

REFERENCE = "reference"


def stage_of(session: Session, model_name: str, stage: str) -> tuple[object, str]:
    """(registry spec, stage label). The generator plays as the ``reference`` stage; a model that is also a
    target (an instruct model in every role) plays its trained stages as a target, and ``reference`` only when
    asked for by name."""
    spec = session.registry.get(model_name)
    if stage == REFERENCE or ("generator" in spec.roles and "target" not in spec.roles):
        if "generator" not in spec.roles:
            raise ConfigError(f"model '{model_name}' is not the generator, so it has no '{REFERENCE}' stage "
                              "(its stages: base, sft, dpo)")
        return session.model(model_name, role="generator"), REFERENCE
    if "target" not in spec.roles:
        raise ConfigError(f"model '{model_name}' is neither a target nor the generator; agents are "
                          f"{', '.join(s.id for s in session.registry.by_role('target'))} or the generator")
    check_stage(stage)
    return session.model(model_name, role="target"), stage


def adapter_identity(session: Session, model_name: str, stage: str) -> str | None:
    """A hash of the stage's adapter weights (another training run is another agent), None for base."""
    if stage in ("base", REFERENCE):
        return None
    folder = _require_stage(session, model_name, stage)
    weights = Path(folder) / "adapter_model.safetensors"
    digest = hashlib.sha256()
    with open(weights, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _require_stage(session: Session, model_name: str, stage: str):
    try:
        return require_stage(session, model_name, stage)
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from None


def load_agent_model(session: Session, model_name: str, stage: str):
    """(model, tokenizer) in eval mode with left padding and the chat template installed."""
    spec, stage = stage_of(session, model_name, stage)
    if stage in TRAINING_STAGES:
        _require_stage(session, model_name, stage)
    if stage != REFERENCE:
        return load_stage(session, model_name, stage)
    tokenizer = load_tokenizer(spec, session.profile)
    return load_decoding_lm(spec, session.profile, tokenizer=tokenizer), tokenizer


class LLMAgent:
    def __init__(self, model, tokenizer, spec, *, mode: str, context_window: int | None, max_new_tokens: int,
                 seed: int, stage: str | None = None):
        self.name = "llm"
        self.tokenizer = tokenizer
        self.asked = base_note(spec) if stage == "base" else ""  # how base was prompted, for the results note
        if stage == "base":
            tokenizer.chat_template = completion_template(spec) or tokenizer.chat_template
            stops, strings = base_stops(spec, tokenizer)
        else:
            stops, strings = tuple(stop_token_ids(spec, tokenizer)), ()
        self.backend = HFBackend(model, tokenizer, label=spec.id, context_window=context_window)
        self.mode = mode
        window = self.backend.context_window or 4096
        self.budget = window - max_new_tokens
        if self.budget <= 0:
            raise ConfigError(f"agent.context_window {window} leaves no room for max_new_tokens {max_new_tokens}")
        self.settings = SamplingSettings(max_new_tokens=max_new_tokens, temperature=0.0, stop_token_ids=stops,
                                         stop_strings=strings)
        self.seed = seed
        self.batch = BatchLimit()  # halved after an out-of-memory error, for every later round
        self.prompts = self.trimmed = self.non_finite = 0

    def _prompt(self, state) -> Prompt:
        messages = ordered(blocks(self.mode, state.turns, state.observation, state.available), self.mode)
        keep_first = 0 if self.mode == "observation" else 2  # the task prompt and its "Ok." stay
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return Prompt(id=f"{state.goal['id']}-{len(state.turns)}", text=text, messages=messages,
                      keep_first=keep_first, seed=derive_seed(self.seed, "agent", state.goal["id"], len(state.turns)))

    def prompt_text(self, state) -> str:
        """The prompt the model gets for this state (trimmed to the window as the engine trims it)."""
        return fit_prompt(self._prompt(state), self.budget, self.tokenizer)[0].text

    def replies(self, states) -> list[str]:
        completions = generate_with_retry(self.backend, [self._prompt(s) for s in states], self.settings, self.batch)
        self.prompts += len(completions)
        self.trimmed += sum(c.prompt_trimmed for c in completions)
        self.non_finite += sum(c.finish_reason == "non_finite" for c in completions)
        return [c.text for c in completions]

    def note(self) -> str:
        """What the results note says about this run's generation: how base was asked, what went wrong (if anything)."""
        parts = [self.asked, self.batch.note()]
        if self.trimmed:
            parts.append(f"{self.trimmed} of {self.prompts} prompts longer than the context window trimmed "
                         "(oldest rounds first)")
        if self.non_finite:
            parts.append(f"{self.non_finite} replies with non-finite logits (NaN/inf) counted as invalid")
        return "; ".join(p for p in parts if p)
