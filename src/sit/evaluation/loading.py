"""A target model at one stage (``base``, ``sft``, ``dpo``) as evaluation sees it.

Loading is the training phase's (:mod:`sit.training.stages`); this module adds what evaluation needs on
top: which stages exist yet, and the prompt format the base stage is asked in.
"""

from __future__ import annotations

from pathlib import Path

from ..config import ConfigError
from ..models import stop_token_ids
from ..preference.responses import stop_strings
from ..training.stages import STAGES, load_stage, require_stage

__all__ = ["STAGES", "adapter_dir", "base_note", "base_prompting", "base_stops", "check_stage", "completion_template",
           "load_stage", "require_stage", "stage_ready"]


def check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise ConfigError(f"unknown stage '{stage}' (known: {', '.join(STAGES)})")
    return stage


def adapter_dir(session, slug: str, stage: str) -> Path:
    return session.workspace.adapter_dir(slug, stage)


def stage_ready(session, model_name: str, stage: str) -> bool:
    """Whether the stage can be evaluated: base always, an adapter once its training finished."""
    check_stage(stage)
    if stage == "base":
        return True
    spec = session.registry.get(model_name, role="target")
    return (adapter_dir(session, spec.slug, stage) / "manifest.json").is_file()


def completion_template(spec) -> str | None:
    """A chat template that renders user turns in the model's base ``prompt_format`` (None without one).

    The base stage never learned a chat template, so it is asked the way phase 03 asked it: each user
    turn in the completion format, each earlier answer after it."""
    fmt = spec.prompt_format
    if not fmt or "{instruction}" not in fmt:
        return None
    before, after = fmt.split("{instruction}", 1)

    def quote(text: str) -> str:
        return text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")

    return ("{{- bos_token or '' }}{%- for message in messages %}{%- if message['role'] == 'user' %}"
            f"{{{{- '{quote(before)}' + message['content'] + '{quote(after)}' }}}}"
            "{%- elif message['role'] == 'assistant' %}{{- message['content'] + '\\n\\n' }}{%- endif %}{%- endfor %}")


def base_prompting(spec) -> dict | None:
    """How the base stage is asked and where its answers stop, as results record it (None: no completion format).

    The stop set is phase 03's: the end-of-turn and end-of-text tokens, and the format's next-example
    markers, at which a base model starts to invent the next turn."""
    if completion_template(spec) is None:
        return None
    return {"prompt_format": spec.prompt_format, "stop_strings": list(stop_strings(spec.prompt_format))}


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
