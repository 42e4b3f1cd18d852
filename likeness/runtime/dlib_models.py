"""dlib's HOG face detector, 68-point landmarks and 128-D face recogniser.

The weights ship inside the `face_recognition_models` wheel (CC0), so this works offline with no download.
Models load once per process, on first use.
"""
from __future__ import annotations

import numpy as np

from ..errors import LikenessError
from . import cache


def _load():
    try:
        import dlib
        import face_recognition_models as frm
    except ImportError as e:
        raise LikenessError(
            "The dlib backend needs the packages dlib-bin and face_recognition_models: "
            "pip install dlib-bin face_recognition_models"
        ) from e
    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(frm.pose_predictor_model_location()),
        dlib.face_recognition_model_v1(frm.face_recognition_model_location()),
    )


def models():
    try:
        import face_recognition_models as frm
    except ImportError:
        return _load()  # raises the install hint
    return cache.load("dlib", [frm.pose_predictor_model_location(), frm.face_recognition_model_location()], _load)


def kps5_from_68(points: np.ndarray) -> np.ndarray:
    """5 keypoints in insightface order (left eye, right eye, nose tip, mouth left, mouth right) from 68 landmarks."""
    p = np.asarray(points, np.float32)
    return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]]).astype(np.float32)


def detect(rgb: np.ndarray, upsample: int = 1) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Faces in an HxWx3 uint8 RGB image: [(box x1y1x2y2, kps5 (5,2), landmarks68 (68,2))], left to right."""
    detector, predictor, _ = models()
    img = np.ascontiguousarray(rgb)
    faces = []
    for r in detector(img, upsample):
        shape = predictor(img, r)
        pts = np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], np.float32)
        box = np.array([r.left(), r.top(), r.right(), r.bottom()], np.float32)
        faces.append((box, kps5_from_68(pts), pts))
    return sorted(faces, key=lambda f: f[0][0])


def embed(rgb: np.ndarray, landmarks68: list[np.ndarray], jitter: int = 0) -> np.ndarray:
    """128-D dlib descriptors (N,128) float32 for faces given by their 68 landmarks."""
    import dlib

    _, _, recogniser = models()
    img = np.ascontiguousarray(rgb)
    out = []
    for pts in landmarks68:
        xs, ys = pts[:, 0], pts[:, 1]
        rect = dlib.rectangle(int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
        shape = dlib.full_object_detection(rect, [dlib.point(int(x), int(y)) for x, y in pts])
        out.append(np.array(recogniser.compute_face_descriptor(img, shape, jitter), np.float32))
    return np.stack(out) if out else np.zeros((0, 128), np.float32)
