"""Square, face-centred crops for training sets, from a face box (MediaPipe's detector or the face analyzer)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def square_crop(rgb: np.ndarray, box, size: int, margin: float = 0.6) -> np.ndarray:
    """A size x size crop around `box` (x1, y1, x2, y2) with `margin` x the face size on each side.

    The square never leaves the image: near an edge it slides inward (the face is then off-centre) and it is
    at most as large as the image's short side, so no padding is ever invented."""
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = [float(v) for v in box]
    side = min(max(x2 - x1, y2 - y1) * (1 + 2 * margin), w, h)
    side = max(1, int(round(side)))
    x0 = int(round(min(max((x1 + x2) / 2 - side / 2, 0), w - side)))
    y0 = int(round(min(max((y1 + y2) / 2 - side / 2, 0), h - side)))
    crop = rgb[y0:y0 + side, x0:x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LANCZOS4
    return np.ascontiguousarray(cv2.resize(crop, (size, size), interpolation=interp))


def largest(boxes: list) -> list | None:
    """The largest box; on equal areas the leftmost, then the topmost (never the detector's arbitrary order)."""
    return max(boxes, key=lambda b: ((b[2] - b[0]) * (b[3] - b[1]), -b[0], -b[1]), default=None)


class MediaPipeFaces:
    """MediaPipe's BlazeFace detector (a .tflite file, e.g. face_detection_short_range.tflite), through the
    `mediapipe` Tasks API. Fast and Apache-2.0; finds frontal faces up to a few metres away."""

    def __init__(self, model: str | Path, min_score: float = 0.5):
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.FaceDetectorOptions(base_options=BaseOptions(model_asset_path=str(model)),
                                             min_detection_confidence=min_score)
        self._detector = vision.FaceDetector.create_from_options(options)
        self.name = f"mediapipe ({Path(model).name})"

    def boxes(self, rgb: np.ndarray) -> list[list[float]]:
        import mediapipe as mp

        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        found = self._detector.detect(image).detections
        return [[b.origin_x, b.origin_y, b.origin_x + b.width, b.origin_y + b.height]
                for b in (d.bounding_box for d in found)]


def face_finder(mediapipe_model: Path | None, analyzer=None):
    """(name, find(rgb, index) -> largest face box or None): MediaPipe when its model is given, else the face
    analyzer; (None, None) when neither is there."""
    if mediapipe_model is not None:
        detector = mediapipe_faces(mediapipe_model)
        return detector.name, lambda rgb, i: largest(detector.boxes(rgb))
    if analyzer is None:
        return None, None
    return f"analyzer ({analyzer.backend})", lambda rgb, i: largest([list(f.bbox) for f in analyzer.analyze(rgb, i)])


def mediapipe_faces(model: str | Path) -> MediaPipeFaces:
    """Cached: the detector is built once per model file."""
    from ..runtime import cache

    return cache.load("mediapipe", [model], lambda: MediaPipeFaces(Path(model)))


def mediapipe_available() -> bool:
    try:
        from mediapipe.tasks.python import vision  # noqa: F401
    except Exception:  # ImportError, or a broken install (protobuf/numpy mismatch)
        return False
    return True
