"""Artifact files: an append-only JSONL store that survives a killed process, and atomic writes.

* :class:`JsonlStore` appends batches of records (each with a stable ``id``), flushing and fsyncing
  every batch. Reading back drops a torn last line (a process killed mid-write) and says so, but
  fails loudly, naming the file and line, on corruption anywhere else. An id is never written twice.
* :func:`write_json_atomic` / :func:`write_jsonl_atomic` / :func:`write_text_atomic` write whole
  files through a temp file + rename, so a reader never sees half a file and an old file is
  never lost half-way.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path


class ArtifactError(ValueError):
    """A corrupt or inconsistent artifact; the message names the file (and line)."""


class TornLineWarning(UserWarning):
    """The last line of a JSONL file was cut off by a killed writer and was ignored."""


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def dumps(obj) -> str:
    """The one JSON encoding used for artifacts (stable key order, real UTF-8)."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)


def write_json_atomic(path: str | Path, obj) -> Path:
    return write_text_atomic(path, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def write_jsonl_atomic(path: str | Path, records: Iterable[dict]) -> Path:
    return write_text_atomic(path, "".join(dumps(r) + "\n" for r in records))


def read_json(path: str | Path):
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc


def iter_jsonl(path: str | Path, *, tolerate_torn_tail: bool = True) -> Iterator[tuple[int, object]]:
    """Yield ``(line_number, parsed_value)`` for every line of a JSONL file (1-based, blank lines skipped).

    A last line that does not parse *and* has no trailing newline is a torn write: it is dropped
    with a :class:`TornLineWarning`. Any other unparsable line raises :class:`ArtifactError`."""
    path = Path(path)
    with open(path, "rb") as fh:
        data = fh.read()
    lines = data.split(b"\n")
    ends_with_newline = data.endswith(b"\n")
    if ends_with_newline:
        lines = lines[:-1]
    last = len(lines)
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if number == last and not ends_with_newline and tolerate_torn_tail:
                warnings.warn(
                    f"{path}: line {number} is incomplete (a write was interrupted); ignoring it",
                    TornLineWarning,
                    stacklevel=2,
                )
                return
            raise ArtifactError(f"{path}: line {number}: not valid JSON ({exc})") from exc
        yield number, value


def read_jsonl(path: str | Path) -> list[dict]:
    """All records of a JSONL file; every line must be a JSON object."""
    out = []
    for number, value in iter_jsonl(path):
        if not isinstance(value, dict):
            raise ArtifactError(f"{path}: line {number}: expected a JSON object, got {type(value).__name__}")
        out.append(value)
    return out


class JsonlStore:
    """An append-only JSONL file of records keyed by a unique ``id`` field."""

    def __init__(self, path: str | Path, id_field: str = "id"):
        self.path = Path(path)
        self.id_field = id_field

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        records, seen = [], {}
        for number, value in iter_jsonl(self.path):
            if not isinstance(value, dict):
                raise ArtifactError(f"{self.path}: line {number}: expected a JSON object")
            if self.id_field not in value:
                raise ArtifactError(f"{self.path}: line {number}: record has no '{self.id_field}' field")
            rid = value[self.id_field]
            if rid in seen:
                raise ArtifactError(
                    f"{self.path}: line {number}: duplicate id {rid!r} (first on line {seen[rid]})"
                )
            seen[rid] = number
            records.append(value)
        return records

    def ids(self) -> set:
        return {r[self.id_field] for r in self.read()}

    def _repair_tail(self) -> None:
        """Cut a torn last line off before appending, so new records start on a fresh line."""
        if not self.path.exists():
            return
        with open(self.path, "rb+") as fh:
            data = fh.read()
            if not data or data.endswith(b"\n"):
                return
            cut = data.rfind(b"\n") + 1
            tail = data[cut:]
            try:
                json.loads(tail.decode("utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                fh.truncate(cut)  # torn: drop it
            else:
                fh.seek(0, os.SEEK_END)
                fh.write(b"\n")  # complete record that only lacks its newline
            fh.flush()
            os.fsync(fh.fileno())

    def append(self, records: Iterable[dict], *, existing_ids: set | None = None) -> int:
        """Append records durably (flush + fsync). Refuses an id that is already stored.

        ``existing_ids`` may be passed by a caller that already read the file (saves a re-read)."""
        records = list(records)
        if not records:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        known = set(self.ids() if existing_ids is None else existing_ids)
        lines = []
        for record in records:
            if self.id_field not in record:
                raise ArtifactError(f"{self.path}: refusing to append a record without '{self.id_field}'")
            rid = record[self.id_field]
            if rid in known:
                raise ArtifactError(f"{self.path}: id {rid!r} is already stored; refusing to write it twice")
            known.add(rid)
            lines.append(dumps(record) + "\n")
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write("".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
        if existing_ids is not None:
            existing_ids.update(r[self.id_field] for r in records)
        return len(records)
