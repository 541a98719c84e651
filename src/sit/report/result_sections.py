"""Report sections for training, the stage comparison, evaluation, agent results, cost, reproducibility."""

from __future__ import annotations

from datetime import datetime

from . import figures, prose
from .data_sections import source
from .document import Bullets, Figure, Section, Slide, Table, Text, fmt, missing
from .evidence import AGENT_FILE, COMPARISON_FILE, RESULTS_FILE, STAGES_FILE, Evidence, ci, stage_sort_key
from .verdicts import STAGE_NAMES, result_points, stage_points, verdicts

AGENT_BENCHMARK = "webshop"
DEVICE = {"colab_t4": "GPU (T4)", "demo": "CPU"}


def flatten_config(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_config(value, f"{name}."))
        elif not isinstance(value, list) or len(value) <= 6:
            out[name] = ", ".join(map(str, value)) if isinstance(value, list) else value
    return out


def setting(value) -> str:
    """A configuration value as written (a learning rate of 2e-4 must not print as 0.000)."""
    if value is None:
        return "–"
    return f"{value:g}" if isinstance(value, float) else str(value)


def training(ev: Evidence) -> Section:
    section = Section("training", "Steps 4–5 · QLoRA SFT and DPO")
    section.add(Text(prose.TRAINING))
    if not ev.trained:
        return missing(section, "a finished adapter (`models/<model>/sft/manifest.json`)", prose.NEXT_STEP["training"])
    first_curve = None
    for slug in dict.fromkeys(t.slug for t in ev.trained):
        runs = [t for t in ev.trained if t.slug == slug]
        settings = {t.stage: flatten_config(t.manifest.get("config", {})) for t in runs}
        keys = sorted({k for s in settings.values() for k in s})
        rows = [[k, *[setting(settings[t.stage].get(k)) for t in runs]] for k in keys]
        counts = {t.stage: t.manifest.get("counts", {}) for t in runs}
        rows += [[f"count: {k}", *[fmt(counts[t.stage].get(k)) for t in runs]]
                 for k in sorted({k for c in counts.values() for k in c})]
        manifests = [ev.rel(t.folder / "manifest.json") for t in runs]
        section.add(Table(["setting", *[t.stage for t in runs]], rows, source(ev, *manifests),
                          f"{runs[0].model}: settings and counts recorded by training."))
        for run in runs:
            for curve in run.curves:
                fig = Figure(f"{slug}_{run.stage}_{curve.stem}", curve.read_bytes(),
                             f"{run.model} · {run.stage.upper()} · {curve.stem.replace('_', ' ')}",
                             source(ev, ev.rel(curve)))
                section.add(fig)
                first_curve = first_curve or fig
            if not run.curves and run.log_history:
                rel = ev.rel(run.folder / "log_history.json")
                fig = Figure(f"{slug}_{run.stage}_loss", figures.loss_curve(run.log_history, f"{run.model} · "
                             f"{run.stage.upper()}"), f"{run.model} · {run.stage.upper()} training curves",
                             source(ev, rel, n=len(run.log_history), unit="log entries"))
                section.add(fig)
                first_curve = first_curve or fig
    section.slides.append(Slide(section.title, [
        "QLoRA: 4-bit frozen base + LoRA adapters on the attention projections",
        "DPO: the SFT adapter trained further on chosen vs rejected",
        "trained: " + ", ".join(f"{t.model.split('/')[-1]} {t.stage.upper()}" for t in ev.trained),
    ], figure=first_curve, notes=first_curve.source if first_curve else ""))
    return section


def stage_comparison(ev: Evidence) -> Section:
    section = Section("stages", "Base vs SFT vs DPO on held-out instructions")
    section.add(Text(prose.STAGE_COMPARISON))
    rows = ev.stages
    if not rows:
        return missing(section, f"`{STAGES_FILE}`", prose.NEXT_STEP["stages"])
    rows = sorted(rows, key=stage_sort_key)
    n_total = sum(r["n"] or 0 for r in rows)
    src = source(ev, STAGES_FILE, n=n_total, unit="scored answers",
                 extra="judge: the preference step's reward model")
    table = Table(["model", "stage", "mean reward", "95% CI", "stopped share", "n", "change (paired, 95% CI)"],
                  [[r["model"], STAGE_NAMES.get(r["stage"], r["stage"]), fmt(r["mean_reward"]),
                    f"[{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]", fmt(r["stopped_share"]), fmt(r["n"]), _change(r)]
                   for r in rows], src, "Reward-model score of held-out answers per model and stage; the change is "
                  "from the stage before, on the same instructions.")
    chart = Figure("stage_rewards", figures.stage_rewards(rows), "Mean held-out reward with 95% intervals.", src)
    said = verdicts(stage_points(rows))
    section.add(table, chart, Bullets(said))
    section.slides.append(Slide("Results: held-out reward by stage", said[:4], figure=chart, notes=src))
    return section


def _change(row: dict) -> str:
    """``+0.19 [-0.6, 1.0] vs SFT``; empty for base, or for a stages.csv written before the column existed."""
    if row.get("delta") is None:
        return "–"
    return (f"{row['delta']:+.2f} [{fmt(row['delta_low'])}, {fmt(row['delta_high'])}] vs "
            f"{STAGE_NAMES.get(row['vs'], row['vs'])}")


def _results_source(ev: Evidence, rows: list[dict], kinds: set[str]) -> str:
    """Provenance of these rows: their file, world, sample size, judge and how the intervals were made."""
    how = {"reported": "intervals as reported by the evaluation", "normal": "value ± 1.96 × stderr"}
    judges = sorted({r.get("judge") for r in rows if r.get("judge")})
    extra = "; ".join(([f"judge: {', '.join(judges)}"] if judges else []) + [how[k] for k in sorted(kinds) if k in how])
    files = sorted({AGENT_FILE if r["benchmark"] == AGENT_BENCHMARK and ev.results_from_agent_file else RESULTS_FILE
                    for r in rows})
    return source(ev, *files, n=sum(r["n"] or 0 for r in rows), unit="scored items", extra=extra)


def _results_table(ev: Evidence, rows: list[dict], caption: str) -> Table:
    out, kinds = [], set()
    for r in sorted(rows, key=lambda r: (r["benchmark"], r["metric"], *stage_sort_key(r))):
        low, high, kind = ci(r)
        kinds.add(kind)
        out.append([r["benchmark"], r["metric"], r["model"], STAGE_NAMES.get(r["stage"], r["stage"]), fmt(r["value"]),
                    f"[{fmt(low)}, {fmt(high)}]" if kind else "–", fmt(r["n"]), r.get("judge") or "–",
                    r.get("note") or ""])
    return Table(["benchmark", "metric", "model", "stage", "value", "95% CI", "n", "judge", "note"], out,
                 _results_source(ev, rows, kinds), caption)


def evaluation(ev: Evidence) -> Section:
    section = Section("evaluation", "Step 6 · Evaluation")
    section.add(Text(prose.EVALUATION))
    rows = [r for r in ev.results or [] if r["benchmark"] != AGENT_BENCHMARK]
    if not rows:
        return missing(section, f"`{RESULTS_FILE}`", prose.NEXT_STEP["evaluation"])
    table = _results_table(ev, rows, "Benchmark results per model and stage.")
    section.add(table)
    first_chart = None
    for benchmark in sorted({r["benchmark"] for r in rows}):
        metric = sorted({r["metric"] for r in rows if r["benchmark"] == benchmark})[0]
        subset = [r for r in rows if r["benchmark"] == benchmark and r["metric"] == metric]
        chart = Figure(f"eval_{benchmark}", figures.benchmark_chart(subset, benchmark, metric),
                       f"{benchmark} ({metric}) per model and stage, 95% intervals.",
                       _results_source(ev, subset, {ci(r)[2] for r in subset}))
        section.add(chart)
        first_chart = first_chart or chart
    for path in ev.eval_charts:
        section.add(Figure(f"evaluation_{path.stem}", path.read_bytes(), path.stem.replace("_", " "),
                           source(ev, ev.rel(path))))
    said = _comparison(ev, section) or verdicts(result_points(rows))
    section.add(Text("**Verdicts.**"), Bullets(said))
    if ev.summary:
        section.add(Text(f"The evaluation step's own summary is in `evaluation/summary.md` "
                         f"({len(ev.summary.splitlines())} lines)."))
    section.slides.append(Slide(section.title, said[:5], table=table, notes=table.source))
    if first_chart:
        section.slides.append(Slide("Evaluation chart", [], figure=first_chart, notes=first_chart.source))
    return section


def _comparison(ev: Evidence, section: Section) -> list[str]:
    """The evaluation phase's own change-vs-base table (paired bootstrap over items) and its verdicts."""
    rows = ev.comparison or []
    if not rows:
        return []
    table = Table(["model", "stage", "metric", "base", "stage value", "delta", "95% CI", "items", "verdict"],
                  [[r["model"], STAGE_NAMES.get(r["stage"], r["stage"]), r["label"], fmt(r["base"]), fmt(r["value"]),
                    fmt(r["delta"]), f"[{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]" if r["ci_low"] is not None else "–",
                    fmt(r["n"]), r["verdict"] or r.get("why") or "–"] for r in rows],
                  source(ev, COMPARISON_FILE, n=len(rows), unit="comparisons", extra="paired bootstrap over items"),
                  "Change of each stage against the base model on the same items.")
    section.add(table)
    return [f"{r['model'].split('/')[-1]} {STAGE_NAMES.get(r['stage'], r['stage'])} vs base, {r['label']}: "
            + (f"**{r['verdict']}** ({fmt(r['delta'])}, 95% CI [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}], "
               f"{fmt(r['n'])} paired items)" if r["verdict"] not in ("", "not tested") and r["ci_low"] is not None
               else f"{fmt(r['delta'])}, not tested ({r.get('why') or 'no paired items'})")
            for r in rows]


def agent(ev: Evidence) -> Section:
    section = Section("agent", "Step 7 · Agent evaluation")
    section.add(Text(prose.AGENT))
    rows = [r for r in ev.results or [] if r["benchmark"] == AGENT_BENCHMARK]
    if not rows:
        return missing(section, f"rows with benchmark `{AGENT_BENCHMARK}` in `{RESULTS_FILE}`",
                       prose.NEXT_STEP["agent"])
    table = _results_table(ev, rows, "WebShop-style agent results.")
    said = verdicts(result_points(rows))
    section.add(table, Bullets(said))
    section.slides.append(Slide(section.title, said[:4], table=table, notes=table.source))
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


def cost(ev: Evidence) -> Section:
    section = Section("cost", "Cost")
    section.add(Text(prose.COST))
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
    table = Table(["manifest", "step", "device", "minutes"], rows, source(ev, *manifests),
                  f"Total {fmt(total / 60, 1)} min, of which {fmt(gpu / 3600, 2)} GPU-hours.")
    section.add(table)
    section.slides.append(Slide("Cost and reproducibility", [
        f"total wall time {fmt(total / 60, 1)} min; GPU {fmt(gpu / 3600, 2)} h",
    ], table=table, notes=table.source))
    return section


def reproducibility(ev: Evidence, seed: int, profile: str) -> Section:
    section = Section("reproducibility", "Reproducibility")
    manifests = ev.manifests()
    if not manifests:
        return missing(section, "any step manifest", prose.NEXT_STEP["raw"])
    seeds = sorted({str(m.get("seed")) for m in manifests.values() if m.get("seed") is not None})
    commits = sorted({m.get("git_commit") or "unknown" for m in manifests.values()})
    profiles = sorted({m.get("profile") for m in manifests.values() if m.get("profile")})
    latest = max(manifests.values(), key=lambda m: m.get("finished_at") or "")
    versions = latest.get("versions", {})
    section.add(Bullets([f"world: `{ev.world or 'unknown'}`", f"seed(s): {', '.join(seeds) or '–'}",
                         f"profile(s): {', '.join(profiles) or '–'}", f"git commit(s): {', '.join(commits)}",
                         f"re-run: `make demo` (toy world) or the notebooks with PROFILE={profile!r}, SEED={seed}"]),
                Table(["package", "version"], [[k, str(v)] for k, v in sorted(versions.items())],
                      source(ev, *manifests, extra="versions from the latest manifest"), "Package versions."))
    return section


def limitations(toy: bool) -> Section:
    section = Section("limitations", "Limitations")
    items = ([prose.TOY_LIMITATION] if toy else []) + prose.LIMITATIONS
    section.add(Bullets(items))
    section.slides.append(Slide(section.title, items[:5]))
    return section


def conclusions(ev: Evidence, toy: bool) -> Section:
    section = Section("conclusions", "Conclusions")
    points = []
    if ev.filtered_report:
        points.append(f"{fmt(ev.filtered_report['input'])} Magpie records filtered to "
                      f"{fmt(ev.filtered_report['output'])} for SFT.")
    if ev.pairs:
        points.append(f"{fmt(len(ev.pairs))} preference pairs from "
                      f"{len((ev.preference_report or {}).get('models_used', []))} models.")
    points += verdicts(stage_points(ev.stages or []))[:3]
    points += verdicts(result_points(ev.results or []))[:3]
    if not points:
        points.append("No step has produced artifacts yet.")
    if toy:
        points.append("Toy world: these conclusions are about the code path, not about model quality.")
    section.add(Bullets(points))
    section.slides.append(Slide(section.title, points[:6]))
    return section
