"""The model a trainer gets: the base model as the registry loads it, LoRA, and trainable chat-token rows.

Chat tokens. A base model may never have trained the special tokens its chat template writes
(Llama-3 base: ``<|eot_id|>`` and the header tokens), so after SFT it would still not stop. Their
embedding rows are trained with PEFT's ``trainable_token_indices``: only those rows, saved inside the
adapter, so ``AutoPeftModelForCausalLM`` restores them. With tied embeddings (Llama-3.2-3B,
Qwen2.5-3B) PEFT wraps the LM head too and its ``weight`` is the merged matrix, the one TRL's fused
LM head multiplies with; so the trained rows reach the loss on the output side as well as the input
side. That fused head also reads ``lm_head.bias``, which PEFT's wrapper does not forward (PEFT
#3688); :func:`expose_lm_head_bias` forwards it.

dtypes. TRL casts the trainable parameters of a quantized model to bf16; a T4 trains in fp16 with a
gradient scaler, which cannot unscale bf16 gradients. :func:`upcast_trainable` puts them back in
fp32 after the trainer is built.
"""

from __future__ import annotations

from ..config import ConfigError, ModelSpec
from ..models import load_causal_lm
from .chat import template_special_tokens


def chat_token_ids(tokenizer) -> list[int]:
    return tokenizer.convert_tokens_to_ids(template_special_tokens(tokenizer))


def require_distinct_pad(spec: ModelSpec, tokenizer) -> None:
    """Padding is masked out of the loss, so a pad that is also the token that ends a turn is never learned as
    one: the model would not learn to stop. Many instruct tokenizers ship pad = eos = end of turn (SmolLM2's is
    ``<|im_end|>``); the registry's ``pad_token`` gives another. (Qwen's pad = eos ``<|endoftext|>`` is fine: its
    turns end with ``<|im_end|>``.)"""
    if tokenizer.pad_token == (spec.eot_token or tokenizer.eos_token):
        raise ConfigError(f"model '{spec.id}': its pad token {tokenizer.pad_token!r} is also the token that ends "
                          "its turns, and padding is left out of the loss, so SFT would never teach it to stop. "
                          "Register a distinct `pad_token` (a special token it does not use in chats, e.g. "
                          "<|endoftext|> for ChatML models) in configs/models.yaml.")


def load_base_for_training(spec: ModelSpec, profile: dict, *, gradient_checkpointing: bool):
    """The registry's base model (nf4 where the profile quantizes), ready for k-bit training."""
    model = load_causal_lm(spec, profile)
    model.config.use_cache = False
    if getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    return model


def lora_config(spec: ModelSpec, cfg: dict, token_ids: list[int] | None):
    """LoRA on the configured modules; the chat-token rows when ``token_ids`` is given."""
    from peft import LoraConfig

    targets = list(cfg.get("lora_targets") or spec.lora_targets)
    if not targets:
        raise ConfigError(f"model '{spec.id}': no LoRA target modules (training.sft.lora_targets)")
    extra = {}
    if token_ids:
        extra["trainable_token_indices"] = {"embed_tokens": sorted(token_ids)}
        if not spec.arch.get("tie_embeddings", False):
            extra["trainable_token_indices"]["lm_head"] = sorted(token_ids)
    return LoraConfig(r=int(cfg["lora_r"]), lora_alpha=int(cfg["lora_alpha"]), lora_dropout=float(cfg["lora_dropout"]),
                      target_modules=targets, bias="none", task_type="CAUSAL_LM", **extra)


def init_untrained_rows(model, tokenizer, spec: ModelSpec) -> dict[str, str]:
    """Give the rows the base checkpoint never trained (``untrained_tokens``) a useful start, in place.

    The end-of-turn row starts as a copy of the end-of-text row: the base model already ends a text
    with that token, so its sense of "the answer is over" carries over and training only has to tell
    the two apart. The other rows (role headers) start at the mean row. Returns token -> origin."""
    import torch

    if not spec.untrained_tokens:
        return {}
    vocab = tokenizer.get_vocab()
    missing = [t for t in spec.untrained_tokens if t not in vocab]
    if missing:
        raise ConfigError(f"model '{spec.id}': untrained_tokens {missing} are not in its vocabulary")
    eos = tokenizer.eos_token_id
    origins = {}
    matrices = [model.get_input_embeddings().weight]
    head = model.get_output_embeddings()
    if head is not None and head.weight is not matrices[0]:
        matrices.append(head.weight)
    with torch.no_grad():
        for weight in matrices:
            mean = weight.float().mean(dim=0).to(weight.dtype)
            for token in spec.untrained_tokens:
                row = vocab[token]
                if token == spec.eot_token and eos is not None and row != eos:
                    weight[row] = weight[eos]
                    origins[token] = tokenizer.eos_token
                else:
                    weight[row] = mean
                    origins[token] = "mean"
    return origins


def expose_lm_head_bias(model) -> None:
    """Let ``lm_head.bias`` resolve on PEFT's trainable-tokens wrapper (None for these models' heads)."""
    head = model.get_output_embeddings()
    if head is None or "bias" in vars(head) or "bias" in getattr(head, "_parameters", {}):
        return
    try:
        head.bias  # noqa: B018 - probing whether the wrapper resolves it
    except AttributeError:
        original = getattr(head, "original_module", None) or getattr(head, "base_layer", None)
        object.__setattr__(head, "bias", getattr(original, "bias", None))


def upcast_trainable(model) -> dict[str, int]:
    """Trainable parameters to fp32 (in place); returns how many tensors had another dtype."""
    import torch

    changed: dict[str, int] = {}
    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            changed[str(param.dtype)] = changed.get(str(param.dtype), 0) + 1
            param.data = param.data.float()
    return changed


def ready_to_train(trainer, hook=None):
    """What every trainer gets once built: the head's bias forwarded, trainable weights in fp32, then
    ``hook`` (tests inspect the model right before training)."""
    expose_lm_head_bias(trainer.model)
    upcast_trainable(trainer.model)
    if hook is not None:
        hook(trainer)
    return trainer


def trainable_dtypes(model) -> set[str]:
    return {str(p.dtype) for p in model.parameters() if p.requires_grad}
