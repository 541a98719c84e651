"""Notebooks 04 and 05 show the SFTConfig/DPOConfig and LoraConfig a run actually used (recorded in its
manifest), beside the seed's values (the colab_t4 profile with the model's T4 batch)."""

from test_training import LLAMA, SMALL, session_for, write_inputs

from sit.config import load_profile
from sit.training import train_dpo, train_sft
from sit.training.report import SEED_PROFILE, settings_table

SEED = f"seed ({SEED_PROFILE})"


def test_a_stage_records_the_settings_it_trained_with_and_shows_them_beside_the_seeds(tmp_path, toy_world):
    write_inputs(tmp_path, 16)
    session = session_for(tmp_path, **SMALL, **{"training.sft.lora_r": 4, "training.dpo.beta": 0.2})
    sft = train_sft(session, LLAMA, progress=False)
    dpo = train_dpo(session, LLAMA, progress=False)

    demo = load_profile("demo")["training"]
    used = sft.manifest["trainer_args"]
    assert used["per_device_train_batch_size"] == sft.summary["batch_size"] == SMALL["training.sft.batch_size"]
    assert used["num_train_epochs"] == SMALL["training.sft.epochs"] and used["fp16"] is False
    assert used["learning_rate"] == demo["sft"]["learning_rate"]
    assert sft.manifest["lora"]["r"] == 4 and sorted(sft.manifest["lora"]["target_modules"]) == sorted(
        demo["sft"]["lora_targets"])
    assert dpo.manifest["trainer_args"]["beta"] == 0.2 and dpo.manifest["lora"]["r"] == 4  # DPO trains the SFT adapter
    assert dpo.manifest["quantization"] is None  # the demo profile does not quantize

    seed = load_profile(SEED_PROFILE)["training"]
    table = settings_table(session, dpo).set_index("field")
    assert set(table["config"]) == {"DPOConfig", "LoraConfig", "base model"}
    assert table.loc["beta", "this run"] == "0.2" and table.loc["beta", SEED] == f"{seed['dpo']['beta']:g}"
    assert table.loc["learning_rate", "this run"] == f"{demo['dpo']['learning_rate']:g}"
    assert table.loc["learning_rate", SEED] == f"{seed['dpo']['learning_rate']:g}"
    llama = session.registry.get(LLAMA)
    assert table.loc["per_device_train_batch_size", SEED] == str(llama.t4["train_batch_size"])
    assert table.loc["fp16", "this run"] == "False" and table.loc["fp16", SEED] == "True"
    assert table.loc["r", "this run"] == "4" and table.loc["r", SEED] == str(seed["sft"]["lora_r"])
    assert table.loc["weights", "this run"] == "not quantized"
    assert table.loc["weights", SEED] == "4-bit nf4, double quantization, compute float16"
    assert "beta" not in settings_table(session, sft)["field"].tolist()  # SFTConfig has none
