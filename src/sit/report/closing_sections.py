"""The parts of the report around the results: abstract, limitations, conclusions, references, appendix."""

from __future__ import annotations

from datetime import datetime

from ..workspace import TRAINING_STAGES
from . import prose
from .data_sections import answering_phrase, source
from .document import Bullets, Callout, Section, Slide, Table, Text, fmt, missing
from .evidence import COMPARISON_FILE, RESULTS_FILE, STAGES_FILE, Evidence, ci, stage_sort_key
from .result_sections import AGENT_BENCHMARK, DEVICE, measures
from .verdicts import STAGE_NAMES, all_changes, find, short


def abstract(ev: Evidence, toy: bool) -> Section:
    section = Section("abstract", "Abstract")
    if toy:
        section.add(Callout(prose.TOY_WARNING, kind="warning"))
    section.add(Text(" ".join([_data_sentence(ev), *_finding_sentences(ev)])))
    return section


def _data_sentence(ev: Evidence) -> str:
    raw, filtered, pref = ev.raw_manifest, ev.filtered_report, ev.preference_report
    if raw is None:
        return "No step has produced artifacts yet; each section below says what to run."
    generator = short(raw.get("generator") or "an aligned model")
    parts = [f"We prompt {generator} with only the pre-query template (Magpie) and obtain "
             f"{fmt(raw.get('counts', {}).get('records'))} synthetic instruction/answer pairs"]
    if filtered:
        parts.append(f", filter them with {len(filtered.get('filters', []))} rules to {fmt(filtered['output'])}")
    if pref:
        parts.append(f", and build {fmt(pref['pairs_kept'])} preference pairs from the answers of "
                     f"{answering_phrase(pref, raw.get('generator'))}, scored by a reward model")
    text = "".join(parts) + "."
    if ev.trained:
        models = list(dict.fromkeys(short(t.model) for t in ev.trained))
        text += (f" {', '.join(models)} are fine-tuned with QLoRA SFT and then DPO, and every stage is compared "
                 "with its base model on the same items by a paired bootstrap.")
    return text


def _finding_sentences(ev: Evidence) -> list[str]:
    """How many models each stage moved up or down, per headline measure (paired changes vs base)."""
    changes = all_changes(ev)
    out = []
    for stage in TRAINING_STAGES:
        parts = []
        for benchmark, metric, label in measures(ev):
            found = [c for c in changes if (c.stage, c.vs, c.benchmark, c.metric) == (stage, "base", benchmark, metric)
                     and c.tested]
            if found:
                counts = {w: sum(c.verdict == w for c in found) for w in ("higher", "lower", "no clear change")}
                said = ", ".join(f"{w} for {n}" for w, n in counts.items() if n)
                parts.append(f"{label}: {said} of {len(found)} model{'s' if len(found) > 1 else ''}")
        if parts:
            out.append(f"Against base, {STAGE_NAMES[stage]} gives " + "; ".join(parts) + ".")
    return out


def limitations(toy: bool) -> Section:
    section = Section("limitations", "4 · Limitations")
    items = ([prose.TOY_LIMITATION] if toy else []) + prose.LIMITATIONS
    section.add(Bullets(items))
    toy_point = ["Toy world: tiny stand-in models, numbers test the code path only and vary by CPU"] if toy else []
    section.slides.append(Slide("Limitations", toy_point + prose.LIMITATIONS[1:4]))
    return section


def conclusions(ev: Evidence, toy: bool) -> Section:
    """One conclusion per model, from its headline measures (paired changes vs base), and the agent."""
    section = Section("conclusions", "5 · Conclusions")
    changes = all_changes(ev)
    points = []
    for model in list(dict.fromkeys(c.model for c in changes)):
        for stage in TRAINING_STAGES:
            said = [f"{label} {c.verdict} ({c.interval()})" if c.tested else f"{label} not tested"
                    for benchmark, metric, label in measures(ev)
                    if (c := find(changes, model, stage, "base", benchmark, metric))]
            if said:
                points.append(f"**{short(model)} {STAGE_NAMES[stage]} vs base**: " + "; ".join(said) + ".")
        dpo = find(changes, model, "dpo", "sft", "reward", "mean_reward")
        if dpo:
            points.append(f"**{short(model)}**: DPO on top of SFT moved the held-out reward {dpo.interval()}: "
                          f"{dpo.verdict}.")
    agent = [r for r in ev.results or [] if r["benchmark"] == AGENT_BENCHMARK and r["metric"] == "reward"]
    if agent:
        best = max(agent, key=lambda r: r["value"] if r["value"] is not None else -1)
        low, high, kind = ci(best)
        points.append(f"Agent: the highest mean reward is {short(best['model'])} "
                      f"{STAGE_NAMES.get(best['stage'], best['stage'])} with {fmt(best['value'])}"
                      + (f" [{fmt(low)}, {fmt(high)}]" if kind else "") + f" over {fmt(best['n'])} episodes.")
    if not points:
        points.append("No stage has been compared with its base yet.")
    if toy:
        points.append("Toy world: these conclusions are about the code path, not about model quality.")
    section.add(Bullets(points))
    files = [f for f, rows in ((STAGES_FILE, ev.stages), (COMPARISON_FILE, ev.comparison), (RESULTS_FILE, ev.results))
             if rows]
    section.slides.append(Slide("Conclusions", points[:6], notes=source(ev, *files, extra="paired changes vs base")
                                if files else ""))
    return section


def references() -> Section:
    section = Section("references", "References")
    section.add(Bullets([f"[{i}] {entry}" for i, entry in enumerate(prose.REFERENCES, start=1)]))
    return section


def _seconds(manifest: dict) -> float | None:
    """Training's own ``train_seconds`` where recorded (resumed runs add up), else the manifest's span."""
    trained = (manifest.get("training") or {}).get("train_seconds")
    if isinstance(trained, (int, float)):
        return float(trained)
    try:
        start = datetime.fromisoformat(manifest["started_at"])
        end = datetime.fromisoformat(manifest["finished_at"])
    except (KeyError, TypeError, ValueError):
        return None
    return max(0.0, (end - start).total_seconds())


def appendix_results(ev: Evidence) -> Section:
    """Every benchmark metric of results.csv as one compact grid (metric x model and stage); the agent's
    metrics are in section 3.3, intervals and notes in the CSV."""
    section = Section("appendix_results", "Appendix A · Every metric")
    rows = [r for r in ev.results or [] if r["benchmark"] != AGENT_BENCHMARK]
    if not rows:
        return missing(section, f"`{RESULTS_FILE}`", prose.NEXT_STEP["evaluation"])
    columns = sorted(dict.fromkeys((r["model"], r["stage"]) for r in rows),
                     key=lambda k: (short(k[0]).lower(), stage_sort_key({"stage": k[1]})))
    metrics = list(dict.fromkeys((r["benchmark"], r["metric"]) for r in
                                 sorted(rows, key=lambda r: (r["benchmark"], r["metric"]))))
    value = {(r["model"], r["stage"], r["benchmark"], r["metric"]): r for r in rows}
    grid = []
    for benchmark, metric in metrics:
        found = [value.get((m, s, benchmark, metric)) for m, s in columns]
        sizes = sorted({r["n"] for r in found if r and r["n"] is not None})
        n = "–" if not sizes else fmt(sizes[0]) if len(sizes) == 1 else f"{fmt(sizes[0])}–{fmt(sizes[-1])}"
        grid.append([f"{benchmark} {metric}", n, *[fmt(r["value"]) if r else "–" for r in found]])
    header = ["metric", "n", *[f"{short(m)} {STAGE_NAMES.get(s, s)}" for m, s in columns]]
    notes = sorted({f"{r['benchmark']}: {r['note']}" for r in rows if r.get("note")})
    section.add(Table(header, grid, source(ev, RESULTS_FILE, n=len(rows), unit="rows"),
                      "Every benchmark metric per model and stage; 95% intervals and per-row notes are in "
                      "`evaluation/results.csv`."))
    if notes:
        section.add(Text("**Notes on the rows** (one line per distinct note)."), Bullets(notes[:12]))
    return section


def appendix_reproducibility(ev: Evidence, seed: int, profile: str) -> Section:
    section = Section("reproducibility", "Appendix B · Cost and reproducibility")
    manifests = ev.manifests()
    if not manifests:
        return missing(section, "any step manifest", prose.NEXT_STEP["raw"])
    rows, gpu, total = [], 0.0, 0.0
    for rel, manifest in manifests.items():
        seconds = _seconds(manifest)
        device = DEVICE.get(manifest.get("profile"), manifest.get("profile", "?"))
        total += seconds or 0
        gpu += (seconds or 0) if device.startswith("GPU") else 0
        rows.append([rel, manifest.get("phase", "?"), device, fmt(seconds / 60 if seconds is not None else None, 2)])
    cost = Table(["manifest", "step", "device", "minutes"], rows, source(ev, *manifests),
                 f"Wall time per step: total {fmt(total / 60, 1)} min, of which {fmt(gpu / 3600, 2)} GPU-hours. "
                 + prose.COST)
    seeds = sorted({str(m.get("seed")) for m in manifests.values() if m.get("seed") is not None})
    commits = sorted({(m.get("git_commit") or "unknown")[:10] for m in manifests.values()})
    latest = max(manifests.values(), key=lambda m: m.get("finished_at") or "")
    versions = ", ".join(f"{k} {v}" for k, v in sorted(latest.get("versions", {}).items()))
    section.add(cost, Bullets([f"world `{ev.world or 'unknown'}`; seed(s) {', '.join(seeds) or '–'}; "
                               f"git commit(s) {', '.join(commits)}",
                               f"re-run: `make demo` (toy world) or the notebooks with PROFILE={profile!r}, SEED={seed}",
                               f"package versions (latest manifest): {versions or '–'}"]))
    section.slides.append(Slide("Cost and reproducibility", [
        f"total wall time {fmt(total / 60, 1)} min; GPU {fmt(gpu / 3600, 2)} h",
        f"seed {', '.join(seeds) or '–'}; world {ev.world or 'unknown'}",
    ], table=cost, notes=cost.source))
    return section
