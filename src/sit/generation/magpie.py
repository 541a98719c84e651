"""Magpie: an aligned chat model, given only the chat template up to the user's turn (the
"pre-query template"), writes a plausible user instruction; wrapped as a real user turn, the
instruction is then answered by the same model.

Outputs in ``<workspace>/data/raw/``: ``instructions.jsonl`` (stage 1), ``magpie.jsonl`` (the final
records) and ``manifest.json``. Both stages resume exactly where a killed run stopped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ConfigError, ModelSpec, resolve_settings
from ..inference.engine import Completion, HFBackend, Prompt, SamplingSettings, VLLMBackend
from ..inference.runner import StageStats, run_stage
from ..manifest import read_manifest, write_manifest
from ..runtime import derive_seed
from ..store import JsonlStore

if TYPE_CHECKING:
    from ..session import Session

PHASE = "01_magpie_generation"
INSTRUCTIONS_FILE = "instructions.jsonl"
OUTPUT_FILE = "magpie.jsonl"
BACKENDS = ("hf", "vllm")

# Sanitizing (after the official Magpie scripts): a leading label or numbering is dropped, and the
# text is cut where the model starts answering its own question.
_PREFIX = re.compile(
    r"^\s*(?:#+\s*)?(?:(?:task|question|instruction|query|prompt|user|q\d*)\s*[:.)-]|\d+\s*[.)]|[-*]\s)\s*",
    re.IGNORECASE,
)
_ANSWER_MARKERS = ("Answer:", "Solution:", "Response:", "Output:", "## Step 1", "### Step 1", "Step 1:")


def sanitize_instruction(raw: str) -> str:
    text = raw.strip()
    for _ in range(3):  # "Task: Q1. ..." has two prefixes
        stripped = _PREFIX.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    cuts = [text.find(m) for m in _ANSWER_MARKERS if m in text]
    if cuts:
        text = text[: min(cuts)]
    return text.strip()


def pre_query_prompt(spec: ModelSpec, tokenizer, system_prompt: str | None = None) -> str:
    """The registered pre-query template; without one (or with a system prompt), the chat template rendered up to
    where the user's message starts (a placeholder marks it). A model's own template (``chat_template: native``)
    that inserts a default system prompt when none is given (SmolLM2's, Qwen2.5's) keeps it: that is the context
    the model was tuned in."""
    require_pre_query_template(spec)
    if spec.pre_query_template and not system_prompt:
        return spec.pre_query_template
    marker = "\x00USER\x00"
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    rendered = tokenizer.apply_chat_template([*messages, {"role": "user", "content": marker}], tokenize=False)
    return rendered[: rendered.index(marker)]


def require_pre_query_template(spec: ModelSpec) -> None:
    # Only a template the model was tuned on implies a pre-query template; one the project installs on a base
    # model (Mistral-7B-v0.1's) does not.
    if not spec.pre_query_template and spec.chat_template_name != "native":
        raise ConfigError(
            f"model '{spec.id}' (family '{spec.family}') has no Magpie pre-query template and no chat template of "
            f"its own to derive one from. Register one as `pre_query_template` under families.{spec.family} in "
            "configs/models.yaml: the chat template's text up to where the user's message begins."
        )


def response_prompt(tokenizer, instruction: str, system_prompt: str | None = None) -> str:
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages.append({"role": "user", "content": instruction})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _token_ids(tokenizer, tokens) -> tuple[int, ...]:
    ids = []
    for token in tokens:
        tid = tokenizer.convert_tokens_to_ids(token)
        if tid is not None and tid != tokenizer.unk_token_id:
            ids.append(tid)
    return tuple(ids)


def instruction_settings(spec: ModelSpec, tokenizer, cfg: dict) -> SamplingSettings:
    family = spec.family_spec
    return SamplingSettings(
        max_new_tokens=int(cfg["max_new_tokens_instruction"]),
        temperature=float(cfg["instruction_temperature"]),
        top_p=float(cfg["instruction_top_p"]),
        stop_token_ids=_token_ids(tokenizer, family.get("instruction_stop_tokens", [])),
        stop_strings=tuple(family.get("instruction_stop_strings", [])),
        forbid_first_token_prefixes=tuple(family.get("forbid_first_token_prefixes", [])),
    )


def response_settings(spec: ModelSpec, tokenizer, cfg: dict) -> SamplingSettings:
    from ..models import stop_token_ids

    return SamplingSettings(
        max_new_tokens=int(cfg["max_new_tokens_response"]),
        temperature=float(cfg["response_temperature"]),
        top_p=float(cfg["response_top_p"]),
        stop_token_ids=tuple(stop_token_ids(spec, tokenizer)),
    )


@dataclass
class MagpieResult:
    path: Path
    records: list[dict]
    instruction_stats: StageStats | None
    response_stats: StageStats | None

    @property
    def counts(self) -> dict:
        return magpie_counts(self.records)


def magpie_counts(records: list[dict]) -> dict:
    reasons = [r["finish_reason"] for r in records]
    return {
        "records": len(records),
        "empty_instructions": sum(f["instruction"] == "empty" for f in reasons),
        "truncated_instructions": sum(f["instruction"] == "length" for f in reasons),
        "truncated_responses": sum(f["response"] == "length" for f in reasons),
    }


def _validate(cfg: dict) -> None:
    for key in ("num_instructions", "batch_size", "checkpoint_every", "max_new_tokens_instruction",
                "max_new_tokens_response"):
        value = cfg[key]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"generation.{key} must be a whole number > 0, got {value!r}")


def _fingerprint(spec: ModelSpec, session: Session, cfg: dict, backend: str) -> dict:
    """What decides the content: a resumed run must match it exactly."""
    keys = ("instruction_temperature", "instruction_top_p", "max_new_tokens_instruction",
            "response_temperature", "response_top_p", "max_new_tokens_response", "system_prompt")
    return {"generator": spec.id, "world": session.world_id, "seed": session.seed, "backend": backend,
            **{k: cfg[k] for k in keys},
            "instruction_stop_strings": list(spec.family_spec.get("instruction_stop_strings", []))}


def _check_resume(raw_dir: Path, fingerprint: dict) -> None:
    manifest = read_manifest(raw_dir)
    if manifest is None or manifest.get("fingerprint") == fingerprint:
        return
    old = manifest.get("fingerprint", {})
    diff = {k: (old.get(k), v) for k, v in fingerprint.items() if old.get(k) != v}
    changes = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())
    raise ConfigError(
        f"{raw_dir} already holds a Magpie run made with other settings ({changes}). Refusing to mix "
        f"them. To start fresh, delete {raw_dir / INSTRUCTIONS_FILE}, {raw_dir / OUTPUT_FILE} and "
        f"{raw_dir / 'manifest.json'}, or use another workspace."
    )


def make_backend(name: str, spec: ModelSpec, profile: dict):
    """Load the generator behind the chosen backend; returns (backend, tokenizer)."""
    from ..models import load_decoding_lm, load_tokenizer, model_source

    if name not in BACKENDS:
        raise ConfigError(f"unknown backend '{name}' (known: {', '.join(BACKENDS)})")
    tokenizer = load_tokenizer(spec, profile)
    if name == "vllm":
        quantized = bool(profile.get("quantize")) and spec.load == "nf4"
        return VLLMBackend(model_source(spec, profile), tokenizer, dtype=profile.get("dtype", "float16"),
                           quantized=quantized, seed=int(profile["seed"])), tokenizer
    return HFBackend(load_decoding_lm(spec, profile, tokenizer=tokenizer), tokenizer), tokenizer


def generate(session: Session, *, generator: str | None = None, backend: str = "hf", progress: bool = True,
             **overrides) -> MagpieResult:
    """Run (or resume) both Magpie stages into ``<workspace>/data/raw/``.

    ``overrides`` are keys of the profile's ``generation`` section (e.g. ``num_instructions=200``)."""
    cfg = resolve_settings("generation", session.section("generation"), overrides=overrides)
    _validate(cfg)
    if generator is None:
        generator = session.registry.by_role("generator")[0].id
    spec = session.model(generator, role="generator")
    require_pre_query_template(spec)  # before any model is loaded
    raw_dir = session.workspace.raw_dir
    out_store = JsonlStore(raw_dir / OUTPUT_FILE)
    fingerprint = _fingerprint(spec, session, cfg, backend)
    _check_resume(raw_dir, fingerprint)
    n = cfg["num_instructions"]
    done = out_store.read()
    if len(done) > n:
        raise ConfigError(f"{out_store.path} already holds {len(done)} records, more than the {n} asked for; "
                          "ask for at least that many or start fresh in another workspace")
    ids = [f"magpie-{i:05d}" for i in range(n)]
    if {r["id"] for r in done} >= set(ids):
        return MagpieResult(out_store.path, _in_order(done, ids), None, None)  # finished: a no-op

    started = session.step_started(PHASE)
    extra = {"fingerprint": fingerprint, "status": "running", "generator": spec.id}
    write_manifest(raw_dir, phase=PHASE, profile=session.profile_name, config=cfg,
                   seed=session.seed, counts={}, started_at=started, extra=extra, run=session.run_id)
    engine, tokenizer = make_backend(backend, spec, session.profile)
    # what the generator was given, as text: the report names it (a model's own template is rendered here)
    extra["pre_query_template"] = pre_query_prompt(spec, tokenizer, cfg.get("system_prompt"))
    instructions, istats = _instruction_stage(engine, tokenizer, spec, session, cfg, ids, raw_dir, progress)
    records, rstats = _response_stage(engine, tokenizer, spec, session, cfg, instructions, out_store, progress)
    result = MagpieResult(out_store.path, records, istats, rstats)
    extra["status"] = "complete"
    notes = {name: stats.note() for name, stats in (("instructions", istats), ("responses", rstats)) if stats}
    extra["notes"] = {name: note for name, note in notes.items() if note}  # a halved batch, trimmed prompts, NaN/inf
    write_manifest(raw_dir, phase=PHASE, profile=session.profile_name, config=cfg,
                   seed=session.seed, counts=result.counts, started_at=started, extra=extra, run=session.run_id)
    return result


def _in_order(records: list[dict], ids: list[str]) -> list[dict]:
    by_id = {r["id"]: r for r in records}
    return [by_id[i] for i in ids]


def _instruction_stage(engine, tokenizer, spec, session: Session, cfg, ids, raw_dir, progress):
    settings = instruction_settings(spec, tokenizer, cfg)
    template = pre_query_prompt(spec, tokenizer, cfg.get("system_prompt"))
    prompts = [Prompt(id=i, text=template, seed=derive_seed(session.seed, "instruction", i)) for i in ids]

    def record(prompt: Prompt, completion: Completion) -> dict:
        cleaned = sanitize_instruction(completion.text)
        reason = "empty" if not cleaned else completion.finish_reason
        return {"id": prompt.id, "raw_instruction": completion.text, "instruction": cleaned,
                "instruction_tokens": completion.num_tokens, "finish_reason": reason}

    return run_stage(JsonlStore(raw_dir / INSTRUCTIONS_FILE), prompts, engine, settings, make_record=record,
                     batch_size=cfg["batch_size"], checkpoint_every=cfg["checkpoint_every"], bucket=False,
                     desc="instructions", progress=progress)


def _response_stage(engine, tokenizer, spec, session: Session, cfg, instructions, out_store, progress):
    settings = response_settings(spec, tokenizer, cfg)
    gen = {"instruction": instruction_settings(spec, tokenizer, cfg).to_record(), "response": settings.to_record(),
           "system_prompt": cfg.get("system_prompt"), "seed": session.seed}
    by_id = {r["id"]: r for r in instructions}

    def record(prompt: Prompt, completion: Completion | None) -> dict:
        inst = by_id[prompt.id]
        return {
            "id": inst["id"], "instruction": inst["instruction"], "raw_instruction": inst["raw_instruction"],
            "response": completion.text if completion else "", "generator": spec.id, "gen": gen,
            "instruction_tokens": inst["instruction_tokens"],
            "response_tokens": completion.num_tokens if completion else 0,
            "finish_reason": {"instruction": inst["finish_reason"],
                              "response": completion.finish_reason if completion else "skipped"},
        }

    # Empty instructions are recorded (never silently dropped) but not answered.
    empty = [Prompt(id=r["id"], text="", seed=0) for r in instructions if not r["instruction"]]
    stored = out_store.ids()
    out_store.append([record(p, None) for p in empty if p.id not in stored])
    prompts = [Prompt(id=r["id"], text=response_prompt(tokenizer, r["instruction"], cfg.get("system_prompt")),
                      seed=derive_seed(session.seed, "response", r["id"]))
               for r in instructions if r["instruction"]]
    _, stats = run_stage(out_store, prompts, engine, settings, make_record=record, batch_size=cfg["batch_size"],
                         checkpoint_every=cfg["checkpoint_every"], bucket=True, desc="responses",
                         progress=progress)
    return _in_order(out_store.read(), [r["id"] for r in instructions]), stats
