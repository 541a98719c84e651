"""One look for every chart the project draws: the stage palette and the toy-world mark.

Notebooks, the report and the slides all colour a stage the same way, and a chart drawn from the toy
world says so on its face: its bars carry real model names, but its numbers only test the plumbing.
"""

from __future__ import annotations

STAGE_COLORS = {"base": "#8C8C8C", "sft": "#4C72B0", "dpo": "#DD8452"}
STAGE_LABELS = {"base": "base", "sft": "SFT", "dpo": "SFT+DPO"}
TOY_MARK_COLOR = "#B22222"


def is_toy(world_id: str | None) -> bool:
    return bool(world_id) and str(world_id).startswith("toy")


def mark_toy(fig, world_id: str | None) -> None:
    """Stamp ``fig`` when it was drawn from the toy world (no-op for a hub world)."""
    if is_toy(world_id):
        fig.text(0.995, 0.005, f"toy world {world_id}: tests the plumbing, not the models",
                 ha="right", va="bottom", fontsize=7, color=TOY_MARK_COLOR)


def model_label(model: str, width: int = 14) -> str:
    """A model id as a tick label: the name without its owner, broken at hyphens into lines of about ``width``.

    Neighbouring bars carry names like ``Llama-3.1-8B-Instruct`` and ``Llama-3.2-3B``; on one line they run
    into each other."""
    lines = [""]
    for part in model.split("/")[-1].split("-"):
        piece = part if not lines[-1] else f"-{part}"
        if lines[-1] and len(lines[-1]) + len(piece) > width:
            lines[-1] += "-"
            lines.append(part)
        else:
            lines[-1] += piece
    return "\n".join(lines)
