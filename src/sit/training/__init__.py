"""Phases 4-5: QLoRA SFT and DPO; ``plan`` estimates their T4 memory."""
