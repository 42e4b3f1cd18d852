"""The runner's own cost per item: upload, queue, follow, download — next to a 4-80 s generation it should vanish.

    COMFYUI_PATH=... python bench/runner_bench.py            # writes the runner section of BENCHMARKS.md
    COMFYUI_PATH=... python bench/runner_bench.py --no-write --items 12

A tiny graph (an uploaded photo, scaled, saved) keeps ComfyUI's own work near zero, so what is measured is the
runner: the same items through a bare `ComfyClient.run` loop (the floor), the runner on 1 and 2 local servers, and
`--ray` with 1 and 2 workers on a local Ray instance. On a 2-core machine several servers share the cores, so
items/min shows the overhead, not the scaling a cluster of GPU machines gets.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, machine, markdown_table, publish

sys.path.insert(0, str(REPO / "tests"))

GRAPH = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}, "_meta": {"title": "Photo"}},
    "2": {"class_type": "ImageScaleBy", "inputs": {"image": ["1", 0], "upscale_method": "nearest-exact",
                                                   "scale_by": 0.5}, "_meta": {"title": "Scale"}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "bench"},
          "_meta": {"title": "Save"}},
}


def job(photo: Path, items: int):
    from likeness.runner.batch import Job

    # a different scale per item: ComfyUI must run every item (an identical graph would come from its cache)
    return Job(GRAPH, {"Photo": photo}, [{"Scale.scale_by": str(0.5 + i / 1000)} for i in range(items)], 600)


def floor(server, photo: Path, items: int) -> float:
    """Seconds per item of the same prompts through a plain client: upload once, queue, wait, fetch."""
    import copy

    name = server.client.upload_image(photo.read_bytes(), "bench.png")
    start = 0.0
    for i in range(-2, items):  # two warm-up items: the first load of a node is not the runner's cost
        if i == 0:
            start = time.perf_counter()
        graph = copy.deepcopy(GRAPH)
        graph["1"]["inputs"]["image"] = name
        graph["2"]["inputs"]["scale_by"] = 0.5 + i / 1000 + (0.2 if i < 0 else 0)
        outputs = server.client.run(graph)
        for ref in outputs["3"]["images"]:
            server.client.fetch(ref)
    return (time.perf_counter() - start) / items


def runner(servers, photo: Path, items: int) -> float:
    from likeness.runner.batch import BatchRunner
    from likeness.runner.client import ComfyClient

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        results = BatchRunner(job(photo, items), [ComfyClient(s.url) for s in servers], out).run()
        assert all(r.status == "done" for r in results), [r.error for r in results if r.error]
        return (time.perf_counter() - start) / items


def ray_runner(server, photo: Path, items: int, workers: int) -> float:
    from likeness.runner.ray_runner import RayRunner

    with tempfile.TemporaryDirectory() as out:
        flags = type(server)(Path(out) / "worker", models_dir=server.models_dir).comfy_args(with_pack=False)
        r = RayRunner(job(photo, items), "", out, str(server.comfyui), flags, workers)
        r.check_models("bench")  # waits until every worker's ComfyUI answers: startup is not timed
        start = time.perf_counter()
        results = r.run()
        assert all(x.status == "done" for x in results), [x.error for x in results if x.error]
        return (time.perf_counter() - start) / items


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=24)
    p.add_argument("--no-ray", action="store_true")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    import photos
    from comfy_server import ComfyServer

    photo = photos.folder() / "obama_1.jpg"
    base = Path(tempfile.mkdtemp(prefix="runner-bench-"))
    servers = [ComfyServer(base / name).start() for name in ("a", "b")]
    rows = []
    try:
        def row(path, seconds):
            rows.append([path, round(1000 * seconds), round(60 / seconds)])
            print(rows[-1], flush=True)

        base_s = floor(servers[0], photo, args.items)
        row("plain ComfyClient loop (the floor)", base_s)
        row("runner, 1 server", runner(servers[:1], photo, args.items))
        row("runner, 2 servers", runner(servers, photo, args.items))
        if not args.no_ray:
            row("--ray, 1 worker", ray_runner(servers[0], photo, args.items, 1))
            row("--ray, 2 workers", ray_runner(servers[0], photo, args.items, 2))
    finally:
        for s in servers:
            s.stop()
    cmd = "python bench/runner_bench.py " + " ".join(a for a in sys.argv[1:] if a != "--no-write")
    text = "\n\n".join([
        "## Runner overhead (`bench/runner_bench.py`)",
        f"Command: `COMFYUI_PATH=... {cmd}` · machine: {machine()} · {args.items} items of a tiny graph (load the "
        "uploaded photo, scale it, save it): ComfyUI's own work is a few ms, so the rows show what the runner adds "
        "per item. Servers and Ray workers share this machine's cores.",
        markdown_table(["path", "ms per item", "items/min"], rows),
        f"Against the floor, the runner on one server adds {max(0, rows[1][1] - rows[0][1])} ms per item (what "
        "it does beyond the floor: content-named uploads, per-item folders, likeness-run.json); a generation takes "
        "4-80 s.",
    ])
    return publish("runner-bench", text, not args.no_write)


if __name__ == "__main__":
    sys.exit(main())
