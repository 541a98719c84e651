"""Batched text generation behind one interface: transformers (default) or vLLM.

Reproducibility: every prompt carries its own seed. The transformers backend samples each row with
its own ``torch.Generator`` (:class:`PerRowSampler`), so an item's text does not depend on which
other prompts share its batch, how large the batch is, or where a resumed run restarted. vLLM takes
the same per-request seed natively.

Two failures are handled here for every caller: a prompt longer than the context window is trimmed
(:mod:`sit.inference.window`) and its completion marked ``prompt_trimmed``; a row whose logits turn
NaN/inf (fp16 overflow, e.g. Qwen2 on pre-Ampere GPUs) ends at once, is marked
``finish_reason="non_finite"`` with no text, and a warning names the model.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

from .window import fit_prompt, prompt_budget


@dataclass(frozen=True)
class SamplingSettings:
    """How to decode. ``temperature == 0`` means greedy."""

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    stop_token_ids: tuple[int, ...] = ()
    stop_strings: tuple[str, ...] = ()
    forbid_first_token_prefixes: tuple[str, ...] = ()

    def __post_init__(self):
        if self.max_new_tokens <= 0:
            raise ValueError(f"max_new_tokens must be > 0, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    def to_record(self) -> dict:
        """What is stored beside each generated item (JSON-friendly)."""
        out = asdict(self)
        for key in ("stop_token_ids", "stop_strings", "forbid_first_token_prefixes"):
            out[key] = list(out[key])
        return out


@dataclass
class Completion:
    text: str
    num_tokens: int
    # "stop" (end token or stop string) | "length" (hit max_new_tokens)
    # | "non_finite" (the logits turned NaN/inf: no text, leave it out of every score)
    finish_reason: str
    stop_token_id: int | None = None  # the stop token that ended it, if one did
    prompt_trimmed: bool = False  # the prompt did not fit the context window (see sit.inference.window)


@dataclass
class Prompt:
    id: str
    text: str
    seed: int
    meta: dict = field(default_factory=dict)
    # The chat that ``text`` renders, if any: a prompt too long for the window then loses its oldest
    # turns rather than its middle; the first ``keep_first`` messages (system/task prompt) always stay.
    messages: list[dict] | None = None
    keep_first: int = 0


def cut_at_stop_strings(text: str, stop_strings) -> tuple[str, bool]:
    """Cut ``text`` at the first stop string (excluded, as vLLM does).

    The start and the end of ``text`` count as line breaks, so that a stop string for a line of its own
    (a header written as text, ``"\nassistant\n"``) also matches on the first or the last line."""
    lines = "\n" + text + "\n"
    positions = [lines.find(stop) - 1 for stop in stop_strings if stop and stop in lines]
    if not positions:
        return text, False
    return text[: max(min(positions), 0)], True


class PerRowSampler:
    """A logits processor that picks each row's next token with that row's own generator.

    It returns scores that are -inf everywhere except the chosen token, so ``generate`` run
    greedily emits exactly the sampled token. Rows with temperature 0 take the argmax. At the
    first step, tokens whose text starts with a forbidden prefix (a markdown heading) are masked.
    A row whose logits hold NaN/inf is recorded in ``first_non_finite`` (row -> step) and given
    ``end_id`` (a stop token) so that it ends; the other rows are not touched."""

    def __init__(self, seeds, temperature: float, top_p: float, prompt_length: int,
                 forbidden_first_ids=None, device="cpu", end_id: int | None = None):
        import torch

        self.end_id = end_id
        self.first_non_finite: dict[int, int] = {}
        self.temperature = temperature
        self.top_p = top_p
        self.prompt_length = prompt_length
        self.forbidden = None
        if forbidden_first_ids:
            self.forbidden = torch.tensor(sorted(forbidden_first_ids), dtype=torch.long, device=device)
        self.generators = []
        for seed in seeds:
            gen = torch.Generator(device=device)
            gen.manual_seed(int(seed))
            self.generators.append(gen)

    def __call__(self, input_ids, scores):
        import torch

        scores = scores.float()
        broken = ~torch.isfinite(scores).all(dim=-1)
        if broken.any():
            step = input_ids.shape[1] - self.prompt_length
            for row in broken.nonzero().flatten().tolist():
                self.first_non_finite.setdefault(row, step)
            scores = torch.where(broken.unsqueeze(1), torch.zeros_like(scores), scores)
        if self.forbidden is not None and input_ids.shape[1] == self.prompt_length:
            scores = scores.clone()
            scores[:, self.forbidden] = float("-inf")
        if self.temperature == 0:
            chosen = scores.argmax(dim=-1)
        else:
            probs = torch.softmax(scores / self.temperature, dim=-1)
            if self.top_p < 1.0:
                probs = _top_p_filter(probs, self.top_p)
            chosen = torch.stack([
                torch.multinomial(probs[i], 1, generator=self.generators[i])[0] for i in range(probs.shape[0])
            ])
        if broken.any() and self.end_id is not None:
            chosen = torch.where(broken, torch.full_like(chosen, self.end_id), chosen)
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(1, chosen.unsqueeze(1), 0.0)
        return out


def _top_p_filter(probs, top_p: float):
    import torch

    sorted_probs, order = torch.sort(probs, descending=True, dim=-1)
    cumulative = sorted_probs.cumsum(dim=-1)
    remove = cumulative - sorted_probs > top_p  # keep the smallest set reaching top_p
    sorted_probs = sorted_probs.masked_fill(remove, 0.0)
    filtered = torch.zeros_like(probs).scatter(1, order, sorted_probs)
    return filtered / filtered.sum(dim=-1, keepdim=True)


def forbidden_first_token_ids(tokenizer, prefixes) -> list[int]:
    """Ids of tokens whose text (leading space/▁ stripped) starts with one of ``prefixes``."""
    if not prefixes:
        return []
    banned = []
    for token, tid in tokenizer.get_vocab().items():
        text = tokenizer.convert_tokens_to_string([token]).lstrip()
        if text and any(text.startswith(p) for p in prefixes):
            banned.append(tid)
    return sorted(banned)


def is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


# The decoding fields that would change what ``generate`` emits, at their neutral values: PerRowSampler
# picks every token, transformers only runs the model. transformers 5 fills each field a caller leaves unset
# from the model's own generation config (a hub file's repetition_penalty, ...). Fields whose neutral value
# is None (bad_words_ids, suppress_tokens, sequence_bias, forced tokens) cannot be pinned here: the project's
# loaders give every model a neutral config (:func:`sit.models.neutral_generation_config`) for those.
# (``min_new_tokens`` 0 also overrides any ``min_length``.)
PLAIN_DECODING = {"do_sample": False, "num_beams": 1, "num_return_sequences": 1, "repetition_penalty": 1.0,
                  "encoder_repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "encoder_no_repeat_ngram_size": 0,
                  "min_new_tokens": 0, "guidance_scale": 1.0, "remove_invalid_values": False,
                  "renormalize_logits": False, "use_cache": True}


class HFBackend:
    """``model.generate`` on left-padded batches, one seed per row.

    ``label`` names the model (and stage) in warnings; ``context_window`` overrides the model's
    ``max_position_embeddings``."""

    name = "hf"

    def __init__(self, model, tokenizer, *, label: str | None = None, context_window: int | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.label = label or getattr(model, "name_or_path", None) or type(model).__name__
        self.context_window = context_window or getattr(model.config, "max_position_embeddings", None)
        self._forbidden_cache: dict = {}

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _forbidden(self, prefixes) -> list[int]:
        key = tuple(prefixes)
        if key not in self._forbidden_cache:
            self._forbidden_cache[key] = forbidden_first_token_ids(self.tokenizer, prefixes)
        return self._forbidden_cache[key]

    def generate(self, prompts: list[Prompt], settings: SamplingSettings) -> list[Completion]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        tok = self.tokenizer
        budget = prompt_budget(self.context_window, settings.max_new_tokens)
        fitted = [fit_prompt(p, budget, tok) for p in prompts]
        batch = tok([p.text for p, _ in fitted], return_tensors="pt", padding=True, add_special_tokens=False)
        batch = {k: v.to(self.model.device) for k, v in batch.items()}
        prompt_length = batch["input_ids"].shape[1]
        sampler = PerRowSampler(
            [p.seed for p in prompts], settings.temperature, settings.top_p, prompt_length,
            self._forbidden(settings.forbid_first_token_prefixes), device=self.model.device,
            end_id=settings.stop_token_ids[0] if settings.stop_token_ids else None,
        )
        config = GenerationConfig(
            max_new_tokens=settings.max_new_tokens, eos_token_id=list(settings.stop_token_ids) or None,
            pad_token_id=tok.pad_token_id, stop_strings=list(settings.stop_strings) or None, **PLAIN_DECODING,
        )
        with torch.inference_mode():
            output = self.model.generate(
                **batch, generation_config=config, logits_processor=LogitsProcessorList([sampler]),
                tokenizer=tok if settings.stop_strings else None,
            )
        completions = [self._completion(row[prompt_length:].tolist(), settings, sampler.first_non_finite.get(i))
                       for i, row in enumerate(output)]
        for completion, (_, trimmed) in zip(completions, fitted, strict=True):
            completion.prompt_trimmed = trimmed
        broken = sum(c.finish_reason == "non_finite" for c in completions)
        if broken:
            warnings.warn(f"{self.label}: {broken} of {len(prompts)} generations had non-finite logits (NaN/inf, "
                          "an fp16 overflow?); they are marked 'non_finite' and left out of scores",
                          RuntimeWarning, stacklevel=2)
        return completions

    def _completion(self, new_ids: list[int], settings: SamplingSettings, non_finite_step: int | None = None
                    ) -> Completion:
        stops = set(settings.stop_token_ids)
        kept, stopped = [], None
        for tid in new_ids:
            if tid in stops:
                stopped = tid
                break
            kept.append(tid)
        else:
            # No stop token: trailing pads are padding only if a stop string ended the row.
            while kept and kept[-1] == self.tokenizer.pad_token_id and self.tokenizer.pad_token_id not in stops:
                kept.pop()
        if non_finite_step is not None and non_finite_step < len(kept) + (stopped is not None):
            return Completion(text="", num_tokens=non_finite_step, finish_reason="non_finite")
        text = self.tokenizer.decode(kept, skip_special_tokens=True)
        text, by_string = cut_at_stop_strings(text, settings.stop_strings)
        # num_tokens counts what was generated (a stop string's own tokens included).
        return Completion(text=text.strip(), num_tokens=len(kept), stop_token_id=stopped,
                          finish_reason="stop" if stopped is not None or by_string else "length")


def vllm_sampling_kwargs(settings: SamplingSettings, seed: int) -> dict:
    """The ``vllm.SamplingParams`` arguments equivalent to ``settings`` for one request."""
    return {
        "n": 1,
        "temperature": float(settings.temperature),
        "top_p": float(settings.top_p),
        "max_tokens": int(settings.max_new_tokens),
        "stop": list(settings.stop_strings),
        "stop_token_ids": list(settings.stop_token_ids),
        "seed": int(seed),
        "skip_special_tokens": True,
        "repetition_penalty": 1.0,
    }


class VLLMBackend:
    """vLLM behind the same interface (GPU only; 5-10x faster there). Import is lazy.

    vLLM has no per-request first-token ban; the Magpie sanitizer strips a leading heading instead."""

    name = "vllm"

    def __init__(self, model_source: str, tokenizer, *, dtype: str = "float16", quantized: bool = False,
                 max_model_len: int = 4096, seed: int = 0, tensor_parallel_size: int = 1,
                 data_parallel_size: int = 1):
        try:
            from vllm import LLM
        except ImportError as exc:
            raise RuntimeError("backend 'vllm' needs vLLM: pip install vllm (on a CUDA runtime), "
                               "or use the default backend 'hf'") from exc
        from .parallel import Parallelism, vllm_engine_kwargs

        self.tokenizer = tokenizer
        self.context_window = max_model_len
        kwargs = {"model": model_source, "dtype": dtype, "max_model_len": max_model_len, "seed": seed,
                  **vllm_engine_kwargs(Parallelism(tensor_parallel_size, data_parallel_size))}
        if quantized:
            kwargs["quantization"] = "bitsandbytes"
        self.llm = LLM(**kwargs)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, prompts: list[Prompt], settings: SamplingSettings) -> list[Completion]:
        from vllm import SamplingParams, TokensPrompt

        budget = prompt_budget(self.context_window, settings.max_new_tokens)
        fitted = [fit_prompt(p, budget, self.tokenizer) for p in prompts]
        requests = [TokensPrompt(prompt_token_ids=self.tokenizer(p.text, add_special_tokens=False)["input_ids"])
                    for p, _ in fitted]
        params = [SamplingParams(**vllm_sampling_kwargs(settings, p.seed)) for p in prompts]
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        completions = [completion_from_vllm(o.outputs[0]) for o in outputs]
        for completion, (_, trimmed) in zip(completions, fitted, strict=True):
            completion.prompt_trimmed = trimmed
        return completions


def completion_from_vllm(output) -> Completion:
    reason = "length" if output.finish_reason == "length" else "stop"
    return Completion(text=output.text.strip(), num_tokens=len(output.token_ids), finish_reason=reason)
