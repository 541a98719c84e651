"""Phase 1: Magpie data generation (instructions from the pre-query template, then responses)."""
