"""Registry, profiles, overrides, workspace and runtime (Colab seam, token handling)."""

import os
import sys
import types

import pytest

from sit.config import ConfigError, Registry, apply_overrides, load_profile, load_registry, parse_set_args
from sit.runtime import MissingTokenError, environment_summary, load_hf_token, mount_drive, require_token
from sit.session import start
from sit.workspace import Workspace, WorkspaceError


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_registry_has_every_role_of_the_spec(registry):
    assert [s.id for s in registry.by_role("generator")] == ["meta-llama/Llama-3.1-8B-Instruct"]
    assert {s.id for s in registry.by_role("target")} == {
        "meta-llama/Llama-3.2-3B", "mistralai/Mistral-7B-v0.1", "Qwen/Qwen2.5-3B"}
    assert [s.id for s in registry.by_role("reward")] == ["OpenAssistant/reward-model-deberta-v3-large-v2"]
    assert len(registry.by_role("judge")) == 1


def test_lookup_by_slug_or_hub_id(registry):
    assert registry.get("Qwen/Qwen2.5-3B").slug == "qwen2.5-3b"
    assert registry.get("qwen/qwen2.5-3b").slug == "qwen2.5-3b"
    assert registry.get("mistral-7b-v0.1").id == "mistralai/Mistral-7B-v0.1"


def test_every_target_has_distinct_pad_and_a_template(registry):
    for spec in registry.by_role("target"):
        assert spec.pad_token and spec.pad_token != spec.family_spec.get("eos_token") or spec.family == "qwen2"
        assert spec.chat_template and spec.prompt_format and "{instruction}" in spec.prompt_format
        assert spec.lora_targets and spec.arch["layers"] > 0 and spec.toy["layers"] > 0


def test_unknown_model_role_and_profile_errors_list_the_known_ones(registry):
    with pytest.raises(ConfigError, match=r"unknown model 'gpt-5'.*llama-3.2-3b \(meta-llama/Llama-3.2-3B\)"):
        registry.get("gpt-5")
    with pytest.raises(ConfigError, match="not registered as a generator.*Llama-3.1-8B-Instruct"):
        registry.get("Qwen/Qwen2.5-3B", role="generator")
    with pytest.raises(ConfigError, match="unknown role 'critic'.*generator, target, reward, judge"):
        registry.by_role("critic")
    with pytest.raises(ConfigError, match="unknown profile 'fast'. Known profiles: auto, colab_t4, demo"):
        load_profile("fast")


def test_adding_a_model_is_one_entry(registry):
    import yaml

    from sit.config import config_dir

    data = yaml.safe_load((config_dir() / "models.yaml").read_text())
    data["models"]["phi-mini"] = {"id": "org/phi-mini", "roles": ["target"], "family": "qwen2",
                                  "chat_template": "chatml", "prompt_format": "chatml"}
    extended = Registry(data)
    assert extended.get("org/phi-mini").pre_query_template.startswith("<|im_start|>")
    assert len(extended.by_role("target")) == 4
    data["models"]["bad"] = {"id": "x/y", "roles": ["target"], "family": "gpt"}
    with pytest.raises(ConfigError, match="model 'bad': unknown family 'gpt'"):
        Registry(data)


def test_auto_profile_is_demo_without_a_gpu_and_overrides_apply():
    profile = load_profile("auto", {"generation.batch_size": "4", "filtering.selection": "random"})
    assert profile["name"] == "demo" and profile["world"] == "toy"
    assert profile["generation"]["batch_size"] == 4
    assert profile["filtering"]["selection"] == "random"
    t4 = load_profile("colab_t4")
    assert (t4["generation"]["num_instructions"], t4["filtering"]["target"], t4["preference"]["target_pairs"]) == (
        1500, 1000, 600)
    assert t4["dtype"] == "float16"


def test_override_typos_are_errors():
    with pytest.raises(ConfigError, match="unknown setting 'generation.batchsize'.*batch_size"):
        apply_overrides({"generation": {"batch_size": 1}}, {"generation.batchsize": 2})
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_set_args(["generation.batch_size"])
    assert parse_set_args(["a.b=1=2"]) == {"a.b": "1=2"}


def test_workspace_layout_and_unwritable_root(tmp_path):
    ws = Workspace(tmp_path / "ws")
    assert ws.raw_dir == tmp_path / "ws" / "data" / "raw" and not ws.raw_dir.exists()  # a writer creates it
    assert ws.responses_file("qwen2.5-3b") == tmp_path / "ws" / "data" / "preference" / "responses" / "qwen2.5-3b.jsonl"
    assert ws.adapter_dir("qwen2.5-3b", "sft") == tmp_path / "ws" / "models" / "qwen2.5-3b" / "sft"
    with pytest.raises(ValueError, match="unknown training stage 'rlhf'"):
        ws.adapter_dir("x", "rlhf")


def test_workspace_root_that_is_a_file_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(WorkspaceError, match=f"workspace '{blocker / 'ws'}' is not writable"):
        Workspace(blocker / "ws")


@pytest.fixture
def fake_colab(monkeypatch):
    """Stand-in for google.colab (which cannot exist off Colab): drive + userdata."""
    calls = {}
    colab = types.ModuleType("google.colab")
    drive = types.ModuleType("google.colab.drive")
    drive.mount = lambda path: calls.setdefault("mounted", path)
    userdata = types.ModuleType("google.colab.userdata")
    secrets = {}

    def get(name):
        if name not in secrets:
            raise KeyError(name)  # Colab raises when the secret is missing
        return secrets[name]

    userdata.get = get
    google = types.ModuleType("google")
    google.colab = colab
    for name, module in {"google": google, "google.colab": colab, "google.colab.drive": drive,
                         "google.colab.userdata": userdata}.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return calls, secrets


def test_colab_token_from_secrets_is_exported_never_printed(fake_colab, capsys, monkeypatch, tmp_path):
    calls, secrets = fake_colab
    assert load_hf_token() is False
    secrets["HF_TOKEN"] = "hf_" + "A" * 34
    assert load_hf_token() is True and os.environ["HF_TOKEN"] == secrets["HF_TOKEN"]
    assert mount_drive() is True and calls["mounted"] == "/content/drive"
    summary = environment_summary()
    assert summary["platform"] == "colab" and summary["hf_token"] == "set"
    monkeypatch.setenv("SIT_WORKSPACE", str(tmp_path))
    start("demo")
    out = capsys.readouterr().out
    assert secrets["HF_TOKEN"] not in out and "hf_token" in out


def test_gated_model_without_token_explains_the_colab_secret(monkeypatch, registry):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    gated = registry.get("meta-llama/Llama-3.2-3B")
    with pytest.raises(MissingTokenError, match="add a secret named HF_TOKEN"):
        require_token(gated, "hub")
    require_token(gated, "toy")  # the toy world needs no token
    require_token(registry.get("Qwen/Qwen2.5-3B"), "hub")  # not gated


def test_off_colab_drive_is_not_mounted():
    assert "google.colab" not in sys.modules
    assert mount_drive() is False
