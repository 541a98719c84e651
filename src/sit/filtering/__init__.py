"""Phase 2: quality filtering (rules, language, near-duplicates) with a per-filter report."""
