"""Phase 3: preference data (target models answer, a reward model scores, best vs worst pairs)."""
