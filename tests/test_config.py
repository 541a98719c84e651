"""Registry, profiles, overrides, workspace and runtime (Colab seam, token handling)."""

import os
import sys
import types

import pytest

from sit.config import (
    ConfigError,
    Registry,
    apply_overrides,
    config_dir,
    load_profile,
    load_profiles,
    load_registry,
    merge_profile,
    parse_set_args,
    resolve_profiles,
    resolve_settings,
)
from sit.runtime import MissingTokenError, environment_summary, load_hf_token, mount_drive, require_token
from sit.session import start
from sit.workspace import Workspace, WorkspaceError


@pytest.fixture(scope="module")
def registry():
    """The spec's models: the ones the hub profile uses (SmolLM2, whose weights ship in a package, is the smol
    profile's; see test_model_sources.py and test_real_model.py)."""
    return load_registry().for_profile(load_profile("colab_t4"))


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
    assert len(extended.for_profile(load_profile("colab_t4")).by_role("target")) == 4
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


def _keys(profile: dict, prefix: str = "") -> set[str]:
    """Every setting of a profile as a dotted name."""
    return {name for key, value in profile.items()
            for name in (_keys(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}"})}


def _value(profile: dict, dotted: str):
    for part in dotted.split("."):
        profile = profile[part]
    return profile


def test_demo_is_colab_t4_with_only_what_differs():
    import yaml

    raw = yaml.safe_load((config_dir() / "profiles.yaml").read_text(encoding="utf-8"))
    own = {k: v for k, v in raw["demo"].items() if k != "extends"}
    assert raw["demo"]["extends"] == "colab_t4" and "extends" not in raw["colab_t4"]
    profiles = load_profiles()
    t4, demo = profiles["colab_t4"], profiles["demo"]
    assert _keys(own) < _keys(t4) and _keys(demo) == _keys(t4)  # demo adds no setting, and has every one
    for name in _keys(t4):
        expected = _value(own, name) if name in _keys(own) else _value(t4, name)
        assert _value(demo, name) == expected, name
    assert all(_value(own, name) != _value(t4, name) for name in _keys(own))  # nothing repeated from colab_t4
    # What the tests, notebooks and the toy world depend on, inherited or the demo's own.
    assert (demo["world"], demo["device"], demo["dtype"], demo["quantize"], demo["seed"]) == (
        "toy", "cpu", "float32", False, 42)
    assert (demo["generation"]["num_instructions"], demo["generation"]["batch_size"], demo["filtering"]["target"],
            demo["preference"]["target_pairs"], demo["training"]["heldout"]) == (192, 16, 80, 50, 16)
    assert demo["training"]["sft"]["lora_targets"][-3:] == ["gate_proj", "up_proj", "down_proj"]
    assert (demo["training"]["sft"]["lora_r"], demo["training"]["dpo"]["beta"], demo["training"]["report_to"]) == (
        8, 0.1, "none")
    evaluation = demo["evaluation"]
    assert evaluation["stages"] == ["base", "sft", "dpo"] and evaluation["benchmarks"] == ["ifeval", "mmlu", "mt_bench"]
    assert (evaluation["mmlu"]["tasks"], evaluation["mmlu"]["subjects"], evaluation["mmlu"]["max_prompt_tokens"]) == (
        "local", None, None)
    assert (evaluation["mt_bench"]["judge"], evaluation["mt_bench"]["judge_prompts"],
            evaluation["mt_bench"]["questions"], evaluation["mt_bench"]["checkpoint_every"]) == (
        "qwen2.5-7b-instruct", "short", 1, 8)
    assert (demo["agent"]["goals"], demo["agent"]["context_window"], demo["agent"]["split"]) == (30, None, "test")
    assert demo["report"] == t4["report"] and demo["publish"] == t4["publish"]
    assert load_profile("demo") == {**demo, "name": "demo"}


def test_extends_merges_sections_and_names_a_bad_parent_or_a_cycle(tmp_path):
    base = {"a": 1, "s": {"x": 1, "y": [1, 2], "t": {"u": 1}}}
    child = {"extends": "base", "s": {"y": [3], "t": {"v": 2}}, "b": None}
    resolved = resolve_profiles({"base": base, "child": child, "grandchild": {"extends": "child", "a": 2}})
    assert resolved["child"] == {"a": 1, "s": {"x": 1, "y": [3], "t": {"u": 1, "v": 2}}, "b": None}
    assert resolved["grandchild"] == {**resolved["child"], "a": 2}
    assert base == {"a": 1, "s": {"x": 1, "y": [1, 2], "t": {"u": 1}}}  # the parent is not changed
    assert merge_profile(base, {"s": None}) == {"a": 1, "s": None}
    with pytest.raises(ConfigError, match="profile 'child' extends unknown profile 'bse' .known: base, child"):
        resolve_profiles({"base": base, "child": {"extends": "bse"}})
    with pytest.raises(ConfigError, match=r"profile 'b' extends 'a', a cycle \(a -> b -> a\)"):
        resolve_profiles({"a": {"extends": "b"}, "b": {"extends": "a"}})
    with pytest.raises(ConfigError, match=r"profile 'loop' extends 'loop', a cycle \(loop -> loop\)"):
        resolve_profiles({"loop": {"extends": "loop"}})
    path = tmp_path / "profiles.yaml"
    path.write_text("fast:\n  extends: turbo\n  seed: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"{path}: profile 'fast' extends unknown profile 'turbo'"):
        load_profiles(path)


def test_settings_are_defaults_then_profile_then_given_overrides():
    defaults, profile = {"a": 1, "b": 2, "c": 3}, {"b": 20, "c": None}
    assert resolve_settings("x", defaults, profile, overrides={"c": 30, "a": None}) == {"a": 1, "b": 20, "c": 30}
    assert resolve_settings("x", defaults, None, {"a": None}) == {"a": None, "b": 2, "c": 3}  # a layer sets None
    assert list(resolve_settings("x", defaults, {"c": 0})) == ["a", "b", "c"]
    with pytest.raises(ConfigError, match=r"unknown x setting\(s\) 'bb', 'd' \(known: a, b, c\)"):
        resolve_settings("x", defaults, profile, overrides={"bb": 1, "d": None})
    assert resolve_settings("x", defaults, {"d": 4}) == {"a": 1, "b": 2, "c": 3, "d": 4}  # no ``known``: layers add
    with pytest.raises(ConfigError, match="unknown x setting.s. 'd' .known: a, b, c."):
        resolve_settings("x", defaults, {"d": 4}, known=defaults)


def test_the_built_in_benchmarks_knobs_are_set_once_in_colab_t4():
    from sit.evaluation.benchmarks import BENCHMARKS, knobs

    t4 = load_profile("colab_t4")["evaluation"]
    for name in ("ifeval", "mmlu", "mt_bench"):
        assert BENCHMARKS[name].knobs == t4[name]
        assert knobs(BENCHMARKS[name], {}) == t4[name]
    assert BENCHMARKS["mmlu"].knobs["limit"] == 20 and len(BENCHMARKS["mmlu"].knobs["subjects"]) == 10


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
