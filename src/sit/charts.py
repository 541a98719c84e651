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
