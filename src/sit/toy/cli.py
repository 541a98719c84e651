"""``sit toy-world``: build (or find) the offline toy world and say where it is."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(subparsers) -> None:
    """Add the ``toy-world`` subcommand."""
    parser = subparsers.add_parser(
        "toy-world", help="build the offline toy models (no GPU, no downloads)",
        description="Build small trained stand-ins for every registry model, deterministically from a seed. "
                    "A second run with the same seed and code reuses the built world.",
    )
    parser.add_argument("--seed", type=int, default=42, help="world seed (default: 42)")
    parser.add_argument("--root", default=None, help="where worlds are kept (default: $SIT_TOY_DIR or .cache/toy-world)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the world exists")
    parser.set_defaults(func=run)


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def run(args: argparse.Namespace) -> int:
    from . import MANIFEST, default_root, describe, ensure_toy_world, fingerprint, world_hash

    root = Path(args.root).expanduser() if args.root else default_root()
    existed = not args.force and (root / world_hash(args.seed) / MANIFEST).is_file()
    start = time.perf_counter()
    world = ensure_toy_world(seed=args.seed, root=args.root, force=args.force)
    seconds = time.perf_counter() - start
    manifest = describe(world)
    print(f"toy world: {world}")
    print(f"fingerprint: {fingerprint(world)}")
    for slug, info in manifest["models"].items():
        size = _folder_bytes(world / slug) / 1e6
        extra = f", held-out pairwise accuracy {info['heldout_accuracy']:.3f}" if "heldout_accuracy" in info else ""
        print(f"  {slug:28s} {info['architecture']:36s} {info['parameters']:>9,} params  {size:5.2f} MB  "
              f"final loss {info['final_loss']:.3f}{extra}")
    print(f"total {_folder_bytes(world) / 1e6:.2f} MB; {'found' if existed else 'built'} in {seconds:.1f}s")
    return 0
