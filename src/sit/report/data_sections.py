"""Report sections for the overview and the data steps: Magpie generation, filtering, preference pairs."""

from __future__ import annotations

import statistics

from . import figures, prose
from .document import Figure, Section, Slide, Table, Text, fmt, missing
from .evidence import AGENT_FILE, RESULTS_FILE, Evidence, adapter_file
from .roles import (
    answering_phrase,
    choice_counts,
    generator,
    generator_is_candidate,
    labelled_pairs,
    models_noun,
    pre_query_template,
    reward_name,
    reward_stand_in_note,
    splits_generator,
)
from .verdicts import short

QUIET_SETTINGS = {"logging_steps", "save_steps", "save_total_limit", "report_to", "checkpoint_every", "batch_size",
                  "reward_batch_size", "judge_batch_size", "progress"}  # speed and bookkeeping, not the method

PIPELINE = (("01", "Magpie\ngeneration"), ("02", "Quality\nfiltering"), ("03", "Preference\npairs"),
            ("04", "QLoRA\nSFT"), ("05", "DPO"), ("06", "Evaluation"), ("07", "Agent\nevaluation"))


def source(ev: Evidence, *paths: str, n: int | None = None, unit: str = "records", extra: str = "") -> str:
    """``Source: <artifacts> · world <w> · n=<n> <unit>``: the provenance line under a table or figure."""
    parts = [", ".join(paths), f"world {ev.world or 'unknown'}"]
    if n is not None:
        parts.append(f"n={fmt(n)} {unit}")
    if extra:
        parts.append(extra)
    return "Source: " + " · ".join(parts)


def step_status(ev: Evidence) -> list[tuple[str, str, bool, str]]:
    """(number, name, done, artifact) for every pipeline step."""
    results = [r for r in ev.results or []]
    done = [ev.raw_manifest is not None, ev.filtered_report is not None, bool(ev.pairs),
            any(t.stage == "sft" for t in ev.trained), any(t.stage == "dpo" for t in ev.trained),
            any(r["benchmark"] != "webshop" for r in results), any(r["benchmark"] == "webshop" for r in results)]
    artifacts = ["data/raw/", "data/filtered/", "data/preference/pairs.jsonl", adapter_file("/", "sft"),
                 adapter_file("/", "dpo"), RESULTS_FILE, AGENT_FILE]
    return [(num, name.replace("\n", " "), d, a) for (num, name), d, a in zip(PIPELINE, done, artifacts, strict=True)]


def setting(value) -> str:
    """A configuration value as written (a learning rate of 2e-4 must not print as 0.000)."""
    if value is None:
        return "–"
    if isinstance(value, list):
        return ", ".join(map(setting, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def flatten_config(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_config(value, f"{name}."))
        elif not isinstance(value, list) or len(value) <= 6:
            out[name] = ", ".join(map(str, value)) if isinstance(value, list) else value
    return out


def settings_table(ev: Evidence, rel: str, manifest: dict | None, caption: str) -> Table | None:
    """The effective settings a step's manifest recorded, minus speed and bookkeeping knobs."""
    if not manifest or not manifest.get("config"):
        return None
    flat = flatten_config(manifest["config"])
    rows = [[key, setting(value)] for key, value in sorted(flat.items()) if key.split(".")[-1] not in QUIET_SETTINGS]
    if len(rows) <= 8:
        return Table(["setting", "value"], rows, source(ev, rel), caption)
    half = (len(rows) + 1) // 2  # two settings per line: half the length
    paired = [[*left, *right] for left, right in zip(rows[:half], rows[half:] + [["", ""]], strict=False)]
    return Table(["setting", "value", "setting", "value"], paired, source(ev, rel), caption)


def toy_world_text(ev: Evidence) -> str:
    """A paragraph on what the toy world is, with the sizes of its models where the world is built here."""
    sizes = ""
    try:
        from ..toy import default_root, describe

        built = describe(default_root() / (ev.world or "").removeprefix("toy:"))
        params = [m.get("parameters") for m in built.get("models", {}).values() if m.get("parameters")]
        if params:
            sizes = (f" Its {len(params)} models have {fmt(min(params) / 1e6, 1)}–{fmt(max(params) / 1e6, 1)} M "
                     "parameters (the real ones 0.4–8 B).")
    except Exception:  # noqa: BLE001 - a world built on another machine: the paragraph goes without sizes
        sizes = ""
    return ("**The toy world.** No GPU and no model hub were available, so every model of the registry was "
            "replaced by a toy stand-in: a tiny model of the same family (architecture, tokenizer and chat "
            "template), trained on CPU by `sit toy-world` from a seed on a synthetic corpus of instructions "
            "in a few task types, mixed on purpose with the faults the filters remove." + sizes + " The "
            "stand-in generator writes instructions after the Magpie template, the stand-in base models answer "
            "them less well by design, a small reward model ranks answers, and a small judge rates them. The "
            "toy world runs exactly the code of the real pipeline, so it proves the plumbing; its numbers say "
            "nothing about the method.")


def overview(ev: Evidence, toy: bool) -> Section:
    section = Section("overview", "1 · Introduction and pipeline")
    status = step_status(ev)
    answers = "base models' answers" if models_noun(ev) == "base models" else f"the target {models_noun(ev)}' answers"
    section.add(Text("The pipeline turns an aligned model's own output into instruction data, filters it, builds "
                     f"preference pairs from {answers}, fine-tunes those models (SFT, then DPO, with "
                     "LoRA adapters) and evaluates every stage. Each step reads the previous step's artifacts; this report "
                     "reads them all and builds nothing itself."))
    if toy:
        section.add(Text(toy_world_text(ev)))
    diagram = Figure("pipeline", figures.pipeline_diagram([(n, name, d) for (n, name), (_, _, d, _)
                                                           in zip(PIPELINE, status, strict=True)], ev.world),
                     "The pipeline; grey steps have not run yet.", source(ev, "artifact folders of the workspace"))
    table = Table(["step", "name", "status", "artifact"],
                  [[n, name, "done" if d else "not run yet", f"`{a}`"] for n, name, d, a in status],
                  source(ev, "artifact folders of the workspace"), "Which steps have produced their artifacts.")
    section.add(diagram)
    if not all(done for _, _, done, _ in status):
        section.add(table)
    section.slides.append(Slide(section.title, [], figure=diagram, notes=diagram.source))  # the diagram shows status
    return section


def method() -> Section:
    return Section("method", "2 · Method and data").add(Text(
        "Each subsection below explains one step, gives the settings that decide it as this run used them (read "
        "from the step's `manifest.json`) beside the real Colab T4 profile's, and the statistics of the data it "
        "produced; every other setting is in Appendix B, and Section 2.5 gives the real pipeline's sizes, memory "
        "and time plan. Numbers in brackets cite the references."))


def magpie(ev: Evidence) -> Section:
    section = Section("magpie", "2.1 · Data generation (Magpie)")
    section.add(Text(prose.MAGPIE.format(template=pre_query_template(ev))))
    manifest = ev.raw_manifest
    if manifest is None:
        return missing(section, "`data/raw/manifest.json`", prose.NEXT_STEP["raw"])
    counts = manifest.get("counts", {})
    rows = [["generator", manifest.get("generator", "–")],
            ["records generated", fmt(counts.get("records"))],
            ["instructions cut at the token limit", fmt(counts.get("truncated_instructions"))],
            ["answers cut at the token limit", fmt(counts.get("truncated_responses"))],
            ["empty instructions", fmt(counts.get("empty_instructions"))]]
    table = Table(["what", "value"], rows, source(ev, "data/raw/manifest.json", n=counts.get("records")),
                  "What notebook 01 generated.")
    section.add(table)
    section.slides.append(Slide(section.title, [
        f"{manifest.get('generator', '?')} writes the user turn from the pre-query template alone",
        f"{fmt(counts.get('records'))} instruction/answer pairs generated",
        "instructions sampled at temperature 1, answers greedy",
    ], table=table, notes=table.source))
    return section


def filtering(ev: Evidence) -> Section:
    section = Section("filtering", "2.2 · Quality filtering")
    section.add(Text(prose.FILTERING))
    report = ev.filtered_report
    if report is None:
        return missing(section, "`data/filtered/report.json`", prose.NEXT_STEP["filtered"])
    total = report["input"] or 1
    rows = [[s["filter"], fmt(s["removed"]), fmt(100 * s["removed"] / total, 1), fmt(s["solo"]), fmt(s["remaining"]),
             prose.FILTER_WHY.get(s["filter"], s.get("description", ""))] for s in report["filters"]]
    selection = report["selection"]
    rows.append(["selection", fmt(selection["dropped"]), fmt(100 * selection["dropped"] / total, 1),
                 fmt(selection["dropped"]), fmt(selection["selected"]),
                 f"keeps the {selection['mode']} {fmt(selection['target'])} (the target)"])
    src = source(ev, "data/filtered/report.json", n=report["input"], unit="raw records")
    table = Table(["filter", "removed", "removed %", "alone", "remaining", "why"], rows, src,
                  "Removed: taken out by this rule after the rules above. Alone: what the rule would remove by "
                  "itself (overlap between rules).")
    chart = Figure("filter_removals", figures.filter_removals(report, ev.world), "Removals per rule.", src)
    section.add(Text(f"**{fmt(report['input'])}** raw records in, **{fmt(report['passed_filters'])}** passed every "
                     f"rule, **{fmt(report['output'])}** kept."), table, chart)
    if ev.filtered:
        section.add(_length_table(ev))
    section.slides.append(Slide(section.title, [
        f"{fmt(report['input'])} raw → {fmt(report['passed_filters'])} pass the rules → {fmt(report['output'])} kept",
        "rules: " + ", ".join(s["filter"] for s in report["filters"]),
        "largest removal: " + max(report["filters"], key=lambda s: s["removed"])["filter"],
    ], figure=chart, notes=src))
    return section


def _length_table(ev: Evidence) -> Table:
    rows = []
    for field in ("instruction", "response"):
        words = [len(r[field].split()) for r in ev.filtered]
        rows.append([field, fmt(statistics.mean(words), 1), fmt(statistics.median(words), 1), fmt(min(words)),
                     fmt(max(words))])
    return Table(["field", "mean words", "median", "min", "max"], rows,
                 source(ev, "data/filtered/filtered.jsonl", n=len(ev.filtered)), "Lengths of the kept records.")


def preference(ev: Evidence) -> Section:
    section = Section("preference", "2.3 · Preference pairs")
    section.add(Text(prose.PREFERENCE.format(target=f"target {models_noun(ev, plural=False)}")))
    report, pairs = ev.preference_report, ev.pairs
    if report is None or not pairs:
        return missing(section, "`data/preference/pairs.jsonl`", prose.NEXT_STEP["preference"])
    if splits_generator(ev):
        name = short(generator(ev) or "")
        section.add(Text(f"The generator's own Magpie answer (what {name} wrote in step 1) was one more candidate for "
                         f"every instruction (`preference.include_generator_response`). {name} is also the target, "
                         "so its answer as the target is the other candidate; the tables and the chart below tell "
                         "the two apart by their text."))
    elif generator_is_candidate(ev):
        section.add(Text("The instruct generator's own Magpie answer was one more candidate for every instruction "
                         "(`preference.include_generator_response`)."))
    if reward_stand_in_note(ev):
        section.add(Text(reward_stand_in_note(ev)))
    reward = report.get("reward", {})
    margin = report.get("margin", {})
    src = source(ev, "data/preference/report.json", n=report["instructions"], unit="instructions")
    facts = Table(["what", "value"], [
        ["answering models", ", ".join(report["models_used"])],
        ["reward model", reward_name(ev) if reward.get("model") else "–"],
        ["instructions", fmt(report["instructions"])],
        ["pairs eligible / kept (target)", f"{fmt(report['pairs_eligible'])} / {fmt(report['pairs_kept'])} "
                                           f"({fmt(report['target_pairs'])})"],
        *[[f"skipped: {k.replace('_', ' ')}", fmt(v)] for k, v in report.get("skipped", {}).items()],
        ["margin min / median / max", f"{fmt(margin.get('min'))} / {fmt(margin.get('median'))} / "
                                      f"{fmt(margin.get('max'))}"],
    ], src, "How the pairs were made.")
    counts = choice_counts(ev)
    split = splits_generator(ev)  # one model, two kinds of answer: counted from each pair's texts
    per_model = Table(["model", "chosen", "rejected"], [[who, fmt(chosen), fmt(rejected)] for who, chosen, rejected
                                                        in counts],
                      source(ev, *(("data/preference/pairs.jsonl", "data/filtered/filtered.jsonl") if split
                                   else ("data/preference/report.json",)), n=report["pairs_kept"], unit="pairs"),
                      "Whose answer was chosen and whose rejected" + (
                          " (the generator's Magpie answer is the filtered record's text; the other answer is the "
                          "target's own)." if split else "."))
    pair_src = source(ev, "data/preference/pairs.jsonl", n=len(pairs), unit="pairs")
    choice_chart = Figure("pair_choices", figures.choices(labelled_pairs(ev), ev.world),
                          "Chosen and rejected answers per model" + (" and kind of answer." if split else "."), pair_src)
    section.add(facts, per_model, choice_chart)
    top = max(counts, key=lambda row: row[1])[0] if counts else "–"
    section.slides.append(Slide(section.title, [
        f"candidates: the answers of {answering_phrase(ev)}; {reward_name(ev)} scores them",
        f"{fmt(report['pairs_kept'])} pairs kept of {fmt(report['pairs_eligible'])} eligible",
        f"median margin {fmt(margin.get('median'))}; most often chosen: {top}",
    ], figure=choice_chart, notes=pair_src))
    return section
