"""Phase 7: WebShop-style agent evaluation (AgentBench v0.2 protocol) on a bundled catalog.

``evaluate_agent(session, agent, model, stage)`` plays one agent's episodes and updates the results table;
the environment (:mod:`.env`), catalog (:mod:`.catalog`), reward (:mod:`.reward`) and the baselines
import no model code, so the toy world can build its training trajectories from them.
"""

from .run import AGENTS, AgentRun, evaluate_agent, read_results

__all__ = ["AGENTS", "AgentRun", "evaluate_agent", "read_results"]
