"""Report sections for the overview and the data steps: Magpie generation, filtering, preference pairs."""

from __future__ import annotations

import statistics

from . import figures, prose
from .document import Callout, Figure, Section, Slide, Table, Text, fmt, missing
from .evidence import Evidence

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
    artifacts = ["data/raw/", "data/filtered/", "data/preference/pairs.jsonl", "models/<model>/sft/",
                 "models/<model>/dpo/", "evaluation/results.csv", "evaluation/agent/results.csv"]
    return [(num, name.replace("\n", " "), d, a) for (num, name), d, a in zip(PIPELINE, done, artifacts, strict=True)]


def overview(ev: Evidence, toy: bool) -> Section:
    section = Section("overview", "Overview")
    if toy:
        section.add(Callout(prose.TOY_WARNING, kind="warning"))
    status = step_status(ev)
    section.add(Text("The pipeline turns an aligned model's own output into instruction data, filters it, builds "
                     "preference pairs from three base models' answers, fine-tunes those models (QLoRA SFT, then "
                     "DPO) and evaluates every stage. Each step reads the previous step's artifacts; this report "
                     "reads them all and builds nothing itself."))
    diagram = Figure("pipeline", figures.pipeline_diagram([(n, name, d) for (n, name), (_, _, d, _)
                                                           in zip(PIPELINE, status, strict=True)]),
                     "The pipeline; grey steps have not run yet.", source(ev, "artifact folders of the workspace"))
    table = Table(["step", "name", "status", "artifact"],
                  [[n, name, "done" if d else "not run yet", f"`{a}`"] for n, name, d, a in status],
                  source(ev, "artifact folders of the workspace"), "Which steps have produced their artifacts.")
    section.add(diagram, table)
    section.slides.append(Slide("Pipeline", [], figure=diagram, notes=diagram.source))  # the diagram shows status
    return section


def magpie(ev: Evidence) -> Section:
    section = Section("magpie", "Step 1 · Magpie generation")
    section.add(Text(prose.MAGPIE))
    manifest = ev.raw_manifest
    if manifest is None:
        return missing(section, "`data/raw/manifest.json`", prose.NEXT_STEP["raw"])
    counts, config = manifest.get("counts", {}), manifest.get("config", {})
    rows = [["generator", manifest.get("generator", "–")],
            ["records generated", fmt(counts.get("records"))],
            ["instructions cut at the token limit", fmt(counts.get("truncated_instructions"))],
            ["answers cut at the token limit", fmt(counts.get("truncated_responses"))],
            ["empty instructions", fmt(counts.get("empty_instructions"))],
            ["instruction temperature / top-p", f"{fmt(config.get('instruction_temperature'), 1)} / "
                                                f"{fmt(config.get('instruction_top_p'), 1)}"],
            ["answer temperature (0 = greedy)", fmt(config.get("response_temperature"), 1)],
            ["max new tokens (instruction / answer)", f"{fmt(config.get('max_new_tokens_instruction'))} / "
                                                      f"{fmt(config.get('max_new_tokens_response'))}"]]
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
    section = Section("filtering", "Step 2 · Quality filtering")
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
    chart = Figure("filter_removals", figures.filter_removals(report), "Removals per rule.", src)
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
    section = Section("preference", "Step 3 · Preference pairs")
    section.add(Text(prose.PREFERENCE))
    report, pairs = ev.preference_report, ev.pairs
    if report is None or not pairs:
        return missing(section, "`data/preference/pairs.jsonl`", prose.NEXT_STEP["preference"])
    reward = report.get("reward", {})
    margin = report.get("margin", {})
    src = source(ev, "data/preference/report.json", n=report["instructions"], unit="instructions")
    facts = Table(["what", "value"], [
        ["answering models", ", ".join(report["models_used"])],
        ["reward model", reward.get("model", "–")],
        ["instructions", fmt(report["instructions"])],
        ["pairs eligible / kept (target)", f"{fmt(report['pairs_eligible'])} / {fmt(report['pairs_kept'])} "
                                           f"({fmt(report['target_pairs'])})"],
        *[[f"skipped: {k.replace('_', ' ')}", fmt(v)] for k, v in report.get("skipped", {}).items()],
        ["margin min / median / max", f"{fmt(margin.get('min'))} / {fmt(margin.get('median'))} / "
                                      f"{fmt(margin.get('max'))}"],
    ], src, "How the pairs were made.")
    chosen, rejected = report.get("chosen", {}), report.get("rejected", {})
    per_model = Table(["model", "chosen", "rejected"],
                      [[m, fmt(chosen.get(m, 0)), fmt(rejected.get(m, 0))] for m in report["models_used"]],
                      source(ev, "data/preference/report.json", n=report["pairs_kept"], unit="pairs"),
                      "Whose answer was chosen and whose rejected.")
    pair_src = source(ev, "data/preference/pairs.jsonl", n=len(pairs), unit="pairs")
    margin_chart = Figure("pair_margins", figures.margins(pairs), "Chosen minus rejected reward score.", pair_src)
    choice_chart = Figure("pair_choices", figures.choices(pairs), "Chosen and rejected answers per model.", pair_src)
    section.add(facts, per_model, margin_chart, choice_chart)
    top = max(report["models_used"], key=lambda m: chosen.get(m, 0))
    section.slides.append(Slide(section.title, [
        f"{len(report['models_used'])} base models answer, {reward.get('model', 'a reward model')} scores",
        f"{fmt(report['pairs_kept'])} pairs kept of {fmt(report['pairs_eligible'])} eligible",
        f"median margin {fmt(margin.get('median'))}; most often chosen: {top}",
    ], figure=choice_chart, notes=pair_src))
    return section
