"""Render the shipped workflows into the files users get, and check that the committed files are current.

    python -m likeness workflows                 # write workflows/*.json, workflows/api/*.json, example_workflows/
    python -m likeness workflows --check         # exit 1 if a committed file differs from what the code renders
    python -m likeness workflows --specs-from http://127.0.0.1:8188   # refresh node_specs.json from a live ComfyUI

The UI files need the node interfaces (which inputs are widgets, in which order). They come from
`node_specs.json`, a trimmed /object_info snapshot; the tests check it against live servers.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..fileio import atomic_write
from . import convert, shipped, specs

PACK = Path(__file__).resolve().parents[2]
SPECS_FILE = Path(__file__).with_name("node_specs.json")


def load_specs(path: Path = SPECS_FILE) -> dict[str, specs.NodeSpec]:
    return specs.specs(json.loads(path.read_text(encoding="utf-8")))


def render(name: str, node_specs: dict[str, specs.NodeSpec] | None = None) -> tuple[dict, dict]:
    """(UI format, API format) of one shipped workflow."""
    node_specs = node_specs or load_specs()
    ui = shipped.SHIPPED[name]().to_ui(node_specs, shipped.model_links())
    return ui, convert.ui_to_api(ui, node_specs)


def targets(name: str, root: Path = PACK) -> dict[Path, str]:
    ui, api = render(name)
    ui_text, api_text = _dump(ui), _dump(api)
    return {root / "workflows" / f"{name}.json": ui_text, root / "example_workflows" / f"{name}.json": ui_text,
            root / "workflows" / "api" / f"{name}.json": api_text}


def stale(root: Path = PACK) -> list[Path]:
    return [p for name in shipped.SHIPPED for p, text in targets(name, root).items()
            if not p.is_file() or p.read_text(encoding="utf-8") != text]


def write_all(root: Path = PACK) -> list[Path]:
    written = []
    for name in shipped.SHIPPED:
        for path, text in targets(name, root).items():
            written.append(atomic_write(path, text))
    return written


def used_classes() -> set[str]:
    return {n.class_type for make in shipped.SHIPPED.values() for n in make().nodes} - specs.FRONTEND_ONLY


def snapshot(object_info: dict) -> dict:
    """The trimmed interfaces of every node type the shipped workflows use."""
    missing = sorted(used_classes() - set(object_info))
    if missing:
        raise convert.ConversionError(f"This ComfyUI lacks node type(s) the workflows use: {missing}")
    return {c: specs.trim(object_info[c]) for c in sorted(used_classes())}


def _dump(data) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m likeness workflows", description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only check that the committed files are current")
    p.add_argument("--specs-from", metavar="URL", help="refresh node_specs.json from this ComfyUI first")
    args = p.parse_args(argv)
    if args.specs_from:
        from ..runner.client import ComfyClient

        atomic_write(SPECS_FILE, _dump(snapshot(ComfyClient(args.specs_from).object_info())))
        print(f"wrote {SPECS_FILE}")
    if args.check:
        old = stale()
        for path in old:
            print(f"out of date: {path.relative_to(PACK)}")
        print("run `python -m likeness workflows` to regenerate" if old else "workflows are up to date")
        return 1 if old else 0
    for path in write_all():
        print(f"wrote {path.relative_to(PACK)}")
    return 0
