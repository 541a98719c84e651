"""Uploading the prepared folders with ``huggingface_hub`` (``create_repo`` + ``upload_folder``).

The client reads ``HF_TOKEN`` from the environment itself: the token is never passed, printed or saved
here. Toy-world artifacts are refused before any call is made.
"""

from __future__ import annotations

import os

from ..config import ConfigError
from .bundle import Bundle

TOY_REFUSAL = (
    "refusing to push to the Hugging Face Hub: these artifacts come from {what}. Run the "
    "pipeline with the real models (PROFILE='colab_t4' on a GPU) and publish that workspace. The dry-run "
    "folders in {folder} show what would be pushed."
)


def _what(world: str) -> str:
    if world.startswith("toy") or world == "unknown":
        return f"the toy world ({world}), tiny stand-in models trained offline to test the code path"
    return f"a local world ({world}), not the hub models the cards name: a dry run of the process"


def refuse_toy(world: str, session_world: str, folder) -> None:
    for name in (world, session_world):
        if name != "hub":  # only artifacts made with the real hub models may leave the machine
            raise ConfigError(TOY_REFUSAL.format(what=_what(name or "unknown"), folder=folder))


def token_available() -> bool:
    return bool(os.environ.get("HF_TOKEN"))


def client():
    from huggingface_hub import HfApi

    return HfApi()


def resolve_namespace(namespace: str | None, api) -> str:
    """``HUB_NAMESPACE``, else the user the token belongs to."""
    if namespace:
        return namespace
    name = (api.whoami() or {}).get("name")
    if not name:
        raise ConfigError("set HUB_NAMESPACE (a Hub user or organisation): the token's user could not be read")
    return name


def push(bundle: Bundle, *, private: bool, api, verbose: bool = True) -> list[str]:
    """Create each repo (private by default; kept if it exists) and upload its folder as one commit."""
    urls = []
    for folder in bundle.folders:
        api.create_repo(folder.repo_id, repo_type=folder.kind, private=private, exist_ok=True)
        api.upload_folder(repo_id=folder.repo_id, folder_path=str(folder.path), repo_type=folder.kind,
                          commit_message="Publish from Synthetic Instruction Tuner")
        prefix = "datasets/" if folder.kind == "dataset" else ""
        urls.append(f"https://huggingface.co/{prefix}{folder.repo_id}")
        if verbose:
            print(f"  pushed {folder.kind} {folder.repo_id} ({len(folder.files)} files)")
    return urls
