"""EXPORT_MERGED merges where the fp16 model fits (GPU, else RAM) and otherwise refuses before loading,
with a message computed from the registry's architecture."""

import json
import re

import pytest
from test_training import LLAMA, MISTRAL, SMALL, finished_stage, session_for, toy_path, write_inputs

from sit.config import ConfigError
from sit.session import start
from sit.training import export_merged
from sit.training.merge import merge_device

GB = 10**9
COLAB_RAM = int(12.7 * GB)


def test_mistral_7b_in_fp16_does_not_fit_colab_ram_but_fits_a_free_t4(tmp_path):
    session = start("colab_t4", str(tmp_path), 42, {}, verbose=False)
    spec = session.registry.get(MISTRAL, role="target")  # no token needed for arithmetic
    with pytest.raises(ConfigError, match=r"needs about 1[45]\.\d GB \(7\.2\d B parameters x 2 bytes.* 12\.7 GB of "
                                          r"RAM and 0\.0 GB of GPU memory free\. Nothing was loaded"):
        merge_device(spec, session.profile, (COLAB_RAM, 0))
    device, need = merge_device(spec, session.profile, (COLAB_RAM, int(15.6 * GB)))  # a T4 with nothing loaded
    assert device == "cuda" and 14.4 * GB < need < 15.6 * GB
    llama = session.registry.get(LLAMA, role="target")
    assert merge_device(llama, session.profile, (COLAB_RAM, 0))[0] == "cpu"  # 3B in fp16 fits in RAM


def test_export_is_refused_before_loading_when_the_budget_is_too_small(tmp_path, toy_world):
    write_inputs(tmp_path, 8)
    session = session_for(tmp_path, **SMALL)
    folder = tmp_path / "models/llama-3.2-3b/sft"
    folder.mkdir(parents=True)  # a finished stage as far as the export can tell; nothing here can be loaded
    (folder / "manifest.json").write_text(json.dumps({"fingerprint": {"model": LLAMA, "world": session.world_id}}))
    spec = session.model(LLAMA, role="target")
    _, need = merge_device(spec, session.profile, (10**15, 0))
    with pytest.raises(ConfigError, match=r"merging into meta-llama/Llama-3.2-3B needs about .* Nothing was loaded"):
        export_merged(session, LLAMA, "sft", memory=(need - 1, 10**15))  # the demo profile runs on the CPU
    assert not (folder.parent / "sft-merged-fp16").exists()
    assert not list(folder.parent.glob(".sft-merged-fp16*"))


@pytest.mark.slow
def test_export_merges_on_the_cpu_when_ram_holds_it_and_matches_the_adapter(tmp_path, toy_world):
    import torch
    from transformers import AutoModelForCausalLM

    from sit.stages import load_stage
    from sit.training import train_sft

    write_inputs(tmp_path, 8)
    session = session_for(tmp_path, **{**SMALL, "training.sft.epochs": 1})
    train_sft(session, LLAMA, progress=False)
    out = export_merged(session, LLAMA, "sft")
    merged = AutoModelForCausalLM.from_pretrained(out)
    adapter, tokenizer = load_stage(session, LLAMA, "sft")
    assert merged.dtype == torch.float16
    batch = tokenizer(["Explain how tea is made.<|eot_id|>"], return_tensors="pt")
    with torch.no_grad():
        want, got = adapter(**batch).logits.float(), merged(**batch).logits.float()
    assert (want - got).abs().max() < 0.02 * want.abs().max()  # fp16 rounding only
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")  # the SFT adapter's chat-token row is merged in
    assert torch.allclose(merged.get_input_embeddings().weight[eot].float(),
                          adapter.get_input_embeddings().weight[eot].float(), atol=1e-2)


def test_export_writes_small_shards_that_load_back_as_the_adapted_model(tmp_path, toy_world, capsys):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    session = session_for(tmp_path)
    folder = finished_stage(session, LLAMA, "sft")
    out = export_merged(session, LLAMA, "sft", memory=(10**12, 0), free_disk=10**12, max_shard_size=50_000)
    printed = capsys.readouterr().out
    assert re.search(r"needs about [\d.]+ GB of RAM and [\d.]+ GB of disk at .*sft-merged-fp16", printed), printed
    shards = sorted(out.glob("model-*-of-*.safetensors"))
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert len(shards) >= 3 and not (out / "model.safetensors").exists()
    assert {p.name for p in shards} == set(index["weight_map"].values())
    merged = AutoModelForCausalLM.from_pretrained(out)
    base = AutoModelForCausalLM.from_pretrained(toy_path(session, session.model(LLAMA, role="target")))
    adapted = PeftModel.from_pretrained(base, str(folder))
    batch = AutoTokenizer.from_pretrained(out)(["Explain how tea is made."], return_tensors="pt")
    with torch.no_grad():
        want, got = adapted(**batch).logits.float(), merged(**batch).logits.float()
    assert merged.dtype == torch.float16 and (want - got).abs().max() < 0.02 * want.abs().max()


def test_export_refuses_when_host_ram_or_the_destination_cannot_hold_it(tmp_path, toy_world):
    t4 = start("colab_t4", str(tmp_path / "t4"), 42, {}, verbose=False)
    mistral = t4.registry.get(MISTRAL, role="target")
    # the GPU holds the fp16 model, but safetensors copies each shard to host RAM before writing it
    with pytest.raises(ConfigError, match=r"on the GPU still needs about [\d.]+ GB of RAM .* 1\.0 GB of RAM"):
        merge_device(mistral, t4.profile, (int(1.0 * GB), int(15.6 * GB)))
    assert merge_device(mistral, t4.profile, (COLAB_RAM, int(15.6 * GB)))[0] == "cuda"
    session = session_for(tmp_path / "demo")
    folder = tmp_path / "demo/models/llama-3.2-3b/sft"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"fingerprint": {"model": LLAMA, "world": session.world_id}}))
    with pytest.raises(ConfigError, match=r"the merged meta-llama/Llama-3.2-3B needs about [\d.]+ GB of disk at "
                                          r".*sft-merged-fp16, but only 0\.0 GB is free there\. Nothing was loaded"):
        export_merged(session, LLAMA, "sft", memory=(10**15, 0), free_disk=1000)
    assert not list(folder.parent.glob("*sft-merged-fp16*"))
