"""Phase 3: preference data (target models answer, a reward model scores, best vs worst pairs).

``run(session, model_name)`` does every step for one target model; the steps on their own are
``respond``, ``score`` and ``build_pairs``.
"""

from .pipeline import PairsResult, RunResult, build_pairs, run
from .responses import ResponsesResult, respond
from .scoring import ScoreResult, score

__all__ = ["PairsResult", "ResponsesResult", "RunResult", "ScoreResult", "build_pairs", "respond", "run", "score"]
