"""Parity with insightface's own model classes on the same synthetic weights and real photos, including faces cut
by the image edge: ReActor users get the same detections, embeddings and swaps from this pack as from insightface.
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures.onnx_models import build_buffalo_pack, build_inswapper, build_scrfd_replay  # noqa: E402

from likeness.face.analysis import AnalyzerSettings, FaceAnalyzer  # noqa: E402
from likeness.face.swap import Swapper  # noqa: E402
from likeness.runtime import dlib_models  # noqa: E402
from likeness.runtime.onnx import OnnxModel  # noqa: E402

insightface = pytest.importorskip("insightface")
from insightface.app.common import Face as InsightFace  # noqa: E402
from insightface.model_zoo.arcface_onnx import ArcFaceONNX  # noqa: E402
from insightface.model_zoo.inswapper import INSwapper  # noqa: E402
from insightface.model_zoo.scrfd import SCRFD  # noqa: E402

# in the frame; cut by the left edge (the box starts at x = -56); near the right edge
PHOTOS = ("two_people.jpg", "obama_edge_1.jpg", "obama_edge_2.jpg")


@pytest.fixture(scope="module", params=PHOTOS)
def case(request, faces_dir, tmp_path_factory):
    """(RGB photo, pack folder) where the pack's detector replays dlib's real detections on that photo."""
    rgb = np.array(Image.open(faces_dir / request.param).convert("RGB"))
    found = dlib_models.detect(rgb)
    assert found, request.param
    pack = tmp_path_factory.mktemp("pack") / "buffalo_l"
    build_buffalo_pack(pack, [(b, k) for b, k, _ in found], (rgb.shape[1], rgb.shape[0]))
    return rgb, pack


def insightface_faces(rgb, pack):
    det = SCRFD(str(pack / "det_10g.onnx"))
    det.prepare(-1, input_size=(640, 640), det_thresh=0.5)
    boxes, kpss = det.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), input_size=(640, 640))
    return [InsightFace(bbox=b[:4], kps=k, det_score=b[4]) for b, k in zip(boxes, kpss)]


def test_detections_are_insightface_s(case):
    rgb, pack = case
    theirs = sorted(insightface_faces(rgb, pack), key=lambda f: f.bbox[0])
    ours = FaceAnalyzer(AnalyzerSettings(pack_dir=str(pack))).analyze(rgb)
    assert len(ours) == len(theirs) >= 1
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.bbox, b.bbox, atol=1e-3)
        np.testing.assert_allclose(a.kps, b.kps, atol=1e-3)


def test_equal_scores_keep_the_detection_insightface_keeps(faces_dir, tmp_path):
    """Two overlapping boxes with the same score: NMS keeps the earlier anchor, as insightface's stable sort does."""
    rgb = np.array(Image.open(faces_dir / "two_people.jpg").convert("RGB"))
    (box, kps, _), _ = dlib_models.detect(rgb)
    shifted = (box + [24, 0, 24, 0], kps + [24, 0])  # IoU ~0.8, a different 8-px anchor, the same 0.99 score
    build_scrfd_replay(tmp_path / "det_10g.onnx", [(box, kps), shifted], (rgb.shape[1], rgb.shape[0]))
    [theirs] = insightface_faces(rgb, tmp_path)
    [ours] = FaceAnalyzer(AnalyzerSettings(pack_dir=str(tmp_path))).analyze(rgb)
    np.testing.assert_allclose(ours.bbox, theirs.bbox, atol=1e-3)


def test_arcface_embedding_is_insightface_s(case):
    """The aligned 112 crop pads with black beyond the image as insightface's norm_crop does, so a face cut by
    the edge gets insightface's embedding."""
    rgb, pack = case
    ref = ArcFaceONNX(str(pack / "w600k_r50.onnx"))
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    for face in FaceAnalyzer(AnalyzerSettings(pack_dir=str(pack))).analyze(rgb):
        theirs = ref.get(bgr, InsightFace(kps=face.kps))
        cos = float(np.dot(face.embedding, theirs) / np.linalg.norm(theirs))
        assert cos >= 0.9999


@pytest.fixture(scope="module")
def inswapper(tmp_path_factory):
    return build_inswapper(tmp_path_factory.mktemp("swapper") / "inswapper_128.onnx", seed=3)


def test_inswapper_crop_is_insightface_s(case, inswapper):
    """128-px swap result within 1/255 of INSwapper.get(paste_back=False) for the same target and source."""
    rgb, pack = case
    faces = FaceAnalyzer(AnalyzerSettings(pack_dir=str(pack))).analyze(rgb)
    source = np.random.default_rng(7).standard_normal(512).astype(np.float32)
    ours = Swapper(inswapper)
    theirs_model = INSwapper(str(inswapper))
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    for face in faces:
        crop, _, _ = ours.swap_face(rgb, face, ours.latent(source))
        theirs, _ = theirs_model.get(bgr, InsightFace(kps=face.kps), InsightFace(embedding=source), paste_back=False)
        quantised = np.clip(crop * 255.0, 0, 255).astype(np.uint8)  # as INSwapper turns its result into pixels
        assert np.abs(quantised.astype(int) - theirs[..., ::-1]).max() <= 1


@pytest.mark.parametrize("name", ["det_10g.onnx", "w600k_r50.onnx", "genderage.onnx", "inswapper_128.onnx"])
def test_torch_path_equals_onnxruntime(case, inswapper, name):
    """The torch path (used on a GPU without onnxruntime-gpu) computes what onnxruntime computes."""
    path = inswapper if name == inswapper.name else case[1] / name
    ort, tor = OnnxModel(path, backend="onnxruntime"), OnnxModel(path, backend="torch")
    feeds = {p.name: np.random.default_rng(0).uniform(-1, 1, [d if isinstance(d, int) and d > 0 else 2
                                                             for d in p.shape]).astype(np.float32)
             for p in ort.get_inputs()}
    for a, b in zip(ort.run(None, feeds), tor.run(None, feeds)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
