"""The deck as a talk: the report's slides in the order one presents them, with the slides a talk needs
around them (motivation, what the benchmarks measure, an example answer per stage, lessons, the real T4
plan), a takeaway title on every chart, and talking points above the sources in the speaker notes.

Every number on these slides is read from the run's artifacts (the :class:`Evidence`) or from the
planner; a summary slide (results, held-out reward, each benchmark, the agent, conclusions) names every
model, so no model drops out of the talk.
"""

from __future__ import annotations

from ..workspace import STAGES, TRAINING_STAGES
from .data_sections import source
from .document import NOT_RUN, Report, Section, Slide, Table, fmt
from .evidence import ANSWERS_PATTERN, COMPARISON_FILE, RESULTS_FILE, STAGES_FILE, Evidence
from .result_sections import AGENT_BENCHMARK, headline_table, measures
from .roles import (
    MAGPIE_SIDE,
    NO_REAL_REWARD,
    TARGET_SIDE,
    choice_counts,
    generator_is_candidate,
    joined,
    magpie_chosen,
    models_noun,
    reward_is_stand_in,
    reward_name,
)
from .setup_sections import model_names
from .slides import BOTTOM, MARGIN, TOP, WIDTH, split_table
from .verdicts import DEGENERATE, HELD_OUT, STAGE_NAMES, Change, all_changes, find, short

EXAMPLE_CHARS = 150
ABOUT = {  # what each headline measure asks of a model, one line a listener can follow
    "reward": "Held-out reward: the preference step's reward model scores answers to instructions kept out of "
              "training: do the answers look like the ones it prefers?",
    "ifeval": "IFEval: instructions whose form a program can check (\"answer in 3 bullets\", \"no commas\"); "
              "headline = share of prompts with every instruction followed (strict).",
    "mmlu": "MMLU: multiple-choice knowledge questions, scored by which of A–D the model finds likeliest: "
            "tuning should not lose knowledge.",
    "mt_bench": "MT-Bench: open two-turn questions (writing, reasoning, coding …), each answer rated 1–10 by a "
                "local judge model.",
    AGENT_BENCHMARK: "WebShop-style agent: search a shop, open products, choose options and buy; reward = share "
                     "of the goal's attributes, options and price the bought product meets.",
}


def deck(report: Report, ev: Evidence, registry=None) -> list[Slide]:
    """Every slide after the title slide, in the order of the talk."""
    slides = [motivation(ev)]
    for section in report.sections:
        if section.key == "headline" and section.ran:
            slides.append(benchmarks(ev))
            slides += results_slides(ev)
            continue
        if section.key == "stages" and section.ran:
            slides.append(held_out(ev, section))
            continue
        if section.key == "conclusions":
            slides.append(conclusions(ev, report.toy, section))
            slides.append(lessons(ev, report.toy))
            slides.append(t4_plan(registry))
            continue
        for slide in section.slides:
            if section.key == "agent" and section.ran and slide.table is not None:
                slide = _every_agent_model(ev, slide)
            slides.append(_with_takeaway(ev, slide))
        if section.key == "agent" and ev.answers:
            slides.append(example_answers(ev))
    return slides


def notes(points: list[str], sources: str) -> str:
    """Speaker notes: what to say, then where the numbers come from."""
    said = "\n".join(f"• {p}" for p in points if p)
    return (f"Talking points:\n{said}\n\n" if said else "") + (sources or "Source: the run's artifacts")


def who(ev: Evidence, model: str) -> str:
    """A model as the slides name it."""
    return short(model)


def models_of(ev: Evidence) -> list[str]:
    """Every trained or evaluated target model of the run, by name."""
    found = [r["model"] for r in (ev.stages or []) + [r for r in ev.results or [] if r["benchmark"] != AGENT_BENCHMARK]]
    found += [t.model for t in ev.trained]
    return sorted(dict.fromkeys(found), key=lambda m: short(m).lower())


# --------------------------------------------------------------------------- slides a talk adds


def motivation(ev: Evidence) -> Slide:
    raw = ev.raw_manifest or {}
    generator = short(raw.get("generator") or "an aligned chat model")
    noun = models_noun(ev)
    models = model_names(models_of(ev), bool(ev.world and ev.world.startswith("toy"))) or f"the target {noun}"
    follow = "follow instructions better" if noun == "base models" else "follow instructions better than before"
    bullets = [
        "Instruction tuning needs instructions and good answers; writing them by hand is slow and costly.",
        "Magpie: an aligned chat model, given only the start of a user turn, writes the instruction itself, "
        "then answers it. No seed questions, no humans.",
        f"Question: do {generator}'s synthetic data (SFT) and reward-ranked answer pairs (DPO) make {noun} "
        f"{follow}, at $0 on a free Colab T4?",
        f"This run: {fmt(raw.get('counts', {}).get('records'))} generated records; tuned and compared with "
        f"their own base on the same items: {models}.",
    ]
    return Slide("Why synthetic instruction data?", bullets,
                 notes=notes(["The question of the project, then how this run answers it."],
                             source(ev, "data/raw/manifest.json") if ev.raw_manifest else ""))


def benchmarks(ev: Evidence) -> Slide:
    present = [b for b, _, _ in measures(ev)]
    if any(r["benchmark"] == AGENT_BENCHMARK for r in ev.results or []):
        present.append(AGENT_BENCHMARK)
    sizes = {}
    for r in ev.results or []:
        sizes.setdefault(r["benchmark"], r.get("n"))
    for r in ev.stages or []:
        sizes.setdefault("reward", r.get("n"))
    bullets = [ABOUT.get(b, b) + (f" (n = {fmt(sizes[b])} per stage)" if sizes.get(b) else "")
               + (f" Scored by {reward_name(ev)}: {NO_REAL_REWARD}." if b == "reward" and reward_is_stand_in(ev) else "")
               for b in present]
    bullets.append("Each stage is compared with its own base on the same items (paired bootstrap, 95% CI): "
                   "higher or lower only when the interval excludes 0.")
    return Slide("What the benchmarks measure", bullets,
                 notes=notes(["One line per measure: what it asks, and how it is scored."],
                             source(ev, *[f for f, rows in ((STAGES_FILE, ev.stages), (RESULTS_FILE, ev.results))
                                          if rows])))


def results_slides(ev: Evidence) -> list[Slide]:
    """The headline table, two measures a slide, so every slide holds every model at a readable size."""
    table = headline_table(ev)
    if table is None:
        return []
    labels = list(dict.fromkeys(row[1] for row in table.rows))
    groups = []  # as many measures a slide as fit one slide, so no model's rows go on to another slide
    for label in labels:
        # with room to spare: a renderer may wrap a cell our glyph-width estimate keeps on one line
        if groups and len(split_table(_rows_for(ev, table, groups[-1] + [label]), WIDTH - 2 * MARGIN,
                                      0.7 * (BOTTOM - TOP))) == 1:
            groups[-1].append(label)
        else:
            groups.append([label])
    slides = []
    for part in groups:
        changes = [c for c in all_changes(ev) if c.vs == "base" and _label(ev, c) in part]
        slides.append(Slide(f"Results: {' and '.join(part)}", [], table=_rows_for(ev, table, part),
                            notes=notes([_count_sentence(ev, changes, label) for label in part] + [table.caption],
                                        table.source)))
    return slides


def _rows_for(ev: Evidence, table: Table, labels: list[str]) -> Table:
    """The headline table's rows of ``labels``, by model; a model without a measure still has its row."""
    rows = []
    for label in labels:
        for m in models_of(ev):
            found = [r for r in table.rows if r[1] == label and r[0] == who(ev, m)]
            rows += found or [[who(ev, m), label, NOT_RUN, *["–"] * (len(table.columns) - 3)]]
    order = [who(ev, m) for m in models_of(ev)]
    rows.sort(key=lambda row: order.index(row[0]) if row[0] in order else len(order))
    # the report's footnote marks ("none: degenerate [1, 2]") point at its caption, which is in the notes here
    rows = [[DEGENERATE if str(cell).startswith("none: degenerate") else cell for cell in row] for row in rows]
    return Table(table.columns, rows, table.source, table.caption)


def held_out(ev: Evidence, section: Section) -> Slide:
    slide = next((s for s in section.slides if s.figure is not None), None)
    changes = [c for c in all_changes(ev) if c.benchmark == "reward"]
    bullets = [_model_line(ev, model, [c for c in changes if c.model == model]) for model in models_of(ev)]
    if reward_is_stand_in(ev):
        bullets.append(f"Scores of {reward_name(ev, full=False)}: {NO_REAL_REWARD}.")
    sentences = [c.sentence() for c in changes]
    return Slide(_stage_takeaway(ev, changes), bullets, figure=slide.figure if slide else None,
                 notes=notes(sentences, slide.notes if slide else source(ev, STAGES_FILE)))


def _every_agent_model(ev: Evidence, slide: Slide) -> Slide:
    """The agent table with a row for each target model that has not run as an agent."""
    table = slide.table
    named = {row[0] for row in table.rows}
    rows = table.rows + [[who(ev, m), "–", NOT_RUN, *["–"] * (len(table.columns) - 3)]
                         for m in models_of(ev) if who(ev, m) not in named]
    return Slide(slide.title, slide.bullets, figure=slide.figure, table=Table(table.columns, rows, table.source,
                                                                               table.caption), notes=slide.notes)


def example_answers(ev: Evidence) -> Slide:
    """One held-out instruction and every model's answer at every stage."""
    by_key = {key: {r["id"]: r for r in records} for key, records in ev.answers.items()}
    first = next(iter(ev.answers.values()))
    shared = [r for r in first if all(r["id"] in answers for answers in by_key.values())]
    item = shared[0] if shared else first[0]
    stages = [s for s in STAGES if any(s == st for _, st in ev.answers)]
    models = list(dict.fromkeys(model for model, _ in ev.answers))
    rows = [[who(ev, m), *[_answer(by_key.get((m, s), {}).get(item["id"])) for s in stages]] for m in models]
    instruction = _clip(item["instruction"], 300)
    return Slide("The same held-out instruction, answered at every stage",
                 [f"Instruction (never trained on): “{instruction}”",
                  "Answers are greedy, cut here; † = the answer did not end its turn."],
                 table=Table(["model", *[STAGE_NAMES[s] for s in stages]], rows,
                             source(ev, ANSWERS_PATTERN, extra=f"item {item['id']}")),
                 notes=notes(["Read one answer per stage aloud: what changed from base to SFT to SFT+DPO?",
                              "The report's section 3.4 shows more instructions."],
                             source(ev, ANSWERS_PATTERN, extra=f"item {item['id']}")))


def conclusions(ev: Evidence, toy: bool, section: Section) -> Slide:
    """One line per model (every stage against base, every headline measure), the agent, the caveat."""
    changes = all_changes(ev)
    bullets = []
    for model in models_of(ev):
        said = {}  # what each stage shows -> the stages that show it (two stages alike are said once)
        for stage in TRAINING_STAGES:
            found = [(label, c) for _, _, label in measures(ev) if (c := _find(changes, model, stage, label, ev))]
            by_verdict = {}
            for label, c in found:
                by_verdict.setdefault(c.verdict, []).append(label)
            if by_verdict:
                text = "; ".join(f"{verdict} on {', '.join(labels)}" for verdict, labels in by_verdict.items())
                said.setdefault(text, []).append(STAGE_NAMES[stage])
        parts = [f"{' and '.join(stages)}: {text}" for text, stages in said.items()]
        bullets.append(f"{who(ev, model)}: " + (". ".join(parts) if parts else NOT_RUN) + ".")
    agent = _agent_line(ev)
    if agent:
        bullets.append(agent)
    if toy:
        bullets.append(f"Toy world: the models are {model_names(models_of(ev), True)}, so these verdicts test the "
                       "code path, not the method; the real answer needs the T4 run.")
    if not models_of(ev):
        bullets.insert(0, "No stage has been compared with its base yet.")
    said = [b for slide in section.slides for b in slide.bullets]  # the report's conclusions, said in full
    files = [f for f, rows in ((STAGES_FILE, ev.stages), (COMPARISON_FILE, ev.comparison), (RESULTS_FILE, ev.results))
             if rows]
    return Slide("Conclusions", bullets,
                 notes=notes(said, source(ev, *files, extra="paired changes vs base") if files else ""))


def lessons(ev: Evidence, toy: bool) -> Slide:
    """What this run teaches about the method and about running it, each from a number the run measured."""
    bullets = []
    filtered = ev.filtered_report
    if filtered and filtered.get("input"):
        share = 1 - filtered["output"] / filtered["input"]
        top = max(filtered["filters"], key=lambda s: s["removed"])
        bullets.append(f"Magpie output is noisy: {share:.0%} of the raw records were dropped; the `{top['filter']}` "
                       f"rule alone removed {fmt(top['removed'])}.")
    pref = ev.preference_report
    if pref:
        if generator_is_candidate(ev):
            own, kept = magpie_chosen(ev), pref["pairs_kept"]
            bullets.append(f"The generator's own answers were chosen in {fmt(own)} of {fmt(kept)} pairs: "
                           + ("DPO mostly re-teaches what SFT already taught." if 2 * own > kept else
                              f"the other {fmt(kept - own)} chosen answers are texts SFT never trained on."))
    ended = _ended_turn(ev)
    if ended:
        bullets.append(ended)
    moved = _moved(ev)
    if moved:
        bullets.append(moved)
    bullets.append("Compare each stage with its base on the same items: a paired interval settles what two "
                   "overlapping intervals cannot.")
    if toy:
        bullets.append("A toy world proves the plumbing in minutes on a CPU; only the real run can answer the question.")
    return Slide("Lessons", bullets, notes=notes(["Each lesson comes from a number of this run."],
                                                 source(ev, *[f for f, rows in ((STAGES_FILE, ev.stages),
                                                                                (RESULTS_FILE, ev.results)) if rows],
                                                        "data/filtered/report.json", "data/preference/report.json")))


def t4_plan(registry) -> Slide:
    """The real pipeline on a free Colab T4, from the planner: sessions, hours, peak memory."""
    from ..config import load_profile, load_registry

    try:
        from ..planning.gpus import default_gpu
        from ..planning.plan import OVERHEAD_GIB, Settings, plan
        from ..planning.schedule import SESSION_HOURS, pack
        from ..planning.timing import Timer, notebook_times

        profile = load_profile("colab_t4")
        registry = (registry or load_registry()).for_profile(profile)  # the models `sit plan` plans for it
        gpu = default_gpu(profile)
        times = notebook_times(Timer(registry, profile, gpu, 1, "hf"))
        sessions = pack(times)
        peak = max(plan(registry, profile, Settings(budget_gib=gpu.memory_gib, overhead_gib=OVERHEAD_GIB)),
                   key=lambda e: e.total)
    except Exception as error:  # noqa: BLE001 - the plan is context: a planner failure must not stop the deck
        return Slide("The real run on a Colab T4: the plan", [f"`sit plan` could not run here ({type(error).__name__}: "
                                                               f"{error}); run it to see the real plan."])
    rows = [[str(s.number), f"{s.seconds / 3600:.1f}", _runs(s.steps)] for s in sessions]
    total = sum(t.seconds for t in times) / 3600
    bullets = [f"{total:.0f} GPU-hours in {len(sessions)} sessions of at most {SESSION_HOURS:.0f} h on one "
               f"{gpu.name}.",
               f"Peak memory: {peak.model} in {peak.phase}, {peak.total / 1024**3:.1f} of {peak.budget / 1024**3:.1f} "
               "GiB.",
               "Every notebook resumes from its checkpoints after a disconnect.",
               "Reproduce: `sit plan --profile colab_t4`."]
    table = Table(["session", "hours", "notebook runs"], rows,
                  "Source: sit.planning (profile colab_t4, one GPU, transformers backend)")
    return Slide("The real run on a Colab T4: the plan", bullets, table=table,
                 notes=notes(["These are estimates from the planner, not measurements: the toy run cannot time "
                              "a T4.", f"Session hours: {', '.join(f'{s.seconds / 3600:.1f}' for s in sessions)}."],
                             table.source))


NOTEBOOKS = {"01": "Magpie", "02": "filtering", "03": "preference", "04": "SFT", "05": "DPO", "06": "evaluation",
             "07": "agent"}


def _runs(steps) -> str:
    """``03 preference (3 models), 04 SFT (llama-3.2-3b)``: the notebook runs of one session."""
    by_notebook = {}
    for step in steps:
        by_notebook.setdefault(step.notebook, []).append(step.model)
    said = []
    for notebook, models in by_notebook.items():
        named = [m for m in models if m]
        what = f"{notebook} {NOTEBOOKS.get(notebook, '')}".strip()
        said.append(what + (f" ({named[0]})" if len(named) == 1 else f" ({len(named)} models)" if named else ""))
    return ", ".join(said)


# --------------------------------------------------------------------------- takeaway titles


def _with_takeaway(ev: Evidence, slide: Slide) -> Slide:
    """A chart slide titled with what its chart shows; every slide's notes get talking points."""
    figure = slide.figure
    points = [b for b in slide.bullets]
    if figure is None:
        caption = slide.table.caption if slide.table is not None else ""
        return Slide(slide.title, slide.bullets, table=slide.table,
                     notes=notes(points + [caption], slide.notes))
    title, bullets = slide.title, slide.bullets
    name = figure.name
    if name == "pipeline":
        title = _pipeline_takeaway(ev)
    elif name == "filter_removals" and ev.filtered_report:
        report = ev.filtered_report
        top = max(report["filters"], key=lambda s: s["removed"])
        title = (f"The filters keep {fmt(report['output'])} of {fmt(report['input'])} records; "
                 f"“{top['filter']}” removes the most ({fmt(top['removed'])})")
    elif name == "pair_choices" and ev.preference_report:
        chosen = {who: n for who, n, _ in choice_counts(ev)}  # the generator's two kinds of answer apart
        most = max(chosen.values(), default=0)
        top = [short(m) for m, n in chosen.items() if n == most]
        pairs = fmt(ev.preference_report["pairs_kept"])
        if len(top) > 1 and len(top) == len(chosen):
            title = f"Every answering model's answers are chosen equally often: {fmt(most)} of {pairs} pairs each"
        elif top:
            said = [whose_answers(t) for t in top]
            if all(w == f"{t}'s answers" for w, t in zip(said, top, strict=True)):  # one kind of answer each
                said = [f"{joined(top)}'s answers"]
            title = (f"{joined(said)} are chosen most often: "
                     f"{fmt(most)} of {pairs} pairs" + (" each" if len(top) > 1 else ""))
    elif name == "training_curves":
        title = _curves_takeaway(ev) or title
    elif name.startswith("eval_"):
        benchmark = name[len("eval_"):]
        found = next(((b, m, label) for b, m, label in measures(ev) if b == benchmark), None)
        if found:
            changes = [c for c in all_changes(ev) if (c.benchmark, c.metric, c.vs) == (found[0], found[1], "base")]
            title = _benchmark_takeaway(found[2], changes, degenerate_kinds(ev, found[0]))
            bullets = [_model_line(ev, m, [c for c in changes if c.model == m]) for m in models_of(ev)]
            points += [c.sentence() for c in changes]
    return Slide(title, bullets, figure=figure, table=slide.table,
                 notes=notes([slide.title + ": " + figure.caption, *points], slide.notes))


def whose_answers(who: str) -> str:
    """``Qwen2.5-3B's answers``; a generator that is also a target: ``SmolLM2-135M-Instruct's answers as the target``
    or ``SmolLM2-135M-Instruct's Magpie answers``."""
    for side, said in ((TARGET_SIDE, "answers as the target"), (MAGPIE_SIDE, "Magpie answers")):
        if who.endswith(f" ({side})"):
            return f"{short(who.removesuffix(f' ({side})'))}'s {said}"
    return f"{short(who)}'s answers"


def _pipeline_takeaway(ev: Evidence) -> str:
    raw, filtered, pref = ev.raw_manifest, ev.filtered_report, ev.preference_report
    if raw is None:
        return "The pipeline: no step has run yet"
    chain = [f"{fmt(raw.get('counts', {}).get('records'))} records"]
    if filtered:
        chain.append(f"{fmt(filtered['output'])} kept")
    if pref:
        chain.append(f"{fmt(pref['pairs_kept'])} pairs")
    models = models_of(ev)
    if ev.trained:
        chain.append(f"{len(models)} model{'s' if len(models) != 1 else ''} tuned")
    return "The pipeline ran: " + " → ".join(chain)


def _curves_takeaway(ev: Evidence) -> str | None:
    ends = []  # (model, first loss, last loss) of each SFT run
    for t in ev.trained:
        losses = [h["loss"] for h in t.log_history or [] if isinstance(h.get("loss"), (int, float))]
        if t.stage == "sft" and len(losses) >= 2:
            ends.append((t.model, losses[0], losses[-1]))
    if not ends:
        return None
    if len(ends) == 1:
        model, first, last = ends[0]
        return f"SFT training loss of {short(model)} {'falls' if last < first else 'does not fall'}: {first:.3f} → {last:.3f}"
    return f"SFT training loss falls for {sum(last < first for _, first, last in ends)} of {len(ends)} models"


def _count(changes: list[Change]) -> str:
    tested = [c for c in changes if c.tested]
    if not tested:
        return "not tested"
    counts = {}
    for c in tested:
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    return ", ".join(f"{w} for {n}" for w, n in counts.items()) + f" of {len(tested)}"


def degenerate_kinds(ev: Evidence, benchmark: str) -> list[str]:
    from .degenerate import find_degenerate

    return list(dict.fromkeys(d.kind for d in find_degenerate(ev) if d.benchmark == benchmark))


def _benchmark_takeaway(label: str, changes: list[Change], kinds: list[str]) -> str:
    tested = [c for c in changes if c.tested]
    if tested and all(c.verdict == DEGENERATE for c in tested):
        return (f"{label} gives no verdict: all {len(tested)} changes rest on degenerate results "
                f"({', '.join(kinds) or 'see the notes'})")
    parts = [f"{STAGE_NAMES[s]} {_count([c for c in changes if c.stage == s])}" for s in TRAINING_STAGES
             if any(c.stage == s for c in changes)]
    return f"{label} against base: " + "; ".join(parts) if parts else f"{label} per model and stage"


def _stage_takeaway(ev: Evidence, changes: list[Change]) -> str:
    sft = [c for c in changes if (c.stage, c.vs) == ("sft", "base")]
    dpo = [c for c in changes if (c.stage, c.vs) == ("dpo", "sft")]
    parts = ([f"SFT vs base {_count(sft)}"] if sft else []) + ([f"DPO vs SFT {_count(dpo)}"] if dpo else [])
    return f"Held-out reward: {'; '.join(parts)}" if parts else "Held-out reward by stage"


def _count_sentence(ev: Evidence, changes: list[Change], label: str) -> str:
    mine = [c for c in changes if _label(ev, c) == label]
    return f"{label}: " + "; ".join(f"{STAGE_NAMES[s]} vs base {_count([c for c in mine if c.stage == s])}"
                                   for s in TRAINING_STAGES if any(c.stage == s for c in mine))


def _label(ev: Evidence, change: Change) -> str:
    return next((label for b, m, label in measures(ev) if (b, m) == (change.benchmark, change.metric)), change.measure)


def _find(changes: list[Change], model: str, stage: str, label: str, ev: Evidence) -> Change | None:
    found = next(((b, m) for b, m, lab in measures(ev) if lab == label), None)
    return find(changes, model, stage, "base", *found) if found else None


def _model_line(ev: Evidence, model: str, changes: list[Change]) -> str:
    """``Llama-3.2-3B: SFT higher (-1.234 → 0.456, +1.690 [+1.200, +2.100]); …``: every change of one model."""
    parts = []
    for c in changes:
        what = STAGE_NAMES[c.stage] + ("" if c.vs == "base" else f" vs {STAGE_NAMES[c.vs]}")
        if not c.tested:
            parts.append(f"{what} not tested")
        else:  # the verdict, then the two paired means and the change (their difference) with its interval
            parts.append(f"{what} {c.verdict} (" + (f"{c.means()}, " if c.has_means else "") + f"{c.interval()})")
    return f"{who(ev, model)}: " + ("; ".join(parts) if parts else "no paired change")


def _agent_line(ev: Evidence) -> str | None:
    from .closing_sections import _agent_sentence  # the report's own agent conclusion, word for word

    said = _agent_sentence(ev)
    return f"Agent (WebShop-style): {said[0].lower() + said[1:]}" if said else None


def _ended_turn(ev: Evidence) -> str | None:
    rows = ev.stages or []
    base = [r["stopped_share"] for r in rows if r["stage"] == "base" and r.get("stopped_share") is not None]
    sft = [r["stopped_share"] for r in rows if r["stage"] == "sft" and r.get("stopped_share") is not None]
    if not base or not sft:
        return None
    return (f"SFT teaches ending the turn: answers that end with the end-of-turn token go from "
            f"{sum(base) / len(base):.0%} (base) to {sum(sft) / len(sft):.0%} (SFT) on average; much of a reward "
            "gain can come from that alone.")


def _moved(ev: Evidence) -> str | None:
    headline = {(b, m): label for b, m, label in measures(ev)}
    changes = [c for c in all_changes(ev) if c.vs == "base" and c.tested and (c.benchmark, c.metric) in headline]
    if not changes:
        return None
    labels = list(dict.fromkeys(headline[(c.benchmark, c.metric)] for c in changes))
    verdicts = {lab: {c.verdict for c in changes if headline[(c.benchmark, c.metric)] == lab} for lab in labels}
    moved = [lab for lab in labels if verdicts[lab] & {"higher", "lower"}]
    degenerate = [lab for lab in labels if verdicts[lab] == {DEGENERATE}]
    still = [lab for lab in labels if lab not in moved and lab not in degenerate]
    return ("Moved against base: " + (", ".join(moved) or "nothing") + "; did not move: "
            + (", ".join(still) or "nothing")
            + (f"; measured nothing (degenerate): {', '.join(degenerate)}" if degenerate else "") + ".")


def _answer(record: dict | None) -> str:
    if record is None:
        return "–"
    return _clip(record["response"], EXAMPLE_CHARS) + ("" if record.get("ended_with_eot", True) else " †")


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


__all__ = ["HELD_OUT", "deck", "notes"]
