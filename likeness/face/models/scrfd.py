"""SCRFD, the detector of insightface's packs (det_10g in buffalo_l, scrfd_10g_bnkps in antelopev2): face boxes,
5 keypoints and scores, in insightface's order and numbers (its model_zoo/scrfd.py is the reference)."""
from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from ...runtime import onnx as onnx_rt
from ..types import Face

FILES = ("det_10g.onnx", "scrfd_10g_bnkps.onnx", "det_2.5g.onnx", "det_500m.onnx")
MEAN, STD = 127.5, 128.0           # pixel normalisation the models were trained with
STRIDES = {3: (8, 16, 32), 5: (8, 16, 32, 64, 128)}  # by the number of feature levels (outputs per kind)
SIZE_STEP = 32                     # a dynamic input must be a multiple of the largest stride of 3 levels
NMS_IOU = 0.4


def nms(boxes: np.ndarray, scores: np.ndarray, thresh: float = NMS_IOU) -> list[int]:
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


class SCRFD:
    name = "scrfd"

    def __init__(self, path: str | Path, device: str = "cpu", backend: str = "auto", det_size: int = 640,
                 threshold: float = 0.5):
        self.model = onnx_rt.OnnxModel(path, device, backend)
        shape = self.model.get_inputs()[0].shape
        fixed = isinstance(shape[2], int) and shape[2] > 0
        self.size = int(shape[2]) if fixed else -(-int(det_size) // SIZE_STEP) * SIZE_STEP
        self.threshold = threshold
        self._centres: dict[tuple[int, int], np.ndarray] = {}  # anchor centres per (stride, anchors): fixed
        self._blob = np.empty((1, 3, self.size, self.size), np.float32)
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        return f"detector scrfd ({self.model.backend})"

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """All faces of an HxWx3 uint8 RGB image, left to right."""
        with self._lock:  # one input buffer per detector
            blob, scale = self.preprocess(rgb)
            outs = self.forward(blob)
        return self.postprocess(outs, scale)

    def preprocess(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """The image scaled into the top-left of a size² black canvas (keeping its aspect), normalised. The canvas
        is this detector's own buffer, rewritten for every image: a new one per frame costs its page faults."""
        h, w = rgb.shape[:2]
        if h > w:
            new_h, new_w = self.size, max(1, int(self.size * w / h))
        else:
            new_w, new_h = self.size, max(1, int(self.size * h / w))
        small = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        blob, black = self._blob, -MEAN / STD
        blob[0, :, new_h:].fill(black)
        blob[0, :, :new_h, new_w:].fill(black)
        for channel, plane in zip(blob[0], cv2.split(small)):
            area = channel[:new_h, :new_w]
            np.subtract(plane, np.float32(MEAN), out=area, dtype=np.float32)
            area *= np.float32(1 / STD)  # STD is a power of two: the same floats as dividing
        return blob, new_h / h

    def forward(self, blob: np.ndarray) -> list[np.ndarray]:
        return self.model.run(None, {self.model.get_inputs()[0].name: blob})

    def _anchor_centres(self, stride: int, count: int) -> np.ndarray:
        grid = self.size // stride
        key = (stride, count // (grid * grid))
        if key not in self._centres:
            ys, xs = np.mgrid[:grid, :grid]
            self._centres[key] = np.repeat(np.stack([xs, ys], -1).reshape(-1, 2) * stride, key[1], axis=0)
        return self._centres[key]

    def postprocess(self, outs: list[np.ndarray], scale: float) -> list[Face]:
        """Anchor-relative distances -> boxes and keypoints in image pixels, thresholded and NMS'd."""
        levels = 3 if len(outs) in (6, 9) else 5
        boxes, kpss, scores = [], [], []
        for i, stride in enumerate(STRIDES[levels]):
            score = outs[i].reshape(-1)
            dist = outs[i + levels].reshape(-1, 4) * stride
            kps = outs[i + 2 * levels].reshape(-1, 10) * stride if len(outs) == 3 * levels else None
            centres = self._anchor_centres(stride, score.shape[0])
            keep = np.where(score >= self.threshold)[0]
            c, d = centres[keep], dist[keep]
            boxes.append(np.stack([c[:, 0] - d[:, 0], c[:, 1] - d[:, 1], c[:, 0] + d[:, 2], c[:, 1] + d[:, 3]], 1))
            scores.append(score[keep])
            if kps is not None:
                kpss.append(kps[keep].reshape(-1, 5, 2) + c[:, None, :])
        boxes = np.concatenate(boxes) / scale
        scores = np.concatenate(scores)
        kpss = np.concatenate(kpss) / scale if kpss else np.zeros((len(boxes), 5, 2), np.float32)
        faces = [Face(boxes[i].astype(np.float32), kpss[i].astype(np.float32), float(scores[i]))
                 for i in nms(boxes, scores)]
        return sorted(faces, key=lambda f: f.bbox[0])
