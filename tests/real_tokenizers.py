"""The real tokenizers of the target families, built offline from files that ship inside PyPI packages.

The toy world only imitates these vocabularies. Here the Hugging Face tokenizers are rebuilt from the
published files, next to each family's reference encoder:

- Llama-3: ``llama_models/llama3/tokenizer.model`` (tiktoken BPE ranks) and Meta's own ``Tokenizer`` and
  ``ChatFormat``;
- Mistral-7B-v0.1: ``mistral_common/data/tokenizer.model.v1`` (SentencePiece) and the SentencePiece
  processor itself, with the [INST] layout of mistral-common's ``InstructTokenizerV1``;
- Qwen2 / Qwen2.5: ``dashscope/resources/qwen.tiktoken`` (byte-level BPE ranks) and a tiktoken encoding with
  Qwen's split pattern, NFC normalisation and the ChatML specials at the ids Qwen gives them.

The three packages are installed outside the virtual environment, each into its own folder under
``.venv/reference/`` (``requirements-reference.txt``, see the Makefile): ``dashscope`` and ``mistral_common``
are only read as files, and an importable ``mistral_common`` would change how transformers loads every
tokenizer. Only Meta's ``llama_models`` is imported, from its own folder.
"""

from __future__ import annotations

import os
import shutil
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

# Qwen's pre-tokenisation splits every digit on its own; Llama-3 groups up to three.
QWEN_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN_SPECIALS = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}
# What the Hugging Face ports of Mistral-7B-v0.1 and Llama-3 do on a plain call: prepend bos, never append eos.
MISTRAL_TOKENIZER_CONFIG = {"add_bos_token": True, "add_eos_token": False, "legacy": True}

INSTALL_HINT = "install the test dependencies with `make setup` (requirements-reference.txt)"
REFERENCE_DIR = Path(os.environ.get("SIT_REFERENCE_DIR", Path(sys.prefix) / "reference"))
DISTRIBUTIONS = {"llama_models": "llama-models", "mistral_common": "mistral-common", "dashscope": "dashscope"}


def package_dir(name: str) -> Path:
    """The package's folder in its own install target; ``llama_models`` also becomes importable."""
    root = REFERENCE_DIR / DISTRIBUTIONS[name]
    folder = root / name
    if not folder.is_dir():
        raise RuntimeError(f"package {name!r} is not installed in {root}: {INSTALL_HINT}")
    if name == "llama_models" and str(root) not in sys.path:
        sys.path.append(str(root))
    return folder


def package_file(package: str, *parts: str) -> Path:
    path = package_dir(package).joinpath(*parts)
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the installed {package!r}: {INSTALL_HINT}")
    return path


def _tiktoken_backend(ranks_file: Path, pattern: str | None, specials: list[str]):
    """A byte-level BPE `tokenizers.Tokenizer` from tiktoken ranks, the specials appended in order."""
    from tokenizers import AddedToken
    from transformers.convert_slow_tokenizer import TikTokenConverter

    converter = TikTokenConverter(vocab_file=str(ranks_file), **({"pattern": pattern} if pattern else {}))
    backend = converter.converted()
    # TikTokenConverter drops specials handed to it; appended here they take the ids right after the ranks.
    backend.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in specials])
    return backend


def _fast(backend, **special):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=backend, clean_up_tokenization_spaces=False, **special)


# --------------------------------------------------------------------------- Llama-3


@dataclass(frozen=True)
class LlamaReference:
    tokenizer: object  # llama_models.llama3.tokenizer.Tokenizer
    chat_format: object  # llama_models.llama3.chat_format.ChatFormat

    def encode_message(self, message: dict) -> list[int]:
        from llama_models.datatypes import RawMessage, ToolPromptFormat

        tokens, _ = self.chat_format.encode_message(RawMessage(**message), ToolPromptFormat.json)
        return tokens

    def encode_conversation(self, messages: list[dict]) -> list[int]:
        """A finished conversation (no assistant header left open), as a training example is encoded."""
        ids = [self.tokenizer.bos_id]
        for message in messages:
            ids += self.encode_message(message)
        return ids

    def encode_dialog_prompt(self, messages: list[dict]) -> list[int]:
        """The conversation followed by an open assistant header, as Meta prompts a generation."""
        from llama_models.datatypes import RawMessage

        return list(self.chat_format.encode_dialog_prompt([RawMessage(**m) for m in messages]).tokens)


def llama3_reference() -> LlamaReference:
    package_dir("llama_models")
    from llama_models.llama3.chat_format import ChatFormat
    from llama_models.llama3.tokenizer import Tokenizer

    tokenizer = Tokenizer(package_file("llama_models", "llama3", "tokenizer.model"))
    return LlamaReference(tokenizer, ChatFormat(tokenizer))


def llama3_tokenizer(reference: LlamaReference):
    """The Llama-3 tokenizer as the hub ships it: bos prepended on a plain call, Meta's 256 specials."""
    from tokenizers import processors

    meta = reference.tokenizer
    specials = sorted(meta.special_tokens, key=meta.special_tokens.get)
    backend = _tiktoken_backend(package_file("llama_models", "llama3", "tokenizer.model"), meta.pat_str, specials)
    bos = "<|begin_of_text|>"
    backend.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                      special_tokens=[(bos, meta.bos_id)]),
    ])
    return _fast(backend, bos_token=bos, eos_token="<|end_of_text|>")


# --------------------------------------------------------------------------- Mistral-7B-v0.1


@dataclass(frozen=True)
class MistralReference:
    """SentencePiece itself, and the [INST] layout of mistral-common's v1 instruct tokenizer."""

    processor: object  # sentencepiece.SentencePieceProcessor

    def encode(self, text: str) -> list[int]:
        return list(self.processor.encode(text))

    def encode_conversation(self, messages: list[dict]) -> list[int]:
        # InstructTokenizerV1: the system prompt joins the first user message after a blank line; each
        # user turn is "[INST] {content} [/INST]", each assistant turn its content and eos, all in pieces.
        system = [m["content"] for m in messages if m["role"] == "system"]
        ids, first = [self.processor.bos_id()], True
        for message in messages:
            if message["role"] == "user":
                content = message["content"]
                if first and system:
                    content = system[0] + "\n\n" + content
                ids += self.encode(f"[INST] {content} [/INST]")
                first = False
            elif message["role"] == "assistant":
                ids += self.encode(message["content"]) + [self.processor.eos_id()]
        return ids


def mistral_reference() -> MistralReference:
    import sentencepiece

    model = package_file("mistral_common", "data", "tokenizer.model.v1")
    return MistralReference(sentencepiece.SentencePieceProcessor(model_file=str(model)))


def mistral_tokenizer(folder: Path):
    """Mistral-7B-v0.1's tokenizer from ``tokenizer.model.v1`` (transformers converts it; needs protobuf)."""
    from transformers import LlamaTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(package_file("mistral_common", "data", "tokenizer.model.v1"), folder / "tokenizer.model")
    return LlamaTokenizer.from_pretrained(str(folder), **MISTRAL_TOKENIZER_CONFIG)


# --------------------------------------------------------------------------- Qwen2 / Qwen2.5


@dataclass(frozen=True)
class QwenReference:
    encoding: object  # tiktoken.Encoding

    def encode(self, text: str) -> list[int]:
        return self.encoding.encode(unicodedata.normalize("NFC", text), allowed_special="all")


def qwen_reference() -> QwenReference:
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    ranks = load_tiktoken_bpe(str(package_file("dashscope", "resources", "qwen.tiktoken")))
    return QwenReference(tiktoken.Encoding("qwen", pat_str=QWEN_PATTERN, mergeable_ranks=ranks,
                                           special_tokens=dict(QWEN_SPECIALS)))


def qwen_tokenizer():
    """Qwen2.5's byte-level BPE with the ChatML specials; like the hub's, it adds no bos."""
    from tokenizers import normalizers

    specials = sorted(QWEN_SPECIALS, key=QWEN_SPECIALS.get)
    backend = _tiktoken_backend(package_file("dashscope", "resources", "qwen.tiktoken"), QWEN_PATTERN, specials)
    backend.normalizer = normalizers.NFC()
    return _fast(backend, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
