"""Install ComfyUI-Likeness: its Python dependencies, and the models a workflow needs when you ask for them.

    python install.py                              # Python dependencies only (what ComfyUI-Manager runs)
    python install.py --workflow faceswap-fast     # + the models that workflow needs
    python install.py --all                        # + every model (about 77 GB)
    python install.py --check [--verify]           # is everything there, the right size (and sha256)?
    python install.py --workflow faceswap --dry-run

Run it with the Python that runs ComfyUI. Models go into ComfyUI's models folder (found from this pack's location,
COMFYUI_PATH or --comfyui) or --models-dir. Every download resumes, is checked against its pinned sha256 (or the
one its host announces, locked at first install) before it is moved into place, and is never left half-written.
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
    p = argparse.ArgumentParser(description="Install ComfyUI-Likeness dependencies and, on request, models.")
    p.add_argument("--workflow", action="append", choices=registry.WORKFLOWS,
                   help="install the models this workflow needs (repeatable)")
    p.add_argument("--all", action="store_true", help="install every model in models.yaml")
    p.add_argument("--optional", action="store_true", help="include models a workflow can use but does not need")
    p.add_argument("--check", action="store_true",
                   help="report missing or wrong-size models (all, or --workflow's); non-zero exit if any")
    p.add_argument("--verify", action="store_true", help="with --check: compare every file's sha256 too (slow)")
    p.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    p.add_argument("--models-dir", help="install into this models folder instead of ComfyUI/models")
    p.add_argument("--comfyui", help="path of the ComfyUI installation")
    p.add_argument("--allow-unverified", action="store_true",
                   help="accept a model no checksum is known for; what was downloaded is then locked")
    p.add_argument("--skip-pip", action="store_true", help="do not install Python packages")
    p.add_argument("--manifest", default=str(registry.MANIFEST), help=argparse.SUPPRESS)
    return p.parse_args(argv)


def models_folder(args) -> Path | None:
    if args.models_dir:
        return Path(args.models_dir)
    comfyui = installer.find_comfyui(args.comfyui)
    return comfyui / "models" if comfyui else None


def workflow_menu(entries: list[registry.ModelEntry]) -> str:
    lines = ["Models are installed per workflow:"]
    for wf in registry.WORKFLOWS:
        needed = registry.for_workflows(entries, [wf])
        lines.append(f"  python install.py --workflow {wf:<20} # {len(needed)} models: "
                     + ", ".join(e.key for e in needed))
    lines.append(f"  {'python install.py --all':<49} # every model ({len(entries)})")
    return "\n".join(lines)


def install_python_packages(dry_run: bool) -> int:
    reqs = installer.pip_requirements(PACK / "requirements.txt")
    remove, reqs = installer.onnxruntime_plan(reqs, installer.installed_packages(), installer.cuda_version())
    if dry_run:
        print(("would pip uninstall: " + " ".join(remove) + "\n" if remove else "") + "would pip install: "
              + " ".join(reqs))
        return 0
    if remove and installer.pip("uninstall", "-y", *remove) != 0:
        print(f"pip uninstall {' '.join(remove)} failed; see the messages above.", file=sys.stderr)
        return 1
    if installer.pip("install", *reqs) != 0:
        print("pip install failed; see the messages above.", file=sys.stderr)
        return 1
    return 0


def check(models_dir: Path, entries, verify: bool) -> int:
    states = installer.status(models_dir, entries, verify)
    print(f"Models in {models_dir}:")
    print("\n".join(s.line for s in states))
    bad = [s for s in states if s.state == "missing" or s.wrong]
    print(f"{len(bad)} missing or wrong." if bad else "Everything is installed.")
    return 1 if bad else 0


def install(models_dir: Path, entries, args) -> int:
    states = installer.status(models_dir, entries)
    wrong = [s for s in states if s.wrong]
    for s in wrong:
        print(f"error: {installer.lock_key(s.entry)}: {s.detail}. Move it away and run again to install the "
              "right file.", file=sys.stderr)
    missing = [s for s in states if s.state == "missing"]
    if not missing:
        print(f"All {len(states) - len(wrong)} model(s) present in {models_dir}.")
        return 1 if wrong else 0
    failed = len(wrong)
    for s in missing:
        if args.dry_run:
            note = {"pinned": "", "host": "  (checked against the host's sha256)",
                    "unverified": "  (unverified: needs --allow-unverified)"}[s.entry.how_verified]
            print(f"would download {s.entry.urls[0]} -> {s.path}{note}")
            continue
        try:
            digest = installer.install_model(models_dir, s.entry, args.allow_unverified)
            print(f"installed {installer.lock_key(s.entry)} (sha256 {digest})")
        except LikenessError as e:
            failed += 1
            print(f"error: {e}", file=sys.stderr)
    return 1 if failed else 0


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        every = registry.load_manifest(args.manifest)
        wants_models = bool(args.workflow or args.all)
        entries = registry.for_workflows(every, args.workflow, args.optional) if args.workflow else every
        if args.check or wants_models:
            models_dir = models_folder(args)
            if models_dir is None:
                print("ComfyUI not found: run this from ComfyUI/custom_nodes/<pack>, set COMFYUI_PATH, "
                      "or pass --comfyui PATH / --models-dir DIR.", file=sys.stderr)
                return 2
            if args.check:
                return check(models_dir, entries, args.verify)
        if not args.skip_pip and install_python_packages(args.dry_run) != 0:
            return 1
        if not wants_models:
            print(workflow_menu(every))
            return 0
        return install(models_dir, entries, args)
    except LikenessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
