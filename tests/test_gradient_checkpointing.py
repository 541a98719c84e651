"""Gradient checkpointing per model: where the profile leaves ``training.gradient_checkpointing`` null (colab_t4),
the registry's ``t4.gradient_checkpointing`` decides. It is a speed setting: the manifest
records the value a stage trained with, and another value neither refuses nor stales a finished stage."""

from dataclasses import replace

from test_training import LLAMA, MISTRAL, QWEN, SMALL, session_for, write_inputs

from sit.config import load_profile
from sit.pipeline.state import config_changes, current_settings
from sit.pipeline.steps import STEPS
from sit.training import train_sft
from sit.training.fit import for_model, stage_settings, trainer_arguments
from sit.training.report import seed_settings

LEFT_TO_THE_MODEL = {"training.gradient_checkpointing": None}


def checkpointing_args(session, spec, stage: str, tmp_path) -> bool:
    from trl import DPOConfig, SFTConfig

    cfg = for_model(stage_settings(session, stage), spec)
    args = trainer_arguments(SFTConfig if stage == "sft" else DPOConfig, session, cfg, tmp_path / stage, 2, 1,
                             progress=False)
    assert args.gradient_checkpointing == args.activation_checkpointing
    return args.activation_checkpointing


def test_trainer_args_follow_the_registry_unless_the_profile_sets_a_value(tmp_path):
    assert load_profile("colab_t4")["training"]["gradient_checkpointing"] is None
    registry = session_for(tmp_path).registry
    # `sit plan`: at 1,024 tokens no target's DPO fits a T4 without checkpointing, so the registry keeps it on
    assert [registry.get(m).t4["gradient_checkpointing"] for m in (LLAMA, MISTRAL, QWEN)] == [True, True, True]
    llama = registry.get(LLAMA)
    specs = {"registry": llama, "off": replace(llama, t4={**llama.t4, "gradient_checkpointing": False}),
             "unsaid": replace(llama, t4={k: v for k, v in llama.t4.items() if k != "gradient_checkpointing"})}
    for overrides, expected in ((LEFT_TO_THE_MODEL, {"registry": True, "off": False, "unsaid": True}),
                                ({"training.gradient_checkpointing": True}, dict.fromkeys(specs, True)),
                                ({}, dict.fromkeys(specs, False))):  # the demo profile: off
        session = session_for(tmp_path, **overrides)
        for stage in ("sft", "dpo"):
            got = {name: checkpointing_args(session, spec, stage, tmp_path) for name, spec in specs.items()}
            assert got == expected, (overrides, stage)
    seed = load_profile("colab_t4")  # notebooks 04/05 show the seed's value for the model
    assert seed_settings(seed, "sft", specs["off"])["trainer_args"]["gradient_checkpointing"] is False
    assert seed_settings(seed, "dpo", llama)["trainer_args"]["gradient_checkpointing"] is True


def test_a_stage_records_its_checkpointing_and_another_value_is_the_same_stage(tmp_path, toy_world):
    write_inputs(tmp_path, 8)
    small = {**SMALL, "training.sft.epochs": 1, **LEFT_TO_THE_MODEL}
    seen = {}

    def inspect(trainer):
        from transformers import TrainerCallback

        class WhileTraining(TrainerCallback):  # the Trainer turns checkpointing on inside train()
            def on_step_begin(self, args, state, control, model=None, **kwargs):
                seen["model"] = trainer.model.base_model.model.is_activation_checkpointing

        trainer.add_callback(WhileTraining())

    session = session_for(tmp_path, **small)
    trained = train_sft(session, MISTRAL, progress=False, trainer_hook=inspect)
    assert seen["model"] is True  # the registry's value for Mistral-7B: the demo profile would say false
    assert trained.manifest["trainer_args"]["gradient_checkpointing"] is True
    assert trained.manifest["config"]["gradient_checkpointing"] is True

    without = session_for(tmp_path, **{**small, "training.gradient_checkpointing": False})
    again = train_sft(without, MISTRAL, progress=False)
    assert not again.trained and again.manifest == trained.manifest  # finished, not refused, not retrained
    current = current_settings(without.profile, STEPS["04"].sections)
    assert current["training.gradient_checkpointing"] is False
    assert config_changes(trained.manifest["config"], current, STEPS["04"].ignore) == []
    assert config_changes(trained.manifest["config"], current) == ["training.gradient_checkpointing: True -> False"]
