"""Report sections for training and the results: the headline table, held-out reward, benchmarks, the
agent, and qualitative examples. Every "did it help" comes from :mod:`.verdicts` (the paired change)."""

from __future__ import annotations

from ..evaluation.degenerate import ALIKE, ANY, CONSTANT, UNRATED
from ..workspace import STAGES, TRAINING_STAGES
from . import figures, prose
from .data_sections import flatten_config, setting, source
from .document import Bullets, Figure, Section, Slide, Table, Text, fmt, missing
from .evidence import (
    AGENT_FILE,
    ANSWERS_PATTERN,
    COMPARISON_FILE,
    LAYOUT,
    RESULTS_FILE,
    STAGES_FILE,
    Evidence,
    adapter_file,
    ci,
    stage_sort_key,
)
from .roles import NO_REAL_REWARD, reward_is_stand_in, reward_name, reward_stand_in_note
from .setup_sections import key_settings_table, load_row, model_names
from .verdicts import HELD_OUT, STAGE_NAMES, all_changes, find, short

__all__ = ["flatten_config", "setting"]  # the Hub cards use them too

AGENT_BENCHMARK = "webshop"
AGENT_METRICS = (("reward", "mean reward"), ("success_rate", "success rate"),
                 ("invalid_action_rate", "invalid-action rate"), ("avg_turns", "turns per episode"))
DEVICE = {"colab_t4": "GPU (T4)", "demo": "CPU"}
TRAINING_QUIET = {"logging_steps", "save_steps", "save_total_limit", "report_to", "batch_size", "grad_accum"}
EXAMPLES = 2  # held-out prompts shown with every stage's answer
EXAMPLE_CHARS = 120
CHANCE = {("mmlu", "acc"): 0.25}


def measures(ev: Evidence) -> list[tuple[str, str, str]]:
    """(benchmark, metric, label) of every headline measure the workspace has, held-out reward first."""
    from ..evaluation.benchmarks import BENCHMARKS
    from ..evaluation.compare import HEADLINES

    out = [("reward", "mean_reward", HELD_OUT)] if ev.stages else []
    present = sorted({r["benchmark"] for r in ev.results or [] if r["benchmark"] != AGENT_BENCHMARK},
                     key=lambda b: ([h[0] for h in HEADLINES] + [b]).index(b))
    for benchmark in present:
        known = BENCHMARKS.get(benchmark)
        metric = known.headline if known else sorted({r["metric"] for r in ev.results if r["benchmark"] == benchmark})[0]
        label = next((lab for b, m, lab in HEADLINES if (b, m) == (benchmark, metric)), f"{benchmark} {metric}")
        out.append((benchmark, metric, label.replace(" (headline)", "")))
    return out


def value_of(ev: Evidence, model: str, stage: str, benchmark: str, metric: str) -> tuple[float | None, int | None]:
    if benchmark == "reward":
        row = next((r for r in ev.stages or [] if (r["model"], r["stage"]) == (model, stage)), None)
        return (row["mean_reward"], row["n"]) if row else (None, None)
    row = next((r for r in ev.results or [] if (r["model"], r["stage"], r["benchmark"], r["metric"])
                == (model, stage, benchmark, metric)), None)
    return (row["value"], row["n"]) if row else (None, None)


def stand_ins(ev: Evidence) -> str:
    """`` Models: toy stand-ins of Llama-3.2-3B, ...`` for a caption in a toy run (real runs name real models)."""
    if not (ev.world or "").startswith("toy"):
        return ""
    return f" Models: {model_names(_models(ev), True)}."


def _models(ev: Evidence) -> list[str]:
    found = [r["model"] for r in (ev.stages or []) + [r for r in ev.results or [] if r["benchmark"] != AGENT_BENCHMARK]]
    return sorted(dict.fromkeys(found), key=lambda m: short(m).lower())


def training(ev: Evidence) -> Section:
    section = Section("training", "2.4 · Training: SFT and DPO with LoRA")
    section.add(Text(prose.TRAINING))
    if not ev.trained:
        return missing(section, f"a finished adapter (`{adapter_file('manifest.json')}`)", prose.NEXT_STEP["training"])
    tables = [t for t in (key_settings_table(ev, "04 SFT", "SFT settings: this run beside the real T4 profile "
                                                            "(per-model batch sizes in Appendix B)."),
                          key_settings_table(ev, "05 DPO", "DPO settings: this run beside the real T4 profile."))
              if t]
    section.add(*tables, _runs_table(ev))
    curves = [(t.model, t.stage, t.log_history) for t in ev.trained if t.log_history]
    chart = None
    if curves:
        rels = [ev.rel(t.folder / "log_history.json") for t in ev.trained if t.log_history]
        chart = Figure("training_curves", figures.training_curves(curves, ev.world),
                       "Training curves per model: SFT loss, DPO loss, DPO reward accuracy.",
                       source(ev, adapter_file("log_history.json").replace("/sft/", "/{sft,dpo}/"), n=len(rels), unit="runs"), grid=True)
        section.add(chart)
    _, this_run, real = load_row(ev)
    section.slides.append(Slide(section.title, [
        f"this run: {this_run}; the real T4 run: {real}, LoRA adapters on a frozen base",
        "DPO: the SFT adapter trained further on chosen vs rejected",
        "trained: " + ", ".join(f"{short(t.model)} {STAGE_NAMES[t.stage]}" for t in ev.trained),
    ], table=tables[0] if tables else None, notes=tables[0].source if tables else ""))
    if chart:
        section.slides.append(Slide("Training curves", [], figure=chart, notes=chart.source))
    return section


def _runs_table(ev: Evidence) -> Table:
    """What each training run did: examples, steps, batch, final loss and minutes (one row per model and stage)."""
    rows = []
    for t in sorted(ev.trained, key=lambda t: (short(t.model).lower(), STAGES.index(t.stage))):
        done, counts = t.manifest.get("training") or {}, t.manifest.get("counts") or {}
        examples = counts.get("conversations", counts.get("pairs"))
        rows.append([short(t.model), STAGE_NAMES[t.stage], fmt(examples), fmt(counts.get("steps")),
                     f"{done.get('batch_size', '–')} × {done.get('grad_accum', '–')}", fmt(done.get("final_loss")),
                     fmt(done["train_seconds"] / 60, 1) if done.get("train_seconds") is not None else "–"])
    return Table(["model", "stage", "examples", "steps", "batch × accumulation", "final loss", "minutes"], rows,
                 source(ev, adapter_file("manifest.json").replace("/sft/", "/{sft,dpo}/"), n=len(rows), unit="runs"),
                 "Each training run as its manifest recorded it (examples: conversations for SFT, pairs for DPO).")


def headline(ev: Evidence) -> Section:
    """The one table of the report: every model × headline measure × stage against base, as paired changes."""
    section = Section("headline", "3 · Results")
    table = headline_table(ev)
    if table is None:
        return missing(section, f"`{STAGES_FILE}` or `{RESULTS_FILE}`", prose.NEXT_STEP["evaluation"])
    section.add(Text("One row per model, headline measure and trained stage. **base** and **stage** are the means "
                     "over the n items scored at both stages, so the change is their difference; its 95% interval "
                     "comes from a paired bootstrap over those items, and the verdict is **higher**/**lower** only "
                     "when the interval excludes 0. A result that measures nothing (a constant answer, a judge that "
                     "rates alike or rates fewer than half the turns) gets no verdict. Means over every item of a "
                     "stage are in Appendix A."),
                table)
    section.slides.append(Slide("Headline results", [], table=table, notes=table.source))
    return section


def headline_table(ev: Evidence) -> Table | None:
    rows_of = measures(ev)
    if not rows_of:
        return None
    from .degenerate import find_degenerate

    changes, degenerate = all_changes(ev), find_degenerate(ev)
    rows, dropped, named = [], [], {}
    for model in _models(ev):
        for benchmark, metric, label in rows_of:
            for stage in TRAINING_STAGES:
                change = find(changes, model, stage, "base", benchmark, metric)
                if change is None:
                    continue
                verdict = change.verdict
                if change.degenerate:
                    found = [d for s in ("base", stage) for d in degenerate if d.concerns(model, s, benchmark)]
                    marks = []
                    for d in found:
                        mark = named.setdefault(d.what, (len(named) + 1, []))
                        mark[1].append(d)
                        marks.append(mark[0])
                    verdict = f"none: degenerate [{', '.join(map(str, dict.fromkeys(marks)))}]"
                rows.append([short(model), label, STAGE_NAMES[stage], fmt(change.n) if change.n else "–",
                             fmt(change.base_mean), fmt(change.stage_mean), _change_cell(change), verdict])
                if change.dropped:
                    dropped.append(f"{short(model)} {STAGE_NAMES[stage]} {label}: {fmt(change.dropped)}")
    if not rows:
        return None
    files = [f for f, present in ((STAGES_FILE, ev.stages), (COMPARISON_FILE, ev.comparison)) if present]
    note = (" Items that dropped out of a pairing (scored at one stage only): " + "; ".join(dropped) + "."
            if dropped else " No item dropped out of any pairing.")
    note += "".join(f" [{k}] {who_of(found)}: {what}." for what, (k, found) in named.items())
    if ev.stages and reward_is_stand_in(ev):
        note += f" Held-out reward: scores of {reward_name(ev)} ({NO_REAL_REWARD})."
    return Table(["model", "measure", "stage", "n", "base", "stage mean", "change [95% CI]", "verdict"],
                 rows, source(ev, *files, extra="paired bootstrap over the same items"),
                 "Each stage against base on the same items (n = paired items)." + stand_ins(ev) + note)


def who_of(found) -> str:
    """``Llama-3.2-3B base, SFT and SFT+DPO; Qwen2.5-3B base``: the model stages of some degenerate results."""
    stages: dict[str, list[str]] = {}
    for d in found:
        if d.model == "*":
            return "every model and stage"
        names = stages.setdefault(short(d.model), [])
        label = STAGE_NAMES.get(d.stage, d.stage) if d.stage not in ("-", "") else ""
        if label not in names:
            names.append(label)
    def joined(names):
        names = [n for n in names if n]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""
    return "; ".join(f"{model} {joined(names)}".strip() for model, names in stages.items())


def _change_cell(change) -> str:
    if change is None:
        return "–"
    if not change.tested:
        return f"{change.printed_delta()} (not tested)" if change.delta is not None else "not tested"
    return change.interval()


def stage_comparison(ev: Evidence) -> Section:
    section = Section("stages", "3.1 · Held-out reward: base vs SFT vs SFT+DPO")
    section.add(Text(prose.STAGE_COMPARISON))
    rows = ev.stages
    if not rows:
        return missing(section, f"`{STAGES_FILE}`", prose.NEXT_STEP["stages"])
    if reward_stand_in_note(ev):
        section.add(Text(reward_stand_in_note(ev)))
    rows = sorted(rows, key=stage_sort_key)
    judge = f"{reward_name(ev)} (the preference step's reward model)" if reward_is_stand_in(ev) else \
        "the preference step's reward model"
    src = source(ev, STAGES_FILE, n=sum(r["n"] or 0 for r in rows), unit="scored answers", extra=f"judge: {judge}")
    chart = Figure("stage_rewards", figures.stage_rewards(rows, ev.world), "Mean held-out reward with 95% intervals "
                   "(separate intervals; the verdicts use the paired change)." + stand_ins(ev), src)
    table = Table(["model", "stage", "mean reward", "95% CI", "ended turn", "n"],
                  [[short(r["model"]), STAGE_NAMES.get(r["stage"], r["stage"]), fmt(r["mean_reward"]),
                    f"[{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]", fmt(r["stopped_share"], 2), fmt(r["n"])]
                   for r in rows], src, ("Toy stand-in reward-model" if reward_is_stand_in(ev) else "Reward-model")
                  + " score of the held-out answers; ended turn = share of answers that ended with the end-of-turn "
                  "token.")
    said = [c.sentence() for c in all_changes(ev) if c.benchmark == "reward"]
    beyond = [c.sentence() for c in all_changes(ev) if c.benchmark == "reward" and c.vs != "base"]
    section.add(chart, table)
    if beyond:  # against base they are in the headline table; SFT+DPO against SFT only here
        section.add(Text("**SFT+DPO against SFT** (paired, the same held-out answers):"), Bullets(beyond))
    section.slides.append(Slide("Held-out reward by stage", said, figure=chart, notes=src))
    return section


def _results_source(ev: Evidence, rows: list[dict]) -> str:
    """Provenance of these rows: their file, world, sample size, judge and how the intervals were made."""
    kinds = {ci(r)[2] for r in rows}
    how = {"reported": "intervals as reported by the evaluation", "normal": "value ± 1.96 × stderr",
           "wilson": "Wilson intervals for proportions"}
    judges = sorted({r.get("judge") for r in rows if r.get("judge")})
    extra = "; ".join(([f"judge: {', '.join(judges)}"] if judges else []) + [how[k] for k in sorted(kinds) if k in how])
    files = sorted({AGENT_FILE if r["benchmark"] == AGENT_BENCHMARK and ev.results_from_agent_file else RESULTS_FILE
                    for r in rows})
    return source(ev, *files, n=sum(r["n"] or 0 for r in rows), unit="scored items", extra=extra)


def evaluation(ev: Evidence) -> Section:
    section = Section("evaluation", "3.2 · Benchmarks")
    section.add(Text(prose.EVALUATION))
    rows = [r for r in ev.results or [] if r["benchmark"] != AGENT_BENCHMARK]
    if not rows:
        return missing(section, f"`{RESULTS_FILE}`", prose.NEXT_STEP["evaluation"])
    charts = []
    for benchmark, metric, label in measures(ev):
        subset = [r for r in rows if (r["benchmark"], r["metric"]) == (benchmark, metric)]
        if subset:
            parsed = judge_parse_rates(ev) if benchmark == "mt_bench" else ""
            charts.append(Figure(f"eval_{benchmark}", figures.benchmark_chart(subset, label, ev.world,
                                                                              CHANCE.get((benchmark, metric))),
                                 f"{label} per model and stage (headline metric `{metric}`), 95% intervals."
                                 + stand_ins(ev) + (f" {parsed}" if parsed else ""),
                                 _results_source(ev, subset)))
    section.add(*charts)
    # the paired changes themselves are in the headline table; here only what makes some of them void
    from .degenerate import find_degenerate

    named = [d for d in find_degenerate(ev) if d.benchmark not in ("reward", AGENT_BENCHMARK)]
    if named:
        grouped: dict[str, list] = {}
        for d in named:
            grouped.setdefault(d.what, []).append(d)
        kinds = {d.kind for d in named}
        why = [text for kind, text in ((CONSTANT, "a constant answer scores the share of that letter in the answer "
                                                  "key, whatever the model knows"),
                                       (UNRATED, "a judge that rates few of the turns gives a mean over the few it "
                                                 "happened to rate, not over the answers"),
                                       (ALIKE, "a judge that rates (almost) everything alike cannot tell two stages "
                                               "apart")) if kind in kinds]
        said = "; ".join(why)
        section.add(Text("**Degenerate results (no verdict).** " + " ".join(
            (f"MT-Bench: {what}." if found[0].model == ANY else
             f"On {'MMLU' if found[0].benchmark == 'mmlu' else 'MT-Bench'}, {who_of(found)}: {what}.")
            for what, found in grouped.items()) + f" {said[0].upper()}{said[1:]}."))
    elif not ev.comparison:
        section.add(Text(f"No paired comparison yet: `{COMPARISON_FILE}` is missing."))
    settings = key_settings_table(ev, "06 evaluation", "Evaluation settings: this run beside the real T4 profile.")
    if settings:
        section.add(settings)
    for chart in charts:
        section.slides.append(Slide(chart.caption.split(" per model")[0], [], figure=chart, notes=chart.source))
    return section


def judge_parse_rates(ev: Evidence) -> str:
    """``Judge ratings parsed (...): Qwen2.5-3B base 15 of 16 (94%), SFT 16 of 16 (100%).``: per model stage, the
    turns with a parsable rating among those judged (from the items, else results.csv's ``unparsable`` rows)."""
    from ..evaluation.degenerate import judge_rated

    counts = {(model, stage): judge_rated(items) for (model, stage, benchmark), items in ev.items.items()
              if benchmark == "mt_bench"}
    if not counts:
        counts = {(r["model"], r["stage"]): (r["n"] - int(r["value"]), r["n"]) for r in ev.results or []
                  if (r["benchmark"], r["metric"]) == ("mt_bench", "unparsable") and r["n"] and r["value"] is not None}
    per_model: dict[str, list[str]] = {}
    for (model, stage), (rated, judged) in sorted(counts.items(), key=lambda kv: stage_sort_key(
            {"model": kv[0][0], "stage": kv[0][1]})):
        if judged:
            per_model.setdefault(short(model), []).append(
                f"{STAGE_NAMES.get(stage, stage)} {fmt(rated)} of {fmt(judged)} ({100 * rated / judged:.0f}%)")
    if not per_model:
        return ""
    return ("Judge ratings parsed (turns whose judgment holds a parsable rating, the only ones in the means): "
            + "; ".join(f"{model} {', '.join(parts)}" for model, parts in per_model.items()) + ".")


def agent(ev: Evidence) -> Section:
    section = Section("agent", "3.3 · Agent evaluation (WebShop-style)")
    section.add(Text(prose.AGENT), Text(prose.AGENT_BASELINES))
    rows = [r for r in ev.results or [] if r["benchmark"] == AGENT_BENCHMARK]
    if not rows:
        return missing(section, f"rows with benchmark `{AGENT_BENCHMARK}` in `{RESULTS_FILE}`",
                       prose.NEXT_STEP["agent"])
    table = agent_table(ev, rows)
    changes = [c for c in all_changes(ev) if c.benchmark == AGENT_BENCHMARK]
    said = [c.sentence() for c in changes] or [
        "No paired change: the agent runs compare final models and baselines on the same goals, not each stage "
        "against its base; read the intervals as descriptive."]
    section.add(table)
    endings = endings_table(ev)
    if endings:
        section.add(endings)
    from .degenerate import find_degenerate

    named = [d for d in find_degenerate(ev) if d.benchmark == AGENT_BENCHMARK]
    if named:
        grouped: dict[str, list] = {}
        for d in named:
            grouped.setdefault(d.what, []).append(d)
        section.add(Text("**Degenerate agents.** " + " ".join(f"{who_of(found)}: {what}."
                                                                for what, found in grouped.items())
                         + " Their reward of 0 says nothing about what tuning taught them."))
    section.add(Bullets(said), Text(prose.AGENT_WHY))
    settings = key_settings_table(ev, "07 agent", "Agent settings: this run beside the real T4 profile.")
    if settings:
        section.add(settings)
    section.slides.append(Slide("Agent results (WebShop-style)", [], table=table, notes=table.source))
    return section


def endings_table(ev: Evidence) -> Table | None:
    """How each agent's episodes ended (bought, invalid format, round limit...), counted in episodes."""
    from .degenerate import end_counts

    if not ev.episodes:
        return None
    agents = sorted(ev.episodes, key=lambda k: stage_sort_key({"model": k[0], "stage": k[1]}))
    counts = {key: end_counts(ev.episodes[key]) for key in agents}
    ends = sorted({e for c in counts.values() for e in c}, key=lambda e: (e != "bought", e))
    rows = [[short(model), STAGE_NAMES.get(stage, "–"), fmt(len(ev.episodes[(model, stage)])),
             *[fmt(counts[(model, stage)].get(e, 0)) for e in ends],
             fmt(sum(bool(e.get("turns")) and not e["turns"][0].get("valid") for e in ev.episodes[(model, stage)]))]
            for model, stage in agents]
    total = sum(len(v) for v in ev.episodes.values())
    return Table(["agent", "stage", "episodes", *[e.replace("_", " ") for e in ends], "invalid first move"], rows,
                 source(ev, LAYOUT.rel(LAYOUT.agent_episodes_file("*", "*")), n=total, unit="episodes"),
                 "How the episodes ended: bought = the agent bought a product (reward > 0 only if it matches the "
                 "goal); invalid format = a reply without a parsable action ends the episode; round limit = no "
                 "purchase within the allowed rounds.")


def agent_table(ev: Evidence, rows: list[dict]) -> Table:
    """One row per agent: mean reward, success rate and invalid-action rate with their 95% intervals."""
    agents = sorted(dict.fromkeys((r["model"], r["stage"]) for r in rows), key=lambda k: stage_sort_key(
        {"model": k[0], "stage": k[1]}))
    out = []
    for model, stage in agents:
        cells = [short(model), STAGE_NAMES.get(stage, stage) if stage not in ("-", "") else "–"]
        n = None
        for metric, _ in AGENT_METRICS:
            row = next((r for r in rows if (r["model"], r["stage"], r["metric"]) == (model, stage, metric)), None)
            if row is None:
                cells.append("–")
                continue
            n = n or row["n"]
            low, high, kind = ci(row)
            cells.append(fmt(row["value"]) + (f" [{fmt(low)}, {fmt(high)}]" if kind else ""))
        out.append([*cells, fmt(n)])
    # every run's note opens with the same catalog and split: each remark once, in the order the rows give them
    notes = list(dict.fromkeys(part.strip() for r in rows for part in (r.get("note") or "").split("; ")
                               if part.strip()))
    episodes = [r for r in rows if r["metric"] == "reward"] or rows
    src = _results_source(ev, rows).replace(f"n={fmt(sum(r['n'] or 0 for r in rows))} scored items",
                                            f"n={fmt(sum(r['n'] or 0 for r in episodes))} episodes")
    return Table(["agent", "stage", *[label for _, label in AGENT_METRICS], "episodes"], out, src,
                 "Agent results with 95% intervals." + stand_ins(ev) + (f" Notes: {'; '.join(notes)}." if notes else ""))


def examples(ev: Evidence) -> Section:
    """The same held-out prompts answered by every model at every stage, side by side."""
    section = Section("examples", "3.4 · Qualitative examples")
    if not ev.answers:
        return missing(section, f"the held-out answers (`{ANSWERS_PATTERN}`)",
                       prose.NEXT_STEP["stages"])
    by_key = {key: {r["id"]: r for r in records} for key, records in ev.answers.items()}
    first = next(iter(ev.answers.values()))
    shared = [r["id"] for r in first if all(r["id"] in answers for answers in by_key.values())]
    models = list(dict.fromkeys(model for model, _ in ev.answers))
    stages = [s for s in STAGES if any(s == st for _, st in ev.answers)]
    section.add(Text(f"Answers of every stage to the first {min(EXAMPLES, len(shared))} held-out instructions "
                     f"(never trained on), greedy, cut to {EXAMPLE_CHARS} characters here. \u2020 marks an "
                     "answer that did not end its turn (it hit the token limit)."))
    for item_id in shared[:EXAMPLES]:
        instruction = first[[r["id"] for r in first].index(item_id)]["instruction"]
        rows = [[short(model), *[_clip(by_key.get((model, s), {}).get(item_id)) for s in stages]] for model in models]
        section.add(Table(["model", *[STAGE_NAMES[s] for s in stages]], rows,
                          source(ev, ANSWERS_PATTERN, extra=f"item {item_id}"),
                          f"Instruction: {_clip_text(instruction, 400)}"))
    return section


def _clip(record: dict | None) -> str:
    if record is None:
        return "–"
    text = _clip_text(record["response"], EXAMPLE_CHARS)
    return text + ("" if record.get("ended_with_eot", True) else " \u2020")


def _clip_text(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
