"""The CPU work around the face models: what Face Swap spends per face outside the models themselves.

    python bench/face_overhead.py            # writes the face-overhead section of BENCHMARKS.md
    python bench/face_overhead.py --no-write

On a GPU the models are fast and this work (format conversion at the node boundary, detection's letterbox,
alignment, paste-back, the face-list cache key) is what bounds throughput. Models here are the tests' tiny
stand-ins with the real interfaces; every model call is timed and subtracted, so "non-model" is the rest. The same
images also go through insightface's `INSwapper.get(paste_back=True)` (ReActor's core), timed the same way.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from common import REPO, machine, markdown_table, median, publish, timed

sys.path.insert(0, str(REPO / "tests"))
SIZES = {"1080p": (1920, 1080), "4K": (3840, 2160)}


class ModelClock:
    """Wraps a session-like object's `run` and adds up the seconds spent inside it."""
    seconds = 0.0

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def run(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.inner.run(*args, **kwargs)
        finally:
            ModelClock.seconds += time.perf_counter() - start


def scene(size, n_faces: int, tile):
    """A frame with `n_faces` copies of a real face tile (spread over the frame) and their boxes/keypoints."""
    w, h = size
    rgb, box, kps = tile
    canvas = np.full((h, w, 3), (118, 124, 130), np.uint8)
    faces = []
    for k in range(n_faces):
        x, y = int((k + 0.5) * w / n_faces - rgb.shape[1] / 2), int(h / 2 - rgb.shape[0] / 2)
        canvas[y:y + rgb.shape[0], x:x + rgb.shape[1]] = rgb
        faces.append((box + [x, y, x, y], kps + [x, y]))
    return canvas, faces


def ours(image, faces, batch: int, folder: Path):
    """ms per face (total, in models) of what the Face Swap node does, and the non-model ms per face of its three
    stages: IMAGE -> 8-bit frames, the engine (detect, align, swap, paste), the new IMAGE and MASK."""
    import torch

    from fixtures.onnx_models import build_buffalo_pack, build_inswapper
    from likeness.face.analysis import AnalyzerSettings, FaceAnalyzer
    from likeness.face.pipeline import SwapOptions, swap_batch
    from likeness.face.swap import Swapper
    from likeness.image import images_to_rgb_list, patch_masks, with_patches

    pack = build_buffalo_pack(folder / "buffalo_l", faces, (image.shape[1], image.shape[0]))
    an = FaceAnalyzer(AnalyzerSettings(str(pack)))
    for part in (an.detector, an.recogniser, an.attributes):
        part.model = ModelClock(part.model)
    sw = Swapper(build_inswapper(folder / "inswapper_128.onnx"))
    sw.model = ModelClock(sw.model)
    source = an.analyze(image)[0].embedding
    tensor = torch.from_numpy(np.stack([image] * batch)).float().div_(255)

    stages = {"in": [], "engine": [], "out": []}

    def node():
        an._cache.clear()  # new images every run
        start, models = time.perf_counter(), ModelClock.seconds
        frames = images_to_rgb_list(tensor, "image")
        converted = time.perf_counter()
        res = swap_batch(frames, an, sw, [source], SwapOptions(target_indexes="all"), inplace=True)
        swapped = time.perf_counter()
        with_patches(tensor, res.images, res.patches), patch_masks(res.images, res.patches)
        stages["in"].append(converted - start)
        stages["engine"].append(swapped - converted - (ModelClock.seconds - models))
        stages["out"].append(time.perf_counter() - swapped)

    n = batch * len(faces)
    total, model = measure(node, n)
    return total, model, {k: 1000 * median(v[1:]) / n for k, v in stages.items()}  # [0]: the warm-up


def floor(image, batch: int) -> float:
    """ms per frame of `image.clone()`: what any node pays to return a new IMAGE of this size, whatever it does."""
    import torch

    tensor = torch.from_numpy(np.stack([image] * batch)).float().div_(255)
    return 1000 * median(timed(tensor.clone, warmup=1, iters=7)) / batch


def insightface_path(image, faces, batch: int, folder: Path):
    """The same swaps through insightface's INSwapper.get(paste_back=True) on known faces (no detection)."""
    import cv2
    from insightface.app.common import Face as InsightFace
    from insightface.model_zoo.inswapper import INSwapper

    from fixtures.onnx_models import build_inswapper

    model = INSwapper(str(build_inswapper(folder / "inswapper_128.onnx")))
    model.session = ModelClock(model.session)
    targets = [InsightFace(bbox=b, kps=k) for b, k in faces]
    source = InsightFace(embedding=np.random.default_rng(0).standard_normal(512).astype(np.float32))
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)

    def run():
        for _ in range(batch):
            out = bgr
            for t in targets:
                out = model.get(out, t, source, paste_back=True)

    return measure(run, batch * len(faces))


def measure(fn, faces: int, iters: int = 5):
    fn()  # warm-up
    totals, models = [], []
    for _ in range(iters):
        ModelClock.seconds = 0.0
        start = time.perf_counter()
        fn()
        totals.append(time.perf_counter() - start)
        models.append(ModelClock.seconds)
    total, model = median(totals), median(models)
    return 1000 * total / faces, 1000 * model / faces


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    p.add_argument("--tile", help="a face tile saved by face_bench.py --save-tile (instead of the photo + dlib)")
    args = p.parse_args()
    import tempfile

    from face_bench import face_tile

    tile = face_tile(args.tile)
    rows = []
    for label, size in SIZES.items():
        for n_faces in (1, 4):
            image, faces = scene(size, n_faces, tile)
            for batch in (1, 16):
                with tempfile.TemporaryDirectory() as tmp:
                    total, model, stage = ours(image, faces, batch, Path(tmp))
                    rows.append([label, n_faces, batch, "this pack (Face Swap node)", round(total, 1),
                                 round(model, 1), round(total - model, 1), round(stage["in"], 1),
                                 round(stage["engine"], 1), round(stage["out"], 1),
                                 round(floor(image, batch) / n_faces, 1)])
                    print(rows[-1], flush=True)
                    total, model = insightface_path(image, faces, batch, Path(tmp))
                    rows.append([label, n_faces, batch, "insightface INSwapper.get, paste_back", round(total, 1),
                                 round(model, 1), round(total - model, 1), "", "", "", ""])
                    print(rows[-1], flush=True)
    cmd = "python bench/face_overhead.py " + " ".join(a for a in sys.argv[1:] if a != "--no-write")
    text = "\n\n".join([
        "## The work around the face models (`bench/face_overhead.py`)",
        f"Command: `{cmd.strip()}` · machine: {machine()} · tiny stand-in models (every model call is timed and "
        "subtracted) · this pack: what the Face Swap node does per batch (IMAGE -> 8-bit frames once for the batch, "
        "detection, alignment, swap, paste-back inside the face's region, then a copy of the IMAGE with only the "
        "pasted pixels replaced, and the MASK); insightface: `INSwapper.get(paste_back=True)` on the known faces "
        "(no detection, no conversion). Medians of 5 runs.",
        markdown_table(["frame", "faces/image", "batch", "path", "ms/face", "in models", "non-model ms/face",
                        "of which IMAGE -> 8 bit", "engine", "new IMAGE + MASK", "floor: image.clone()"], rows),
        "The floor column is what any node pays per face just to return a new IMAGE of that size (one copy of the "
        "frame, divided by the faces in it), whatever it computes. On this machine a fresh 4K frame (100 MB) costs "
        "~25,000 page faults to write, so a 4K copy takes tens of ms: the 1-face 4K rows are bound by it, and by "
        "reading the frame into 8 bits, not by the face work (the engine column).",
    ])
    return publish("face-overhead", text, not args.no_write)


if __name__ == "__main__":
    sys.exit(main())
