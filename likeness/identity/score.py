"""Score output images against the reference: similarity, leakage, ID gain and a calibrated verdict per face."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import BadInputError, NoFaceError
from ..face import draw, embedding, select
from ..face.types import Face
from .calibration import Threshold


@dataclass
class FaceScore:
    bbox: list
    similarity: float
    leakage: float | None = None

    @property
    def id_gain(self) -> float | None:
        return None if self.leakage is None else self.similarity - self.leakage


@dataclass
class Score:
    image: int
    similarity: float                 # of the face that counts (0 when there is no face)
    verdict: str                      # pass | fail | no face
    threshold: float
    threshold_source: str
    backend: str
    leakage: float | None = None
    id_gain: float | None = None
    faces: list[FaceScore] = field(default_factory=list)
    counted: int | None = None        # index into faces of the face that counts

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def as_dict(self) -> dict:
        d = asdict(self)
        for f, face in zip(d["faces"], self.faces):
            f["id_gain"] = face.id_gain
        return d


def reference_embedding(backend, images: list[np.ndarray], face_choice: str = "single",
                        what: str = "reference") -> tuple[np.ndarray, int]:
    """One identity from one or more reference photos (combined by the backend), and how many faces made it."""
    embs = []
    for i, rgb in enumerate(images):
        faces = backend.faces(rgb, i)
        if not faces:
            raise NoFaceError(what, i if len(images) > 1 else None)
        if face_choice == "single":
            if len(faces) > 1:
                raise BadInputError(f"The {what} image{f' (batch item {i})' if len(images) > 1 else ''} shows "
                                    f"{len(faces)} faces. Choose reference_face = largest or an index (0 = leftmost).")
            face = faces[0]
        elif face_choice == "largest":
            face = max(faces, key=lambda f: f.area)
        else:
            ranked = select.order_faces(faces, "left-right")
            k = int(face_choice)
            if k >= len(ranked):
                raise BadInputError(f"reference_face {k} asked, but the {what} image shows {len(ranked)} face(s).")
            face = ranked[k]
        embs.append(face.embedding)
    return backend.combine(embs), len(embs)


def score_faces(backend, faces: list[Face], reference: np.ndarray, threshold: Threshold, image_index: int,
                original: np.ndarray | None = None, count: str = "most-similar") -> Score:
    """Score every face of one output image; `count` says which face decides the verdict."""
    scored = [FaceScore([round(float(v), 1) for v in f.bbox], round(backend.similarity(f.embedding, reference), 4),
                        None if original is None else round(backend.similarity(f.embedding, original), 4))
              for f in faces]
    if not scored:
        return Score(image_index, 0.0, "no face", threshold.value, threshold.source, backend.name)
    if count == "largest":
        k = int(np.argmax([f.area for f in faces]))
    else:
        k = int(np.argmax([s.similarity for s in scored]))
    best = scored[k]
    verdict = "pass" if best.similarity >= threshold.value else "fail"
    return Score(image_index, best.similarity, verdict, threshold.value, threshold.source, backend.name,
                 best.leakage, None if best.id_gain is None else round(best.id_gain, 4), scored, k)


def score_images(backend, images: list[np.ndarray], reference: np.ndarray, threshold: Threshold,
                 originals: list[np.ndarray] | None = None, count: str = "most-similar", on_item=None) -> list[Score]:
    """Score a batch; `originals` (the images before a swap) measure leakage of the replaced identity."""
    scores = []
    for i, rgb in enumerate(images):
        original = None
        if originals:
            src = originals[min(i, len(originals) - 1)]
            found = backend.faces(src, i)
            original = found[0].embedding if len(found) == 1 else (
                max(found, key=lambda f: f.area).embedding if found else None)
        scores.append(score_faces(backend, backend.faces(rgb, i), reference, threshold, i, original, count))
        if on_item:
            on_item(i + 1, len(images))
    return scores


def pass_rate(scores: list[Score]) -> float:
    return sum(s.passed for s in scores) / len(scores) if scores else 0.0


def pass_masks(shapes: list[tuple], scores: list[Score]) -> np.ndarray:
    """(N, H, W) float32, padded to the largest image: 1 over each image's counted face where it passed."""
    h, w = max(s[0] for s in shapes), max(s[1] for s in shapes)
    masks = np.zeros((len(shapes), h, w), np.float32)
    for i, s in enumerate(scores):
        if s.passed and s.counted is not None:
            x1, y1, x2, y2 = [max(0, int(round(v))) for v in s.faces[s.counted].bbox]
            masks[i, y1:y2, x1:x2] = 1.0
    return masks


@dataclass
class ScoredBatch:
    """What Identity Score shows and hands on for a batch."""
    scores: list[Score]
    previews: list[np.ndarray]   # each image with its faces boxed: green pass, red fail
    masks: np.ndarray            # pass_masks
    best: float


def score_batch(backend, threshold: Threshold, frames: list[np.ndarray], reference_photos=None, face_model=None,
                reference_face: str = "single", originals=None, count: str = "most-similar",
                on_item=None) -> ScoredBatch:
    """Score every output against the person, given as photos (embedded by this backend) or a face model of the
    same embedding space."""
    if face_model is not None:
        embedding.require_same(face_model.space, backend.space, "The face model",
                               f"Connect the person's photos to `reference` instead (the {backend.name} scorer "
                               f"embeds them itself), or build the face model with a {backend.name} face analyzer.")
        reference = face_model.embedding
    elif reference_photos:
        reference, _ = reference_embedding(backend, reference_photos, reference_face)
    else:
        raise BadInputError("Identity Score needs the person: connect `reference` photos or a `face_model`.")
    scores = score_images(backend, frames, reference, threshold, originals, count, on_item)
    return ScoredBatch(scores, [draw.scored(f, s) for f, s in zip(frames, scores)],
                       pass_masks([f.shape for f in frames], scores),
                       max((s.similarity for s in scores), default=0.0))
