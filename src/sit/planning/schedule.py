"""Pack the notebook runs, in pipeline order, into Colab sessions.

A free Colab session lasts at most 12 hours, less when GPUs are scarce, and disconnects after ~90
minutes without interaction. Notebook runs are packed greedily in order. A run that does not fit in
what is left of a session starts the next one. A run longer than a whole session is flagged with the
setting that shortens it. It still finishes, because every notebook resumes from its checkpoints,
but over several sessions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .timing import StepTime

SESSION_HOURS = 12.0


@dataclass
class ColabSession:
    number: int
    steps: list[StepTime] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)


def pack(times: list[StepTime], hours: float = SESSION_HOURS) -> list[ColabSession]:
    """Sessions in order; a step longer than ``hours`` gets a session (or more) of its own."""
    limit = hours * 3600
    sessions = [ColabSession(1)]
    for step in times:
        current = sessions[-1]
        if current.steps and current.seconds + step.seconds > limit:
            current = ColabSession(current.number + 1)
            sessions.append(current)
        current.steps.append(step)
        if step.seconds > limit:  # it spans sessions: the next step starts a fresh one
            sessions.append(ColabSession(current.number + int(step.seconds // limit) + 1))
    return [s for s in sessions if s.steps]


def oversized(times: list[StepTime], hours: float = SESSION_HOURS) -> list[StepTime]:
    return [t for t in times if t.seconds > hours * 3600]


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def _name(step: StepTime) -> str:
    return step.notebook + (f" {step.model}" if step.model else "")


def session_table(times: list[StepTime], hours: float = SESSION_HOURS) -> str:
    lines = []
    for session in pack(times, hours):
        lines.append(f"Session {session.number} ({_duration(session.seconds)}):")
        for step in session.steps:
            saved = (f"checkpoint every ~{_duration(step.checkpoint_every_s)}" if step.checkpoint_every_s
                     else "resumes per finished part")
            flag = f"  ✗ over {hours:.0f} h: lower {step.knob}" if step.seconds > hours * 3600 else ""
            lines.append(f"  {_name(step):<24} {_duration(step.seconds):>8}   {saved}{flag}")
    total = sum(t.seconds for t in times)
    upper = sum(t.upper_seconds for t in times)
    lines.append(f"Total {_duration(total)} in {len(pack(times, hours))} session(s) of at most {hours:.0f} h "
                 f"(expected; upper bound {_duration(upper)}, every decoding batch at its token limit).")
    return "\n".join(lines)


def time_table(times: list[StepTime]) -> str:
    """Every notebook run with its parts."""
    width = max([len("step")] + [len(_name(t)) for t in times])
    lines = [f"{'step':<{width}}  {'expected':>8}  {'upper':>8}  parts (expected)", "-" * (width + 70)]
    for t in times:
        parts = ", ".join(f"{name} {_duration(sec)}" for name, sec in t.parts.items() if sec >= 1)
        lines.append(f"{_name(t):<{width}}  {_duration(t.seconds):>8}  {_duration(t.upper_seconds):>8}  {parts}")
    total, upper = sum(t.seconds for t in times), sum(t.upper_seconds for t in times)
    lines.append(f"{'total':<{width}}  {_duration(total):>8}  {_duration(upper):>8}")
    return "\n".join(lines)
