"""Install ComfyUI-Likeness: Python dependencies and the models a workflow needs.

    python install.py                          # dependencies + every model (idempotent)
    python install.py --workflow faceswap      # only what the faceswap workflow needs
    python install.py --check                  # list what is missing; non-zero exit if anything is
    python install.py --dry-run                # say what would be done, change nothing

Run it with the Python that runs ComfyUI. Models go into ComfyUI's models folder (found from this pack's location,
COMFYUI_PATH or --comfyui) or --models-dir. Every download resumes, is checked against its sha256 before it is
moved into place, and is never left half-written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from likeness import PACK  # noqa: E402
from likeness.errors import LikenessError  # noqa: E402
from likeness.models import installer, registry  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Install ComfyUI-Likeness dependencies and models.")
    p.add_argument("--workflow", action="append", choices=registry.WORKFLOWS,
                   help="only the models this workflow needs (repeatable); default: all models")
    p.add_argument("--optional", action="store_true", help="include models a workflow can use but does not need")
    p.add_argument("--check", action="store_true", help="list missing models and exit non-zero if any are missing")
    p.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    p.add_argument("--models-dir", help="install into this models folder instead of ComfyUI/models")
    p.add_argument("--comfyui", help="path of the ComfyUI installation")
    p.add_argument("--allow-unverified", action="store_true",
                   help="accept models whose sha256 is not recorded in models.yaml")
    p.add_argument("--skip-pip", action="store_true", help="do not install Python packages")
    p.add_argument("--manifest", default=str(registry.MANIFEST), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        entries = registry.for_workflows(registry.load_manifest(args.manifest), args.workflow, args.optional)
        if args.models_dir:
            models_dir = Path(args.models_dir)
        else:
            comfyui = installer.find_comfyui(args.comfyui)
            if comfyui is None:
                print("ComfyUI not found: run this from ComfyUI/custom_nodes/<pack>, set COMFYUI_PATH, "
                      "or pass --comfyui PATH / --models-dir DIR.", file=sys.stderr)
                return 2
            models_dir = comfyui / "models"
        states = installer.status(models_dir, entries)
        missing = [s for s in states if not s.present]

        if args.check:
            print(f"Models in {models_dir}:")
            print("\n".join(s.line for s in states))
            print(f"{len(missing)} missing." if missing else "Everything is installed.")
            return 1 if missing else 0

        if not args.skip_pip:
            reqs = installer.pip_requirements(PACK / "requirements.txt", installer.cuda_present())
            if args.dry_run:
                print("would pip install: " + " ".join(reqs))
            elif installer.pip_install(reqs) != 0:
                print("pip install failed; see the messages above.", file=sys.stderr)
                return 1

        if not missing:
            print(f"All {len(states)} model(s) present in {models_dir}.")
            return 0
        failed = 0
        for s in missing:
            if args.dry_run:
                print(f"would download {s.entry.urls[0]} -> {s.path}"
                      + ("" if s.entry.verified else "  (unverified: needs --allow-unverified)"))
                continue
            try:
                digest = installer.install_model(models_dir, s.entry, args.allow_unverified)
                print(f"installed {s.entry.folder}/{s.entry.file} (sha256 {digest})")
            except LikenessError as e:
                failed += 1
                print(f"error: {e}", file=sys.stderr)
        return 1 if failed else 0
    except LikenessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
