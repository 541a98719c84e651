"""SFT and DPO on the toy world: data, bad input, T4 dtypes on an nf4 model, OOM, resume after SIGKILL,
the trained chat-token rows, stopping on held-out instructions, loading and DPO."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from sit.config import ConfigError
from sit.evaluation.compare import pair_delta
from sit.evaluation.stage_rewards import bootstrap_ci, compare_stages, stage_answers
from sit.session import start
from sit.stages import load_stage, require_stage
from sit.store import read_json, read_jsonl, write_jsonl_atomic
from sit.toy.corpus import labeled_triples, make_corpus
from sit.training import train_dpo, train_sft
from sit.training.data import heldout_ids, sft_conversations
from sit.training.fit import CHECKPOINTS, checkpoint_problem, last_checkpoint

LLAMA, MISTRAL, QWEN = "meta-llama/Llama-3.2-3B", "mistralai/Mistral-7B-v0.1", "Qwen/Qwen2.5-3B"
SIT = str(Path(sys.executable).with_name("sit"))
GENERATOR = "meta-llama/Llama-3.1-8B-Instruct"


def write_inputs(workspace: Path, n: int, seed: int = 5) -> list[dict]:
    """Stand-ins for phases 2 and 3: ``n`` clean toy-corpus pairs, and a preference pair for each
    (the corpus answer chosen over a flawed one)."""
    clean = [item for item in make_corpus(seed=seed, n=4 * n) if item["kind"] == "clean"][:n]
    filtered = [{"id": f"magpie-{k:05d}", "instruction": c["instruction"], "response": c["response"],
                 "generator": GENERATOR} for k, c in enumerate(clean)]
    write_jsonl_atomic(workspace / "data/filtered/filtered.jsonl", filtered)
    flawed = [bad for _, _, bad, _ in labeled_triples(seed, n)]
    pairs = [{"id": r["id"], "prompt": [{"role": "user", "content": r["instruction"]}],
              "chosen": [{"role": "assistant", "content": r["response"]}],
              "rejected": [{"role": "assistant", "content": bad}], "margin": 1.0}
             for r, bad in zip(filtered, flawed, strict=True)]
    write_jsonl_atomic(workspace / "data/preference/pairs.jsonl", pairs)
    return filtered


def session_for(workspace, **overrides):
    return start("demo", str(workspace), 42, overrides, verbose=False)


SMALL = {"training.heldout": 4, "training.sft.epochs": 2, "training.sft.batch_size": 4, "training.save_steps": 2,
         "training.dpo.epochs": 1, "training.dpo.batch_size": 4}


def finished_stage(session, model_name: str, stage: str):
    """A stage folder as training leaves it, with a LoRA adapter whose B is random (so the merge changes weights)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from sit.models import load_tokenizer

    spec = session.model(model_name, role="target")
    folder = session.workspace.adapter_dir(spec.slug, stage)
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(toy_path(session, spec))
    model = get_peft_model(base, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    model.save_pretrained(folder)
    base.generation_config.save_pretrained(folder)
    load_tokenizer(spec, session.profile).save_pretrained(folder)  # with the registry's chat template
    (folder / "manifest.json").write_text(json.dumps({"fingerprint": {"model": spec.id, "world": session.world_id}}))
    return folder


def toy_path(session, spec):
    from sit.models import model_source

    return model_source(spec, session.profile)


# --------------------------------------------------------------------------- data and bad input


def test_heldout_is_seeded_and_kept_out_of_sft_and_dpo(tmp_path):
    write_inputs(tmp_path, 20)
    session = session_for(tmp_path, **SMALL)
    held = heldout_ids(session)
    assert held == heldout_ids(session_for(tmp_path, **SMALL)) and len(held) == 4
    assert held != heldout_ids(start("demo", str(tmp_path), 7, SMALL, verbose=False))
    records, _ = sft_conversations(session)
    assert len(records) == 16 and not {r["id"] for r in records} & set(held)
    assert records[0]["messages"][0]["role"] == "user" and records[0]["messages"][1]["role"] == "assistant"


def test_bad_input_names_the_notebook_the_path_or_the_choices(tmp_path, toy_world):
    session = session_for(tmp_path, **SMALL)
    with pytest.raises(FileNotFoundError, match=r"Run notebook 02 .*data/filtered/filtered.jsonl"):
        train_sft(session, LLAMA, progress=False)
    with pytest.raises(ConfigError, match=r"unknown model 'nobody/none'. Registered models: .*Qwen/Qwen2.5-3B"):
        train_sft(session, "nobody/none", progress=False)
    with pytest.raises(ConfigError, match=r"not registered as a target \(registered targets: .*Mistral"):
        train_sft(session, GENERATOR, progress=False)
    write_inputs(tmp_path, 8)
    (tmp_path / "data/preference/pairs.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match=r"no finished SFT adapter .* Run notebook 04"):
        train_dpo(session, LLAMA, progress=False)
    with pytest.raises(ConfigError, match=r"max_length is 8 tokens, shorter than every one of the 4 SFT"):
        train_sft(session_for(tmp_path, **{**SMALL, "training.sft.max_length": 8}), LLAMA, progress=False)
    with pytest.raises(ConfigError, match="unknown sft setting"):
        train_sft(session, LLAMA, progress=False, epoch=3)
    write_jsonl_atomic(tmp_path / "data/filtered/filtered.jsonl", [])
    with pytest.raises(ConfigError, match="SFT dataset is empty"):
        train_sft(session, LLAMA, progress=False)


# --------------------------------------------------------------------------- T4 safety


def test_nf4_model_trains_with_fp32_trainable_weights_and_chat_rows_reach_the_fused_head(tmp_path, toy_world):
    """bitsandbytes quantizes 4-bit on CPU: the QLoRA path of a T4 (nf4, TRL's bf16 cast, our re-cast)."""
    pytest.importorskip("bitsandbytes")
    write_inputs(tmp_path, 8)
    session = session_for(tmp_path, **{**SMALL, "training.sft.epochs": 1, "quantize": True})
    seen = {}

    def inspect(trainer):
        model = trainer.model
        seen["quantized"] = any("Linear4bit" in type(m).__name__ for m in model.modules())
        seen["dtypes"] = {str(p.dtype) for p in model.parameters() if p.requires_grad}
        deltas = [p for n, p in model.named_parameters() if "trainable_tokens_delta" in n]
        seen["rows"] = deltas[0].detach().clone()
        # What the fused LM head multiplies with is the merged matrix: the trained rows are in it
        head = model.get_output_embeddings()
        seen["head_has_rows"] = torch.equal(head.weight[head.token_adapter.token_indices["default"]].float(),
                                            deltas[0].detach().float())
        batch = trainer.data_collator([trainer.train_dataset[0]])
        loss = model(**{k: v for k, v in batch.items()}, fused_lm_head=True).loss
        loss.backward()
        seen["row_grad"] = float(deltas[0].grad.abs().sum())
        model.zero_grad()

    result = train_sft(session, LLAMA, progress=False, trainer_hook=inspect)
    assert seen["quantized"] and seen["dtypes"] == {"torch.float32"}
    assert seen["head_has_rows"] and seen["row_grad"] > 0
    assert result.manifest["trainable_dtypes"] == ["torch.float32"]
    assert set(result.manifest["chat_tokens"]) >= {"<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"}
    assert result.manifest["initialized_rows"]["<|eot_id|>"] == "<|end_of_text|>"


def test_out_of_memory_halves_the_batch_doubles_accumulation_and_keeps_the_steps(tmp_path, toy_world):
    write_inputs(tmp_path, 20)
    session = session_for(tmp_path, **SMALL)
    sizes = []

    def oom_above_two(trainer):
        def guard(_module, args, kwargs):
            rows = kwargs["input_ids"].shape[0]
            sizes.append(rows)
            if rows > 2:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        trainer.model.register_forward_pre_hook(guard, with_kwargs=True)

    result = train_sft(session, LLAMA, progress=False, trainer_hook=oom_above_two)
    summary = result.summary
    assert summary["oom_retries"] == 1 and (summary["batch_size"], summary["grad_accum"]) == (2, 2)
    assert summary["global_steps"] == 2 * 16 // 4  # same optimizer steps as batch 4 x 1
    assert sizes[0] == 4 and set(sizes[1:]) == {2}


# --------------------------------------------------------------------------- resume


def test_sigkill_then_a_broken_newest_checkpoint_resumes_from_the_one_before_with_the_same_steps(tmp_path,
                                                                                                 toy_world):
    """A runtime that dies mid-save leaves the newest checkpoint half-written: the rerun falls back to
    the one before it, says so, and still trains every step."""
    write_inputs(tmp_path, 20)
    args = [SIT, "sft", "--profile", "demo", "--workspace", str(tmp_path), "--model", LLAMA, "--quiet"]
    args += [f"--set={k}={v}" for k, v in {**SMALL, "training.sft.epochs": 3}.items()]
    checkpoints = tmp_path / "models/llama-3.2-3b/sft/checkpoints"
    proc = subprocess.Popen(args)
    deadline = time.time() + 600
    while proc.poll() is None and time.time() < deadline:
        if sum((c / "trainer_state.json").exists() for c in checkpoints.glob("checkpoint-*")) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before its second checkpoint"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    steps = sorted(int(c.name.split("-")[1]) for c in checkpoints.glob("checkpoint-*"))
    assert len(steps) >= 2 and not (tmp_path / "models/llama-3.2-3b/sft/manifest.json").exists()
    newest, before = checkpoints / f"checkpoint-{steps[-1]}", steps[-2]
    for file in (newest / "adapter_model.safetensors", newest / "optimizer.pt"):  # as a save cut short leaves them
        if file.exists():
            file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])

    rerun = subprocess.run(args, check=True, capture_output=True, text=True)
    assert f"checkpoint-{steps[-1]} is incomplete" in rerun.stdout
    assert f"resuming from checkpoint-{before}" in rerun.stdout
    manifest = read_json(tmp_path / "models/llama-3.2-3b/sft/manifest.json")
    assert manifest["training"]["resumed_from_step"] == before > 0
    assert [s["checkpoint"] for s in manifest["training"]["skipped_checkpoints"]] == [newest.name]
    assert manifest["training"]["global_steps"] == 3 * 16 // 4  # as many as an uninterrupted run
    assert len(list(checkpoints.glob("checkpoint-*"))) <= 2  # the demo profile's save_total_limit

    before = (tmp_path / "models/llama-3.2-3b/sft/manifest.json").read_bytes()
    again = train_sft(session_for(tmp_path, **{**SMALL, "training.sft.epochs": 3}), LLAMA, progress=False)
    assert not again.trained and (tmp_path / "models/llama-3.2-3b/sft/manifest.json").read_bytes() == before
    with pytest.raises(ConfigError, match=r"trained with other settings \(config: .*Refusing to mix"):
        train_sft(session_for(tmp_path, **SMALL), LLAMA, progress=False)


def write_checkpoint(folder: Path, step: int) -> Path:
    """A checkpoint with the files transformers writes for a PEFT model, in their formats."""
    from safetensors.torch import save_file

    path = folder / CHECKPOINTS / f"checkpoint-{step}"
    path.mkdir(parents=True)
    save_file({"lora_A": torch.ones(2, 3)}, str(path / "adapter_model.safetensors"))
    torch.save({"state": {0: {"exp_avg": torch.zeros(3)}}, "param_groups": []}, path / "optimizer.pt")
    torch.save({"last_epoch": step}, path / "scheduler.pt")
    torch.save({"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.random.get_rng_state()},
               path / "rng_state.pth")
    (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return path


def test_resume_takes_the_newest_complete_checkpoint_and_names_the_incomplete_ones(tmp_path):
    assert last_checkpoint(tmp_path) is None
    for step in (2, 4, 6):
        write_checkpoint(tmp_path, step)
    assert Path(last_checkpoint(tmp_path)).name == "checkpoint-6"
    (tmp_path / CHECKPOINTS / "checkpoint-6/scheduler.pt").unlink()
    optimizer = tmp_path / CHECKPOINTS / "checkpoint-4/optimizer.pt"
    optimizer.write_bytes(optimizer.read_bytes()[:40])
    skipped = []
    assert Path(last_checkpoint(tmp_path, skipped)).name == "checkpoint-2"
    assert [s["checkpoint"] for s in skipped] == ["checkpoint-6", "checkpoint-4"]
    assert skipped[0]["problem"] == "missing scheduler.pt" and "optimizer.pt is unreadable" in skipped[1]["problem"]
    state = tmp_path / CHECKPOINTS / "checkpoint-2/trainer_state.json"
    state.write_text('{"global_step": ')
    assert last_checkpoint(tmp_path) is None
    assert "trainer_state.json is unreadable" in checkpoint_problem(state.parent)


# --------------------------------------------------------------------------- the demo-sized proof


@pytest.fixture(scope="module")
def trained(tmp_path_factory, toy_world):
    """The demo profile's SFT, then DPO, for the three toy targets on 80 pairs (16 held out)."""
    workspace = tmp_path_factory.mktemp("trained")
    write_inputs(workspace, 80)
    session = session_for(workspace)
    for model in (LLAMA, MISTRAL, QWEN):
        train_sft(session, model, progress=False)
    return workspace, session


@pytest.mark.slow
@pytest.mark.parametrize("model", [LLAMA, MISTRAL, QWEN])
def test_sft_models_end_held_out_answers_with_the_end_of_turn_token(trained, model):
    _, session = trained
    answers = stage_answers(session, model, "sft", max_new_tokens=192, batch_size=16, progress=False)
    assert len(answers.records) == 16
    ended = sum(r["ended_with_eot"] for r in answers.records)
    assert ended >= 0.9 * len(answers.records), f"{model}: {ended} of 16 ended with the end-of-turn token"
    base = stage_answers(session, model, "base", max_new_tokens=192, batch_size=16, progress=False)
    if model == LLAMA:  # Llama-3 base never emits <|eot_id|>: SFT taught it
        assert sum(r["ended_with_eot"] for r in base.records) == 0


@pytest.mark.slow
def test_the_adapter_loads_with_auto_peft_and_carries_the_trained_rows(trained):
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    workspace, session = trained
    folder = workspace / "models/llama-3.2-3b/sft"
    tokenizer = AutoTokenizer.from_pretrained(folder)
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    loaded = AutoPeftModelForCausalLM.from_pretrained(folder)
    base_path = json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"]
    base = AutoModelForCausalLM.from_pretrained(base_path)
    trained_row = loaded.get_input_embeddings().weight[eot]
    assert not torch.allclose(trained_row.float(), base.get_input_embeddings().weight[eot].float())
    assert tokenizer.chat_template and tokenizer.pad_token == "<|finetune_right_pad_id|>"
    config = GenerationConfig.from_pretrained(folder)
    assert config.eos_token_id[0] == eot and config.pad_token_id == tokenizer.pad_token_id != eot
    manifest = read_json(folder / "manifest.json")
    assert (folder / "log_history.csv").exists() and (folder / "loss.png").stat().st_size > 1000
    assert manifest["counts"]["conversations"] + manifest["counts"]["heldout"] == 80


@pytest.mark.slow
def test_dpo_trains_the_sft_adapter_against_a_frozen_sft_reference(trained):
    workspace, session = trained
    seen = {}

    def inspect(trainer):
        model = trainer.model
        seen["adapters"] = sorted(model.peft_config)
        ref = {n: p for n, p in model.named_parameters() if ".ref." in n}
        seen["ref_frozen"] = bool(ref) and not any(p.requires_grad for p in ref.values())
        seen["ref_equals_default"] = all(torch.equal(p, model.get_parameter(n.replace(".ref.", ".default.")))
                                         for n, p in ref.items())

    result = train_dpo(session, QWEN, progress=False, trainer_hook=inspect)
    assert seen == {"adapters": ["default", "ref"], "ref_frozen": True, "ref_equals_default": True}
    history = read_json(result.path / "log_history.json")
    margins = [row["rewards/margins"] for row in history if "rewards/margins" in row]
    assert margins and margins[-1] > 0
    assert {"loss.png", "margins.png", "accuracy.png", "rewards.png"} <= {p.name for p in result.path.glob("*.png")}
    assert not (result.path / "ref").exists()  # only the trained adapter is saved
    assert require_stage(session, QWEN, "dpo") == result.path
    model, tokenizer = load_stage(session, QWEN, "dpo")
    assert tokenizer.padding_side == "left"
    assert model.generation_config.eos_token_id[0] == tokenizer.convert_tokens_to_ids("<|im_end|>")

    rows = compare_stages(session, [QWEN], max_new_tokens=64, progress=False)
    assert [r["stage"] for r in rows] == ["base", "sft", "dpo"]
    assert all(r["ci_low"] <= r["mean_reward"] <= r["ci_high"] and r["n"] == 16 for r in rows)
    assert (workspace / "evaluation/stages.csv").read_text().count("Qwen/Qwen2.5-3B") == 3
    # Each stage is paired with the one before on the same instructions, from the per-item scores it keeps.
    items = {stage: {it["id"]: it["scores"]["mean_reward"] for it in
                     read_jsonl(workspace / f"evaluation/items/qwen2.5-3b/{stage}/reward.jsonl")}
             for stage in ("base", "sft", "dpo")}
    assert [r["vs"] for r in rows] == ["", "base", "sft"]
    for row, before in zip(rows[1:], ("base", "sft"), strict=True):
        mine, theirs = items[row["stage"]], items[before]
        assert sum(mine.values()) / 16 == pytest.approx(row["mean_reward"], abs=1e-6)
        assert row["delta"] == pytest.approx(sum(mine[i] - theirs[i] for i in mine) / 16, abs=1e-6)
        assert row["delta_low"] <= row["delta"] <= row["delta_high"]
    delta, why = pair_delta(session, QWEN, "dpo", "reward", "mean_reward", samples=200, confidence=0.95)
    assert why == "" and delta.n == 16
    assert delta.delta == pytest.approx(rows[2]["mean_reward"] - rows[0]["mean_reward"], abs=1e-6)


def test_held_out_answers_come_only_from_targets_with_an_adapter(tmp_path, toy_world):
    """Notebook 05's first run, for a student who trained only Llama: no other target's base answers (on Colab
    each would be a multi-GB download and an hour of generation)."""
    write_inputs(tmp_path, 8)
    session = session_for(tmp_path, **SMALL)
    finished_stage(session, LLAMA, "sft")
    rows = compare_stages(session, max_new_tokens=8, batch_size=4, progress=False)
    assert [(r["model"], r["stage"]) for r in rows] == [(LLAMA, "base"), (LLAMA, "sft")]
    assert sorted(p.name for p in (tmp_path / "evaluation/stages").glob("*.jsonl")) == [
        "llama-3.2-3b-base.jsonl", "llama-3.2-3b-sft.jsonl"]


def test_an_adapter_from_another_world_is_refused(tmp_path):
    write_inputs(tmp_path, 8)
    folder = tmp_path / "models/qwen2.5-3b/sft"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"fingerprint": {"model": QWEN, "world": "toy:0000"}}))
    with pytest.raises(ConfigError, match=r"trained on 'Qwen/Qwen2.5-3B' in world 'toy:0000'.*run notebook 04"):
        require_stage(session_for(tmp_path, **SMALL), QWEN, "sft")


def test_bootstrap_interval_of_a_known_case():
    assert bootstrap_ci([2.0] * 10, seed=1) == (2.0, 2.0)
    low, high = bootstrap_ci([0.0, 1.0] * 50, seed=1)
    assert 0.39 < low < 0.45 and 0.55 < high < 0.61  # mean 0.5, standard error 0.05


def test_no_held_out_instructions_leave_an_empty_stage_table_and_say_why(tmp_path, toy_world):
    write_inputs(tmp_path, 8)
    session = session_for(tmp_path, **{**SMALL, "training.heldout": 0})
    finished_stage(session, LLAMA, "sft")
    with pytest.warns(UserWarning, match="training.heldout is 0"):
        assert compare_stages(session, max_new_tokens=8, batch_size=4, progress=False) == []
    assert (tmp_path / "evaluation/stages.csv").read_text().splitlines()[0].startswith("model,stage,")
    assert not list((tmp_path / "evaluation/stages").glob("*.jsonl"))  # nothing was answered
