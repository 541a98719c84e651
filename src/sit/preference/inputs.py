"""What every preference step starts from: the profile's ``preference`` settings and phase 2's output."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import ConfigError, resolve_settings
from ..store import read_jsonl

if TYPE_CHECKING:
    from ..session import Session

PHASE = "03_preference_data"
FILTERED_FILE = "filtered.jsonl"
_POSITIVE_INTS = ("batch_size", "checkpoint_every", "max_new_tokens_response", "reward_batch_size",
                  "reward_max_length", "target_pairs")


def preference_settings(session: Session, overrides: dict | None = None) -> dict:
    """The profile's ``preference`` section with ``overrides`` (None values ignored), validated."""
    cfg = resolve_settings("preference", session.section("preference"), overrides=overrides)
    for key in _POSITIVE_INTS:
        value = cfg[key]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"preference.{key} must be a whole number > 0, got {value!r}")
    for key in ("response_temperature", "min_margin"):
        if not isinstance(cfg[key], int | float) or cfg[key] < 0:
            raise ConfigError(f"preference.{key} must be a number >= 0, got {cfg[key]!r}")
    return cfg


def read_filtered(session: Session) -> list[dict]:
    """Phase 2's output; a clear error naming notebook 02 when it is missing or empty."""
    path = session.workspace.filtered_dir / FILTERED_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"no filtered instructions at {path}. Run notebook 02 (quality filtering) on this workspace first; "
            "it writes data/filtered/filtered.jsonl."
        )
    records = read_jsonl(path)
    if not records:
        raise ConfigError(f"{path} holds no instructions; re-run notebook 02 (quality filtering) with looser settings")
    return records
