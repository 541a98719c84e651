"""Token hygiene: a canary HF_TOKEN goes in, and it shows up in no file the pipeline leaves behind.

The whole pipeline runs (the shared ``demo_run``: ``sit run-all``, the report and the publish dry run); every
file under the workspace (executed notebooks, manifests, artifacts, report, slides, published folders) and
every line printed is searched for the canary. The Colab secret path is
covered through the project's one Colab seam, ``sit.runtime.colab_module``.
"""

import base64
import os
import sys
import types
import uuid
from pathlib import Path

from test_report_artifacts import make_all

import sit.runtime
from sit.cli import main as sit_main

ROOT = Path(__file__).resolve().parents[1]


def canary() -> str:
    return f"hf_canary{uuid.uuid4().hex}"


def leaks(root: Path, secret: str) -> list[str]:
    """Every file under ``root`` holding the secret, as typed or base64-encoded."""
    needles = [secret.encode(), base64.b64encode(secret.encode()).rstrip(b"=")]
    return [str(p) for p in sorted(root.rglob("*")) if p.is_file() and any(n in p.read_bytes() for n in needles)]


def test_the_scan_finds_a_planted_secret(tmp_path):
    secret = canary()
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / ".hidden.json").write_text(f'{{"token": "{secret}"}}')
    (tmp_path / "clean.txt").write_text("nothing here")
    (tmp_path / "encoded.bin").write_bytes(base64.b64encode(secret.encode()))
    assert leaks(tmp_path, secret) == [str(tmp_path / "a/b/.hidden.json"), str(tmp_path / "encoded.bin")]


def test_a_token_from_the_colab_secret_leaks_into_nothing(tmp_path, monkeypatch, capsys):
    """On Colab the token comes from ``google.colab.userdata``; the CLI steps then run with it exported."""
    secret = canary()
    monkeypatch.setenv("HF_TOKEN", "placeholder")
    monkeypatch.delenv("HF_TOKEN")  # absent, and restored to absent after the test
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    mounted, asked = [], []

    def userdata_get(key):
        asked.append(key)
        if key != "HF_TOKEN":
            raise KeyError(key)
        return secret

    seams = {"userdata": types.SimpleNamespace(get=userdata_get),
             "drive": types.SimpleNamespace(mount=lambda path: mounted.append(path))}
    monkeypatch.setattr(sit.runtime, "colab_module", lambda name: seams[name])
    make_all(tmp_path)
    for command in (["filter", "--profile", "demo", "--workspace", str(tmp_path)],
                    ["report", "--profile", "demo", "--workspace", str(tmp_path)],
                    ["publish", "--profile", "demo", "--workspace", str(tmp_path)]):
        assert sit_main(command) == 0, command
    assert os.environ["HF_TOKEN"] == secret and asked == ["HF_TOKEN"]  # read once, then from the environment
    assert mounted == ["/content/drive"] * 3
    out = capsys.readouterr()
    assert "hf_token" in out.out and secret not in out.out + out.err
    assert (tmp_path / "evaluation/slides.pptx").is_file() and (tmp_path / "publish/models").is_dir()
    assert leaks(tmp_path, secret) == []
