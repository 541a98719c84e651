"""Decode waste: the decode steps and slots each phase's batches use against the tokens they keep, at two batch plans.

A static batch decodes until its longest answer ends, and every row holds a slot for each of those steps. On a T4 a
decode step streams every weight once (it is memory-bound), so the steps are what a phase pays for; the empty slots are
what it pays for without using. From the answer lengths a demo workspace recorded (``sit run-all --profile demo``),
this script rebuilds every decode phase's batches exactly as the phase forms them, at the seed's T4 batch sizes
(before) and at the ``colab_t4`` profile's (after), and prints per phase:

    steps   sum over batches of the longest answer     (decode steps: weight reads)
    slots   sum over batches of rows x longest answer  (decode slots)
    useful  sum of the answer lengths
    waste   slots - useful

How each phase forms its batches: the shared runner (``sit.inference.runner.plan_batches``) sorts prompts by token length
(ties by id) where the phase buckets (01 instructions does not: every prompt is the same pre-query template); lm-eval
sorts IFEval's prompts longest first; the agent decodes each round's live episodes of a batch together. Prompt lengths
are counted with the toy model's tokenizer; every phase wraps the text in a fixed template, which keeps the order.

Toy lengths test the plumbing only: the toy models' answers are short and the demo's token limits small, so the
figures say how the batch plan moves steps and waste, not what a T4 run costs (``sit plan`` says that).

    .venv/bin/python benchmarks/bench_decode_waste.py --workspace DEMO_WORKSPACE [--after ifeval=32 ...]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sit.config import load_profile, load_registry
from sit.inference.engine import Prompt
from sit.inference.runner import plan_batches
from sit.workspace import Workspace

# The colab_t4 profile's decode batches before issue 29 (v0.1.0): fixed guesses, the same for every model.
BEFORE = {"generation": 16, "preference": 16, "ifeval": 8, "mt_bench": 8, "judge": 4, "agent": 8}
# Where the colab_t4 profile keeps each of them.
PROFILE_KEYS = {"generation": ("generation", "batch_size"), "preference": ("preference", "batch_size"),
                "ifeval": ("evaluation", "ifeval", "batch_size"), "mt_bench": ("evaluation", "mt_bench", "batch_size"),
                "judge": ("evaluation", "mt_bench", "judge_batch_size"), "agent": ("agent", "batch_size")}
IFEVAL_FIXTURE = Path(__file__).resolve().parents[1] / "src" / "sit" / "evaluation" / "data" / "ifeval.jsonl"


@dataclass(frozen=True)
class Item:
    id: str
    prompt: int  # prompt tokens (orders the batches)
    answer: int  # generated tokens


@dataclass
class Phase:
    name: str
    who: str  # model (and stage)
    setting: str  # a key of BEFORE
    items: list[Item] | None = None  # one decode run (None for the agent)
    order: str = "bucket"  # bucket | as_given | longest_first | rounds
    rounds: list[list[int]] | None = None  # agent: each episode's reply lengths, in goal order
    model: str = ""  # the registry slug of the model that decodes (for a batch the profile leaves to the model)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def batches(phase: Phase, size: int) -> list[list[int]]:
    """The answer lengths of each decode batch, as the phase forms its batches."""
    items = phase.items or []
    if phase.order == "rounds":
        out = []
        episodes = phase.rounds or []
        for start in range(0, len(episodes), size):
            group = episodes[start:start + size]
            for r in range(max((len(e) for e in group), default=0)):
                out.append([e[r] for e in group if len(e) > r])
        return out
    if phase.order == "longest_first":
        ordered = sorted(items, key=lambda i: (-i.prompt, i.id))
        return [[i.answer for i in ordered[k:k + size]] for k in range(0, len(ordered), size)]
    prompts = [Prompt(id=i.id, text="", seed=0) for i in items]
    lengths = [i.prompt for i in items] if phase.order == "bucket" else None
    by_id = {i.id: i for i in items}
    return [[by_id[p.id].answer for p in batch] for batch in plan_batches(prompts, size, lengths)]


def cost(groups: list[list[int]]) -> dict[str, int]:
    steps = sum(max(g) for g in groups if g)
    slots = sum(len(g) * max(g) for g in groups if g)
    useful = sum(sum(g) for g in groups)
    return {"batches": len(groups), "steps": steps, "slots": slots, "useful": useful, "waste": slots - useful}


# --------------------------------------------------------------------------- the workspace's recorded lengths


class Tokens:
    """Token counts with each toy model's own tokenizer (loaded once)."""

    def __init__(self, profile: dict):
        from sit.models import load_tokenizer

        self.registry, self.profile, self._load, self._tokenizers = load_registry(), profile, load_tokenizer, {}

    def count(self, slug: str, text: str) -> int:
        if slug not in self._tokenizers:
            self._tokenizers[slug] = self._load(self.registry.get(slug), self.profile)
        return len(self._tokenizers[slug](text or "", add_special_tokens=False)["input_ids"])


def magpie_phases(ws: Workspace, tokens: Tokens) -> list[Phase]:
    generator = tokens.registry.by_role("generator")[0].slug
    phases = []
    path = ws.raw_dir / "instructions.jsonl"
    if path.exists():
        rows = read_jsonl(path)
        phases.append(Phase("01 instructions", generator, "generation",
                            [Item(r["id"], 0, r["instruction_tokens"]) for r in rows], order="as_given",
                            model=generator))
    path = ws.raw_dir / "magpie.jsonl"
    if path.exists():
        phases.append(Phase("01 responses", generator, "generation",
                            [Item(r["id"], tokens.count(generator, r["instruction"]), r["response_tokens"])
                             for r in read_jsonl(path)], model=generator))
    return phases


def answer_phases(ws: Workspace, tokens: Tokens) -> list[Phase]:
    """03's answers of every target, and every stage's held-out answers (both batched by ``preference.batch_size``)."""
    phases = []
    for spec in tokens.registry.by_role("target"):
        path = ws.responses_file(spec.slug)
        if path.exists():
            phases.append(Phase("03 answers", spec.slug, "preference",
                                [Item(r["id"], tokens.count(spec.slug, r["instruction"]), r["response_tokens"])
                                 for r in read_jsonl(path)], model=spec.slug))
    for spec in tokens.registry.by_role("target"):
        for stage in ("base", "sft", "dpo"):
            path = ws.stage_answers_file(spec.slug, stage)
            if path.exists():
                phases.append(Phase("held-out answers", f"{spec.slug} {stage}", "preference",
                                    [Item(r["id"], tokens.count(spec.slug, r["instruction"]), r["response_tokens"])
                                     for r in read_jsonl(path)], model=spec.slug))
    return phases


def evaluation_phases(ws: Workspace, tokens: Tokens) -> list[Phase]:
    prompts = [r["prompt"] for r in read_jsonl(IFEVAL_FIXTURE)] if IFEVAL_FIXTURE.exists() else []
    phases = []
    for spec in tokens.registry.by_role("target"):
        for stage in ("base", "sft", "dpo"):
            path = ws.items_file(spec.slug, stage, "ifeval")
            if path.exists() and prompts:
                rows = read_jsonl(path)
                doc = [int(r["id"].rsplit(":", 1)[1]) for r in rows]
                phases.append(Phase("IFEval", f"{spec.slug} {stage}", "ifeval",
                                    [Item(r["id"], tokens.count(spec.slug, prompts[d]),
                                          tokens.count(spec.slug, r.get("output") or ""))
                                     for r, d in zip(rows, doc, strict=True)], order="longest_first",
                                    model=spec.slug))
            path = ws.mt_bench_dir(spec.slug, stage) / "answers.jsonl"
            if path.exists():
                answers = read_jsonl(path)
                phases += mt_bench_phases(answers, spec.slug, stage, lambda t, s=spec.slug: tokens.count(s, t))
                phases += judge_phases(ws.mt_bench_dir(spec.slug, stage) / "judgments.jsonl", answers,
                                       f"{spec.slug} {stage}", tokens)
    return phases


def mt_bench_phases(rows: list[dict], slug: str, stage: str, count: Callable[[str], int]) -> list[Phase]:
    """One runner call per turn and temperature, as notebook 06 makes them (turn 2's prompt holds turn 1)."""
    first = {r["question_id"]: r for r in rows if r["turn"] == 1}
    groups: dict[tuple[int, float], list[Item]] = {}
    for r in rows:
        text = r["question"] if r["turn"] == 1 else " ".join(
            (first.get(r["question_id"], {}).get("question", ""), first.get(r["question_id"], {}).get("answer", ""),
             r["question"]))
        groups.setdefault((r["turn"], r.get("temperature", 0.0)), []).append(Item(r["id"], count(text), r["answer_tokens"]))
    return [Phase("MT-Bench answers", f"{slug} {stage} t{turn} T={temp:g}", "mt_bench", items, model=slug)
            for (turn, temp), items in sorted(groups.items())]


def judge_phases(path: Path, answers: list[dict], who: str, tokens: Tokens) -> list[Phase]:
    """The judge's first judgment of every answer (one runner call; its prompt holds the question and the answer)."""
    if not path.exists():
        return []
    judge = tokens.registry.by_role("judge")[0].slug
    answer = {r["id"]: r for r in answers}
    items = [Item(r["id"], tokens.count(judge, f"{r.get('question', '')} {answer.get(r['id'], {}).get('answer', '')}"),
                  tokens.count(judge, r.get("first_judgment") or r.get("judgment") or "")) for r in read_jsonl(path)]
    return [Phase("MT-Bench judge", who, "judge", items, model=judge)]


def agent_phases(ws: Workspace, tokens: Tokens) -> list[Phase]:
    folder = ws.agent_dir / "episodes"
    slugs = sorted((s.slug for s in tokens.registry), key=len, reverse=True)
    phases = []
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        slug = next((s for s in slugs if path.stem.startswith(f"{s}-")), None)
        if slug is None:
            continue  # a rule-based baseline: nothing decodes
        episodes = [[tokens.count(slug, t.get("reply") or "") for t in r["turns"]] for r in read_jsonl(path)]
        phases.append(Phase("agent", path.stem, "agent", order="rounds", rounds=episodes, model=slug))
    return phases


# --------------------------------------------------------------------------- batch plans and the table


def after_sizes(overrides: list[str]) -> dict[str, int | None]:
    """The colab_t4 profile's decode batches (None where it leaves one to the model), then ``--after``."""
    profile = load_profile("colab_t4")
    sizes: dict[str, int | None] = {}
    for name, keys in PROFILE_KEYS.items():
        node = profile
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        sizes[name] = None if node is None else int(node)
    for item in overrides:
        name, _, value = item.partition("=")
        if name not in sizes:
            raise SystemExit(f"--after {item}: unknown batch '{name}' (known: {', '.join(sizes)})")
        sizes[name] = int(value)
    return sizes


def after_size(sizes: dict[str, int | None], phase: Phase, registry) -> int:
    """The phase's batch in the 'after' plan; a batch the profile leaves to the model is its registry T4 batch."""
    size = sizes[phase.setting]
    if size is None:
        t4 = registry.get(phase.model).t4
        size = t4.get(f"{phase.setting}_batch_size") or t4.get("batch_size")
    if not size:
        raise SystemExit(f"no 'after' batch for {phase.name} of {phase.model}: pass --after {phase.setting}=N")
    return int(size)


def ratio(after: int, before: int) -> str:
    return f"{after / before:.2f}x" if before else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True, help="a demo workspace (sit run-all --profile demo)")
    parser.add_argument("--after", action="append", default=[], metavar="BATCH=N",
                        help=f"a batch size of the 'after' plan instead of colab_t4's ({', '.join(BEFORE)})")
    args = parser.parse_args()

    ws = Workspace(Path(args.workspace), create=False)
    tokens = Tokens(load_profile("demo"))
    phases = magpie_phases(ws, tokens) + answer_phases(ws, tokens) + evaluation_phases(ws, tokens) + agent_phases(ws, tokens)
    if not phases:
        raise SystemExit(f"{args.workspace}: no recorded decode phase (run `sit run-all --profile demo` into it)")
    after = after_sizes(args.after)
    print("batch sizes (before -> after): " + ", ".join(f"{k} {BEFORE[k]} -> {after[k] or 'per model'}" for k in BEFORE))
    header = (f"{'phase':17s} {'model / stage':34s} {'items':>5s} {'batch':>7s} {'steps':>13s} {'ratio':>6s} "
              f"{'slots':>15s} {'useful':>7s} {'waste':>15s} {'fill':>11s}")
    print(header)
    print("-" * len(header))
    totals: dict[str, dict[str, int]] = {}
    for phase in phases:
        size = after_size(after, phase, tokens.registry)
        b, a = cost(batches(phase, BEFORE[phase.setting])), cost(batches(phase, size))
        items = len(phase.rounds) if phase.rounds is not None else len(phase.items or [])
        total = totals.setdefault(phase.name, {"before_steps": 0, "after_steps": 0, "before_slots": 0,
                                               "after_slots": 0, "useful": 0})
        for key in ("steps", "slots"):
            total[f"before_{key}"] += b[key]
            total[f"after_{key}"] += a[key]
        total["useful"] += b["useful"]
        fill = f"{b['useful'] / b['slots']:.0%}->{a['useful'] / a['slots']:.0%}" if b["slots"] and a["slots"] else "-"
        print(f"{phase.name:17s} {phase.who[:34]:34s} {items:5d} {BEFORE[phase.setting]:>3d}->{size:<3d} "
              f"{b['steps']:>6d}->{a['steps']:<6d} {ratio(a['steps'], b['steps']):>6s} "
              f"{b['slots']:>7d}->{a['slots']:<7d} {b['useful']:>7d} {b['waste']:>7d}->{a['waste']:<7d} {fill:>11s}")
    print("-" * len(header))
    print(f"{'per phase':17s} {'':34s} {'':5s} {'':7s} {'steps':>13s} {'ratio':>6s} {'slots':>15s} {'useful':>7s} "
          f"{'waste':>15s}")
    for name, t in totals.items():
        print(f"{name:17s} {'':34s} {'':5s} {'':7s} {t['before_steps']:>6d}->{t['after_steps']:<6d} "
              f"{ratio(t['after_steps'], t['before_steps']):>6s} {t['before_slots']:>7d}->{t['after_slots']:<7d} "
              f"{t['useful']:>7d} {t['before_slots'] - t['useful']:>7d}->{t['after_slots'] - t['useful']:<7d}")
    steps_before = sum(t["before_steps"] for t in totals.values())
    steps_after = sum(t["after_steps"] for t in totals.values())
    print(f"all phases: decode steps {steps_before} -> {steps_after} ({ratio(steps_after, steps_before)}); "
          "a step streams every weight once, so on a T4 the steps, not the slots, are the decode time")


if __name__ == "__main__":
    main()
