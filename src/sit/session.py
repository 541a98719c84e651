"""What a notebook's setup cell (and every CLI command) starts from: profile, workspace, registry, seed."""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import ConfigError, ModelSpec, Registry, load_profile, load_registry
from .display import configure_tables, quiet_text_progress_fallback
from .manifest import now
from .runtime import (
    environment_summary,
    in_colab,
    load_hf_token,
    mount_drive,
    require_token,
    seed_everything,
    use_drive_cache,
)
from .workspace import Workspace


@dataclass
class Session:
    profile: dict
    workspace: Workspace
    registry: Registry
    seed: int
    started_at: str = field(default_factory=now)
    # what each generating step (keyed by step and model) learned about its batch in this run
    batch_limits: dict = field(default_factory=dict, repr=False)  # sit.inference.runner.session_batch_limit

    @property
    def profile_name(self) -> str:
        return self.profile["name"]

    @property
    def world(self) -> str:
        return self.profile["world"]

    @property
    def world_id(self) -> str:
        return world_id(self.profile, self.registry)

    def model(self, name: str, role: str | None = None) -> ModelSpec:
        """A registered model; under the hub world a gated one needs HF_TOKEN."""
        spec = self.registry.get(name, role=role)
        require_token(spec, self.world)
        return spec

    def section(self, name: str) -> dict:
        if name not in self.profile:
            raise ConfigError(f"profile '{self.profile_name}' has no section '{name}'")
        return self.profile[name]


def world_id(profile: dict, registry: Registry | None = None) -> str:
    """Which weights the model names stand for, as artifacts record it: ``hub``, or
    ``toy:<content hash>`` (a rebuilt toy world is another world: its outputs do not mix)."""
    if profile["world"] != "toy":
        return profile["world"]
    from .toy import world_hash

    return f"toy:{world_hash(int(profile.get('seed', 42)), registry=registry or load_registry())}"


def start(profile: str | None = "auto", workspace: str | None = None, seed: int | None = None,
          overrides: dict | None = None, *, hf_cache_on_drive: bool | None = None, verbose: bool = True) -> Session:
    """Resolve the profile, mount Drive on Colab, keep hub downloads on Drive if asked (``hf_cache_on_drive``,
    else the profile's), export HF_TOKEN if available, seed, set up how tables display, summarize."""
    config = load_profile(profile, overrides)
    mount_drive()
    if hf_cache_on_drive is not None:
        config["hf_cache_on_drive"] = bool(hf_cache_on_drive)
    drive_cache = use_drive_cache(bool(config.get("hf_cache_on_drive", False)))
    load_hf_token()
    seed = int(config.get("seed", 42) if seed is None else seed)
    config["seed"] = seed
    seed_everything(seed)
    configure_tables()
    quiet_text_progress_fallback()
    session = Session(profile=config, workspace=Workspace(workspace), registry=load_registry(), seed=seed)
    if verbose:
        summary = environment_summary()
        summary.update(profile=f"{config['name']} ({config['world']} models)", workspace=str(session.workspace.root),
                       seed=seed, hf_cache=_cache_line(config, drive_cache))
        width = max(len(k) for k in summary)
        for key, value in summary.items():
            print(f"{key:<{width}}  {value}")
    return session


def _cache_line(config: dict, drive_cache: str | None) -> str:
    """Where hub downloads go, for the setup cell's summary."""
    if drive_cache:
        return f"{drive_cache} (Drive: kept across runtimes)"
    if config.get("hf_cache_on_drive") and not in_colab():
        return "the default hub cache (hf_cache_on_drive applies on Colab only)"
    return "the runtime's disk (downloaded again by every new runtime)" if in_colab() else "the default hub cache"
