"""What a notebook's setup cell (and every CLI command) starts from: profile, workspace, registry, seed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

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
    # names this session in the ``runs`` of the manifests it writes (sit.manifest.step_runs)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    # when this session began each step's work: a step of several calls (answers, scores, then pairs; the agent's
    # baselines, then its models) is timed from its first call, not from the call that writes the manifest
    step_starts: dict = field(default_factory=dict, repr=False)
    # what each generating step (keyed by step and model) learned about its batch in this run
    batch_limits: dict = field(default_factory=dict, repr=False)  # sit.inference.runner.session_batch_limit

    def step_started(self, phase: str) -> str:
        """When this session's first call of ``phase`` began (now, at the first call)."""
        return self.step_starts.setdefault(phase, now())

    @property
    def profile_name(self) -> str:
        return self.profile["name"]

    @property
    def world(self) -> str:
        return self.profile["world"]

    @property
    def world_id(self) -> str:
        return world_id(self.profile, self.registry)

    @property
    def world_label(self) -> str:
        return world_label(self.profile, self.registry)

    def model(self, name: str, role: str | None = None) -> ModelSpec:
        """A model of the profile; under the hub world a gated one needs HF_TOKEN."""
        spec = self.registry.get(name, role=role)
        require_token(spec, self.world)
        return spec

    def section(self, name: str) -> dict:
        if name not in self.profile:
            raise ConfigError(f"profile '{self.profile_name}' has no section '{name}'")
        return self.profile[name]


def world_id(profile: dict, registry: Registry | None = None) -> str:
    """Which weights the model names stand for, as artifacts record it: ``hub``, or ``toy:<content hash>``
    (a rebuilt toy world is another world: its outputs do not mix). Models whose weights ship in a package
    come first, as ``real:<slug>@<distribution>==<version>``, joined by ``+`` (``real:...+toy:<hash>`` when
    the profile's other models are toy stand-ins)."""
    registry = registry if registry is not None else load_registry().for_profile(profile)
    parts = [f"real:{spec.slug}@{spec.weights['distribution']}=={_installed(spec.weights['distribution'])}"
             for spec in registry if spec.weights is not None]
    others = [spec for spec in registry if spec.weights is None]
    if profile["world"] != "toy":
        if others or not parts:
            parts.append(profile["world"])
    elif others or not parts:
        from .toy import world_hash

        # The hash covers every toy stand-in of the registry, whichever of them this profile uses.
        parts.append(f"toy:{world_hash(int(profile.get('seed', 42)), registry=load_registry())}")
    return "+".join(parts)


def world_label(profile: dict, registry: Registry | None = None) -> str:
    """The world in words, for tables, reports and cards: ``real SmolLM2-135M-Instruct (Q4_1, dequantized),
    toy reward model``."""
    registry = registry if registry is not None else load_registry().for_profile(profile)
    parts = []
    for spec in registry:
        if spec.weights is not None:
            quant = Path(spec.weights["gguf"]).stem.rsplit(".", 1)[-1]
            parts.append(f"real {spec.id.split('/')[-1]} ({quant}, dequantized)")
    others = [spec for spec in registry if spec.weights is None]
    roles = sorted({role for spec in others for role in spec.roles})
    if others and profile["world"] == "toy":
        parts.append(f"toy {'/'.join(roles)} model{'s' if len(others) > 1 else ''}")
    elif others:
        parts.append(f"{profile['world']} models")
    return ", ".join(parts)


def toy_stand_ins(world: str | None, registry: Registry) -> list[ModelSpec]:
    """The models of ``registry`` that a world id (see :func:`world_id`) ran as toy stand-ins: with a ``toy:``
    part, every model whose weights do not ship in a package; none in the hub world."""
    if not any(part.startswith("toy:") for part in (world or "").split("+")):
        return []
    return [spec for spec in registry if spec.weights is None]


def _installed(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not-installed"


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
    session = Session(profile=config, workspace=Workspace(workspace), registry=load_registry().for_profile(config),
                      seed=seed)
    if verbose:
        summary = environment_summary()
        summary.update(profile=f"{config['name']} ({world_label(config, session.registry)})", workspace=str(session.workspace.root),
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
