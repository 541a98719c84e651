"""What ran beside the real setup: the settings of this run next to the ``colab_t4`` profile's, the toy
world in a paragraph, and the real pipeline's sizes, memory and time plan (from :mod:`sit.planning`).

A toy run reads like a report on real models unless it says, at every table, what the real run would do
instead: a settings table therefore always has a ``this run`` and a ``colab_t4 (real)`` column.
"""

from __future__ import annotations

from ..config import load_profile
from .data_sections import QUIET_SETTINGS, setting, source
from .document import Section, Table, Text, fmt, missing
from .evidence import AGENT_MANIFEST, EVALUATION_MANIFEST, Evidence, adapter_file
from .verdicts import short

REAL = "colab_t4"
# manifest -> (step, the profile sections its config comes from, most specific last)
STEPS = {"data/raw/manifest.json": ("01 generation", ["generation"]),
         "data/filtered/manifest.json": ("02 filtering", ["filtering"]),
         "data/preference/manifest.json": ("03 preference", ["preference"]),
         "sft": ("04 SFT", ["training", "training.sft"]), "dpo": ("05 DPO", ["training", "training.dpo"]),
         EVALUATION_MANIFEST: ("06 evaluation", ["evaluation"]), AGENT_MANIFEST: ("07 agent", ["agent"])}
# the settings that decide what a step does; the rest go to the appendix
KEY_SETTINGS = {"01 generation": ["num_instructions", "max_new_tokens_response", "instruction_temperature"],
                "02 filtering": ["target", "selection", "response_max_words"],
                "03 preference": ["target_pairs", "max_new_tokens_response", "include_generator_response"],
                "04 SFT": ["epochs", "learning_rate", "lora_r", "lora_targets", "max_length", "optim", "heldout"],
                "05 DPO": ["epochs", "learning_rate", "beta"],
                "06 evaluation": ["ifeval.tasks", "ifeval.limit", "mmlu.tasks", "mmlu.num_fewshot",
                                  "mt_bench.judge", "mt_bench.questions"],
                "07 agent": ["goals", "max_rounds", "context_window", "prompt"]}


def real_profile() -> dict:
    return load_profile(REAL)


def _section_of(profile: dict, dotted: str) -> dict:
    node = profile
    for part in dotted.split("."):
        node = node.get(part) or {}
    return node


def _flat(config: dict) -> dict:
    """Settings flattened to dotted keys, lists kept whole (a LoRA target list of 7 is one setting)."""
    out: dict = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in _flat(value).items()})
        else:
            out[key] = value
    return out


def real_settings(step_sections: list[str], profile: dict | None = None) -> dict:
    """The real profile's flattened settings of a step (the most specific section wins)."""
    profile = profile or real_profile()
    out: dict = {}
    for dotted in step_sections:
        out.update({k: v for k, v in _flat(_section_of(profile, dotted)).items() if not isinstance(v, dict)})
    return out


def step_settings(ev: Evidence) -> list[tuple[str, str, dict]]:
    """(step, manifest path, flattened config) of every step that ran, in pipeline order."""
    found = []
    manifests = ev.manifests()
    for rel, (step, _) in STEPS.items():
        if rel in ("sft", "dpo"):
            runs = [t for t in ev.trained if t.stage == rel]
            if runs:  # one model's settings stand for the stage; per-model batch sizes are in the appendix
                found.append((step, adapter_file("manifest.json", rel), _flat(runs[0].manifest.get("config", {}))))
        elif manifests.get(rel) and manifests[rel].get("config"):
            found.append((step, rel, _flat(manifests[rel]["config"])))
    return found


def _sections(step: str) -> list[str]:
    return next(sections for s, sections in STEPS.values() if s == step)


def _real_value(real: dict, key: str) -> str:
    if key not in real:
        return "–"
    value = real[key]
    return "model default" if value is None and key.endswith(("batch_size", "grad_accum")) else _shown(value)


def _shown(value) -> str:
    """A setting as the profile writes it; ``null`` (all, or the default) rather than a dash."""
    return "null" if value is None else setting(value)


def load_row(ev: Evidence, profile: dict | None = None) -> list[str]:
    """How the target models were loaded: this run's manifests against the real profile."""
    real = profile or real_profile()
    run = next((t.manifest for t in ev.trained), None) or {}
    try:
        used = load_profile(run.get("profile") or REAL)
    except Exception:  # noqa: BLE001 - a profile that is not in this checkout: say what is known
        used = {}
    toy = (ev.world or "").startswith("toy")
    shown = (f"{'toy stand-in, ' if toy else ''}{used.get('dtype', '?')}, "
             f"{'4-bit NF4 where the model says so' if used.get('quantize') else 'unquantized'} "
             f"({used.get('device', '?')})") if used else "–"
    return ["model loading", shown, f"{real.get('dtype')}, 4-bit NF4 where the model says `load: nf4` "
                                    f"({'quantized' if real.get('quantize') else 'unquantized'}, {real.get('device')})"]


def key_settings_table(ev: Evidence, step: str, caption: str) -> Table | None:
    """The few settings that decide a step, this run beside the real profile."""
    found = next(((rel, flat) for s, rel, flat in step_settings(ev) if s == step), None)
    if found is None:
        return None
    rel, flat = found
    real = real_settings(_sections(step))
    keys = [k for k in KEY_SETTINGS.get(step, []) if k in flat or k in real]
    rows = [[k.replace("_", " "), _shown(flat[k]) if k in flat else "–", _real_value(real, k)] for k in keys]
    if step == "04 SFT":
        rows.insert(0, load_row(ev))
    return Table(["setting", "this run", f"{REAL} (real)"], rows, source(ev, rel), caption)


def with_settings(ev: Evidence, section: Section, step: str, what: str) -> Section:
    """``section`` with the settings that decide its step, this run beside the real profile, at its end."""
    table = key_settings_table(ev, step, f"{what} settings: this run beside the real T4 profile.") if section.ran \
        else None
    return section.add(table) if table else section


def appendix_settings(ev: Evidence) -> Section:
    """Every other setting of every step, this run beside the real profile, in one table."""
    section = Section("appendix_settings", "Appendix B · Every setting, this run and the real profile")
    steps = step_settings(ev)
    if not steps:
        return missing(section, "any step manifest with settings", "Run notebook 01 (Magpie generation) or "
                       "`sit generate`.")
    rows, same = [], []
    for step, _, flat in steps:
        real = real_settings(_sections(step))
        shown = set(KEY_SETTINGS.get(step, []))
        first = True
        for key in sorted(flat):  # what this run recorded; the real profile's other knobs are in its YAML
            if key in shown or key.split(".")[-1] in QUIET_SETTINGS:
                continue
            this, other = _shown(flat.get(key)), _real_value(real, key)
            if this == other or key not in real:  # the real profile does not set it: the same default runs there
                same.append(f"{step.split()[0]} {key}")
                continue
            rows.append([step if first else "", key, this, other])
            first = False
    section.add(Text("The settings each step's `manifest.json` recorded that the method section does not show, "
                     f"where this run differs from the real `{REAL}` profile. Speed and bookkeeping knobs (batch "
                     "sizes, checkpoint intervals, logging) are left out."),
                Table(["step", "setting", "this run", f"{REAL} (real)"], rows,
                      source(ev, *[rel for _, rel, _ in steps], extra=f"real: configs/profiles.yaml `{REAL}`"),
                      "Every other setting that differs from the real profile."))
    if same:
        section.add(Text(f"The {len(same)} other settings the manifests recorded are the same on the real profile "
                         "(most are code defaults neither profile sets)."))
    return section


def real_setup(ev: Evidence, toy: bool) -> Section:
    """The real pipeline's sizes, peak memory per model and time plan, from the planner (``sit plan``)."""
    section = Section("real_setup", "2.5 · The real setup on a Colab T4")
    if ev.raw_manifest is None and not ev.trained:  # nothing ran yet: nothing to set beside the real plan
        return missing(section, "any step's artifacts", "Run notebook 01 (Magpie generation) or `sit generate`; "
                       "`sit plan` prints the real pipeline's memory and time plan at any time.")
    try:
        from ..config import load_registry
        from ..planning.gpus import default_gpu
        from ..planning.plan import Settings, plan
        from ..planning.schedule import pack
        from ..planning.timing import Timer, notebook_times

        profile = real_profile()
        registry = load_registry().for_profile(profile)  # the real profile's models, as `sit plan` plans them
        gpu = default_gpu(profile)
        estimates = plan(registry, profile, Settings(budget_gib=gpu.memory_gib))
        times = notebook_times(Timer(registry, profile, gpu))
        sessions = pack(times)
    except Exception as error:  # noqa: BLE001 - the plan is context; a planner failure must not stop the report
        section.add(Text(f"`sit plan` could not run here ({type(error).__name__}: {error}); run it to see the "
                         "real pipeline's memory and time plan."))
        return section
    gen, flt, pref = (real_settings([s]) for s in ("generation", "filtering", "preference"))
    section.add(Text(
        ("This run was the toy stand-in of the pipeline below. " if toy else "")
        + f"On a free Colab T4 the `{REAL}` profile generates {fmt(gen.get('num_instructions'))} instructions, "
        f"keeps {fmt(flt.get('target'))} after filtering and {fmt(pref.get('target_pairs'))} preference pairs, and "
        "trains every target with 4-bit NF4 weights, LoRA on the attention projections and 8-bit paged AdamW. "
        f"The planner (`sit plan`) estimates the peak GPU memory of every step and the wall time of every notebook "
        f"run on a {gpu.name}; the plan packs them into {len(sessions)} sessions of 12 hours."))
    by_model: dict[str, list] = {}
    for e in estimates:
        by_model.setdefault(e.model, []).append(e)
    rows = []
    for model, found in by_model.items():
        peak = max(found, key=lambda e: e.total)
        hours = sum(t.seconds for t in times if t.model == model) / 3600
        rows.append([model, f"{peak.params / 1e9:.2f} B", peak.load, ", ".join(e.phase for e in found),
                     f"{peak.total / 1024**3:.1f} GiB ({peak.phase})", fmt(hours, 1) if hours else "–"])
    shared = sum(t.seconds for t in times if not t.model) / 3600
    total = sum(t.seconds for t in times) / 3600
    section.add(Table(["model", "parameters", "load", "steps", "peak memory (step)", "own notebook hours"], rows,
                      f"Source: sit plan (sit.planning) for profile {REAL} on {gpu.name}, budget "
                      f"{gpu.memory_gib:g} GiB",
                      f"Real models, their peak memory and time per model; shared steps (01, 02) take "
                      f"{fmt(shared, 1)} h; the whole pipeline about {fmt(total, 1)} GPU-hours."))
    return section


def model_names(models: list[str], toy: bool) -> str:
    """``toy stand-ins of Llama-3.2-3B, Mistral-7B-v0.1 and Qwen2.5-3B`` (or the real names)."""
    names = [short(m) for m in models]
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""
    if not toy or not names:
        return joined
    return f"toy stand-ins of {joined}" if len(names) > 1 else f"the toy stand-in of {joined}"
