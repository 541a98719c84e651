"""GPU memory arithmetic for one model: parameter inventory, weight bytes and per-token working sets.

Everything here is in bytes and models a CUDA T4: fp16 compute (``COMPUTE_BYTES``), SDPA's
memory-efficient attention (no sequence x sequence matrix for the causal LMs), bitsandbytes nf4 with
double quantization, PEFT LoRA adapters kept in fp32 and used under fp16 autocast, and non-reentrant
gradient checkpointing per decoder layer. The inventory comes from instantiating the real
architecture on the meta device, so parameter counts are exact and nothing is downloaded.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache

COMPUTE_BYTES = 2  # fp16: a T4 has no bf16
FP32 = 4

# nf4 with double quantization (bitsandbytes, blocksize 64): two 4-bit values per byte, one uint8
# absmax per 64-block, re-quantized in blocks of 256 with an fp32 absmax each; per tensor an fp32
# offset, the 16-entry nf4 code and the 256-entry code of the second quantization (fp32).
NF4_BLOCK = 64
NF4_BLOCK2 = 256
NF4_TENSOR_CONSTANTS = 4 + 16 * 4 + 256 * 4

# TRL's fused LM head (``trl.kernels.chunked_logprob``) scores tokens in tiles of
# TOKEN_TILE x VOCAB_TILE logits instead of materializing the full (tokens, vocab) matrix.
TOKEN_TILE = 4096
VOCAB_TILE = 32768

# DeBERTa-v3 conventions that the registry's `arch` numbers leave implicit.
DEBERTA_V3 = {"relative_attention": True, "pos_att_type": ["p2c", "c2p"], "position_biased_input": False,
              "norm_rel_ebd": "layer_norm", "share_att_key": True, "type_vocab_size": 0,
              "max_relative_positions": -1}

# Registry `arch` names -> Hugging Face config names (other keys are passed through unchanged).
ARCH_KEYS = {"layers": "num_hidden_layers", "hidden": "hidden_size", "heads": "num_attention_heads",
             "kv_heads": "num_key_value_heads", "intermediate": "intermediate_size", "vocab": "vocab_size",
             "tie_embeddings": "tie_word_embeddings", "max_positions": "max_position_embeddings"}


def _classes(architecture: str):
    """(config class, model class, fixed config values) for a family's architecture."""
    import transformers as tf

    table = {
        "llama": (tf.LlamaConfig, tf.LlamaForCausalLM, {}),
        "mistral": (tf.MistralConfig, tf.MistralForCausalLM, {}),
        "qwen2": (tf.Qwen2Config, tf.Qwen2ForCausalLM, {}),
        "deberta-v2": (tf.DebertaV2Config, tf.DebertaV2ForSequenceClassification, DEBERTA_V3),
    }
    if architecture not in table:
        raise ValueError(f"no memory model for architecture '{architecture}' (known: {', '.join(table)})")
    return table[architecture]


def build_config(architecture: str, arch: dict):
    """The Hugging Face config for registry ``arch`` numbers."""
    config_cls, _, fixed = _classes(architecture)
    values = {ARCH_KEYS.get(key, key): value for key, value in arch.items()}
    return config_cls(**{**fixed, **values})


def build_model(architecture: str, arch: dict, device: str = "meta"):
    """Instantiate the architecture (on the meta device by default: shapes only, no memory)."""
    import torch

    _, model_cls, _ = _classes(architecture)
    config = build_config(architecture, arch)
    with torch.device(device):
        return model_cls(config)


@dataclass(frozen=True)
class Inventory:
    """What the arithmetic needs from an instantiated model."""

    params: int
    linears: tuple[tuple[str, int, int], ...]  # (module name, in, out) of every Linear except the LM head
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool = False  # input embedding and LM head share one matrix

    @property
    def quantizable(self) -> int:
        """Parameters bitsandbytes stores in nf4: the Linear weights (the LM head stays fp16)."""
        return sum(i * o for _, i, o in self.linears)

    @property
    def unquantized(self) -> int:
        """Embeddings, norms, biases and the LM head: kept in fp16 under nf4."""
        return self.params - self.quantizable

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    @property
    def largest_linear(self) -> int:
        return max(i * o for _, i, o in self.linears)

    def layer_linears(self) -> list[tuple[str, int, int]]:
        """(short name, in, out) of the Linear layers of the first block."""
        block = re.compile(r"\.layers?\.0\.")
        return [(name.rsplit(".", 1)[-1], i, o) for name, i, o in self.linears if block.search(name)]


def inventory(model) -> Inventory:
    """Count parameters and Linear shapes of a model (meta or real)."""
    from torch import nn

    head = model.get_output_embeddings()
    linears = tuple((name, m.in_features, m.out_features) for name, m in model.named_modules()
                    if isinstance(m, nn.Linear) and m is not head)
    cfg = model.config
    heads = cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    return Inventory(
        params=sum(p.numel() for p in model.parameters()), linears=linears,
        layers=cfg.num_hidden_layers, hidden=cfg.hidden_size, heads=heads,
        kv_heads=getattr(cfg, "num_key_value_heads", None) or heads, head_dim=head_dim,
        intermediate=cfg.intermediate_size, vocab=cfg.vocab_size,
        tied=bool(getattr(cfg, "tie_word_embeddings", False)),
    )


@cache
def _meta_inventory(architecture: str, arch_items: tuple) -> Inventory:
    return inventory(build_model(architecture, dict(arch_items)))


def meta_inventory(architecture: str, arch: dict) -> Inventory:
    """The inventory of a registry architecture, instantiated on the meta device (cached)."""
    return _meta_inventory(architecture, tuple(sorted((k, _hashable(v)) for k, v in arch.items())))


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


# --------------------------------------------------------------------------- weights and adapters


def nf4_bytes(numel: int) -> int:
    """Bytes of one weight tensor quantized to nf4 with double quantization."""
    blocks = math.ceil(numel / NF4_BLOCK)
    return math.ceil(numel / 2) + blocks + FP32 * math.ceil(blocks / NF4_BLOCK2) + NF4_TENSOR_CONSTANTS


def weight_bytes(inv: Inventory, load: str) -> int:
    """Resident weights at the loading precision (``nf4`` | ``fp16`` | ``fp32``)."""
    if load == "nf4":
        return sum(nf4_bytes(i * o) for _, i, o in inv.linears) + COMPUTE_BYTES * inv.unquantized
    per_param = {"fp16": 2, "fp32": 4}
    if load not in per_param:
        raise ValueError(f"unknown load precision '{load}' (known: nf4, fp16, fp32)")
    return per_param[load] * inv.params


def dequant_bytes(inv: Inventory, load: str) -> int:
    """An nf4 matmul over more than one token dequantizes the whole weight to fp16 first."""
    return COMPUTE_BYTES * inv.largest_linear if load == "nf4" else 0


def lora_modules(inv: Inventory, targets) -> list[tuple[str, int, int]]:
    """The Linear layers (all blocks) a LoRA config with these target names adapts."""
    wanted = set(targets)
    return [(n, i, o) for n, i, o in inv.linears if n.rsplit(".", 1)[-1] in wanted]


def lora_params(inv: Inventory, targets, r: int) -> int:
    """Trainable parameters of rank-``r`` adapters: A (r x in) and B (out x r) per adapted Linear."""
    return sum(lora_tensors(inv, targets, r))


def lora_tensors(inv: Inventory, targets, r: int) -> list[int]:
    """Element counts of every adapter tensor (A, then B, per adapted Linear)."""
    return [n for _, i, o in lora_modules(inv, targets) for n in (r * i, o * r)]


def chat_token_tensors(inv: Inventory) -> list[int]:
    """Element counts of the matrices made trainable so the chat template's special tokens learn: the
    shared embedding/LM-head matrix of a tied model; else the input embedding and the LM head (both
    rows of an untrained special token need training). Trained in fp32 with gradients masked to those
    rows, so each matrix costs a full fp32 copy, a full gradient and full optimizer state."""
    return [inv.vocab * inv.hidden] * (1 if inv.tied else 2)


# bitsandbytes' 8-bit optimizers: one byte per state element and an fp32 absmax per block of 256;
# tensors under 4096 elements keep fp32 state (``min_8bit_size``); the two 256-entry fp32 quantization
# maps are shared by every parameter.
BNB_BLOCK = 256
BNB_MIN_8BIT = 4096
BNB_QMAPS = 2 * 256 * FP32
OPTIMIZERS = {  # name (as in transformers' `optim`) -> (states per element, 8-bit)
    "adamw_torch": (2, False), "adamw_torch_fused": (2, False), "adamw_hf": (2, False),
    "paged_adamw_32bit": (2, False), "adamw_8bit": (2, True), "adamw_bnb_8bit": (2, True),
    "paged_adamw_8bit": (2, True), "adafactor": (1, False), "sgd": (0, False),
}


def optimizer_bytes(tensors, optim: str) -> int:
    """Optimizer state of trainable tensors with these element counts (``adafactor``: an upper bound)."""
    if optim not in OPTIMIZERS:
        raise ValueError(f"no memory model for optimizer '{optim}' (known: {', '.join(OPTIMIZERS)})")
    states, eight_bit = OPTIMIZERS[optim]
    total = 0
    for numel in tensors:
        if eight_bit and numel >= BNB_MIN_8BIT:
            total += states * (numel + FP32 * math.ceil(numel / BNB_BLOCK))
        else:
            total += states * FP32 * numel
    if eight_bit and any(numel >= BNB_MIN_8BIT for numel in tensors):
        total += BNB_QMAPS
    return total


# --------------------------------------------------------------------------- causal LM: caches and inference


def kv_cache_bytes(inv: Inventory, batch: int, tokens: int) -> int:
    """Keys and values of every layer for ``batch`` sequences of ``tokens`` positions, fp16."""
    return 2 * inv.layers * batch * tokens * inv.kv_dim * COMPUTE_BYTES


def attention_mask_bytes(batch: int, tokens: int, *, converted: bool) -> int:
    """A padded batch carries a (batch, 1, q, k) boolean mask; SDPA turns it into an fp16 bias
    (through a negated boolean copy) inside each attention call."""
    square = batch * tokens * tokens
    return square * (1 + (1 + COMPUTE_BYTES if converted else 0))


def inference_layer_bytes(inv: Inventory, batch: int, tokens: int, *, padded: bool) -> int:
    """Peak live bytes inside one decoder layer of a no-grad forward over ``batch`` x ``tokens``.

    Live throughout: the embedding output, the layer input, the residual after attention and the
    normed input (4 x hidden) and the rotary cos/sin tables (2 x head_dim). In the MLP: gate
    activation, up projection and their product (3 x intermediate). In attention: query, output and
    its transposed copy, plus keys and values repeated to every head when a padding mask prevents
    SDPA's grouped-query path."""
    c, h, n = COMPUTE_BYTES, inv.hidden, batch * tokens
    live = n * c * (4 * h + 2 * inv.head_dim)
    mlp = live + n * c * 3 * inv.intermediate
    attention = live + n * c * (3 * h + (2 * h if padded else 0))
    mask = attention_mask_bytes(batch, tokens, converted=False) if padded else 0
    converted = attention_mask_bytes(batch, tokens, converted=True) if padded else 0
    return max(mlp + mask, attention + converted)


def sampling_bytes(inv: Inventory, batch: int) -> int:
    """Next-token scores: last-position logits in fp16, their fp32 copy and the probabilities."""
    return batch * inv.vocab * (COMPUTE_BYTES + FP32 + FP32)


def loglikelihood_logits_bytes(inv: Inventory, batch: int, tokens: int) -> int:
    """lm-eval's log-likelihood scoring (``HFLM._loglikelihood_tokens``): the model's logits over every
    position, ``[batch, tokens, vocab]`` in fp16, and their ``log_softmax`` of the same size and dtype
    (``softmax_dtype`` unset), both live while the softmax runs."""
    return 2 * batch * tokens * inv.vocab * COMPUTE_BYTES


# --------------------------------------------------------------------------- causal LM: QLoRA training


def checkpoint_bytes(inv: Inventory, tokens: int) -> int:
    """Gradient checkpointing keeps every decoder layer's input."""
    return inv.layers * tokens * inv.hidden * COMPUTE_BYTES


def rms_norm_saved_bytes(inv: Inventory, tokens: int) -> int:
    """An RMSNorm under autocast saves its fp32 upcast input, the fp32 rsqrt and its fp16 output."""
    return tokens * (inv.hidden * (FP32 + COMPUTE_BYTES) + FP32)


def lora_saved_bytes(inv: Inventory, targets, r: int, tokens: int, mask_bytes: int) -> int:
    """Per adapted Linear of one block: the adapter input in fp16 (autocast's copy of the fp32
    dropout output), the dropout mask (``mask_bytes`` per element, 0 without dropout) and A's output."""
    wanted = set(targets)
    per_token = sum((COMPUTE_BYTES + mask_bytes) * i + COMPUTE_BYTES * r
                    for name, i, _ in inv.layer_linears() if name in wanted)
    return tokens * per_token


def training_layer_bytes(inv: Inventory, targets, r: int, batch: int, seq: int, *, padded: bool,
                         mask_bytes: int) -> int:
    """Peak of backpropagating through one checkpointed layer: the recomputed forward's saved tensors
    and the transients at its end, when the last adapted projection runs."""
    saved, transient = training_layer_parts(inv, targets, r, batch, seq, padded=padded, mask_bytes=mask_bytes)
    return saved + transient


def training_layer_parts(inv: Inventory, targets, r: int, batch: int, seq: int, *, padded: bool,
                         mask_bytes: int) -> tuple[int, int]:
    """(saved, transient) bytes of one decoder layer's training forward, at the end of the layer.

    Saved: two RMSNorms; the adapters' inputs; attention's query, keys and values (repeated to every
    head when a padding mask is present), output, fp32 log-sum-exp and the output's transposed copy;
    the MLP's gate, up projection and activation. Transient: the MLP product, its fp32 cast and dropout
    output for the adapter, the residual after attention and the gradient arriving from above."""
    c, h, i, n = COMPUTE_BYTES, inv.hidden, inv.intermediate, batch * seq
    kv = 2 * (h if padded else inv.kv_dim)
    attention = n * (c * (h + kv + h + h) + FP32 * inv.heads)
    mlp = n * c * 3 * i
    saved = 2 * rms_norm_saved_bytes(inv, n) + lora_saved_bytes(inv, targets, r, n, mask_bytes) + attention + mlp
    adapter_input = FP32 * i * (2 if mask_bytes else 1)  # fp32 cast, plus the dropout output
    transient = n * (c * i + adapter_input + 2 * c * h)
    bias = attention_mask_bytes(batch, seq, converted=True) - attention_mask_bytes(batch, seq, converted=False)
    return saved, transient + (bias if padded else 0)


def fused_head_bytes(inv: Inventory, tokens: int) -> int:
    """TRL's fused LM head in backward: one fp16 logits tile, the fp32 hidden-state gradient it
    accumulates plus its fp16 cast, and the fp16 hidden states it saved."""
    tile = min(tokens, TOKEN_TILE) * VOCAB_TILE * COMPUTE_BYTES
    return tile + tokens * inv.hidden * (FP32 + 2 * COMPUTE_BYTES)


def full_logits_bytes(inv: Inventory, tokens: int) -> int:
    """Cross-entropy on materialized logits, at its backward: the saved fp32 log-softmax, the
    incoming fp32 gradient and the fp32 gradient of the log-softmax (tokens x vocab each)."""
    return tokens * inv.vocab * 3 * FP32


def reference_logits_bytes(inv: Inventory, tokens: int) -> int:
    """DPO's reference forward on materialized logits: the policy's saved fp32 log-softmax plus the
    reference's fp32 logits and their log-softmax (its fp16 logits are freed once copied)."""
    return tokens * inv.vocab * 3 * FP32


# --------------------------------------------------------------------------- DeBERTa-v2 reward model


def deberta_layer_bytes(inv: Inventory, batch: int, seq: int, position_buckets: int) -> int:
    """Peak of one DeBERTa-v2 layer in a no-grad fp16 forward (eager disentangled attention).

    Per (batch, head), the larger of two moments: five (seq, seq) fp16 score tensors (content-content
    scores, the gathered content->position and position->content terms, their sum and the scaled sum),
    or four of them plus the position->content scores against all 2 x ``position_buckets`` relative
    positions before the gather. Besides: the int64 (batch, 1, seq, seq) attention mask, three int64
    (seq, seq) relative-position index tensors; per token the embedding output, the layer input and
    query/key/value (5 x hidden); the relative-position keys and queries repeated over the batch."""
    c, h, square, span = COMPUTE_BYTES, inv.hidden, seq * seq, 2 * position_buckets
    scores = batch * inv.heads * c * max(5 * square, 4 * square + seq * span)
    masks = 8 * batch * square + 3 * 8 * square
    tokens = batch * seq * 5 * h * c
    positions = 2 * batch * span * h * c
    return scores + masks + tokens + positions
