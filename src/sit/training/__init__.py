"""Phases 4-5: QLoRA SFT, then DPO from the SFT adapter, for each target model; and whether it helped.

``train_sft`` / ``train_dpo`` train one target (resumable; a finished stage is skipped),
``load_stage`` loads a target at ``base`` / ``sft`` / ``dpo``, and ``compare_stages`` scores every
stage's answers to held-out instructions with the reward model (``evaluation/stages.csv``).
"""

from .artifacts import StageResult
from .compare import compare_stages
from .dpo import train_dpo
from .sft import train_sft
from .stages import STAGES, export_merged, load_stage, require_stage

__all__ = ["STAGES", "StageResult", "compare_stages", "export_merged", "load_stage", "require_stage", "train_dpo",
           "train_sft"]
