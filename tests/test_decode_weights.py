"""The 3B targets decode on their nf4 base dequantized to the compute dtype (registry ``t4.decode_weights: fp16``);
the other nf4 models decode in nf4. bitsandbytes quantizes 4-bit on x86 CPU, so both paths run here."""

from dataclasses import replace

import pytest
import torch

from sit.config import ConfigError, Registry, load_registry
from sit.models import decode_weights, load_decoding_lm
from sit.noise import library_warnings_silenced
from sit.session import start
from sit.stages import load_stage

pytest.importorskip("bitsandbytes")

LLAMA, MISTRAL, QWEN = "meta-llama/Llama-3.2-3B", "mistralai/Mistral-7B-v0.1", "Qwen/Qwen2.5-3B"
NF4_ON_CPU = {"name": "nf4-on-cpu", "world": "hub", "quantize": True, "dtype": "float32", "device": "cpu"}


def four_bit_parts(model) -> list[str]:
    import bitsandbytes as bnb

    layers = [name for name, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    return layers + [name for name, p in model.named_parameters() if isinstance(p, bnb.nn.Params4bit)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, toy_world):
    """A random tiny Llama (tied embeddings, as the 3B targets) with the toy Llama's tokenizer (the loader builds
    the model's neutral generation config from it), and a LoRA adapter whose B matrices are not zero."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    root = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                         tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(root / "base")
    AutoTokenizer.from_pretrained(str(toy_world / load_registry().get(LLAMA).slug)).save_pretrained(root / "base")
    plain = LlamaForCausalLM.from_pretrained(root / "base", dtype=torch.float32)
    lora = LoraConfig(r=4, lora_alpha=8, init_lora_weights=False, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    get_peft_model(plain, lora).save_pretrained(root / "adapter")
    registry = load_registry()
    spec = replace(registry.get(LLAMA), id=str(root / "base"), t4={"decode_weights": "fp16"})
    return spec, root


def logits_with_adapter(base, adapter):
    from peft import PeftModel

    with library_warnings_silenced():
        model = PeftModel.from_pretrained(base, str(adapter)).eval()
    ids = torch.tensor([[1, 17, 42, 99, 7, 200, 3, 64], [5, 6, 250, 11, 13, 90, 128, 2]])
    with torch.no_grad():
        return model(input_ids=ids).logits, model


def as_on_a_gpu(model):
    """bitsandbytes on a CPU with AVX512-BF16 repacks 4-bit weights for a bf16 kernel; elsewhere, and on a GPU for
    more than one token, a 4-bit layer dequantizes its weight to the compute dtype and multiplies. Take that path
    on every CPU, so the reference is the same on any machine."""
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
    return model


def test_the_dequantized_base_gives_the_nf4_logits_with_the_adapter_and_has_no_4bit_layer_left(tiny):
    spec, root = tiny
    nf4 = as_on_a_gpu(load_decoding_lm(replace(spec, t4={"decode_weights": "nf4"}), NF4_ON_CPU))
    nf4_logits, nf4_model = logits_with_adapter(nf4, root / "adapter")
    fp_logits, fp_model = logits_with_adapter(load_decoding_lm(spec, NF4_ON_CPU), root / "adapter")
    assert four_bit_parts(nf4_model)  # the comparison is against a really quantized model
    assert four_bit_parts(fp_model) == []
    lora_bases = {type(m.base_layer).__name__ for name, m in fp_model.named_modules() if name.endswith("q_proj")}
    assert lora_bases == {"Linear"}
    assert not getattr(fp_model.base_model.model, "is_loaded_in_4bit", False)
    assert not hasattr(fp_model.base_model.model.config, "quantization_config")

    unquantized, _ = logits_with_adapter(load_decoding_lm(spec, {**NF4_ON_CPU, "quantize": False}), root / "adapter")
    quantization_error = (unquantized - nf4_logits).abs().max().item()
    assert quantization_error > 1e-2  # nf4 moved the logits: the dequantized model must hold the nf4 weights
    torch.testing.assert_close(fp_logits, nf4_logits, rtol=1e-5, atol=1e-5)


def test_the_registry_decides_which_models_decode_in_fp16():
    registry = load_registry()
    profile = {"quantize": True}
    assert {s.slug: decode_weights(s, profile) for s in registry if s.load == "nf4"} == {
        "llama-3.1-8b-instruct": "nf4", "llama-3.2-3b": "fp16", "mistral-7b-v0.1": "nf4", "qwen2.5-3b": "fp16",
        "qwen2.5-7b-instruct": "nf4"}
    assert decode_weights(registry.get(LLAMA), {"quantize": False}) is None  # nothing to dequantize
    spec = registry.get(MISTRAL)
    entry = {"id": spec.id, "roles": ["target"], "family": "mistral", "t4": {"decode_weights": "bf16"}}
    with pytest.raises(ConfigError, match=r"model 'mistral-7b-v0.1': t4.decode_weights must be fp16 or nf4, got 'bf16'"):
        Registry({"families": registry.families, "models": {"mistral-7b-v0.1": entry}})


@pytest.mark.parametrize(("model", "four_bit"), [(QWEN, False), (MISTRAL, True)])
def test_a_stage_loads_as_its_registry_entry_decodes(tmp_path, toy_world, model, four_bit):
    """The toy targets through the loader every phase uses, on the T4's nf4 path."""
    session = start("demo", str(tmp_path), 42, {"quantize": True}, verbose=False)
    loaded, _ = load_stage(session, model, "base")
    assert bool(four_bit_parts(loaded)) is four_bit
