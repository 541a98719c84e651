"""Small tokenizers trained on the toy corpus, one per tokenizer family, with the real families' conventions.

* ``llama3`` — byte-level BPE with the Llama-3 split regex; special tokens after the vocabulary;
  ``<|begin_of_text|>`` added automatically (saved as a plain tokenizers-backed tokenizer).
* ``qwen2`` — byte-level BPE with Qwen2's pipeline (NFC, split regex); no bos; ``<|endoftext|>``
  is eos and pad; ChatML tokens (saved as ``Qwen2Tokenizer``).
* ``mistral`` — SentencePiece-style BPE (``▁`` word marker, byte fallback ``<0x00>``..``<0xFF>``),
  ``<unk>``/``<s>``/``</s>`` at ids 0-2, ``<s>`` added automatically (saved as ``LlamaTokenizer``).
* ``deberta_v2`` — SentencePiece-style unigram; a text pair becomes ``[CLS] q [SEP] a [SEP]``
  (saved as ``DebertaV2Tokenizer``).

The ``tokenizers`` BPE trainer is deterministic; its unigram trainer is not, so the unigram
vocabulary is made of BPE pieces scored by their log-frequency on the corpus.
"""

from __future__ import annotations

import json
import math
from collections import Counter

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers.trainers import BpeTrainer

# The pre-tokenizer split pattern of the Llama-3 tokenizer.
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
# The pre-tokenizer split pattern of the Qwen2 tokenizer.
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
SPM_SPACE = "▁"
BYTE_TOKENS = [f"<0x{i:02X}>" for i in range(256)]


def _byte_level(split_pattern: str) -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split_pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])


def train_bpe(texts: list[str], vocab_size: int, *, pre_tokenizer, normalizer=None,
              alphabet: list[str] | None = None) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train a BPE vocabulary and merges (no special tokens) through the given pipeline."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    if normalizer is not None:
        tok.normalizer = normalizer
    trainer = BpeTrainer(vocab_size=vocab_size, initial_alphabet=alphabet or [], show_progress=False)
    tok.train_from_iterator(texts, trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return dict(model["vocab"]), merges


def _with_specials(vocab: dict[str, int], specials: list[str]) -> dict[str, int]:
    """The trained vocabulary followed by the special tokens (as in Llama-3 and Qwen2)."""
    out = dict(sorted(vocab.items(), key=lambda kv: kv[1]))
    for token in specials:
        out.setdefault(token, len(out))
    return out


def llama3_tokenizer(texts: list[str], family: dict, vocab_size: int):
    """Llama-3 conventions: byte-level BPE, bos added automatically, all family specials."""
    from transformers import PreTrainedTokenizerFast

    pre = _byte_level(LLAMA3_SPLIT)
    vocab, merges = train_bpe(texts, vocab_size, pre_tokenizer=pre, alphabet=pre_tokenizers.ByteLevel.alphabet())
    specials = list(family["special_tokens"])
    backend = Tokenizer(models.BPE(vocab=_with_specials(vocab, specials), merges=merges, ignore_merges=True))
    backend.pre_tokenizer = pre
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    bos = family["bos_token"]
    backend.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
                                      special_tokens=[(bos, backend.token_to_id(bos))]),
    ])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=bos, eos_token=family["eos_token"],
                                   clean_up_tokenization_spaces=False, model_max_length=131072,
                                   model_input_names=["input_ids", "attention_mask"])


def qwen2_tokenizer(texts: list[str], family: dict, vocab_size: int):
    """Qwen2 conventions: byte-level BPE, no bos, ``<|endoftext|>`` as eos/pad, ChatML tokens."""
    from transformers import Qwen2Tokenizer

    vocab, merges = train_bpe(texts, vocab_size, pre_tokenizer=_byte_level(QWEN2_SPLIT), normalizer=normalizers.NFC(),
                              alphabet=pre_tokenizers.ByteLevel.alphabet())
    specials = list(family["special_tokens"])
    eos = family["eos_token"]
    tokenizer = Qwen2Tokenizer(vocab=_with_specials(vocab, specials), merges=merges, unk_token=None,
                               bos_token=None, eos_token=eos, pad_token=eos, model_max_length=32768,
                               errors="replace", split_special_tokens=False)
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in specials], special_tokens=True)
    return tokenizer


def mistral_tokenizer(texts: list[str], family: dict, vocab_size: int):
    """SentencePiece-style BPE: ``<unk> <s> </s>``, 256 byte-fallback tokens, then word pieces."""
    from transformers import LlamaTokenizer

    pre = pre_tokenizers.Metaspace(replacement=SPM_SPACE, prepend_scheme="first", split=True)
    trained, merges = train_bpe(texts, vocab_size, pre_tokenizer=pre)
    head = [family["unk_token"], family["bos_token"], family["eos_token"], *BYTE_TOKENS]
    vocab = {token: i for i, token in enumerate(head)}
    for token, _ in sorted(trained.items(), key=lambda kv: kv[1]):
        vocab.setdefault(token, len(vocab))
    return LlamaTokenizer(vocab=vocab, merges=merges, unk_token=family["unk_token"], bos_token=family["bos_token"],
                          eos_token=family["eos_token"], add_bos_token=True, add_eos_token=False,
                          model_max_length=32768, legacy=False)


def deberta_tokenizer(texts: list[str], family: dict, vocab_size: int):
    """SentencePiece-style unigram: ``[PAD] [CLS] [SEP] [UNK]``, pieces, ``[MASK]`` last (as DeBERTa-v3)."""
    from transformers import DebertaV2Tokenizer

    pre = pre_tokenizers.Metaspace(replacement=SPM_SPACE, prepend_scheme="always", split=True)
    norm = normalizers.Sequence([normalizers.Replace(Regex(r"\s{2,}|[\n\r\t]"), " "), normalizers.NFC(),
                                 normalizers.Strip(left=False, right=True)])
    pieces, merges = train_bpe(texts, vocab_size, pre_tokenizer=pre, normalizer=norm)
    counter = Tokenizer(models.BPE(vocab=pieces, merges=merges))
    counter.pre_tokenizer, counter.normalizer = pre, norm
    counts = Counter(tok for enc in counter.encode_batch(texts) for tok in enc.tokens)
    total = sum(counts.values()) + len(pieces)
    scored = [(p, round(math.log((counts[p] + 1) / total), 6)) for p, _ in sorted(pieces.items(), key=lambda kv: kv[1])]
    vocab = [("[PAD]", 0.0), ("[CLS]", 0.0), ("[SEP]", 0.0), ("[UNK]", 0.0), *scored, ("[MASK]", 0.0)]
    return DebertaV2Tokenizer(vocab=vocab, unk_id=3, do_lower_case=False, split_by_punct=False,
                              add_prefix_space=True, model_max_length=512)


BUILDERS = {"llama3": llama3_tokenizer, "qwen2": qwen2_tokenizer, "mistral": mistral_tokenizer,
            "deberta_v2": deberta_tokenizer}


def build_tokenizer(family_name: str, family: dict, texts: list[str], vocab_size: int):
    """The tokenizer of ``family_name`` trained on ``texts`` (a transformers tokenizer, ready to save)."""
    try:
        builder = BUILDERS[family_name]
    except KeyError:
        raise ValueError(f"no toy tokenizer for family '{family_name}' (known: {', '.join(BUILDERS)})") from None
    return builder(texts, family, vocab_size)
