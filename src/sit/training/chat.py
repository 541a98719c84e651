"""Conversations as token ids with a loss mask, and the special tokens a chat template uses.

The loss of SFT falls on what the assistant says and on the end-of-turn token that closes it,
never on the prompt, the role headers or what a template writes after the end-of-turn (ChatML's
newline). The mask is built from the rendered text, not from token counting: the template is
rendered up to each assistant turn and through it, and a token is trained when its first
character lies in that turn's span. This holds for any tokenizer with offsets, whatever the merges
at the span's edges.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import ConfigError


@dataclass(frozen=True)
class EncodedChat:
    input_ids: list[int]
    completion_mask: list[int]  # 1 = the token is trained (assistant content and its end-of-turn)

    def __len__(self) -> int:
        return len(self.input_ids)


def render(tokenizer, messages: list[dict], *, add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def assistant_spans(tokenizer, messages: list[dict], eot_token: str) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character span of every assistant turn, end-of-turn included."""
    text = render(tokenizer, messages)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = render(tokenizer, messages[:i], add_generation_prompt=True)
        through = render(tokenizer, messages[: i + 1])
        if not (text.startswith(through) and through.startswith(before)):
            raise ConfigError("the chat template does not render a conversation as a sequence of turns "
                              "(a prefix of the conversation renders differently), so the loss mask cannot be built")
        end = through.rfind(eot_token, len(before))
        if end < 0:
            raise ConfigError(f"the chat template does not close an assistant turn with {eot_token!r}")
        spans.append((len(before), end + len(eot_token)))
    return text, spans


def encode_chat(tokenizer, messages: list[dict], eot_token: str) -> EncodedChat:
    """Token ids of the rendered conversation and the loss mask over its assistant turns."""
    text, spans = assistant_spans(tokenizer, messages, eot_token)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(start <= first < end for start, end in spans)) for first, _ in encoded["offset_mapping"]]
    return EncodedChat(list(encoded["input_ids"]), mask)


def template_special_tokens(tokenizer) -> list[str]:
    """The special tokens the chat template writes (role headers, end-of-turn, bos), in id order."""
    probe = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
             {"role": "assistant", "content": "a"}, {"role": "user", "content": "v"}]
    text = render(tokenizer, probe, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    special = set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_encoder.values())
    return tokenizer.convert_ids_to_tokens(sorted({i for i in ids if i in special}))
