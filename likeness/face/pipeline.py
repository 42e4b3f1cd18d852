"""Swap a batch: detect -> choose faces -> swap -> paste back -> (restore), with a report line per face."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import BadInputError, NoFaceError
from ..image import Patch
from . import embedding, select
from .embedding import SWAPPER_SPACE
from .analysis import FaceAnalyzer
from .parse import FaceParser
from .paste import color_match, paste_back, soft_mask
from .swap import Swapper
from .types import Face


@dataclass
class SwapOptions:
    target_indexes: str = "0"
    order: str = "large-small"
    gender: str = "any"
    target_reference: np.ndarray | None = None   # pick the target face most like this embedding ...
    reference_threshold: float = 0.4             # ... if it is at least this similar
    reference_space: str = SWAPPER_SPACE         # ... compared in this embedding space
    mapping: str = ""                            # "0->1, 1->0": source i onto target j
    pixel_boost: int = 1
    weight: float = 1.0
    erode: float = 0.08
    feather: float = 0.08
    color_match: float = 1.0
    keep_detail: float = 1.0
    on_no_face: str = "error"                    # error | skip (pass the image through)

    def __post_init__(self):
        self.mapping = (self.mapping or "").strip()
        for name in ("weight", "erode", "feather", "color_match", "keep_detail", "reference_threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise BadInputError(f"{name} must be a number, not {value!r}.")
        if self.on_no_face not in ("error", "skip"):
            raise BadInputError(f"on_no_face must be 'error' or 'skip', not {self.on_no_face!r}.")


@dataclass
class FaceReport:
    image: int
    target: int | None
    source: int | None
    status: str
    reason: str = ""
    bbox: list = field(default_factory=list)


@dataclass
class SwapResult:
    images: list[np.ndarray]
    patches: list[list[Patch]]       # per image: each paste's rectangle and mask; nothing outside them changed
    swapped: list[list[Face]]        # per image: the faces that were swapped (restore only these)
    reports: list[FaceReport]

    def report_dicts(self) -> list[dict]:
        return [asdict(r) for r in self.reports]


def _pairs(targets: list[select.Choice], sources: list[np.ndarray], mapping: str, faces: list[Face],
           opts: SwapOptions) -> list[tuple[int, Face, str]]:
    """(source index, target face, reason) for each swap in one image."""
    if mapping:
        ranked = select.filter_gender(select.order_faces(faces, opts.order), opts.gender)
        out = []
        for s, t in select.parse_mapping(mapping):
            if s >= len(sources):
                raise BadInputError(f"Mapping {s}->{t}: there are only {len(sources)} source face(s).")
            if t >= len(ranked):
                raise BadInputError(f"Mapping {s}->{t}: only {len(ranked)} target face(s) were found.")
            out.append((s, ranked[t], f"mapping {s}->{t}"))
        return out
    return [(k % len(sources), c.face, c.reason) for k, c in enumerate(targets)]


def source_identities(analyzer: FaceAnalyzer, source_rgb: np.ndarray | None, face_model, indexes: str = "0",
                      order: str = "large-small") -> tuple[list[np.ndarray], str | None]:
    """The identities to swap in and their space: a face model's, or the chosen faces of a source photo."""
    if face_model is not None:
        return [face_model.embedding], face_model.space
    if source_rgb is None:
        raise BadInputError("Face Swap needs a source: connect source_image or face_model.")
    if analyzer.space is None:
        raise BadInputError("The face analyzer's pack has no recogniser, so source_image gives no identity: choose "
                            "the buffalo_l pack in Face Analyzer (python install.py --workflow faceswap).")
    faces = analyzer.analyze(source_rgb)
    if not faces:
        raise NoFaceError("source_image")
    return [c.face.embedding for c in select.select(faces, indexes, order)], analyzer.space


def swap_batch(images: list[np.ndarray], analyzer: FaceAnalyzer, swapper: Swapper, sources: list[np.ndarray],
               opts: SwapOptions, parser: FaceParser | None = None, on_face=None, check=None,
               source_space: str = SWAPPER_SPACE, inplace: bool = False) -> SwapResult:
    """Swap `sources` (embeddings of `source_space`) into every image. `on_face(i, n)` is called after each face,
    `check()` (ComfyUI's interrupt test) before each image's detection. `inplace` pastes into `images` themselves
    (the caller's own copies) instead of copying each frame first."""
    if not sources:
        raise BadInputError("No source identity: give a source image with a face, or a face model.")
    embedding.require_same(source_space, SWAPPER_SPACE, "The source identity",
                           "Face swappers are driven by buffalo_l's ArcFace: choose the buffalo_l pack in Face "
                           "Analyzer, or a face model built with it.")
    latents = [swapper.latent(s) for s in sources]
    result = SwapResult([], [], [], [])
    plans = []
    for i, rgb in enumerate(images):
        if check:
            check()
        faces = analyzer.analyze(rgb, i)
        if not faces:
            if opts.on_no_face != "skip":
                raise NoFaceError("the target image", i, "Choose on_no_face = skip to pass such images through.")
            result.reports.append(FaceReport(i, None, None, "no face", "passed through unchanged"))
            plans.append((rgb, [], []))
            continue
        chosen = select.select(faces, opts.target_indexes, opts.order, opts.gender, opts.target_reference,
                               opts.reference_threshold, opts.reference_space) if not opts.mapping else []
        if not chosen and not opts.mapping:
            why = "no face reached the reference threshold" if opts.target_reference is not None else "no face chosen"
            if opts.on_no_face != "skip":
                raise NoFaceError("the target image", i, f"({why}) Lower the threshold or pick faces by index.")
            result.reports.append(FaceReport(i, None, None, "skipped", why))
        plans.append((rgb, _pairs(chosen, sources, opts.mapping, faces, opts), select.order_faces(faces, opts.order)))

    total = sum(len(p) for _, p, _ in plans) or 1
    done = 0
    for i, (rgb, pairs, ranked) in enumerate(plans):
        out = rgb if inplace else rgb.copy()
        patches, swapped = [], []
        for s, face, reason in pairs:
            latent = latents[s]
            if opts.weight != 1.0:  # blends toward the target's own identity: needs it in the swapper's space
                fix = "Choose the buffalo_l pack in Face Analyzer, or set weight to 1."
                if face.space is None:
                    raise BadInputError(f"weight != 1 blends in the target face's identity, but the face analyzer "
                                        f"has no recogniser. {fix}")
                embedding.require_same(face.space, SWAPPER_SPACE, "weight != 1: the target face", fix)
                latent = swapper.latent(sources[s], face.embedding, opts.weight)
            new, old, matrix = swapper.swap_face(out, face, latent, opts.pixel_boost)
            mask = soft_mask(new.shape[0], opts.erode, opts.feather)
            if parser is not None:
                mask = np.minimum(mask, parser.face_mask(out, face.kps, new.shape[0]))
            new = color_match(new, old, mask, opts.color_match)
            out, m, region = paste_back(out, new, old, matrix, mask, opts.keep_detail, inplace=True)
            patches.append((region, m))
            swapped.append(face)
            target_index = next(k for k, f in enumerate(ranked) if f is face)
            result.reports.append(FaceReport(i, target_index, s, "swapped", reason,
                                             [round(float(v), 1) for v in face.bbox]))
            done += 1
            if on_face:
                on_face(done, total)
        result.images.append(out)
        result.patches.append(patches)
        result.swapped.append(swapped)
    return result


def swap_images(images: list[np.ndarray], analyzer: FaceAnalyzer, swapper: Swapper, source_rgb: np.ndarray | None,
                face_model, source_indexes: str, opts: SwapOptions, parser: FaceParser | None = None, on_face=None,
                check=None, inplace: bool = False) -> SwapResult:
    """Face Swap in one call: the identities of the source photo's chosen faces (or of a face model) onto every
    image."""
    sources, space = source_identities(analyzer, source_rgb, face_model, source_indexes, opts.order)
    return swap_batch(images, analyzer, swapper, sources, opts, parser, on_face, check, space, inplace)
