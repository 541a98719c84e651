"""How the base stage is asked and where its answers stop, in every benchmark that generates.

A base model never learned a chat template, so it is asked in its completion format (the registry's
``prompt_format``) and stopped at phase 03's stop set. Loading a stage is :mod:`sit.stages`.
"""

from __future__ import annotations

from ..models import stop_token_ids
from .responses import stop_strings


def turn_end(prompt_format: str) -> str:
    """What closes a turn in a completion format: the text between the instruction and the answer's header.

    The header is the format's last line (``### Response:``, ``<|im_start|>assistant``), so ChatML closes a
    turn with ``<|im_end|>`` and a newline, Alpaca with a blank line. A format whose header is not on a line
    of its own gets a blank line."""
    after = prompt_format.split("{instruction}", 1)[1]
    header_starts = after.rstrip("\n").rfind("\n") + 1
    return after[:header_starts] or "\n\n"


def completion_template(spec) -> str | None:
    """A chat template that renders user turns in the model's base ``prompt_format`` (None without one).

    The base stage never learned a chat template, so it is asked the way phase 03 asked it: each user
    turn in the completion format, each earlier answer after it, closed as the format closes a turn
    (:func:`turn_end`)."""
    fmt = spec.prompt_format
    if not fmt or "{instruction}" not in fmt:
        return None
    before, after = fmt.split("{instruction}", 1)

    def quote(text: str) -> str:
        return text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")

    return ("{{- bos_token or '' }}{%- for message in messages %}{%- if message['role'] == 'user' %}"
            f"{{{{- '{quote(before)}' + message['content'] + '{quote(after)}' }}}}"
            "{%- elif message['role'] == 'assistant' %}"
            f"{{{{- message['content'] + '{quote(turn_end(fmt))}' }}}}{{%- endif %}}{{%- endfor %}}")


def base_prompting(spec) -> dict | None:
    """How the base stage is asked and where its answers stop, as results record it (None: no completion format).

    The stop set is phase 03's: the end-of-turn and end-of-text tokens, and the format's next-example
    markers, at which a base model starts to invent the next turn."""
    if completion_template(spec) is None:
        return None
    return {"prompt_format": spec.prompt_format, "stop_strings": list(stop_strings(spec.prompt_format)),
            "turn_end": turn_end(spec.prompt_format)}


def base_stops(spec, tokenizer) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The base stage's stop token ids and stop strings (phase 03's stop set, see :func:`base_prompting`)."""
    return tuple(stop_token_ids(spec, tokenizer)), stop_strings(spec.prompt_format or "")


def base_note(spec) -> str:
    """One clause for a result's note: how the base stage was prompted and where its answers stopped."""
    prompting = base_prompting(spec)
    if prompting is None:
        return "base asked through its tokenizer's own template, stopped at its end-of-turn and end-of-text tokens"
    first = prompting["prompt_format"].split("{instruction}")[0].strip() or prompting["prompt_format"]
    stops = [f"end-of-turn {spec.eot_token}" if spec.eot_token else None, "end-of-text",
             *(repr(s) for s in prompting["stop_strings"])]
    return f"base asked in its completion format ({first!r} ...), stopped at {', '.join(s for s in stops if s)}"
