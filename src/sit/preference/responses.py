"""A target (base) model answers every filtered instruction, resumably.

A base model has no chat training yet, so it is prompted with its registered completion format
(``prompt_format``, e.g. Alpaca's ``### Instruction: … ### Response:``). It tends to go on with the
next made-up example, so generation also stops at the format's next-example marker. A target that is
already an instruct model (no ``prompt_format``; its own chat template) is asked through that template.

Output: ``<workspace>/data/preference/responses/<model-slug>.jsonl``, one record per instruction id.
Every record carries the settings that produced it (``gen``); a file made with other settings or by
another model is refused rather than mixed. The model is freed (and, on CUDA, the freed memory
reported) before the function returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ConfigError, ModelSpec
from ..inference.engine import Completion, HFBackend, Prompt, SamplingSettings
from ..inference.runner import StageStats, run_stage, session_batch_limit
from ..models import load_decoding_lm, load_tokenizer, release_memory, stop_token_ids
from ..runtime import derive_seed
from ..store import JsonlStore, write_json_atomic
from .inputs import PHASE, preference_settings, read_filtered

if TYPE_CHECKING:
    from ..session import Session

# Markers a base model writes when it starts the next example of its prompt format.
NEXT_EXAMPLE_MARKERS = ("### Instruction",)


@dataclass
class ResponsesResult:
    """Answers of one model, in filtered-set order, with generation stats and the memory report."""

    model: str
    path: Path
    records: list[dict]
    stats: StageStats | None  # None when every answer was already stored
    memory: dict | None = None

    @property
    def note(self) -> str:
        """What went wrong while generating (a halved batch, trimmed prompts, NaN/inf), "" if nothing."""
        return self.stats.note() if self.stats else ""


def require_prompt_format(spec: ModelSpec) -> str | None:
    """The completion format a base target is asked in; None for an instruct target (no ``prompt_format``, a
    chat template of its own), which is asked through its chat template."""
    template = spec.prompt_format
    if template is None and spec.chat_template_name:
        return None
    if not template or "{instruction}" not in template:
        raise ConfigError(
            f"model '{spec.id}' has no usable prompt_format (a completion format containing '{{instruction}}'); "
            "register one under `prompt_format` in configs/models.yaml"
        )
    return template


def completion_prompt(template: str, instruction: str, bos_token: str | None) -> str:
    """The base-model prompt: BOS (the engine adds no special tokens) + the format, instruction filled in."""
    return (bos_token or "") + template.replace("{instruction}", instruction)


def stop_strings(template: str) -> tuple[str, ...]:
    """The next-example markers that occur in this prompt format."""
    return tuple(m for m in NEXT_EXAMPLE_MARKERS if m in template)


def fingerprint(spec: ModelSpec, session: Session, cfg: dict) -> dict:
    """What decides the answers; stored in every record as ``gen`` and compared on resume."""
    template = require_prompt_format(spec)
    return {"model": spec.id, "world": session.world_id, "seed": session.seed, "backend": "hf",
            "prompt_format": template, "stop_strings": list(stop_strings(template or "")),
            "max_new_tokens": cfg["max_new_tokens_response"], "temperature": float(cfg["response_temperature"]),
            "top_p": 1.0}


def check_resume(path: Path, stored: list[dict], gen: dict, filtered: dict[str, str]) -> None:
    """Refuse to add to a file written by another model, with other settings, or for other instructions."""
    fresh = f"To start fresh, delete {path} (or use another workspace)."
    for record in stored:
        if record.get("gen") != gen:
            old = record.get("gen") or {}
            changes = ", ".join(f"{k}: {old.get(k)!r} -> {v!r}" for k, v in gen.items() if old.get(k) != v)
            raise ConfigError(f"{path} holds answers made with other settings ({changes}). Refusing to mix them. "
                              + fresh)
        if record["id"] in filtered and filtered[record["id"]] != record["instruction"]:
            raise ConfigError(f"{path}: the answer stored for {record['id']!r} is for another instruction (the "
                              "filtered set changed since). Refusing to mix them. " + fresh)


def sampling_settings(spec: ModelSpec, tokenizer, gen: dict) -> SamplingSettings:
    return SamplingSettings(max_new_tokens=gen["max_new_tokens"], temperature=gen["temperature"],
                            top_p=gen["top_p"], stop_token_ids=tuple(stop_token_ids(spec, tokenizer)),
                            stop_strings=tuple(gen["stop_strings"]))


def respond(session: Session, model_name: str, *, progress: bool = True, **overrides) -> ResponsesResult:
    """Answer every filtered instruction with one target model (resumes; a finished run is a no-op).

    ``overrides`` are keys of the profile's ``preference`` section (e.g. ``batch_size=4``)."""
    session.step_started(PHASE)  # the pairs' manifest times the step from here
    cfg = preference_settings(session, overrides)
    spec = session.model(model_name, role="target")
    gen = fingerprint(spec, session, cfg)
    filtered = read_filtered(session)
    path = session.workspace.responses_file(spec.slug)
    store = JsonlStore(path)
    stored = store.read()
    check_resume(path, stored, gen, {r["id"]: r["instruction"] for r in filtered})
    done = {r["id"]: r for r in stored}
    ids = [r["id"] for r in filtered]
    if all(i in done for i in ids):
        return ResponsesResult(spec.id, path, [done[i] for i in ids], None)
    records, stats, loaded = _generate(session, spec, gen, cfg, filtered, store, progress)
    memory = free_memory(loaded, verbose=progress)
    result = ResponsesResult(spec.id, path, records, stats, memory)
    write_json_atomic(note_file(path), {"model": spec.id, "note": result.note})
    if progress and result.note:
        print(f"answers of {spec.id}: {result.note}")
    return result


def note_file(responses: Path) -> Path:
    """Beside a model's answers: what went wrong while generating them (the pairs report collects it)."""
    return responses.with_name(responses.stem + ".note.json")


def _generate(session: Session, spec, gen, cfg, filtered, store, progress) -> tuple[list[dict], StageStats, int | None]:
    """Load the model and run the resumable stage; every reference to the model dies with this frame.

    Also returns the CUDA memory allocated while the model was still loaded (None without CUDA)."""
    tokenizer = load_tokenizer(spec, session.profile)
    backend = HFBackend(load_decoding_lm(spec, session.profile, tokenizer=tokenizer), tokenizer, label=spec.id)
    settings = sampling_settings(spec, tokenizer, gen)
    by_id = {r["id"]: r for r in filtered}
    def prompt_text(instruction: str) -> str:
        if gen["prompt_format"] is None:
            return tokenizer.apply_chat_template([{"role": "user", "content": instruction}], tokenize=False,
                                                 add_generation_prompt=True)
        return completion_prompt(gen["prompt_format"], instruction, tokenizer.bos_token)

    prompts = [Prompt(id=r["id"], text=prompt_text(r["instruction"]),
                      seed=derive_seed(session.seed, "preference-response", spec.slug, r["id"]))
               for r in filtered]

    def record(prompt: Prompt, completion: Completion) -> dict:
        return {"id": prompt.id, "instruction": by_id[prompt.id]["instruction"], "response": completion.text,
                "model": spec.id, "response_tokens": completion.num_tokens,
                "finish_reason": completion.finish_reason, "gen": gen}

    records, stats = run_stage(store, prompts, backend, settings, make_record=record,
                               batch_size=cfg["batch_size"], checkpoint_every=cfg["checkpoint_every"], bucket=True,
                               desc=f"answers {spec.slug}", progress=progress,
                               batch_limit=session_batch_limit(session, f"answers {spec.slug}"))
    return records, stats, cuda_allocated()


def cuda_allocated() -> int | None:
    import torch

    return torch.cuda.memory_allocated() if torch.cuda.is_available() else None


def free_memory(loaded: int | None = None, *, verbose: bool = True) -> dict:
    """Collect dropped models; on CUDA, print the allocated memory with the model loaded and after release."""
    report = {"cuda_allocated_with_model": loaded, **release_memory()}
    if verbose and report["cuda_allocated_after"] is not None:
        gib = {k: (v / 2**30 if v is not None else float("nan")) for k, v in report.items()}
        print(f"GPU memory allocated: {gib['cuda_allocated_with_model']:.2f} GiB with the model loaded, "
              f"{gib['cuda_allocated_after']:.2f} GiB after releasing it")
    return report
