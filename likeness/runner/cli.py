"""`python -m likeness run`: run a workflow headlessly and download what it made.

    python -m likeness run faceswap-fast --image Reference=me.jpg --set "Prompt.text=a sailor at dawn" --out out/
    python -m likeness run dataset-enrichment --image Reference=me.jpg --batch "Scene.value=scenes.txt" \\
        --server http://gpu1:8188 --server http://gpu2:8188 --out dataset/

Without --server an embedded ComfyUI is started (--comfyui, the ComfyUI this pack is installed in — also as a
symlink —, COMFYUI_PATH, or the ComfyUI folder you are in) and stopped afterwards. Without --out the results go to
./likeness-output/<workflow>-<time> (output/likeness/<workflow>-<time> when run from a ComfyUI folder; never into
the pack folder); the first line printed says where. Exit status: 0 all items done, 1 some failed or were left
undone, 2 bad arguments or workflow, 130 interrupted (Ctrl-C or SIGTERM cancels the running prompts; no
half-written file is left).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import signal
import sys
import time
from pathlib import Path

from .. import PACK
from ..errors import LikenessError
from ..fileio import atomic_write
from . import graph_edit
from .batch import BatchRunner, Job
from .client import ComfyClient, ComfyError, PromptRejected
from .precheck import check_models
from .progress import ProgressPrinter

SEED_TITLE = "Seed"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m likeness run", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("workflow", help="a shipped workflow (character-scene, faceswap, faceswap-fast, "
                                    "dataset-enrichment) or a .json file in API or UI format")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="TITLE.INPUT=VALUE",
                   help="change an input of the node with this title (repeatable)")
    p.add_argument("--image", action="append", default=[], metavar="TITLE=PATH",
                   help="upload a local image into the Load Image node with this title (repeatable)")
    p.add_argument("--batch", metavar="TITLE.INPUT=FILE",
                   help="one item per non-empty line of FILE, each setting that input; a node titled "
                        f"'{SEED_TITLE}' counts up by one per item unless you --set it")
    p.add_argument("--server", action="append", default=[], metavar="URL",
                   help="ComfyUI server(s) to use; several share a batch (default: start an embedded one)")
    p.add_argument("--out", help="folder for the results; the same --out again resumes (default: a new "
                                 "./likeness-output/<workflow>-<time>, or output/likeness/... in a ComfyUI folder)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per item (default: %(default)s)")
    p.add_argument("--comfyui", help="embedded server: the ComfyUI folder to run")
    p.add_argument("--comfy-arg", action="append", default=[], metavar="ARG",
                   help="embedded server: an extra ComfyUI argument, e.g. --comfy-arg=--lowvram (repeatable)")
    p.add_argument("--cpu", action="store_true", help="embedded server: run ComfyUI on the CPU")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="run the items on a Ray cluster (ADDRESS, 'auto', or none for a local one); every node needs "
                        "COMFYUI_PATH and the models (pip install -r requirements-ray.txt)")
    p.add_argument("--ray-workers", type=int, help="with --ray: how many ComfyUI workers (default: one per GPU, "
                                                   "or one per node without GPUs)")
    p.add_argument("--quiet", action="store_true", help="print only the results")
    return p


def build_job(args, first: ComfyClient | None) -> Job:
    doc = graph_edit.load(args.workflow)
    if graph_edit.is_ui(doc) and first is None:
        raise graph_edit.WorkflowError(f"{args.workflow} is in UI format; with --ray give its API format (Export "
                                       "(API) in ComfyUI) or a shipped workflow.")
    if graph_edit.is_ui(doc):
        from ..workflows.convert import ui_to_api
        from ..workflows.specs import specs

        doc = ui_to_api(doc, specs(first.object_info()))
    for text in args.sets:
        graph_edit.assign(doc, text)
    images = image_args(args)
    for title in images:
        graph_edit.find_node(doc, title)
    return Job(doc, images, batch_items(args, doc), args.timeout)


def image_args(args) -> dict[str, Path]:
    """--image TITLE=PATH, checked before any server is started."""
    images = {}
    for text in args.image:
        title, sep, path = text.partition("=")
        if not sep or not Path(path).is_file():
            raise graph_edit.WorkflowError(f"--image {text}: expected TITLE=PATH of an existing image file.")
        images[title] = Path(path)
    return images


def reachable(urls: list[str]) -> list[ComfyClient]:
    """The servers that answer; the others are named, and none answering is an error that says what to do."""
    clients = [ComfyClient(u) for u in urls]
    alive = [c for c in clients if c.alive()]
    for c in clients:
        if alive and c not in alive:
            print(f"ComfyUI at {c.url} does not answer; going on without it.", file=sys.stderr)
    if not alive:
        raise LikenessError(f"No ComfyUI answers at {', '.join(urls)}: start it (python main.py in the ComfyUI "
                            "folder), check the URL and port, or leave out --server to start one here.")
    return alive


def batch_items(args, graph: dict) -> list[dict]:
    """One item per line of the --batch file; a node titled 'Seed' counts up per item unless --set fixes it."""
    if not args.batch:
        return [{}]
    title, name, file = graph_edit.split_assignment(args.batch)
    graph_edit.find_node(graph, title)
    try:
        lines = [line.strip() for line in Path(file).read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as e:
        raise graph_edit.WorkflowError(f"--batch: cannot read {file}: {e}") from e
    if not lines:
        raise graph_edit.WorkflowError(f"--batch: {file} has no lines; put one value per line.")
    items = [{f"{title}.{name}": line} for line in lines]
    try:
        base = graph[graph_edit.find_node(graph, SEED_TITLE)].get("inputs", {}).get("value")
    except graph_edit.WorkflowError:
        base = None
    seed_set = any(graph_edit.split_assignment(s)[0].lower() == SEED_TITLE.lower() for s in args.sets)
    if isinstance(base, int) and not seed_set:
        for i, item in enumerate(items):
            item[f"{SEED_TITLE}.value"] = str(base + i)
    return items


SUMMARY = "likeness-run.json"


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def default_out(workflow: str, cwd: Path | None = None, now: float | None = None) -> Path:
    """A new folder per run: ./likeness-output/<workflow>-<time>; ComfyUI's output/likeness/... when run from a
    ComfyUI folder; never inside the pack (from the pack folder: the output folder of the ComfyUI it is installed
    in, else ~/likeness-output)."""
    from .embedded import is_comfyui, locate_comfyui

    cwd = Path(cwd) if cwd is not None else Path.cwd()
    stem = Path(workflow).stem if workflow.lower().endswith(".json") else Path(workflow).name
    name = f"{stem}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}"
    if is_comfyui(cwd) and not _inside(cwd, PACK):
        parent = cwd / "output" / "likeness"
    elif _inside(cwd, PACK):
        try:
            comfyui = locate_comfyui(cwd=cwd)
        except LikenessError:
            comfyui = None
        parent = comfyui / "output" / "likeness" if comfyui and not _inside(comfyui, PACK) else \
            Path.home() / "likeness-output"
    else:
        parent = cwd / "likeness-output"
    out, n = parent / name, 1
    while out.exists():  # two runs in the same second
        n += 1
        out = parent / f"{name}-{n}"
    return out.absolute()


def fingerprint(job: Job) -> str:
    """What makes two runs the same job: the graph with every --set applied and the images' content."""
    h = hashlib.sha256(json.dumps(job.graph, sort_keys=True).encode())
    for title, path in sorted(job.images.items()):
        h.update(title.encode() + hashlib.sha256(path.read_bytes()).digest())
    for item in job.item_images:
        for title, path in sorted(item.items()):
            h.update(title.encode() + hashlib.sha256(Path(path).read_bytes()).digest())
    return h.hexdigest()[:16]


def previous_results(out: Path, job_key: str) -> list[dict]:
    """The items an earlier run of the same job into `out` recorded (resume); none if it was another job."""
    try:
        data = json.loads((out / SUMMARY).read_text())
    except (OSError, ValueError):
        return []
    return data.get("results", []) if data.get("job") == job_key else []


def write_summary(out: Path, workflow: str, job_key: str, results) -> Path:
    items = [{"item": r.index, "sets": r.sets, "status": r.status, "error": r.error, "server": r.server,
              "prompt_id": r.prompt_id, "files": r.files, "texts": r.texts, "attempts": r.attempts,
              "resumed": r.resumed} for r in results]
    done = sum(r.status == "done" for r in results)
    return atomic_write(out / SUMMARY, json.dumps(
        {"workflow": workflow, "job": job_key, "items": len(results), "done": done, "results": items},
        indent=1) + "\n")


def run(args, plan=None, after=None) -> int:
    """Run the job; `plan(job)` may replace its items before anything is queued (sweeps), `after(results, out)`
    sees every item's result once the run ends."""
    out = Path(args.out) if args.out else default_out(args.workflow)
    print(f"likeness: {args.workflow} -> results in {out}", file=sys.stderr, flush=True)  # the run's first line
    image_args(args)
    with contextlib.ExitStack() as stack:
        if args.ray is not None:
            if args.server:
                raise LikenessError("--ray and --server do not mix: the Ray workers start their own ComfyUI.")
            clients = []
        elif args.server:
            clients = reachable(args.server)
        else:
            clients = [ComfyClient(stack.enter_context(_embedded(args)).url)]
        job = build_job(args, clients[0] if clients else None)
        if plan:
            plan(job)
        for client in clients:
            check_models(job.graph, client, args.workflow)
        job_key = fingerprint(job)
        several = len(clients) != 1
        printer = ProgressPrinter(job.graph, show_item=several or len(job.items) > 1, live=None if not several
                                  else False)
        if args.quiet:
            printer.event = lambda item, msg: None
        reported = set()  # items whose end was printed as it happened: not printed again in the closing lines

        def done(item):
            reported.add(item.index)
            if item.status == "done":
                texts = "; ".join(identity_lines(item.texts))
                printer.message(f"item {item.index + 1}/{len(job.items)} done: {len(item.files)} file(s)"
                                + (f" — {texts}" if texts else ""))
            else:
                printer.message(f"item {item.index + 1}/{len(job.items)} {item.status}: {item.error}")

        previous = previous_results(out, job_key)
        if args.ray is not None:
            from .ray_runner import RayRunner

            extra = (["--cpu"] if args.cpu else []) + args.comfy_arg
            runner = RayRunner(job, args.ray, out, args.comfyui, extra, args.ray_workers, on_event=printer.event,
                               on_done=done, previous=previous)
            runner.check_models(args.workflow)
        else:
            runner = BatchRunner(job, clients, out, on_event=printer.event, on_done=done, previous=previous)
        resumed = sum(r.resumed for r in runner.results)
        if resumed:
            printer.message(f"{resumed} of {len(job.items)} item(s) already done in {out}; running the rest")
        try:
            results = runner.run()
        except KeyboardInterrupt:
            printer.message("interrupted: cancelling the running prompts ...")
            runner.stop()
            for p in out.rglob(".*.partial") if out.is_dir() else []:
                p.unlink(missing_ok=True)
            write_summary(out, args.workflow, job_key, runner.results)
            return 130
    summary = write_summary(out, args.workflow, job_key, results)
    if after:
        after(results, out)
    bad = [r for r in results if r.status != "done"]
    for url, why in runner.dead.items():
        print(f"server {url} was lost: {why}", file=sys.stderr)
    for r in bad:
        if r.index not in reported:
            print(f"item {r.index + 1}: {r.status}: {r.error or 'no server was left to run it'}", file=sys.stderr)
    files = sum(len(r.files) for r in results)
    print(f"{len(results) - len(bad)}/{len(results)} item(s) done, {files} file(s) in {out} (summary: {summary})")
    return 1 if bad else 0


def identity_lines(texts: dict[str, list[str]]) -> list[str]:
    """The identity verdicts among the texts an item's nodes showed, each once: a node that repeats another's
    verdict with more detail (the report under the image) stands for both."""
    found = [t for v in texts.values() for t in v if "identity" in t.lower()]
    unique = list(dict.fromkeys(found))
    return [t for t in unique if not any(t != u and u.startswith(t) for u in unique)]


def _embedded(args):
    from .embedded import embedded_comfyui, locate_comfyui

    comfyui = locate_comfyui(args.comfyui)
    if comfyui is None:
        raise LikenessError("No ComfyUI found to start: pass --server URL or --comfyui PATH, set COMFYUI_PATH, or "
                            "run from the ComfyUI folder (python custom_nodes/ComfyUI-Likeness run ...).")
    extra = (["--cpu"] if args.cpu else []) + args.comfy_arg
    print(f"starting ComfyUI from {comfyui} ...", file=sys.stderr)
    return embedded_comfyui(comfyui, extra)


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both cancel cleanly, also when started from a shell that ignores SIGINT (a & job)."""
    def stop(signum, frame):
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)


def main(argv=None, args=None, plan=None, after=None) -> int:
    args = args or parser().parse_args(argv)
    _stop_on_signals()
    try:
        return run(args, plan, after)
    except PromptRejected as e:
        print(f"ComfyUI rejected the workflow:\n{e}", file=sys.stderr)
        return 2
    except (LikenessError, ComfyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
