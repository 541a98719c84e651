"""The folders a publish run would push: ``<workspace>/publish/{datasets,models}/<repo-name>/``.

A dry run stops after writing them; a push uploads exactly these folders. Each folder is built beside
its final place and swapped in whole, so a killed run never leaves a half-written repo folder.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ConfigError
from ..report.evidence import Evidence
from ..store import read_json, write_json_atomic, write_jsonl_atomic, write_text_atomic
from ..training.data import heldout_ids
from ..workspace import Workspace
from . import cards
from .licenses import model_name, notice_text
from .world import CardWorld, card_world

if TYPE_CHECKING:
    from ..session import Session

KEYS = ("sft-data", "preference-data", "models")
ADAPTER_REQUIRED = ("adapter_config.json", "adapter_model.safetensors")
# What a model repo carries from the adapter folder: adapter, tokenizer, chat template, generation config,
# curves. Not the manifest (local paths) and never a pickle (training_args.bin, optimizer states).
MODEL_SUFFIXES = {".json", ".safetensors", ".jinja", ".model", ".txt", ".png", ".csv"}
MODEL_EXCLUDED = {"manifest.json", "log_history.json", "trainer_state.json"}
NAMESPACE_PLACEHOLDER = "HUB_NAMESPACE"


@dataclass
class RepoFolder:
    key: str
    kind: str  # "dataset" | "model"
    repo_id: str
    path: Path
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256


@dataclass
class Bundle:
    folders: list[RepoFolder]
    skipped: dict[str, str]  # what could not be prepared yet, and why
    world: str


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def folder_digest(path: Path) -> dict[str, str]:
    return {p.relative_to(path).as_posix(): sha256(p) for p in sorted(path.rglob("*")) if p.is_file()}


def _swap_in(build, final: Path) -> dict[str, str]:
    """Run ``build(tmp_folder)``, then replace ``final`` with the result."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        build(tmp)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder_digest(final)


def build_bundle(session: Session, ev: Evidence, cfg: dict, namespace: str | None, only=None) -> Bundle:
    """Write every repo folder whose artifacts exist; say why the others are skipped."""
    only = list(only or KEYS)
    unknown = [k for k in only if k not in KEYS]
    if unknown:
        raise ConfigError(f"unknown publish target(s) {unknown} (known: {', '.join(KEYS)})")
    ns = namespace or NAMESPACE_PLACEHOLDER
    world = ev.world or session.world_id
    world_facts = card_world(session, world)
    ws = session.workspace
    ids = {"sft": f"{ns}/{cfg['sft_dataset']}", "preference": f"{ns}/{cfg['preference_dataset']}"}
    generator = (ev.raw_manifest or {}).get("generator")
    folders, skipped = [], {}
    if "sft-data" in only:
        if not ev.filtered or ev.filtered_report is None:
            skipped["sft-data"] = "no data/filtered/filtered.jsonl yet (notebook 02)"
        else:
            folders.append(_sft_dataset(ev, ids["sft"], ws, world_facts, generator, heldout(session, ev)))
    if "preference-data" in only:
        if not ev.pairs or ev.preference_report is None:
            skipped["preference-data"] = "no data/preference/pairs.jsonl yet (notebook 03)"
        else:
            folders.append(_preference_dataset(ev, ids["preference"], ws, world_facts, generator, heldout(session, ev)))
    if "models" in only:
        stages = ["dpo"] + (["sft"] if cfg["include_sft"] else [])
        for spec in session.registry.by_role("target"):
            for stage in stages:
                trained = ev.stage(spec.slug, stage)
                if trained is None:
                    skipped[f"{spec.slug}-{stage}"] = f"no finished adapter in models/{spec.slug}/{stage}/"
                    continue
                name = model_name(cfg["model_name"], spec.id, stage, [generator] if generator else [])
                folders.append(_model(ev, trained, f"{ns}/{name}", ids, ws, world_facts, generator))
    return Bundle(folders, skipped, world)


def heldout(session: Session, ev: Evidence) -> set[str]:
    """The held-out instruction ids: those whose answers every stage was scored on (``evaluation/stages/``),
    else the seeded ones training holds out; none while the filtered set is too small to hold any out."""
    scored = {r["id"] for records in ev.answers.values() for r in records}
    if scored:
        return scored
    try:
        return set(heldout_ids(session, ev.filtered)) if ev.filtered else set()
    except ConfigError:
        return set()


def split_files(records: list[dict], held: set[str]) -> dict[str, list[dict]]:
    """``{"train": [...], "heldout": [...]}``: the records training saw, and the held-out ones it never saw
    (the instructions every stage is scored on); no ``heldout`` file when nothing was held out."""
    splits = {"train": [r for r in records if r["id"] not in held]}
    heldout = [r for r in records if r["id"] in held]
    return {**splits, "heldout": heldout} if heldout else splits


def _sft_dataset(ev: Evidence, repo_id: str, ws: Workspace, world: CardWorld, generator, held: set[str]) -> RepoFolder:
    def build(tmp: Path) -> None:
        records = [{**r, "messages": [{"role": "user", "content": r["instruction"]},
                                      {"role": "assistant", "content": r["response"]}]} for r in ev.filtered]
        splits = split_files(records, held)
        for split, rows in splits.items():
            write_jsonl_atomic(tmp / "data" / f"{split}.jsonl", rows)
        write_json_atomic(tmp / "filter_report.json", ev.filtered_report)
        write_text_atomic(tmp / "README.md", cards.sft_dataset_card(ev, repo_id, world, {k: len(v) for k, v in
                                                                                      splits.items()}))
        _notice(tmp, [generator])

    path = ws.publish_repo_dir("dataset", repo_id.split("/")[-1])
    return RepoFolder("sft-data", "dataset", repo_id, path, _swap_in(build, path))


def _preference_dataset(ev: Evidence, repo_id: str, ws: Workspace, world: CardWorld, generator, held: set[str]) -> RepoFolder:
    report = ev.preference_report

    def build(tmp: Path) -> None:
        splits = split_files(ev.pairs, held)
        for split, rows in splits.items():
            write_jsonl_atomic(tmp / "data" / f"{split}.jsonl", rows)
        write_json_atomic(tmp / "pairs_report.json", report)
        write_text_atomic(tmp / "README.md", cards.preference_dataset_card(ev, repo_id, world, {k: len(v) for k, v in
                                                                                              splits.items()}))
        _notice(tmp, [generator, *report["models_used"]])

    path = ws.publish_repo_dir("dataset", repo_id.split("/")[-1])
    return RepoFolder("preference-data", "dataset", repo_id, path, _swap_in(build, path))


def _model(ev: Evidence, trained, repo_id: str, ids: dict, ws: Workspace, world: CardWorld, generator) -> RepoFolder:
    lacking = [name for name in ADAPTER_REQUIRED if not (trained.folder / name).is_file()]
    if lacking:
        raise ConfigError(f"{trained.folder}: finished (manifest.json) but lacks {', '.join(lacking)}; "
                          "re-run its training notebook")

    def build(tmp: Path) -> None:
        for source in sorted(trained.folder.iterdir()):
            if (source.is_file() and source.suffix in MODEL_SUFFIXES and source.name not in MODEL_EXCLUDED
                    and not source.name.startswith(".")):  # a dot file is a write in progress
                shutil.copy2(source, tmp / source.name)
        _name_hub_base(tmp / "adapter_config.json", trained.model)
        curves = sorted(p.name for p in tmp.glob("*.png"))
        sft = ev.stage(trained.slug, "sft") if trained.stage == "dpo" else None
        for curve in sft.curves if sft else []:  # the DPO card also shows how SFT went
            shutil.copy2(curve, tmp / f"sft_{curve.name}")
            curves.append(f"sft_{curve.name}")
        write_text_atomic(tmp / "README.md", cards.model_card(
            ev, model_id=trained.model, slug=trained.slug, stage=trained.stage, repo_id=repo_id, dataset_ids=ids,
            curves=curves, world=world))
        _notice(tmp, [trained.model, generator])

    path = ws.publish_repo_dir("model", repo_id.split("/")[-1])
    return RepoFolder(f"{trained.slug}-{trained.stage}", "model", repo_id, path, _swap_in(build, path))


def _name_hub_base(config: Path, model_id: str) -> None:
    """The adapter names its base model by hub id, so ``from_pretrained(repo)`` finds it anywhere: a run on
    local weights (a toy world, a GGUF file) records their folder, which exists on no other machine."""
    data = read_json(config)
    if data.get("base_model_name_or_path") != model_id:
        write_json_atomic(config, {**data, "base_model_name_or_path": model_id})


def _notice(folder: Path, model_ids) -> None:
    text = notice_text([m for m in model_ids if m])
    if text:
        write_text_atomic(folder / "NOTICE", text)
