"""``publish(session)``: prepare the repo folders, then (unless a dry run) push them unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..config import ConfigError, resolve_settings
from ..manifest import now, write_manifest
from ..report.evidence import read_evidence
from . import hub
from .bundle import Bundle, build_bundle, folder_digest

if TYPE_CHECKING:
    from ..session import Session

DEFAULTS = {"namespace": None, "private": True, "include_sft": False, "sft_dataset": "sit-magpie-sft",
            "preference_dataset": "sit-magpie-preferences", "model_name": "{base}-SIT-{stage}"}


@dataclass
class PublishResult:
    bundle: Bundle
    dry_run: bool
    urls: list[str] = field(default_factory=list)

    @property
    def folders(self):
        return self.bundle.folders

    def summary(self):
        """One row per prepared or skipped repo (a pandas DataFrame)."""
        import pandas as pd

        rows = [{"repo": f.repo_id, "kind": f.kind, "files": len(f.files), "folder": str(f.path),
                 "status": "dry run" if self.dry_run else "pushed"} for f in self.bundle.folders]
        rows += [{"repo": key, "kind": "", "files": 0, "folder": "", "status": f"skipped: {why}"}
                 for key, why in self.bundle.skipped.items()]
        return pd.DataFrame(rows, columns=["repo", "kind", "files", "folder", "status"])


def publish_settings(session: Session, overrides: dict | None = None) -> dict:
    return resolve_settings("publish", DEFAULTS, session.profile.get("publish"), overrides=overrides, known=DEFAULTS)


def publish(session: Session, *, namespace: str | None = None, dry_run: bool | None = None, only=None, api=None,
            verbose: bool = True, **overrides) -> PublishResult:
    """Prepare every repo folder whose artifacts exist, and push them when not a dry run.

    ``dry_run=None`` pushes only with an ``HF_TOKEN`` and artifacts of the hub world; an explicit
    ``dry_run=False`` refuses toy-world artifacts and a missing token with a clear message. ``only`` picks
    among ``sft-data``, ``preference-data`` and ``models``; ``overrides`` are keys of the profile's
    ``publish`` section (e.g. ``include_sft=True``)."""
    started = now()
    cfg = publish_settings(session, {"namespace": namespace, **overrides})
    ev = read_evidence(session.workspace.root, session.registry)
    world = ev.world or session.world_id
    folder = session.workspace.publish_dir
    if dry_run is None:
        dry_run = not (hub.token_available() and world == "hub" and session.world_id == "hub")
    if not dry_run:
        hub.refuse_toy(world, session.world_id, folder)
        if not hub.token_available():
            raise ConfigError("pushing needs HF_TOKEN (a write token): add it as a Colab secret or export it; "
                              f"without it, the dry run in {folder} shows what would be pushed")
        api = api or hub.client()
        cfg["namespace"] = hub.resolve_namespace(cfg["namespace"], api)
    bundle = build_bundle(session, ev, cfg, cfg["namespace"], only)
    result = PublishResult(bundle, dry_run)
    if not dry_run:
        for repo in bundle.folders:  # what is uploaded is what was written, byte for byte
            if folder_digest(repo.path) != repo.files:
                raise ConfigError(f"{repo.path} changed while publishing; run publish again")
        result.urls = hub.push(bundle, private=bool(cfg["private"]), api=api, verbose=verbose)
    write_manifest(folder, phase="publish", profile=session.profile_name, config=cfg, seed=session.seed,
                   started_at=started, counts={"repos": len(bundle.folders), "skipped": len(bundle.skipped)},
                   extra={"world": world, "dry_run": dry_run, "urls": result.urls, "skipped": bundle.skipped,
                          "repos": [{"repo_id": f.repo_id, "kind": f.kind, "folder": f.path.relative_to(folder)
                                     .as_posix(), "files": f.files} for f in bundle.folders]})
    if verbose:
        mode = "dry run: nothing pushed" if dry_run else f"pushed {len(result.urls)} repos"
        print(f"publish ({world}, {mode}): {len(bundle.folders)} repo folders in {folder}"
              + (f"; skipped {', '.join(bundle.skipped)}" if bundle.skipped else ""))
    return result
