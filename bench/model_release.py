"""Does "Unload models" give the face models' memory back? A live ComfyUI's resident memory, measured.

    COMFYUI_PATH=... python bench/model_release.py            # writes the model-release section of BENCHMARKS.md

A ComfyUI server with the pack runs a face swap + restore graph on full-size stand-in models (a ~554 MB swapper
like inswapper_128, an IResNet-50-sized recogniser, GFPGAN v1.4's real architecture); its resident memory is read
before the first run, after it, after POST /free {"unload_models": true}, and after a second run.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, machine, markdown_table, publish

sys.path.insert(0, str(REPO / "tests"))


def rss_mib(server) -> float:
    import psutil

    return psutil.Process(server.proc.pid).memory_info().rss / 2 ** 20


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    import numpy as np
    from PIL import Image

    import photos
    import standin_models
    from comfy_server import ComfyServer
    from fixtures.restore_models import gfpgan_pth
    from likeness.runtime import dlib_models

    base = Path(tempfile.mkdtemp(prefix="release-bench-"))
    photo = photos.folder() / "two_people.jpg"
    rgb = np.array(Image.open(photo).convert("RGB"))
    faces = [(b, k) for b, k, _ in dlib_models.detect(rgb)]
    files = standin_models.build(REPO / ".cache" / "bench-models", faces, (rgb.shape[1], rgb.shape[0]))
    server = ComfyServer(base / "server").start()
    models = server.models_dir
    pack = models / "insightface" / "models" / "buffalo_l"
    pack.mkdir(parents=True)
    for key, name in (("det", "det_10g.onnx"), ("rec", "w600k_r50.onnx"), ("ga", "genderage.onnx")):
        (pack / name).symlink_to(files[key])
    (models / "insightface" / "inswapper_128.onnx").symlink_to(files["swapper"])
    (models / "facerestore_models" / "GFPGANv1.4.pth").symlink_to(gfpgan_pth())
    name = server.upload(photo)
    graph = {
        "an": {"class_type": "LikenessFaceAnalyzerLoader", "inputs": {"pack": "buffalo_l", "detector": "scrfd",
                                                                     "det_size": 640, "det_thresh": 0.5,
                                                                     "device": "cpu"}},
        "sw": {"class_type": "LikenessFaceSwapperLoader", "inputs": {"swapper": "inswapper_128.onnx",
                                                                    "device": "cpu"}},
        "rs": {"class_type": "LikenessFaceRestorerLoader", "inputs": {"restorer": "GFPGANv1.4.pth", "device": "cpu"}},
        "img": {"class_type": "LoadImage", "inputs": {"image": name}},
        "swap": {"class_type": "LikenessFaceSwap", "inputs": {
            "image": ["img", 0], "analyzer": ["an", 0], "swapper": ["sw", 0], "source_image": ["img", 0],
            "source_index": "0", "target_index": "1", "order": "left-right", "gender": "any",
            "reference_threshold": 0.4, "mapping": "", "pixel_boost": "1", "weight": 1.0, "feather": 0.08,
            "color_match": 1.0, "keep_detail": 1.0, "on_no_face": "error"}},
        "restore": {"class_type": "LikenessFaceRestore", "inputs": {"image": ["swap", 0], "analyzer": ["an", 0],
                                                                    "restorer": ["rs", 0], "visibility": 1.0}},
        "save": {"class_type": "SaveImage", "inputs": {"images": ["restore", 0], "filename_prefix": "release"}},
    }
    rows = []
    try:
        def loaded():
            return server.client._json("GET", "/likeness/models")

        rows.append(["server started, nothing run", round(rss_mib(server)), 0])
        server.run(graph)
        rows.append(["after swap + restore", round(rss_mib(server)), loaded()["total_mb"]])
        server.client.free(unload_models=True)
        deadline = time.time() + 60
        while loaded()["models"] and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # the allocator hands pages back after the collection
        rows.append(["after POST /free (Unload models)", round(rss_mib(server)), loaded()["total_mb"]])
        graph["swap"]["inputs"]["weight"] = 0.9  # not ComfyUI's cached result: the models load again
        server.run(graph)
        rows.append(["after a second run", round(rss_mib(server)), loaded()["total_mb"]])
    finally:
        server.stop()
    for r in rows:
        print(r)
    freed = rows[1][1] - rows[2][1]
    text = "\n\n".join([
        "## Model release (`bench/model_release.py`)",
        f"Command: `COMFYUI_PATH=... python bench/model_release.py` · machine: {machine()} · a live ComfyUI with "
        "the pack, face swap + restore on CPU with full-size stand-in models (swapper ~554 MB, recogniser, "
        "detector, GFPGAN v1.4 architecture); resident memory of the server process.",
        markdown_table(["moment", "server RSS MiB", "pack cache MB (GET /likeness/models)"], rows),
        f"Unload models gave back {freed} MiB of the {rows[1][1] - rows[0][1]} MiB the run added.",
    ])
    return publish("model-release", text, not args.no_write)


if __name__ == "__main__":
    sys.exit(main())
