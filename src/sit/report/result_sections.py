"""Report sections for training and the results: the headline table, held-out reward, benchmarks, the
agent, and qualitative examples. Every "did it help" comes from :mod:`.verdicts` (the paired change)."""

from __future__ import annotations

from ..workspace import STAGES, TRAINING_STAGES
from . import figures, prose
from .data_sections import flatten_config, setting, settings_table, source
from .document import Bullets, Figure, Section, Slide, Table, Text, fmt, missing
from .evidence import (
    AGENT_FILE,
    AGENT_MANIFEST,
    ANSWERS_PATTERN,
    COMPARISON_FILE,
    EVALUATION_MANIFEST,
    RESULTS_FILE,
    STAGES_FILE,
    Evidence,
    adapter_file,
    ci,
    stage_sort_key,
)
from .verdicts import HELD_OUT, STAGE_NAMES, all_changes, find, short

__all__ = ["flatten_config", "setting"]  # the Hub cards use them too

AGENT_BENCHMARK = "webshop"
AGENT_METRICS = (("reward", "mean reward"), ("success_rate", "success rate"),
                 ("invalid_action_rate", "invalid-action rate"), ("avg_turns", "turns per episode"))
DEVICE = {"colab_t4": "GPU (T4)", "demo": "CPU"}
TRAINING_QUIET = {"logging_steps", "save_steps", "save_total_limit", "report_to", "batch_size", "grad_accum"}
EXAMPLES = 2  # held-out prompts shown with every stage's answer
EXAMPLE_CHARS = 200
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


def _models(ev: Evidence) -> list[str]:
    found = [r["model"] for r in (ev.stages or []) + [r for r in ev.results or [] if r["benchmark"] != AGENT_BENCHMARK]]
    return sorted(dict.fromkeys(found), key=lambda m: short(m).lower())


def training(ev: Evidence) -> Section:
    section = Section("training", "2.4 · Training: QLoRA SFT and DPO")
    section.add(Text(prose.TRAINING))
    if not ev.trained:
        return missing(section, f"a finished adapter (`{adapter_file('manifest.json')}`)", prose.NEXT_STEP["training"])
    tables = []
    for stage in TRAINING_STAGES:
        runs = [t for t in ev.trained if t.stage == stage]
        if runs:
            tables.append(_hyperparameters(ev, stage, runs))
    section.add(*tables)
    curves = [(t.model, t.stage, t.log_history) for t in ev.trained if t.log_history]
    chart = None
    if curves:
        rels = [ev.rel(t.folder / "log_history.json") for t in ev.trained if t.log_history]
        chart = Figure("training_curves", figures.training_curves(curves, ev.world),
                       "Training curves per model: SFT loss, DPO loss, DPO reward accuracy.",
                       source(ev, adapter_file("log_history.json").replace("/sft/", "/{sft,dpo}/"), n=len(rels), unit="runs"), grid=True)
        section.add(chart)
    section.slides.append(Slide(section.title, [
        "QLoRA: 4-bit frozen base + LoRA adapters on the attention projections",
        "DPO: the SFT adapter trained further on chosen vs rejected",
        "trained: " + ", ".join(f"{short(t.model)} {STAGE_NAMES[t.stage]}" for t in ev.trained),
    ], table=tables[0] if tables else None, notes=tables[0].source if tables else ""))
    if chart:
        section.slides.append(Slide("Training curves", [], figure=chart, notes=chart.source))
    return section


def _hyperparameters(ev: Evidence, stage: str, runs) -> Table:
    """The settings one stage was trained with, one column per model, as the manifests recorded them."""
    settings = [flatten_config(t.manifest.get("config", {})) for t in runs]
    keys = sorted({k for s in settings for k in s if k.split(".")[-1] not in TRAINING_QUIET})
    rows = [[k, *[setting(s.get(k)) for s in settings]] for k in keys]
    done = [t.manifest.get("training") or {} for t in runs]
    counts = [t.manifest.get("counts") or {} for t in runs]
    rows += [["per-device batch × accumulation", *[f"{d.get('batch_size', '–')} × {d.get('grad_accum', '–')}"
                                                   for d in done]],
             *[[f"{k} (count)", *[fmt(c.get(k)) for c in counts]] for k in sorted({k for c in counts for k in c})],
             ["final training loss", *[fmt(d.get("final_loss")) for d in done]],
             ["train minutes", *[fmt(d["train_seconds"] / 60, 1) if d.get("train_seconds") is not None else "–"
                                 for d in done]]]
    return Table(["setting", *[short(t.model) for t in runs]], rows,
                 source(ev, *[ev.rel(t.folder / "manifest.json") for t in runs]),
                 f"{STAGE_NAMES[stage]} hyperparameters actually used (from each adapter's manifest).")


def headline(ev: Evidence) -> Section:
    """The one table of the report: every model × stage × headline measure, with the paired change vs base."""
    section = Section("headline", "3 · Results")
    table = headline_table(ev)
    if table is None:
        return missing(section, f"`{STAGES_FILE}` or `{RESULTS_FILE}`", prose.NEXT_STEP["evaluation"])
    section.add(Text("One row per model and headline measure. The change columns are the stage minus base on the "
                     "same items, with the 95% interval of a paired bootstrap; **higher**/**lower** only when that "
                     "interval excludes 0. Per-metric detail is in Appendix A and in `evaluation/results.csv`."),
                table)
    section.slides.append(Slide("Headline results", [], table=table, notes=table.source))
    return section


def headline_table(ev: Evidence) -> Table | None:
    rows_of = measures(ev)
    if not rows_of:
        return None
    changes = all_changes(ev)
    rows = []
    for model in _models(ev):
        for benchmark, metric, label in rows_of:
            values = {s: value_of(ev, model, s, benchmark, metric) for s in STAGES}
            if all(v is None for v, _ in values.values()):
                continue
            n = next((n for _, n in values.values() if n), None)
            cells = [short(model), label, fmt(n), fmt(values["base"][0])]
            for stage in TRAINING_STAGES:
                change = find(changes, model, stage, "base", benchmark, metric)
                cells += [fmt(values[stage][0]), _change_cell(change)]
            rows.append(cells)
    files = [f for f, present in ((STAGES_FILE, ev.stages), (RESULTS_FILE, ev.results),
                                  (COMPARISON_FILE, ev.comparison)) if present]
    return Table(["model", "measure", "n", "base", "SFT", "SFT − base [95% CI]", "SFT+DPO", "SFT+DPO − base [95% CI]"],
                 rows, source(ev, *files, extra="changes: paired bootstrap over the same items"),
                 "Headline measure per model and stage; n = items per stage.")


def _change_cell(change) -> str:
    if change is None:
        return "–"
    if not change.tested:
        return f"{change.delta:+.3f} (not tested)" if change.delta is not None else "not tested"
    return f"{change.interval()} {change.verdict}"


def stage_comparison(ev: Evidence) -> Section:
    section = Section("stages", "3.1 · Held-out reward: base vs SFT vs SFT+DPO")
    section.add(Text(prose.STAGE_COMPARISON))
    rows = ev.stages
    if not rows:
        return missing(section, f"`{STAGES_FILE}`", prose.NEXT_STEP["stages"])
    rows = sorted(rows, key=stage_sort_key)
    src = source(ev, STAGES_FILE, n=sum(r["n"] or 0 for r in rows), unit="scored answers",
                 extra="judge: the preference step's reward model")
    chart = Figure("stage_rewards", figures.stage_rewards(rows, ev.world), "Mean held-out reward with 95% intervals "
                   "(separate intervals; the verdicts use the paired change).", src)
    table = Table(["model", "stage", "mean reward", "95% CI", "ended turn", "n"],
                  [[short(r["model"]), STAGE_NAMES.get(r["stage"], r["stage"]), fmt(r["mean_reward"]),
                    f"[{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]", fmt(r["stopped_share"], 2), fmt(r["n"])]
                   for r in rows], src, "Reward-model score of the held-out answers; ended turn = share of answers "
                  "that ended with the end-of-turn token.")
    said = [c.sentence() for c in all_changes(ev) if c.benchmark == "reward"]
    section.add(chart, table, Text("**Paired changes.**"), Bullets(said))
    section.slides.append(Slide("Held-out reward by stage", said[:4], figure=chart, notes=src))
    return section


def _results_source(ev: Evidence, rows: list[dict]) -> str:
    """Provenance of these rows: their file, world, sample size, judge and how the intervals were made."""
    kinds = {ci(r)[2] for r in rows}
    how = {"reported": "intervals as reported by the evaluation", "normal": "value ± 1.96 × stderr"}
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
            charts.append(Figure(f"eval_{benchmark}", figures.benchmark_chart(subset, label, ev.world,
                                                                              CHANCE.get((benchmark, metric))),
                                 f"{label} per model and stage (headline metric `{metric}`), 95% intervals.",
                                 _results_source(ev, subset)))
    section.add(*charts)
    said = [c.sentence() for c in all_changes(ev) if c.benchmark not in ("reward", AGENT_BENCHMARK)]
    section.add(Text("**Paired changes vs base.**"), Bullets(said or ["No paired comparison yet: "
                                                                      f"`{COMPARISON_FILE}` is missing."]))
    settings = settings_table(ev, EVALUATION_MANIFEST, ev.evaluation_manifest, "Evaluation settings used.")
    if settings:
        section.add(settings)
    for chart in charts:
        section.slides.append(Slide(chart.caption.split(" per model")[0], [], figure=chart, notes=chart.source))
    return section


def agent(ev: Evidence) -> Section:
    section = Section("agent", "3.3 · Agent evaluation (WebShop-style)")
    section.add(Text(prose.AGENT))
    rows = [r for r in ev.results or [] if r["benchmark"] == AGENT_BENCHMARK]
    if not rows:
        return missing(section, f"rows with benchmark `{AGENT_BENCHMARK}` in `{RESULTS_FILE}`",
                       prose.NEXT_STEP["agent"])
    table = agent_table(ev, rows)
    changes = [c for c in all_changes(ev) if c.benchmark == AGENT_BENCHMARK]
    said = [c.sentence() for c in changes] or [
        "No paired change: the agent runs compare final models and baselines on the same goals, not each stage "
        "against its base; read the intervals as descriptive."]
    section.add(table, Bullets(said))
    settings = settings_table(ev, AGENT_MANIFEST, ev.agent_manifest, "Agent settings used.")
    if settings:
        section.add(settings)
    section.slides.append(Slide("Agent results (WebShop-style)", [], table=table, notes=table.source))
    return section


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
    notes = sorted({r.get("note") for r in rows if r.get("note")})
    return Table(["agent", "stage", *[label for _, label in AGENT_METRICS], "episodes"], out,
                 _results_source(ev, rows), "Agent results with 95% intervals" + (f" ({'; '.join(notes)})" if notes
                                                                                    else "") + ".")


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
