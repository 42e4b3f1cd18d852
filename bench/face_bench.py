"""Face pipeline throughput: detect + swap (+ restore) on 1080p images with 1 and 4 faces, batch 1 and 16,
on onnxruntime's CPU provider (what a ReActor user gets when onnxruntime-gpu fails) and on our torch path.

    python bench/face_bench.py                      # CPU provider vs torch on the best device; writes BENCHMARKS.md
    python bench/face_bench.py --quick              # batch 1 only, one timed run (CPU smoke test)
    python bench/face_bench.py --models DIR         # DIR/buffalo_l/, DIR/inswapper_128.onnx, DIR/GFPGANv1.4.pth

Without --models the models are random-weight stand-ins with the real interfaces and realistic compute
(bench/standin_models.py); GFPGAN v1.4 is its real architecture with random weights. Images are built from a real
photo (dlib gives the landmarks). Reported: faces/s and ms/face per configuration, the latency of swapping one
face, peak memory, each model's FLOPs per face and the fraction of the device's measured matmul peak it reaches.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from common import (REPO, machine, markdown_table, matmul_peak, median, onnx_flops, peak_rss_gib, timed,
                    torch_flops, write_section)

sys.path.insert(0, str(REPO / "tests"))
W, H = 1920, 1080
SLOTS = [(760, 240), (160, 160), (1360, 160), (760, 640)]  # top-left corners of the 400 px face tiles


def face_tile(path: str | None = None):
    """A 400 px tile of a real photo and its face (box, 5 keypoints) as dlib sees it; or that tile saved by
    `--save-tile` (the GPU machine has neither the photos nor dlib's weights)."""
    if path:
        data = np.load(path)
        return data["rgb"], data["box"], data["kps"]
    from PIL import Image

    import photos  # tests/photos.py: real photos from registry packages
    from likeness.runtime import dlib_models

    rgb = np.array(Image.open(photos.folder() / "obama_1.jpg").convert("RGB").crop((283, 76, 683, 476)))
    [(box, kps, _)] = dlib_models.detect(rgb)
    return rgb, np.asarray(box, np.float32), np.asarray(kps, np.float32)


def make_image(n_faces: int, tile):
    """A 1080p image with `n_faces` copies of the tile's face, and their boxes and 5 keypoints."""
    rgb, box, kps = tile
    canvas = np.full((H, W, 3), (118, 124, 130), np.uint8)
    faces = []
    for x, y in SLOTS[:n_faces]:
        canvas[y:y + rgb.shape[0], x:x + rgb.shape[1]] = rgb
        shift = np.array([x, y], np.float32)
        faces.append((box + np.tile(shift, 2), kps + shift))
    return canvas, faces


def models_for(args, faces):
    from fixtures.restore_models import gfpgan_pth

    if args.models:
        root = Path(args.models)
        return {"pack": root / "buffalo_l", "swapper": root / "inswapper_128.onnx",
                "restorer": root / "GFPGANv1.4.pth", "det": root / "buffalo_l" / "det_10g.onnx",
                "rec": root / "buffalo_l" / "w600k_r50.onnx"}
    import standin_models

    files = standin_models.build(REPO / ".cache" / "bench-models", faces, (W, H))
    return {**files, "restorer": gfpgan_pth()}


def pipeline(files, device: str, backend: str):
    from likeness.face import restore, swap
    from likeness.face.analysis import AnalyzerSettings, FaceAnalyzer

    an = FaceAnalyzer(AnalyzerSettings(str(files["pack"]), "scrfd", 640, 0.5, device, backend))
    sw = swap.Swapper(files["swapper"], device, backend)
    rs = restore.Restorer(files["restorer"], device)
    return an, sw, rs


def run_config(an, sw, rs, images, restore_too: bool):
    from likeness.face.pipeline import SwapOptions, swap_batch

    source = an.analyze(images[0])[0].embedding
    opts = SwapOptions(target_indexes="all", pixel_boost=1)

    def once():
        an._cache.clear()  # time detection too, as on new images
        res = swap_batch(images, an, sw, [source], opts)
        if restore_too:
            for img, faces in zip(res.images, res.swapped):
                rs.restore(img, faces)

    return once


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="batch 1 only, one timed run")
    p.add_argument("--models", help="folder with real buffalo_l/, inswapper_128.onnx and GFPGANv1.4.pth")
    p.add_argument("--device", help="device for the torch path (default: cuda when present, else cpu)")
    p.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    p.add_argument("--tile", help="a face tile saved by --save-tile (instead of the photo + dlib)")
    p.add_argument("--save-tile", metavar="NPZ", help="save the face tile for --tile and exit")
    args = p.parse_args()
    if args.save_tile:
        rgb, box, kps = face_tile()
        np.savez_compressed(args.save_tile, rgb=rgb, box=box, kps=kps)
        return 0
    tile = face_tile(args.tile)
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    batches = [1] if args.quick else [1, 16]
    iters = 1 if args.quick else 3
    paths = [("onnxruntime CPU provider", "cpu", "onnxruntime"), (f"torch on {device}", device, "torch")]
    rows, latency = [], []
    for n_faces in (1, 4):
        image, faces = make_image(n_faces, tile)
        files = models_for(args, faces)
        for label, dev, backend in paths:
            an, sw, rs = pipeline(files, dev, backend)
            dev_sync = sync if dev.startswith("cuda") else None
            for batch in batches:
                images = [image.copy() for _ in range(batch)]
                for restore_too in (False, True):
                    if dev.startswith("cuda"):
                        torch.cuda.reset_peak_memory_stats()
                    t = median(timed(run_config(an, sw, rs, images, restore_too), warmup=1, iters=iters,
                                     sync=dev_sync))
                    n = batch * n_faces
                    peak = (f"{torch.cuda.max_memory_allocated() / 2 ** 30:.2f} GiB GPU" if dev.startswith("cuda")
                            else f"{peak_rss_gib():.2f} GiB RSS")
                    rows.append([label, n_faces, batch, "detect+swap+restore" if restore_too else "detect+swap",
                                 round(n / t, 2), round(1000 * t / n, 1), peak])
                    print(rows[-1], flush=True)
            if n_faces == 1:
                face = an.analyze(image)[0]
                latent = sw.latent(face.embedding)
                ms = 1000 * median(timed(lambda: sw.swap_face(image, face, latent), warmup=2, iters=10,
                                         sync=dev_sync))
                latency.append([label, round(ms, 2)])
    peak = matmul_peak(device, "float32")
    text = report(args, device, rows, latency, model_rows(files, device, sync, peak), peak)
    print(text)
    if not args.no_write:
        write_section("face-bench", text)
    return 0


def model_rows(files, device: str, sync, peak: float) -> list[list]:
    """Per model, on the torch path: FLOPs of one run, its time, and the share of the matmul peak it reaches."""
    import torch

    from likeness.face.restore import Restorer
    from likeness.runtime import onnx as onnx_rt

    rows = []
    for name, key, shapes in (("detector 640x640 (per image)", "det", {"input.1": (1, 3, 640, 640)}),
                              ("recogniser 112x112", "rec", {"input.1": (1, 3, 112, 112)}),
                              ("swapper 128x128", "swapper", {"target": (1, 3, 128, 128), "source": (1, 512)})):
        model = onnx_rt.load(files[key], device, "torch")
        feeds = {k: torch.rand(*v, device=device) for k, v in shapes.items()}
        rows.append(_row(name, onnx_flops(files[key]), lambda: model.run_torch(feeds), sync, peak))
    module = Restorer(files["restorer"], device).module
    x = torch.rand(1, 3, 512, 512, device=device)
    with torch.inference_mode():
        rows.append(_row("GFPGAN v1.4 512x512", torch_flops(module, x), lambda: module(x), sync, peak))
    return rows


def _row(name, flops, fn, sync, peak):
    t = median(timed(fn, warmup=2, iters=10, sync=sync))
    share = f"{100 * flops / t / peak:.1f}%" if sync else "n/a on CPU"  # a CPU matmul is no ceiling for oneDNN convs
    return [name, round(flops / 1e9, 2), round(1000 * t, 2), round(flops / t / 1e12, 3), share]


def report(args, device, rows, latency, flop_rows, peak) -> str:
    kind = "real model files" if args.models else "random-weight stand-ins (bench/standin_models.py) + GFPGAN v1.4"
    cmd = "python bench/face_bench.py " + " ".join(a for a in sys.argv[1:] if a != "--no-write")
    return "\n\n".join([
        "## Face pipeline (`bench/face_bench.py`)",
        f"Command: `{cmd}` · machine: {machine()} · models: {kind} · 1080p images, pixel boost 1, "
        "detection timed on every run (the per-image cache is cleared).",
        markdown_table(["path", "faces/image", "batch", "stage", "faces/s", "ms/face", "peak memory"], rows),
        "Swap of one face (crop + model + merge, no paste): "
        + "; ".join(f"{label}: **{ms} ms**" for label, ms in latency),
        f"Per model on the torch path (fp32; measured fp32 matmul peak of `{device}`: {peak / 1e12:.2f} TFLOP/s):",
        markdown_table(["model", "GFLOP per face", "ms", "TFLOP/s", "of peak"], flop_rows),
    ])


if __name__ == "__main__":
    sys.exit(main())
