"""The Drive cache switch: on Colab, `hf_cache_on_drive` sends hub downloads to a folder on Drive that outlives the
runtime, so transformers finds a model there instead of downloading it again. Colab is faked through the project's
one seam (`google.colab` in sys.modules); the lookup itself is transformers' own."""

import os

import huggingface_hub.constants
import pytest
from test_config import fake_colab  # noqa: F401  (fixture)
from transformers import AutoConfig, LlamaConfig

import sit.runtime
from sit.session import start


@pytest.fixture
def drive(monkeypatch, tmp_path):
    folder = tmp_path / "MyDrive" / "hf-cache"
    monkeypatch.setattr(sit.runtime, "DRIVE_HF_CACHE", str(folder))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", huggingface_hub.constants.HF_HUB_CACHE)
    monkeypatch.setenv("SIT_WORKSPACE", str(tmp_path / "workspace"))
    return folder


def _cache_a_model(folder, repo="org/tiny-llama"):
    """A model as the hub cache lays it out after a download: refs/main -> snapshots/<commit>/config.json."""
    root = folder / f"models--{repo.replace('/', '--')}"
    snapshot = root / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (root / "refs").mkdir()
    (root / "refs" / "main").write_text("a" * 40)
    LlamaConfig(hidden_size=64, num_hidden_layers=2).to_json_file(snapshot / "config.json")
    return repo


def test_on_colab_the_switch_sends_hub_downloads_to_drive(fake_colab, drive, capsys):  # noqa: F811
    default = huggingface_hub.constants.HF_HUB_CACHE
    start("colab_t4")
    assert "HF_HUB_CACHE" not in os.environ and huggingface_hub.constants.HF_HUB_CACHE == default
    assert "runtime's disk" in capsys.readouterr().out

    start("colab_t4", overrides={"hf_cache_on_drive": True})
    assert os.environ["HF_HUB_CACHE"] == str(drive) and drive.is_dir()
    assert huggingface_hub.constants.HF_HUB_CACHE == str(drive)  # already imported: pointed there too
    assert f"{drive} (Drive" in capsys.readouterr().out
    repo = _cache_a_model(drive)
    config = AutoConfig.from_pretrained(repo, local_files_only=True)  # found on Drive, no download
    assert config.hidden_size == 64


def test_the_setup_cell_argument_wins_over_the_profile(fake_colab, drive):  # noqa: F811
    start("colab_t4", hf_cache_on_drive=True)
    assert os.environ["HF_HUB_CACHE"] == str(drive)


def test_off_colab_the_switch_changes_nothing_and_says_so(drive, capsys):
    default = huggingface_hub.constants.HF_HUB_CACHE
    start("colab_t4", overrides={"hf_cache_on_drive": True})
    assert "HF_HUB_CACHE" not in os.environ and huggingface_hub.constants.HF_HUB_CACHE == default
    assert not drive.exists() and "applies on Colab only" in capsys.readouterr().out
