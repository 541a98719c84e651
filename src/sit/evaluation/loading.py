"""A target model at one stage (``base``, ``sft``, ``dpo``) as evaluation sees it.

Loading is the training phase's (:mod:`sit.training.stages`); this module adds what evaluation needs on
top: which stages exist yet, and the prompt format the base stage is asked in.
"""

from __future__ import annotations

from pathlib import Path

from ..config import ConfigError
from ..training.stages import STAGES, load_stage, require_stage

__all__ = ["STAGES", "adapter_dir", "check_stage", "completion_template", "load_stage", "require_stage",
           "stage_ready"]


def check_stage(stage: str) -> str:
    if stage not in STAGES:
        raise ConfigError(f"unknown stage '{stage}' (known: {', '.join(STAGES)})")
    return stage


def adapter_dir(session, slug: str, stage: str) -> Path:
    return session.workspace.root / "models" / slug / stage


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
