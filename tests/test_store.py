"""The JSONL store and atomic writes, including a real SIGKILL mid-append."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from sit.store import (
    ArtifactError,
    JsonlStore,
    TornLineWarning,
    iter_jsonl,
    read_jsonl,
    write_json_atomic,
    write_jsonl_atomic,
)


def test_append_and_read_back_in_order(tmp_path):
    store = JsonlStore(tmp_path / "a.jsonl")
    assert store.read() == []
    store.append([{"id": "a", "x": 1}, {"id": "b", "x": "é"}])
    store.append([{"id": "c", "x": None}])
    assert [r["id"] for r in store.read()] == ["a", "b", "c"]
    assert store.read()[1]["x"] == "é"


def test_refuses_to_write_an_id_twice(tmp_path):
    store = JsonlStore(tmp_path / "a.jsonl")
    store.append([{"id": "a"}])
    with pytest.raises(ArtifactError, match="'a' is already stored"):
        store.append([{"id": "b"}, {"id": "a"}])
    with pytest.raises(ArtifactError, match="already stored"):
        store.append([{"id": "z"}, {"id": "z"}])
    assert [r["id"] for r in store.read()] == ["a"]  # nothing of a refused batch was written


def test_torn_last_line_is_dropped_with_a_warning_and_repaired_on_append(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "te')
    store = JsonlStore(path)
    with pytest.warns(TornLineWarning, match="line 3 is incomplete"):
        assert [r["id"] for r in store.read()] == ["a", "b"]
    store.append([{"id": "c"}])
    assert path.read_text().endswith('{"id": "c"}\n')
    assert [r["id"] for r in store.read()] == ["a", "b", "c"]


def test_complete_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}')
    store = JsonlStore(path)
    assert [r["id"] for r in store.read()] == ["a", "b"]
    store.append([{"id": "c"}])
    assert [r["id"] for r in store.read()] == ["a", "b", "c"]


@pytest.mark.parametrize("content, line, what", [
    ('{"id": "a"}\n{"id": broken}\n{"id": "c"}\n', 2, "not valid JSON"),
    ('{"id": "a"}\n{"id": "b", "x\n', 2, "not valid JSON"),  # terminated by a newline: not a torn write
    ('{"id": "a"}\n[1, 2]\n', 2, "expected a JSON object"),
    ('{"id": "a"}\n{"x": 1}\n', 2, "record has no 'id' field"),
    ('{"id": "a"}\n\n{"id": "a"}\n', 3, "duplicate id 'a' \\(first on line 1\\)"),
])
def test_corruption_names_file_and_line(tmp_path, content, line, what):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(ArtifactError, match=f"bad.jsonl: line {line}: {what}"):
        JsonlStore(path).read()


def test_atomic_writers_replace_whole_files(tmp_path):
    path = tmp_path / "sub" / "r.json"
    write_json_atomic(path, {"b": 1, "a": [1, 2]})
    assert json.loads(path.read_text()) == {"a": [1, 2], "b": 1}
    write_jsonl_atomic(tmp_path / "x.jsonl", [{"id": 1}, {"id": 2}])
    assert read_jsonl(tmp_path / "x.jsonl") == [{"id": 1}, {"id": 2}]
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.json"]  # no temp files left


def test_failed_atomic_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "r.jsonl"
    write_jsonl_atomic(path, [{"id": 1}])

    def records():
        yield {"id": 2}
        raise RuntimeError("producer died")

    with pytest.raises(RuntimeError):
        write_jsonl_atomic(path, records())
    assert read_jsonl(path) == [{"id": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["r.jsonl"]


def test_iter_jsonl_gives_line_numbers(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n')
    assert list(iter_jsonl(path)) == [(1, {"a": 1}), (3, {"a": 2})]


WRITER = textwrap.dedent("""
    import sys
    from sit.store import JsonlStore
    store = JsonlStore(sys.argv[1])
    done = store.ids()
    batch = []
    for i in range(int(sys.argv[2])):
        rid = f"r{i:06d}"
        if rid in done:
            continue
        batch.append({"id": rid, "payload": "x" * 2000})
        if len(batch) == 50:
            store.append(batch, existing_ids=done)
            batch = []
    store.append(batch, existing_ids=done)
""")


def test_store_survives_sigkill_mid_append(tmp_path):
    """Kill a real writer process several times; resuming yields every id exactly once."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    path = tmp_path / "out.jsonl"
    total = 20000
    kills = 0
    for delay in (0.4, 0.6, 0.8):
        proc = subprocess.Popen([sys.executable, str(script), str(path), str(total)])
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 1, "the writer finished before it could be killed; raise `total`"
    subprocess.run([sys.executable, str(script), str(path), str(total)], check=True)
    records = JsonlStore(path).read()
    ids = [r["id"] for r in records]
    assert len(ids) == total and len(set(ids)) == total
    assert all(r["payload"] == "x" * 2000 for r in records)
    for line in path.read_text().splitlines():
        json.loads(line)  # every line is complete JSON after the final run

