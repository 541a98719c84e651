"""What SFT and DPO train on: phase 2's filtered pairs and phase 3's preference pairs, minus a held-out set.

A fixed, seeded share of the filtered instructions (``training.heldout``) is kept out of both SFT
and DPO, so that the stage comparison can ask every stage questions none of them trained on. The
held-out ids depend only on the seed and the filtered set.
"""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING

from ..config import ConfigError
from ..runtime import derive_seed
from ..store import read_jsonl

if TYPE_CHECKING:
    from ..session import Session

FILTERED_FILE = "filtered.jsonl"
PAIRS_FILE = "pairs.jsonl"


def _read_records(path, fields: tuple[str, ...], missing: str, empty: str) -> list[dict]:
    """The records of a phase's output; errors name the notebook that makes it, the file and the line."""
    if not path.exists():
        raise FileNotFoundError(missing.format(path=path))
    records = read_jsonl(path)
    if not records:
        raise ConfigError(f"{path} {empty}")
    for line, record in enumerate(records, 1):
        for field in fields:
            value = record.get(field)
            if not value or (isinstance(value, str) and not value.strip()):
                raise ConfigError(f"{path}, line {line}: field '{field}' is missing or empty")
    return records


def read_filtered(session: Session) -> list[dict]:
    return _read_records(
        session.workspace.filtered_dir / FILTERED_FILE, ("id", "instruction", "response"),
        "no SFT data at {path}. Run notebook 02 (quality filtering) on this workspace first; it writes "
        "data/filtered/filtered.jsonl.",
        "holds no instructions: the SFT dataset is empty. Re-run notebook 02 (quality filtering) with looser "
        "settings.")


def read_pairs(session: Session) -> list[dict]:
    return _read_records(
        session.workspace.preference_dir / PAIRS_FILE, ("id", "prompt", "chosen", "rejected"),
        "no preference pairs at {path}. Run notebook 03 (preference data) on this workspace first; it writes "
        "data/preference/pairs.jsonl.",
        "holds no pairs: the DPO dataset is empty. Re-run notebook 03 for more models or with a lower "
        "preference.min_margin.")


def heldout_count(session: Session) -> int:
    count = session.section("training")["heldout"]
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ConfigError(f"training.heldout must be a whole number >= 0, got {count!r}")
    return count


def heldout_ids(session: Session, filtered: list[dict] | None = None) -> list[str]:
    """The seeded held-out ids (sorted), never trained on by SFT or DPO."""
    filtered = read_filtered(session) if filtered is None else filtered
    ids = sorted(r["id"] for r in filtered)
    count = heldout_count(session)
    if count >= len(ids):
        raise ConfigError(f"training.heldout is {count} but the filtered set has only {len(ids)} instructions; "
                          "nothing would be left to train on")
    return sorted(random.Random(derive_seed(session.seed, "heldout")).sample(ids, count))


def data_digest(records: list[dict], keys: tuple[str, ...]) -> str:
    """A short hash of the training records (what a finished run was trained on)."""
    digest = hashlib.sha256()
    for record in records:
        for key in keys:
            digest.update(repr(record[key]).encode())
    return digest.hexdigest()[:16]


def sft_conversations(session: Session) -> tuple[list[dict], list[str]]:
    """``[{id, messages}]`` for SFT (held-out instructions removed) and the held-out ids."""
    filtered = read_filtered(session)
    held = set(heldout_ids(session, filtered))
    records = [{"id": r["id"], "messages": [{"role": "user", "content": r["instruction"]},
                                            {"role": "assistant", "content": r["response"]}]}
               for r in filtered if r["id"] not in held]
    return records, sorted(held)


def dpo_pairs(session: Session) -> tuple[list[dict], list[str]]:
    """Conversational ``[{id, prompt, chosen, rejected}]`` for DPO, held-out instructions removed."""
    held = set(heldout_ids(session))
    pairs = [{key: p[key] for key in ("id", "prompt", "chosen", "rejected")} for p in read_pairs(session)
             if p["id"] not in held]
    if not pairs:
        raise ConfigError("every preference pair is for a held-out instruction: the DPO dataset is empty. "
                          "Lower training.heldout or make more pairs in notebook 03.")
    return pairs, sorted(held)
