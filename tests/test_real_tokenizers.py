"""The registry's chat templates and tokens against the real tokenizers of Llama-3, Mistral-7B-v0.1 and Qwen2.5.

The tokenizers are rebuilt from the files that ship inside PyPI packages (see real_tokenizers.py) and checked
against each family's reference encoder: Meta's ``ChatFormat``, SentencePiece with mistral-common's v1
[INST] layout, and a tiktoken encoding of Qwen's ranks. The project trims message content, as the hub's
Llama-3 template does; Meta's ``ChatFormat`` keeps it as given, so conversations are compared trimmed.
"""

from __future__ import annotations

import pytest
import real_tokenizers as real

from sit.config import load_registry
from sit.generation.magpie import pre_query_prompt, response_prompt
from sit.models import stop_token_ids
from sit.training.chat import encode_chat, render, template_special_tokens

TARGETS = ["llama-3.2-3b", "mistral-7b-v0.1", "qwen2.5-3b"]
CHAT_MODELS = TARGETS + ["llama-3.1-8b-instruct", "qwen2.5-7b-instruct"]

SYSTEM = {"role": "system", "content": "You answer in one short paragraph."}
U1 = {"role": "user", "content": "What is the boiling point of water at 2,000 m?"}
A1 = {"role": "assistant", "content": "About 93 °C: the air pressure is lower, so water boils sooner."}
U2 = {"role": "user", "content": "And in Fahrenheit? Show it as code:\n`f = c * 9 / 5 + 32`"}
A2 = {"role": "assistant", "content": "Roughly 199 °F.\n\n```python\nprint(93 * 9 / 5 + 32)\n```"}
CONVERSATIONS = {
    "single": [U1, A1],
    "multi": [U1, A1, U2, A2],
    "system": [SYSTEM, U1, A1],
    "system-multi": [SYSTEM, U1, A1, U2, A2],
}
UNTRIMMED = [{"role": "system", "content": "  Be brief.\n"}, {"role": "user", "content": "\nName a prime. "},
             {"role": "assistant", "content": " 7 \n\n"}]

KNOWN_IDS = {
    "llama3": {"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, "<|finetune_right_pad_id|>": 128004,
               "<|start_header_id|>": 128006, "<|end_header_id|>": 128007, "<|eot_id|>": 128009},
    "mistral": {"<unk>": 0, "<s>": 1, "</s>": 2},
    "qwen2": {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645},
}


@pytest.fixture(scope="session")
def registry():
    return load_registry()


@pytest.fixture(scope="session")
def llama_reference():
    return real.llama3_reference()


@pytest.fixture(scope="session")
def mistral_reference():
    return real.mistral_reference()


@pytest.fixture(scope="session")
def qwen_reference():
    return real.qwen_reference()


@pytest.fixture(scope="session")
def tokenizers(llama_reference, tmp_path_factory):
    return {"llama3": real.llama3_tokenizer(llama_reference),
            "mistral": real.mistral_tokenizer(tmp_path_factory.mktemp("mistral")),
            "qwen2": real.qwen_tokenizer()}


def for_model(tokenizers, spec):
    """The family's real tokenizer set up as `sit.models.load_tokenizer` sets it up for this model."""
    tokenizer = tokenizers[spec.family]
    if spec.chat_template:
        tokenizer.chat_template = spec.chat_template
    tokenizer.pad_token = spec.pad_token
    return tokenizer


def encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


# --------------------------------------------------------------------------- the tokenizers themselves


@pytest.mark.parametrize("text", ["Hello world", "  two  spaces\tand\ttabs\n\n", "Zahlen 1234567 und 3.14159",
                                  "naïve café 🤖 中文", "it's what we'll do", "<|eot_id|>ok"])
def test_llama3_tokenizer_matches_meta(tokenizers, llama_reference, text):
    meta = llama_reference.tokenizer
    assert encode(tokenizers["llama3"], text) == meta.encode(text, bos=False, eos=False, allowed_special="all")
    assert tokenizers["llama3"](text)["input_ids"][0] == meta.bos_id


@pytest.mark.parametrize("text", ["Hello world", "Zahlen 1234567 und 3.14159", "naïve café 🤖 中文",
                                  "[INST] Say hi. [/INST]", "line one\nline two"])
def test_mistral_tokenizer_matches_sentencepiece_and_adds_bos(tokenizers, mistral_reference, text):
    sp = mistral_reference.processor
    assert tokenizers["mistral"](text)["input_ids"] == [sp.bos_id()] + sp.encode(text)
    assert tokenizers["mistral"]("Hello world")["input_ids"] == [1, 22557, 1526]  # bos, never eos


@pytest.mark.parametrize("text", ["Hello world", "Zahlen 1234567 und 3.14159", "naïve café 🤖 中文",
                                  "cafe\u0301 (decomposed)", "<|im_start|>user\nhi<|im_end|>\n"])
def test_qwen_tokenizer_matches_tiktoken(tokenizers, qwen_reference, text):
    assert tokenizers["qwen2"](text)["input_ids"] == qwen_reference.encode(text)


# --------------------------------------------------------------------------- Llama-3 template vs ChatFormat


@pytest.mark.parametrize("name", CONVERSATIONS)
def test_llama3_template_encodes_as_meta_chat_format(registry, tokenizers, llama_reference, name):
    spec = registry.get("llama-3.2-3b")
    messages = CONVERSATIONS[name]
    encoded = encode_chat(for_model(tokenizers, spec), messages, spec.eot_token)
    assert encoded.input_ids == llama_reference.encode_conversation(messages)


@pytest.mark.parametrize("name", CONVERSATIONS)
def test_llama3_generation_prompt_encodes_as_meta_dialog_prompt(registry, tokenizers, llama_reference, name):
    spec = registry.get("llama-3.1-8b-instruct")
    tokenizer = for_model(tokenizers, spec)
    history = CONVERSATIONS[name][:-1]  # up to the last user turn
    prompt = render(tokenizer, history, add_generation_prompt=True)
    assert encode(tokenizer, prompt) == llama_reference.encode_dialog_prompt(history)
    if len(history) <= 2:  # the prompt a response stage builds from one instruction
        system = history[0]["content"] if history[0]["role"] == "system" else None
        assert response_prompt(tokenizer, history[-1]["content"], system) == prompt


def test_llama3_template_trims_content_where_chat_format_keeps_it(registry, tokenizers, llama_reference):
    spec = registry.get("llama-3.2-3b")
    tokenizer = for_model(tokenizers, spec)
    trimmed = [{**m, "content": m["content"].strip()} for m in UNTRIMMED]
    ids = encode_chat(tokenizer, UNTRIMMED, spec.eot_token).input_ids
    # The project follows the hub's template: training text is trimmed, whatever surrounds the content.
    assert ids == llama_reference.encode_conversation(trimmed)
    assert ids != llama_reference.encode_conversation(UNTRIMMED)
    assert tokenizer.decode(ids).endswith("<|end_header_id|>\n\n7<|eot_id|>")


# --------------------------------------------------------------------------- Mistral [INST] vs mistral-common v1


@pytest.mark.parametrize("name", [
    "single", "multi",
    "system",
    "system-multi",
])
def test_mistral_template_encodes_as_mistral_v1(registry, tokenizers, mistral_reference, name):
    spec = registry.get("mistral-7b-v0.1")
    messages = CONVERSATIONS[name]
    encoded = encode_chat(for_model(tokenizers, spec), messages, spec.eot_token)
    assert encoded.input_ids == mistral_reference.encode_conversation(messages)


# --------------------------------------------------------------------------- Magpie pre-query templates


def test_llama3_pre_query_template_is_meta_user_header(registry, tokenizers, llama_reference):
    spec = registry.get("llama-3.1-8b-instruct")
    tokenizer = for_model(tokenizers, spec)
    meta = [llama_reference.tokenizer.bos_id] + llama_reference.chat_format._encode_header("user")
    assert meta == [128000, 128006, 882, 128007, 271]
    assert encode(tokenizer, pre_query_prompt(spec, tokenizer)) == meta
    # With a system prompt, the prefix is Meta's system turn followed by the same open user header.
    with_system = pre_query_prompt(spec, tokenizer, SYSTEM["content"])
    assert encode(tokenizer, with_system) == llama_reference.encode_conversation([SYSTEM]) + meta[1:]


def test_qwen_pre_query_template_is_chatml_user_header(registry, tokenizers, qwen_reference):
    spec = registry.get("qwen2.5-3b")
    tokenizer = for_model(tokenizers, spec)
    ids = encode(tokenizer, spec.pre_query_template)
    # <|im_start|> system \n You are a helpful assistant. <|im_end|> \n <|im_start|> user \n
    assert ids == [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198]
    assert ids == qwen_reference.encode(spec.pre_query_template)
    default_system = {"role": "system", "content": "You are a helpful assistant."}
    assert render(tokenizer, [default_system, U1]).startswith(spec.pre_query_template)


# --------------------------------------------------------------------------- every registered token


def registered_tokens(registry, family: str) -> set[str]:
    spec = registry.families[family]
    tokens = {spec.get("bos_token"), spec.get("eos_token"), spec.get("unk_token")}
    tokens |= set(spec.get("special_tokens") or ()) | set(spec.get("instruction_stop_tokens") or ())
    for model in registry:
        if model.family == family:
            tokens |= {model.pad_token, model.eot_token}
    return tokens - {None}


def reference_id(family, token, llama_reference, mistral_reference, qwen_reference):
    if family == "llama3":
        return llama_reference.tokenizer.special_tokens.get(token)
    if family == "mistral":
        tid = mistral_reference.processor.piece_to_id(token)
        return None if tid == mistral_reference.processor.unk_id() and token != "<unk>" else tid
    ids = qwen_reference.encode(token)
    return ids[0] if len(ids) == 1 else None


@pytest.mark.parametrize("family", ["llama3", "mistral", "qwen2"])
def test_registered_tokens_are_single_tokens_of_the_real_vocabulary(
        registry, tokenizers, llama_reference, mistral_reference, qwen_reference, family):
    tokenizer = tokenizers[family]
    tokens = registered_tokens(registry, family)
    assert set(KNOWN_IDS[family]) <= tokens
    for token in sorted(tokens):
        expected = reference_id(family, token, llama_reference, mistral_reference, qwen_reference)
        assert expected is not None, f"{family}: {token!r} is not a token of the real vocabulary"
        assert encode(tokenizer, token) == [expected], f"{family}: {token!r} does not encode to one token"
        assert tokenizer.convert_ids_to_tokens(expected) == token
        assert KNOWN_IDS[family].get(token, expected) == expected


@pytest.mark.parametrize("slug", CHAT_MODELS)
def test_end_of_turn_and_pad_are_distinct_stops(registry, tokenizers, slug):
    spec = registry.get(slug)
    tokenizer = for_model(tokenizers, spec)
    eot, pad, eos = (tokenizer.convert_tokens_to_ids(t) for t in (spec.eot_token, spec.pad_token,
                                                                 registry.families[spec.family]["eos_token"]))
    stops = stop_token_ids(spec, tokenizer)
    assert stops[0] == eot and eos in stops
    assert eot != pad
    # Qwen2.5 base ships pad = eos = <|endoftext|> and the registry keeps it: only <|im_end|> ends a trained
    # turn, and no ChatML conversation contains <|endoftext|> (checked below).
    assert (pad == eos) if spec.family == "qwen2" else (pad != eos)
    for messages in CONVERSATIONS.values():
        if spec.chat_template:
            ids = encode_chat(tokenizer, messages, spec.eot_token).input_ids
            assert pad not in ids, f"{slug}: the pad id is written by the template, so padding would mask it"


# --------------------------------------------------------------------------- the SFT loss mask


@pytest.mark.parametrize(("slug", "expected"), [
    ("llama-3.2-3b", ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]),
    ("mistral-7b-v0.1", ["<s>", "</s>"]),  # [INST] and [/INST] are plain text in the v1 vocabulary
    ("qwen2.5-3b", ["<|im_start|>", "<|im_end|>"]),
])
def test_template_special_tokens_are_what_the_template_writes(registry, tokenizers, slug, expected):
    assert template_special_tokens(for_model(tokenizers, registry.get(slug))) == expected


def runs(encoded):
    """(masked?, ids) for each maximal run of equally masked tokens."""
    out: list[tuple[int, list[int]]] = []
    for tid, flag in zip(encoded.input_ids, encoded.completion_mask, strict=True):
        if out and out[-1][0] == flag:
            out[-1][1].append(tid)
        else:
            out.append((flag, [tid]))
    return out


@pytest.mark.parametrize("name", CONVERSATIONS)
@pytest.mark.parametrize("slug", TARGETS)
def test_loss_mask_covers_exactly_assistant_content_and_end_of_turn(registry, tokenizers, slug, name):
    spec = registry.get(slug)
    tokenizer = for_model(tokenizers, spec)
    messages = CONVERSATIONS[name]
    encoded = encode_chat(tokenizer, messages, spec.eot_token)
    assert len(encoded.completion_mask) == len(encoded.input_ids)
    eot = tokenizer.convert_tokens_to_ids(spec.eot_token)

    answers = [m["content"] for m in messages if m["role"] == "assistant"]
    masked = [ids for flag, ids in runs(encoded) if flag]
    assert len(masked) == len(answers)
    for ids, answer in zip(masked, answers, strict=True):
        assert ids == encode(tokenizer, answer) + [eot]
        assert tokenizer.decode(ids) == answer + spec.eot_token

    # What is not trained is the rest of the rendered text, token for token: bos, role headers, prompts and
    # what follows an end-of-turn. A space before an answer belongs to the answer's first token.
    pieces, remaining = [], render(tokenizer, messages)
    for answer in answers:
        head, found, remaining = remaining.partition(answer + spec.eot_token)
        assert found, f"{slug}: {answer!r} is not rendered verbatim"
        pieces.append(head.rstrip(" "))
    pieces.append(remaining)
    unmasked = [ids for flag, ids in runs(encoded) if not flag]
    assert unmasked == [encode(tokenizer, piece) for piece in pieces if piece]
    for message in messages:
        if message["role"] == "user":
            assert message["content"] in "".join(pieces)
