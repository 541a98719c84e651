"""Prompts longer than the model's context window are trimmed explicitly, never passed on silently.

The window holds the prompt and the reply, so a prompt may use ``window - max_new_tokens`` tokens
(past the window a model's positions run out: garbage, or an index error). A prompt that carries its
chat ``messages`` first loses its oldest turns (a user turn with the replies after it), keeping the
leading ``keep_first`` messages (a system or task prompt) and the latest turn, which holds the
question. If that is still too long, the leading messages go too, then the middle of the latest turn
is cut: its head (the question or instruction) and its tail stay. A plain-text prompt has its middle cut the same way, so the
template's opening and the assistant header at the end survive. The engine marks every completion of
a trimmed prompt (``Completion.prompt_trimmed``) and the runner counts them.
"""

from __future__ import annotations

from dataclasses import replace

ELISION = " … "


def prompt_budget(window: int | None, max_new_tokens: int) -> int | None:
    """Tokens a prompt may use (None: the window is unknown, nothing is checked)."""
    if window is None:
        return None
    budget = window - max_new_tokens
    if budget <= 0:
        raise ValueError(f"the context window of {window} tokens leaves no room for a prompt with "
                         f"max_new_tokens {max_new_tokens}: lower max_new_tokens")
    return budget


def cut_middle(tokenizer, text: str, drop: int) -> str:
    """``text`` at least ``drop`` tokens shorter: its middle replaced by an elision mark."""
    def count(t: str) -> int:
        return len(tokenizer(t, add_special_tokens=False)["input_ids"])

    def decode(part) -> str:
        return tokenizer.decode(part, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    target = len(ids) - drop
    spare = count(ELISION)
    while target - spare > 0:  # re-tokenizing at the seams may add a token or two: cut more then
        keep = target - spare
        head = (keep + 1) // 2
        out = decode(ids[:head]) + ELISION + decode(ids[len(ids) - (keep - head):]) if keep > head else decode(ids[:head])
        if count(out) <= target:
            return out
        spare += 1
    return ""


def drop_oldest_turn(messages: list[dict]) -> list[dict]:
    """``messages`` without their first turn: the first message and every non-user message after it."""
    rest = messages[1:]
    while rest and rest[0]["role"] != "user":
        rest = rest[1:]
    return rest


def fit_prompt(prompt, budget: int | None, tokenizer):
    """``(prompt, trimmed)``: the prompt unchanged when it fits ``budget``, else trimmed to fit."""
    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    if budget is None or count(prompt.text) <= budget:
        return prompt, False
    text, messages = prompt.text, prompt.messages
    if messages:
        def render(msgs):
            return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)

        head, body, last = messages[:prompt.keep_first], messages[prompt.keep_first:-1], messages[-1]
        while body and count(render([*head, *body, last])) > budget:
            body = drop_oldest_turn(body)
        if count(render([*head, *body, last])) > budget:
            head = []  # the latest turn alone is too long: it matters more than a system prompt
        text = render([*head, *body, last])
        while count(text) > budget and count(last["content"]) > 0:
            last = {**last, "content": cut_middle(tokenizer, last["content"], count(text) - budget)}
            text = render([*head, *body, last])
        messages = [*head, *body, last]
    while count(text) > budget:
        text = cut_middle(tokenizer, text, count(text) - budget)
    return replace(prompt, text=text, messages=messages), True
