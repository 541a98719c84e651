"""The parts of the report around the results: abstract, limitations, conclusions, references, appendix."""

from __future__ import annotations

import re
from datetime import datetime

from ..config import load_profile
from ..workspace import find_repo_root
from . import prose
from .data_sections import source
from .degenerate import find_degenerate
from .document import Bullets, Callout, Section, Slide, Table, Text, fmt, missing
from .evidence import (
    AGENT_MANIFEST,
    COMPARISON_FILE,
    EVALUATION_MANIFEST,
    LAYOUT,
    RESULTS_FILE,
    STAGES_FILE,
    Evidence,
    adapter_file,
    stage_sort_key,
)
from .result_sections import AGENT_BENCHMARK, DEVICE, measures
from .roles import (
    NO_REAL_REWARD,
    answering_phrase,
    answering_targets,
    generator,
    joined,
    models_noun,
    reward_is_stand_in,
    reward_model,
    reward_name,
    target_models,
)
from .setup_sections import STEPS, model_names
from .verdicts import DEGENERATE, NOT_TESTED, STAGE_NAMES, all_changes, short

QUESTION = ("**Question.** Can instruction data that an aligned model writes itself (Magpie) {teach}, through "
            "supervised fine-tuning (SFT) and then preference optimization (DPO)?")
TEACH = {"base models": "teach small base models to follow instructions",
         "instruct models": "make small instruct models follow instructions better"}


def question(ev: Evidence) -> str:
    """The project's question, about the kind of model this run tunes (base, instruct, or both)."""
    return QUESTION.format(teach=TEACH.get(models_noun(ev), "teach small models (base and instruct) to follow "
                                                         "instructions, or follow them better"))


def abstract(ev: Evidence, toy: bool) -> Section:
    section = Section("abstract", "Abstract")
    if toy:
        section.add(Callout(prose.TOY_WARNING, kind="warning"))
    answer = " ".join(_answer_sentences(ev, toy)[:3])
    section.add(Text(" ".join([question(ev), "**This run.** " + _data_sentence(ev, toy)]
                              + ([f"**Answer.** {answer}"] if answer else []))))
    return section


def targets(ev: Evidence) -> list[str]:
    return list(dict.fromkeys(t.model for t in ev.trained)) or list(dict.fromkeys(
        r["model"] for r in ev.stages or []))


def _data_sentence(ev: Evidence, toy: bool) -> str:
    raw, filtered, pref = ev.raw_manifest, ev.filtered_report, ev.preference_report
    if raw is None:
        return "No step has produced artifacts yet; each section below says what to run."
    generator = model_names([raw.get("generator") or "an aligned model"], toy)
    parts = [f"We prompt {generator} with only the pre-query template (Magpie) and obtain "
             f"{fmt(raw.get('counts', {}).get('records'))} synthetic instruction/answer pairs"]
    if filtered:
        parts.append(f", filter them with {len(filtered.get('filters', []))} rules to {fmt(filtered['output'])}")
    if pref:
        scorer = (f"the toy stand-in of a reward model ({short(reward_model(ev) or '')}; "
                  f"{NO_REAL_REWARD})" if reward_is_stand_in(ev) else "a reward model")
        parts.append(f", and build {fmt(pref['pairs_kept'])} preference pairs from the answers of "
                     f"{answering_phrase(ev)}, scored by {scorer}")
    text = "".join(parts) + "."
    if ev.trained:
        names = model_names(targets(ev), toy)
        start = ("its base model" if models_noun(ev, targets(ev)) == "base models"
                 else "the model as it was before tuning (the base stage)")
        text += (f" {names[0].upper()}{names[1:]} {'are' if len(targets(ev)) > 1 else 'is'} fine-tuned with SFT and "
                 f"then DPO, and every stage is compared with {start} on the same items by a paired bootstrap.")
    return text


def _by_verdict(changes, stage: str, vs: str, measure_filter) -> dict[str, list[str]]:
    """verdict -> the models (short names) whose ``stage`` vs ``vs`` change got it."""
    out: dict[str, list[str]] = {}
    for c in changes:
        if (c.stage, c.vs) == (stage, vs) and measure_filter(c):
            out.setdefault(c.verdict, []).append(short(c.model))
    return out


def _said(groups: dict[str, list[str]], what: str) -> str:
    """``raised the held-out reward of A and B, and left it unchanged for C``."""
    words = {"higher": f"raised {what} of", "lower": f"lowered {what} of",
             "no clear change": f"left {what} unchanged for",
             DEGENERATE: f"gave a degenerate {what} (no verdict) for", NOT_TESTED: f"could not test {what} for"}
    parts = []
    for verdict in words:
        if groups.get(verdict):
            names = groups[verdict]
            joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            parts.append(f"{words[verdict]} {joined}")
    return ", and ".join(parts)


def _answer_sentences(ev: Evidence, toy: bool) -> list[str]:
    """The plain-sentence answers of this run, most important first (abstract: the first three)."""
    changes = all_changes(ev)
    out = []
    held = _by_verdict(changes, "sft", "base", lambda c: c.benchmark == "reward")
    if held:
        scorer = "the toy stand-in reward model's" if reward_is_stand_in(ev) else "the reward model's"
        out.append(f"SFT {_said(held, 'the held-out reward')} ({scorer} score of answers to instructions never "
                   "trained on).")
    dpo = _by_verdict(changes, "dpo", "sft", lambda c: c.benchmark == "reward")
    if dpo:
        out.append(f"DPO on top of SFT {_said(dpo, 'it')}.")
    bench = [c for c in changes if c.vs == "base" and c.benchmark not in ("reward", AGENT_BENCHMARK)]
    if bench:
        moved = [c for c in bench if c.verdict in ("higher", "lower")]
        void = [c for c in bench if c.degenerate]
        judged = len(bench) - len(void)
        head = (f"Of the {len(bench)} benchmark changes against base, {len(void)} involve a degenerate result and "
                f"get no verdict; of the other {judged}, " if void else f"Of the {len(bench)} benchmark changes "
                "against base, ")
        if moved:
            out.append(head + f"{len(moved)} exclude 0: " + ", ".join(
                f"{short(c.model)} {STAGE_NAMES[c.stage]} {c.measure} {c.verdict}" for c in moved) + ".")
        else:
            out.append(head + "none excludes 0.")
    named = find_degenerate(ev)
    if named:
        out.append(f"{len(named)} result{'s are' if len(named) > 1 else ' is'} degenerate and get{'s' if len(named) == 1 else ''} "
                   "no verdict (" + "; ".join(sorted({d.kind for d in named})) + ").")
    agent = _agent_sentence(ev)
    if agent:
        out.append(agent)
    if toy:
        out.append("All of this is the toy world: it shows that the pipeline runs end to end, not how well the "
                   "method works on real models.")
    return out


def _agent_sentence(ev: Evidence) -> str:
    rows = [r for r in ev.results or [] if r["benchmark"] == AGENT_BENCHMARK and r["metric"] == "reward"
            and r["value"] is not None]
    if not rows:
        return ""
    models = [r for r in rows if r["stage"] not in ("-", "")]
    rule = next((r for r in rows if r["model"].startswith("rule")), None)
    stuck = {d.model for d in find_degenerate(ev) if d.benchmark == AGENT_BENCHMARK}
    best = max(models, key=lambda r: r["value"]) if models else None
    text = ""
    if models and all(r["model"] in stuck for r in models):
        text = "No tuned model made a valid agent move"
    elif best:
        text = (f"The best model agent, {short(best['model'])} {STAGE_NAMES.get(best['stage'], best['stage'])}, "
                f"reached a mean reward of {fmt(best['value'])}")
    if rule:
        text += (", " if text else "") + f"the rule baseline {fmt(rule['value'])}"
    return (text[0].upper() + text[1:] + ".") if text else ""


def limitations(ev: Evidence, toy: bool) -> Section:
    section = Section("limitations", "5 · Limitations")
    raw = ev.raw_manifest or {}
    generator_name = model_names([raw.get("generator") or "Llama-3.1-8B-Instruct"], toy)
    said = [prose.LIMITATIONS[0].format(generator=generator_name), prose.LIMITATIONS[1],
            f"Sample sizes are small ({sample_sizes(ev)}): read the intervals, not only the point values."
            if sample_sizes(ev) else prose.SMALL_SAMPLES, *prose.LIMITATIONS[2:]]
    if reward_is_stand_in(ev):
        said.insert(2, f"No real reward model is available offline: every reward score (which answer of a pair is "
                       f"chosen, and the held-out reward of every stage) comes from {reward_name(ev)}, so it tests "
                       "the code path, not the answers' quality; the benchmarks do not use it.")
    if any(_is_llama(m) for m in run_models(ev)):
        said.append(prose.LLAMA_LICENCE)
    items = ([prose.TOY_LIMITATION] if toy else []) + said
    section.add(Bullets(items))
    toy_point = ["Toy world: tiny stand-in models, numbers test the code path only and vary by CPU"] if toy else []
    section.slides.append(Slide("Limitations", toy_point + said[1:4 + reward_is_stand_in(ev)]))
    return section


UNITS = {"reward": "held-out instructions", "ifeval": "IFEval prompts", "mmlu": "MMLU questions",
         "mt_bench": "rated MT-Bench answers"}


def sample_sizes(ev: Evidence) -> str:
    """``9 preference pairs; per model and stage 3 held-out instructions, 24 IFEval prompts …; 8 episodes per
    agent``: the sizes this run's numbers rest on (empty when nothing has been counted yet)."""
    parts = [f"{fmt(ev.preference_report['pairs_kept'])} preference pairs"] if ev.preference_report else []
    per_stage = []
    for benchmark, metric, label in measures(ev):
        rows = (ev.stages or []) if benchmark == "reward" else [
            r for r in ev.results or [] if (r["benchmark"], r["metric"]) == (benchmark, metric)]
        sizes = [r["n"] for r in rows if r.get("n") is not None]
        if sizes:
            unit = UNITS.get(benchmark, f"{label} items")
            per_stage.append(f"{fmt(max(sizes))} {unit if max(sizes) != 1 else unit.removesuffix('s')}")
    if per_stage:
        parts.append("per model and stage " + joined(per_stage))
    episodes = [r["n"] for r in ev.results or [] if r["benchmark"] == AGENT_BENCHMARK and r["metric"] == "reward"
                and r.get("n") is not None]
    if episodes:
        parts.append(f"{fmt(max(episodes))} episodes per agent")
    return "; ".join(parts)


def run_models(ev: Evidence) -> list[str]:
    """Every model this run's artifacts name: generator, answering models, targets, judges."""
    found = [generator(ev) or "", *answering_targets(ev), *target_models(ev), reward_model(ev) or ""]
    found += [r["model"] for r in ev.results or []] + [r.get("judge") or "" for r in ev.results or []]
    return [m for m in dict.fromkeys(found) if m]


def _is_llama(model: str) -> bool:
    # Meta's licences cover the models it names Llama; a model of another family built on the Llama
    # architecture (SmolLM2) is not one of them.
    return short(model).lower().startswith("llama")


def conclusions(ev: Evidence, toy: bool) -> Section:
    """Four to six plain sentences: what the run answers, from the paired changes and the named degeneracies."""
    section = Section("conclusions", "6 · Conclusions")
    sentences = _answer_sentences(ev, toy)[:6] or ["No stage has been compared with its base yet."]
    section.add(Text(" ".join(sentences)))
    files = [f for f, rows in ((STAGES_FILE, ev.stages), (COMPARISON_FILE, ev.comparison), (RESULTS_FILE, ev.results))
             if rows]
    section.slides.append(Slide("Conclusions", sentences, notes=source(ev, *files, extra="paired changes vs base")
                                if files else ""))
    return section


def references(ev: Evidence | None = None) -> Section:
    section = Section("references", "References")
    entries = list(prose.REFERENCES)
    if ev is not None and reward_is_stand_in(ev):  # the reference describes the real model, not what scored here
        entries[prose.REWARD_REFERENCE] += (f" In this run the reward scores come from {reward_name(ev)}, not "
                                            f"from this model: {NO_REAL_REWARD}.")
    section.add(Bullets([f"[{i}] {entry}" for i, entry in enumerate(entries, start=1)]))
    return section


def _seconds(manifest: dict) -> float | None:
    """Training's own ``train_seconds`` where recorded (resumed runs add up), else the sum of the sessions'
    wall times in ``runs`` (a step written by several calls or sessions), else the manifest's own span."""
    trained = (manifest.get("training") or {}).get("train_seconds")
    if isinstance(trained, (int, float)):
        return float(trained)
    runs = [r.get("seconds") for r in (manifest.get("runs") or {}).values()]
    if runs and all(isinstance(r, (int, float)) for r in runs):
        return float(sum(runs))
    try:
        start = datetime.fromisoformat(manifest["started_at"])
        end = datetime.fromisoformat(manifest["finished_at"])
    except (KeyError, TypeError, ValueError):
        return None
    return max(0.0, (end - start).total_seconds())


def _runs(manifest: dict) -> int:
    """How many sessions the manifest's time adds up (one when it records no ``runs``)."""
    if isinstance((manifest.get("training") or {}).get("train_seconds"), (int, float)):
        return 1
    return len(manifest.get("runs") or {}) or 1


def _device(manifest: dict) -> str:
    """Where the step ran (``cuda``/``cpu`` as its manifest recorded it); older manifests only name a profile,
    whose usual device stands in where it is known."""
    return manifest.get("device") or DEVICE.get(manifest.get("profile"), "not recorded")


# folders whose older manifests (without ``runs``) timed only the last of several calls: the pairs after the
# answers and scores, the last agent played, the last model evaluated
SHARED = {"data/preference/manifest.json", AGENT_MANIFEST, EVALUATION_MANIFEST}


def _step(rel: str) -> str:
    """The step as Appendix B names it (``04 SFT``), from the manifest's path."""
    stage = rel.split("/")[-2] if rel.startswith(LAYOUT.rel(LAYOUT.models_dir) + "/") else None
    label = STEPS.get(stage or rel)
    return label[0] if label else rel


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
    notes = _tied_notes(rows, columns)
    section.add(Table(header, grid, source(ev, RESULTS_FILE, n=len(rows), unit="rows"),
                      "Every benchmark metric per model and stage; 95% intervals and per-row notes are in "
                      "`evaluation/results.csv`."))
    if notes:
        section.add(Text("**Notes on the rows**: what holds for every model stage, then each remark with the model "
                         "stages it concerns."), Bullets(notes))
    return section


def _tied_notes(rows: list[dict], columns: list[tuple[str, str]]) -> list[str]:
    """One line per benchmark: what its notes say of every model stage, then each remaining remark with the
    model stages it concerns (a note is a ``; ``-separated list of remarks)."""
    out = []
    for benchmark in dict.fromkeys(r["benchmark"] for r in rows):
        where: dict[str, list[tuple[str, str]]] = {}
        for r in rows:
            if r["benchmark"] != benchmark or not r.get("note"):
                continue
            for part in (p.strip() for p in r["note"].split(";")):
                found = where.setdefault(part, [])
                if part and (r["model"], r["stage"]) not in found:
                    found.append((r["model"], r["stage"]))
        evaluated = [(m, s) for m, s in columns if any((r["model"], r["stage"], r["benchmark"]) == (m, s, benchmark)
                                                     for r in rows)]
        common = [part for part, stages in where.items() if part and set(stages) >= set(evaluated)]
        by_who: dict[str, list[str]] = {}
        for part, stages in where.items():
            if part and part not in common:
                by_who.setdefault(_who(stages, evaluated), []).append(part)
        line = f"**{benchmark}**: " + "; ".join(common)
        line += "".join(f" · {who}: {'; '.join(parts)}" for who, parts in by_who.items())
        out.append(line)
    return out


def _who(stages: list[tuple[str, str]], evaluated: list[tuple[str, str]]) -> str:
    """``base of every model``, ``SFT and SFT+DPO of every model`` or the model stages one by one."""
    kinds = {s for _, s in stages}
    every = {(m, s) for m, s in evaluated if s in kinds}
    if set(stages) == every and len({m for m, _ in evaluated}) > 1:
        return " and ".join(STAGE_NAMES.get(k, k) for k in ("base", "sft", "dpo") if k in kinds) + " of every model"
    return ", ".join(f"{short(m)} {STAGE_NAMES.get(s, s)}" for m, s in stages)


def rerun_command(profile: str, seed: int) -> str:
    """The one command that re-runs this profile: the Makefile target whose recipe runs ``sit run-all --profile
    <profile>`` (when the checkout has one and the seed is the profile's own), else ``sit run-all`` itself."""
    target = _make_target(profile)
    try:
        own_seed = int(load_profile(profile).get("seed", 42))
    except Exception:  # noqa: BLE001 - a profile this checkout does not know: no Makefile target runs it either
        own_seed = None
    if target and own_seed == seed:
        return f"`make {target}`"
    return f"`sit run-all --profile {profile} --seed {seed}`"


def _make_target(profile: str) -> str | None:
    root = find_repo_root()
    makefile = root / "Makefile" if root else None
    if makefile is None or not makefile.is_file():
        return None
    target = None
    for line in makefile.read_text(encoding="utf-8").splitlines():
        header = re.match(r"^([A-Za-z0-9_.-]+):(?!=)", line)
        if header:
            target = header.group(1)
        elif target and line.startswith("\t") and re.search(rf"\bsit run-all --profile {re.escape(profile)}(\s|$)",
                                                              line):
            return target
    return None


def appendix_reproducibility(ev: Evidence, seed: int, profile: str) -> Section:
    section = Section("reproducibility", "Appendix C · Cost and reproducibility")
    manifests = ev.manifests()
    if not manifests:
        return missing(section, "any step manifest", prose.NEXT_STEP["raw"])
    # (step, profile, device) -> (seconds, sessions) of each manifest (one per model for the training steps)
    steps: dict[tuple[str, str, str], list[tuple[float, int]]] = {}
    gpu, total, partial = 0.0, 0.0, set()
    for rel, manifest in manifests.items():
        seconds, device = _seconds(manifest) or 0.0, _device(manifest)
        total += seconds
        gpu += seconds if device == "cuda" or device.startswith("GPU") else 0
        steps.setdefault((_step(rel), manifest.get("profile", "?"), device), []).append((seconds, _runs(manifest)))
        if rel in SHARED and "runs" not in manifest and (rel != EVALUATION_MANIFEST
                                                         or len(manifest.get("models") or []) > 1):
            partial.add(_step(rel))
    rows = [[step, profile, device, fmt(sum(n for _, n in runs)),
             fmt(sum(t for t, _ in runs) / 60, 2) + ("*" if step in partial else "")]
            for (step, profile, device), runs in sorted(steps.items())]
    named = [m for m in manifests if not m.startswith(LAYOUT.rel(LAYOUT.models_dir) + "/")]
    if len(named) < len(manifests):
        named.insert(3, adapter_file("manifest.json").replace("/sft/", "/{sft,dpo}/"))
    cost = Table(["step", "profile", "device", "runs", "minutes"], rows, source(ev, *named),
                 f"Wall time per step: total {fmt(total / 60, 1)} min, of which {fmt(gpu / 3600, 2)} GPU-hours. "
                 + prose.COST + (" * Recorded before manifests kept each run's time: the span of the step's last "
                                 "call only (the pairs without the answers, the last agent played), less than the "
                                 "step took." if partial else ""))
    seeds = sorted({str(m.get("seed")) for m in manifests.values() if m.get("seed") is not None})
    commits = sorted({(m.get("git_commit") or "unknown")[:10] for m in manifests.values()})
    latest = max(manifests.values(), key=lambda m: m.get("finished_at") or "")
    versions = ", ".join(f"{k} {v}" for k, v in sorted(latest.get("versions", {}).items()))
    section.add(cost, Bullets([f"world `{ev.world or 'unknown'}`; seed(s) {', '.join(seeds) or '–'}; "
                               f"git commit(s) {', '.join(commits)}",
                               f"re-run: {rerun_command(profile, seed)} or the notebooks with PROFILE={profile!r}, "
                               f"SEED={seed}",
                               f"package versions (latest manifest): {versions or '–'}"]))
    section.slides.append(Slide("Cost and reproducibility", [
        f"total wall time {fmt(total / 60, 1)} min; GPU {fmt(gpu / 3600, 2)} h",
        f"seed {', '.join(seeds) or '–'}; world {ev.world or 'unknown'}",
    ], table=cost, notes=cost.source))
    return section
