"""`python -m likeness sweep`: run a workflow over every combination of settings and see which keep the face.

    python -m likeness sweep faceswap-fast --image Reference=me.jpg \\
        --axis "LoRA Stack.strength_1=0,0.5,1.0" --axis "Prompt.text=@scenes.txt" --seeds 4 --out sweep/

Takes the options of `run` (servers, embedded ComfyUI, --set, --image), plus axes: `--axis TITLE.INPUT=V1,V2,...`
(or `=@FILE`, one value per line), `--refs DIR` (each photo in DIR is a value of the reference image) and
`--seeds N`. Every combination x seed is one item for the runner (several servers share them; a re-run into the
same --out resumes); a combination whose graph fails is recorded, not fatal. The matrix lands in --out: sweep.csv,
sweep.md, sweep.html and a contact sheet per pair of axes, and the terminal gets one verdict line per axis.
"""
from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass
from pathlib import Path

from ..identity import matrix
from . import cli, graph_edit
from .graph_edit import WorkflowError

MAX_ITEMS = 500
REF_AXIS = "reference"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@dataclass
class Axis:
    key: str            # "Title.input", or "reference" for --refs
    values: list[str]


def parse_axis(text: str) -> Axis:
    title, name, raw = graph_edit.split_assignment(text)
    if raw.startswith("@"):
        path = Path(raw[1:])
        if not path.is_file():
            raise WorkflowError(f"--axis {text}: {path} does not exist; write one value per line in it.")
        values = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        values = [v.strip() for v in raw.split(",") if v.strip()]
    if not values:
        raise WorkflowError(f"--axis {text}: no values; give them as {title}.{name}=A,B,C or =@file.")
    return Axis(f"{title}.{name}", list(dict.fromkeys(values)))


def check_axis(graph: dict, axis: Axis) -> None:
    """The node and input exist, and every value is of the input's type: checked before anything runs."""
    title, _, name = axis.key.rpartition(".")
    node = graph[graph_edit.find_node(graph, title)]
    inputs = node.get("inputs", {})
    if name not in inputs:
        raise WorkflowError(f"--axis {axis.key}: the node '{title}' has no input '{name}'; it has "
                            f"{', '.join(sorted(inputs)) or 'none'}.")
    old = None if isinstance(inputs[name], list) else inputs[name]
    for value in axis.values:
        try:
            graph_edit.coerce(old, value)
        except WorkflowError as e:
            raise WorkflowError(f"--axis {axis.key}: value '{value}': {e}") from None


def reference_photos(folder: str) -> list[Path]:
    d = Path(folder)
    photos = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if d.is_dir() else []
    if not photos:
        raise WorkflowError(f"--refs {folder}: no {', '.join(IMAGE_SUFFIXES)} photos there.")
    return photos


SEED_INPUTS = ((cli.SEED_TITLE, "value"), ("Sampler", "seed"), ("Character Scene", "seed"))


def seed_input(graph: dict) -> tuple[str, int]:
    """The input --seeds counts up from ('Title.input', its value): a 'Seed' node, else the sampler's seed."""
    for title, name in SEED_INPUTS:
        try:
            value = graph[graph_edit.find_node(graph, title)].get("inputs", {}).get(name)
        except WorkflowError:
            continue
        if isinstance(value, int):
            return f"{title}.{name}", value
    raise WorkflowError("--seeds needs a seed to count up: a node titled 'Seed' (value), 'Sampler' or 'Character "
                        "Scene' (seed); this workflow has none of them.")


def plan_items(graph: dict, axes: list[Axis], refs: list[Path], ref_title: str, seeds: int,
               max_items: int) -> tuple[list[dict], list[dict], list[dict]]:
    """(runner items, per-item images, per-item axis values) for every combination x seed."""
    for axis in axes:
        check_axis(graph, axis)
    seed_key, seed_base = seed_input(graph) if seeds > 1 else (None, None)
    if refs:
        graph_edit.find_node(graph, ref_title)
    combos = list(itertools.product(*[a.values for a in axes], *([refs] if refs else []), range(max(1, seeds))))
    if len(combos) > max_items:
        raise WorkflowError(f"This sweep is {len(combos)} items, more than --max-items {max_items}: remove values, "
                            f"or pass --max-items {len(combos)} if you mean it.")
    items, images, cells = [], [], []
    for combo in combos:
        values, rest = combo[:len(axes)], combo[len(axes):]
        sets = {a.key: v for a, v in zip(axes, values)}
        cell = dict(sets)
        if refs:
            images.append({ref_title: rest[0]})
            cell[REF_AXIS] = rest[0].name
        if seed_key:
            sets[seed_key] = cell["seed"] = str(int(seed_base) + rest[-1])
        items.append(sets)
        cells.append(cell)
    return items, images, cells


def parser():
    p = cli.parser()
    p.prog = "python -m likeness sweep"
    p.description, p.epilog = __doc__.split("\n\n")[0], __doc__.split("\n\n", 1)[1]
    p.add_argument("--axis", action="append", default=[], metavar="TITLE.INPUT=V1,V2|@FILE",
                   help="an input to sweep over (repeatable): comma-separated values, or @file with one per line")
    p.add_argument("--refs", help="a folder of reference photos: each is a value of its own axis")
    p.add_argument("--refs-title", default="Reference", help="the Load Image node the --refs photos go into")
    p.add_argument("--seeds", type=int, default=1, help="seeds per combination (the node titled 'Seed' counts up)")
    p.add_argument("--max-items", type=int, default=MAX_ITEMS, help="refuse a larger sweep (default %(default)s)")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.batch:
        print("error: --batch and a sweep do not mix: make the batch file an axis (--axis TITLE.INPUT=@FILE).",
              file=sys.stderr)
        return 2
    try:
        axes = [parse_axis(a) for a in args.axis]
        refs = reference_photos(args.refs) if args.refs else []
        if not axes and not refs:
            raise WorkflowError("A sweep needs at least one --axis or --refs.")
        if args.seeds < 1:
            raise WorkflowError("--seeds must be 1 or more.")
    except WorkflowError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cells: list[dict] = []

    def plan(job):
        job.items, job.item_images, planned = plan_items(job.graph, axes, refs, args.refs_title, args.seeds,
                                                         args.max_items)
        cells.extend(planned)

    def after(results, out):
        names = [a.key for a in axes] + ([REF_AXIS] if refs else [])
        rows = matrix.rows(results, cells, out)
        for line in matrix.write(rows, names, out):
            print(line)

    return cli.main(args=args, plan=plan, after=after)
