"""Phases 4-5: QLoRA SFT, then DPO from the SFT adapter, for each target model.

``train_sft`` / ``train_dpo`` train one target (resumable; a finished stage is skipped), and
``export_merged`` merges a stage's adapter into an fp16 copy of its base model. Loading a target at
``base`` / ``sft`` / ``dpo`` is :mod:`sit.stages`; whether training helped is
:func:`sit.evaluation.stage_rewards.compare_stages`.
"""

from .artifacts import StageResult
from .dpo import train_dpo
from .merge import export_merged
from .sft import train_sft

__all__ = ["StageResult", "export_merged", "train_dpo", "train_sft"]
