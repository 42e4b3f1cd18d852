"""Dataset Writer: captions, metadata.jsonl and face-centred crops, from MediaPipe's detector or the analyzer; a
re-run item replaces itself; crops never leave the image."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from likeness.dataset import crop

OBAMA_1 = (349, 142, 617, 409)  # dlib's box (faces/README.md)


def iou(a, b) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_square_crop_centres_the_face_and_slides_inward_at_edges():
    rgb = np.zeros((400, 600, 3), np.uint8)
    rgb[100:200, 250:350] = 255  # the "face"
    c = crop.square_crop(rgb, (250, 100, 350, 200), 128, margin=0.5)
    assert c.shape == (128, 128, 3)
    white = np.argwhere(c[..., 0] > 128)
    assert abs(white.mean(0) - 63.5).max() < 2  # centred
    edge = crop.square_crop(rgb, (0, 0, 100, 100), 64, margin=2.0)  # would reach past the corner: slides, no pad
    assert edge.shape == (64, 64, 3) and edge.std() > 0
    huge = crop.square_crop(rgb, (0, 0, 600, 400), 32, margin=1.0)  # at most the short side
    assert huge.shape == (32, 32, 3)


def writer_graph(name, analyzer=None, dataset="crops", seed=3, caption="a man in a suit"):
    g = {"img": {"class_type": "LoadImage", "inputs": {"image": name}},
         "write": {"class_type": "LikenessDatasetWriter", "inputs": {
             "images": ["img", 0], "dataset": dataset, "caption": caption, "trigger": "ohwx man",
             "seed": seed, "face_crops": True, "crop_size": 256, "crop_margin": 0.0}}}
    if analyzer:
        g["an"] = {"class_type": "LikenessFaceAnalyzerLoader", "inputs": {
            "pack": "dlib (no download)", "detector": "dlib", "det_size": 640, "det_thresh": 0.5, "device": "auto"}}
        g["write"]["inputs"]["analyzer"] = ["an", 0]
    return g


def dataset_dir(comfy, dataset):
    return comfy.output_dir / "Likeness" / "datasets" / dataset


def check_crop(comfy, record, dataset, photo):
    """The crop (margin 0) shows the face box: it matches the photo's face region resized."""
    face = np.array(Image.open(dataset_dir(comfy, dataset) / record["face_crop"]).convert("RGB")).astype(float)
    x1, y1, x2, y2 = OBAMA_1
    side = max(x2 - x1, y2 - y1)
    ref = np.array(photo.crop((x1, y1, x1 + side, y1 + side)).resize((256, 256))).astype(float)
    assert np.abs(face - ref).mean() < 25, "the crop is not around the face"


def test_writer_makes_caption_metadata_and_a_face_crop_with_the_analyzer(comfy, faces_dir):
    name = comfy.upload(faces_dir / "obama_1.jpg")
    out = comfy.run(writer_graph(name, analyzer=True, dataset="analyzer"))
    [record] = [m["record"] for m in out["write"]["metadata"]]
    folder = dataset_dir(comfy, "analyzer")
    assert (folder / record["file"]).with_suffix(".txt").read_text() == "ohwx man, a man in a suit\n"
    assert record["seed"] == 3 and record["source"] == [name] and record["face_detector"].startswith("analyzer")
    check_crop(comfy, record, "analyzer", Image.open(faces_dir / "obama_1.jpg").convert("RGB"))
    # the same image and seed again (a retried item, a new caption): it replaces the old one, never doubles
    comfy.run(writer_graph(name, analyzer=True, dataset="analyzer", caption="a man in a dark suit"))
    lines = (folder / "metadata.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["file"] == record["file"]
    assert json.loads(lines[0])["caption"] == "ohwx man, a man in a dark suit"
    assert len(list(folder.glob("*.png"))) == 1


def test_writer_uses_mediapipe_when_its_detector_is_installed(comfy, faces_dir, request):
    pytest.importorskip("mediapipe.tasks.python.vision", reason="mediapipe is not installed")
    from fixtures.mediapipe_model import blazeface_tflite

    target = comfy.models_dir / "mediapipe" / "face_detection_short_range.tflite"
    target.symlink_to(blazeface_tflite())
    request.addfinalizer(lambda: target.unlink())
    boxes = crop.MediaPipeFaces(blazeface_tflite()).boxes(np.array(Image.open(faces_dir / "two_people.jpg")
                                                                    .convert("RGB")))
    assert len(boxes) == 2  # Obama and Biden
    name = comfy.upload(faces_dir / "obama_1.jpg")
    out = comfy.run(writer_graph(name, dataset="mediapipe", seed=4))  # no analyzer connected
    [record] = [m["record"] for m in out["write"]["metadata"]]
    assert record["face_detector"] == "mediapipe (face_detection_short_range.tflite)"
    photo = Image.open(faces_dir / "obama_1.jpg").convert("RGB")
    assert iou(crop.largest(crop.MediaPipeFaces(target).boxes(np.array(photo))), OBAMA_1) > 0.7
    folder = dataset_dir(comfy, "mediapipe")
    assert Image.open(folder / record["face_crop"]).size == (256, 256)


def test_writer_without_any_face_finder_writes_no_crop(comfy, faces_dir):
    name = comfy.upload(faces_dir / "obama_2.jpg")
    out = comfy.run(writer_graph(name, dataset="nocrop"))
    [record] = [m["record"] for m in out["write"]["metadata"]]
    assert record["face_crop"] is None and "0 crops" in out["write"]["text"][0]
