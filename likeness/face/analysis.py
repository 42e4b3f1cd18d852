"""Face analysis: detect faces, 5 keypoints, identity embedding, gender and age.

Detectors: SCRFD (insightface packs such as buffalo_l: det_10g.onnx) or dlib's HOG detector (ships with the
`face_recognition_models` wheel: works with no download). Embeddings come from the pack's ArcFace (batched over
all faces of an image). Models run through `runtime.onnx`, so a CUDA device is used even without onnxruntime-gpu.
The SCRFD and ArcFace pre/post-processing constants follow insightface's published models.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import BadInputError, LikenessError, ModelMissingError
from ..runtime import cache, dlib_models
from ..runtime import onnx as onnx_rt
from . import align
from .types import Face

DETECTORS = ("auto", "scrfd", "dlib")
DETECTOR_FILES = ("det_10g.onnx", "scrfd_10g_bnkps.onnx", "det_2.5g.onnx", "det_500m.onnx")
RECOGNIZER_FILES = ("w600k_r50.onnx", "glintr100.onnx", "w600k_mbf.onnx")
DLIB_LONG_SIDE = 1280  # dlib's HOG is slow on big photos: detect on a copy scaled to this, map back


@dataclass(frozen=True)
class AnalyzerSettings:
    pack_dir: str | None = None
    detector: str = "auto"        # auto | scrfd | dlib
    det_size: int = 640
    det_thresh: float = 0.5
    device: str = "cpu"
    backend: str = "auto"


def _first(directory: Path, names) -> Path | None:
    for n in names:
        if (directory / n).is_file():
            return directory / n
    return None


def _nms(boxes: np.ndarray, scores: np.ndarray, thresh: float = 0.4) -> list[int]:
    order = np.argsort(-scores, kind="stable")  # insightface's order: ties keep the earlier anchor
    keep = []
    areas = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    while order.size:
        i = order[0]
        keep.append(int(i))
        xx1 = np.maximum(boxes[i, 0], boxes[order[1:], 0])
        yy1 = np.maximum(boxes[i, 1], boxes[order[1:], 1])
        xx2 = np.minimum(boxes[i, 2], boxes[order[1:], 2])
        yy2 = np.minimum(boxes[i, 3], boxes[order[1:], 3])
        inter = np.maximum(0, xx2 - xx1 + 1) * np.maximum(0, yy2 - yy1 + 1)
        iou = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[1:][iou <= thresh]
    return keep


def pack_files(settings: AnalyzerSettings) -> tuple[Path | None, Path | None, Path | None]:
    """The detector, recogniser and attribute model files of the chosen pack (None where absent)."""
    pack = Path(settings.pack_dir) if settings.pack_dir else None
    if pack is None or not pack.is_dir():
        return None, None, None
    ga = pack / "genderage.onnx"
    return _first(pack, DETECTOR_FILES), _first(pack, RECOGNIZER_FILES), ga if ga.is_file() else None


class FaceAnalyzer:
    def __init__(self, settings: AnalyzerSettings):
        self.settings = settings
        pack = Path(settings.pack_dir) if settings.pack_dir else None
        if pack is not None and not pack.is_dir():
            raise ModelMissingError("insightface", f"models/{pack.name}", [str(pack.parent)], "faceswap")
        det_file, rec_file, ga_file = pack_files(settings)
        detector = settings.detector
        if detector not in DETECTORS:
            raise BadInputError(f"Unknown detector {detector!r}; choose one of: {', '.join(DETECTORS)}.")
        if detector == "auto":
            detector = "scrfd" if det_file else "dlib"
        if detector == "scrfd" and det_file is None:
            raise ModelMissingError("insightface", f"models/{pack.name if pack else 'buffalo_l'}/det_10g.onnx",
                                    [str(pack) if pack else "(no pack chosen)"], "faceswap")
        load = lambda f: onnx_rt.OnnxModel(f, settings.device, settings.backend)  # noqa: E731
        self.detector = detector
        self.det = load(det_file) if detector == "scrfd" else None
        self.rec = load(rec_file) if rec_file else None
        self.genderage = load(ga_file) if ga_file else None
        # the embedding space: the pack's recogniser, else dlib's own 128-D descriptors when dlib detects
        self.space = rec_file.stem if rec_file else ("dlib_128" if detector == "dlib" else None)
        self._cache: OrderedDict[str, list[Face]] = OrderedDict()

    @property
    def backend(self) -> str:
        parts = [f"detector {self.detector}" + (f" ({self.det.backend})" if self.det else "")]
        if self.rec:
            parts.append(f"recogniser {self.space} ({self.rec.backend})")
        elif self.space:
            parts.append(f"recogniser {self.space}")
        return ", ".join(parts)

    # -- public --------------------------------------------------------------------------------------------
    def analyze(self, rgb: np.ndarray, image_index: int = 0) -> list[Face]:
        """All faces in an HxWx3 uint8 RGB image, left to right, with embeddings when a recogniser is loaded."""
        # content key for the face-list cache; SHA-1 is the fastest full hash here (CPU SHA extensions), not a seal
        key = repr(rgb.shape) + hashlib.sha1(memoryview(np.ascontiguousarray(rgb)).cast("B"),
                                             usedforsecurity=False).hexdigest()
        if key in self._cache:
            self._cache.move_to_end(key)
            faces = self._cache[key]
        else:
            faces = self._detect(rgb)
            if faces and self.rec is not None:
                self._embed(rgb, faces)
            if faces and self.genderage is not None:
                self._gender_age(rgb, faces)
            self._cache[key] = faces
            if len(self._cache) > 256:
                self._cache.popitem(last=False)
        return [Face(f.bbox, f.kps, f.det_score, f.embedding, f.gender, f.age, f.landmarks, image_index,
                     space=f.space) for f in faces]

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        """Normalised embeddings (N, D) for aligned 112 x 112 RGB crops, one batched model call."""
        if self.rec is None:
            raise LikenessError("This face analyzer has no recogniser (no w600k_r50/glintr100 in the pack).")
        blob = (np.stack(crops).astype(np.float32) - 127.5) / 127.5
        blob = blob.transpose(0, 3, 1, 2)
        [feats] = self.rec.run(None, {self.rec.get_inputs()[0].name: blob})
        return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)

    # -- steps ---------------------------------------------------------------------------------------------
    def _detect(self, rgb: np.ndarray) -> list[Face]:
        if self.detector == "dlib":
            scale = min(1.0, DLIB_LONG_SIDE / max(rgb.shape[:2]))
            small = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            found = dlib_models.detect(small)
            embs = dlib_models.embed(small, [p for _, _, p in found]) if self.rec is None else [None] * len(found)
            return [Face(box / scale, kps / scale, 1.0, emb, landmarks=pts / scale, space=self.space)
                    for (box, kps, pts), emb in zip(found, embs)]
        return self._detect_scrfd(rgb)

    def _detect_scrfd(self, rgb: np.ndarray) -> list[Face]:
        shape = self.det.get_inputs()[0].shape
        # a dynamic detector needs a multiple of its largest stride (32), or the anchor grids misplace boxes
        fixed = isinstance(shape[2], int) and shape[2] > 0
        size = int(shape[2]) if fixed else -(-int(self.settings.det_size) // 32) * 32
        h, w = rgb.shape[:2]
        if h > w:
            new_h, new_w = size, max(1, int(size * w / h))
        else:
            new_w, new_h = size, max(1, int(size * h / w))
        det_scale = new_h / h
        canvas = np.zeros((size, size, 3), np.float32)
        canvas[:new_h, :new_w] = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        blob = ((canvas - 127.5) / 128.0).transpose(2, 0, 1)[None]
        outs = self.det.run(None, {self.det.get_inputs()[0].name: blob})
        fmc = 3 if len(outs) in (6, 9) else 5
        strides = (8, 16, 32) if fmc == 3 else (8, 16, 32, 64, 128)
        boxes, kpss, scores = [], [], []
        for i, stride in enumerate(strides):
            score = outs[i].reshape(-1)
            bbox = outs[i + fmc].reshape(-1, 4) * stride
            kps = outs[i + 2 * fmc].reshape(-1, 10) * stride if len(outs) == 3 * fmc else None
            gh, gw = size // stride, size // stride
            anchors_per = score.shape[0] // (gh * gw)
            ys, xs = np.mgrid[:gh, :gw]
            centres = np.repeat(np.stack([xs, ys], -1).reshape(-1, 2) * stride, anchors_per, axis=0)
            keep = np.where(score >= self.settings.det_thresh)[0]
            c = centres[keep]
            b = bbox[keep]
            boxes.append(np.stack([c[:, 0] - b[:, 0], c[:, 1] - b[:, 1], c[:, 0] + b[:, 2], c[:, 1] + b[:, 3]], 1))
            scores.append(score[keep])
            if kps is not None:
                kpss.append((kps[keep].reshape(-1, 5, 2) + c[:, None, :]))
        boxes = np.concatenate(boxes) / det_scale
        scores = np.concatenate(scores)
        kpss = np.concatenate(kpss) / det_scale if kpss else np.zeros((len(boxes), 5, 2), np.float32)
        keep = _nms(boxes, scores)
        faces = [Face(boxes[i].astype(np.float32), kpss[i].astype(np.float32), float(scores[i])) for i in keep]
        return sorted(faces, key=lambda f: f.bbox[0])

    def _embed(self, rgb: np.ndarray, faces: list[Face]) -> None:
        crops = [align.warp_in(rgb, align.crop_matrix(f.kps, 112), 112) for f in faces]
        for face, emb in zip(faces, self.embed_crops(crops)):
            face.embedding, face.space = emb.astype(np.float32), self.space

    def _gender_age(self, rgb: np.ndarray, faces: list[Face]) -> None:
        blobs = []
        for f in faces:
            x1, y1, x2, y2 = f.bbox
            scale = 96 / (max(x2 - x1, y2 - y1) * 1.5)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            m = np.array([[scale, 0, 48 - cx * scale], [0, scale, 48 - cy * scale]], np.float32)
            blobs.append(align.warp_in(rgb, m, 96).astype(np.float32).transpose(2, 0, 1))
        name = self.genderage.get_inputs()[0].name
        for f, blob in zip(faces, blobs):  # the attribute model has a static batch of 1
            [out] = self.genderage.run(None, {name: blob[None]})
            f.gender = int(np.argmax(out[0][:2]))
            f.age = float(out[0][2] * 100)


def analyzer(settings: AnalyzerSettings) -> FaceAnalyzer:
    """The cached analyzer for these settings (reloaded when one of its model files changes)."""
    files = [f for f in pack_files(settings) if f is not None]
    return cache.load("analyzer", files, lambda: FaceAnalyzer(settings), settings)
