"""Phase 6: evaluation (IFEval, MMLU via lm-eval; MT-Bench with a local judge)."""
