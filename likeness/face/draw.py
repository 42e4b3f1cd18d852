"""Pictures for people: numbered face boxes, score labels, and contact sheets of scored images."""
from __future__ import annotations

import cv2
import numpy as np

GREEN, RED, BLUE = (0, 200, 0), (220, 0, 0), (255, 0, 0)


def _line(rgb: np.ndarray) -> int:
    return max(2, round(max(rgb.shape[:2]) / 400))  # visible on a phone photo and on 8K alike


def boxes(rgb: np.ndarray, items, keypoints=(), note: str = "") -> np.ndarray:
    """A copy of `rgb` with each (bbox, label, colour, bold) drawn, keypoints as dots, and a corner note."""
    out, t = rgb.copy(), _line(rgb)
    for bbox, label, colour, bold in items:
        x1, y1, x2, y2 = [int(v) for v in bbox]
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, t + int(bold))
        cv2.putText(out, label, (x1, max(12, y1 - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * t, colour, t)
    for kps in keypoints:
        for x, y in kps:
            cv2.circle(out, (int(x), int(y)), t + 1, BLUE, -1)
    if note:
        cv2.putText(out, note, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, RED, 2)
    return out


def detections(rgb: np.ndarray, faces) -> np.ndarray:
    """Faces numbered in the given order, with their 5 keypoints (Detect Faces)."""
    return boxes(rgb, [(f.bbox, str(i), GREEN, False) for i, f in enumerate(faces)], [f.kps for f in faces])


def scored(rgb: np.ndarray, score) -> np.ndarray:
    """Each face's similarity, green where it passes and red where it fails; the counted face bold."""
    items = [(f.bbox, f"{f.similarity:.2f}", GREEN if f.similarity >= score.threshold else RED, k == score.counted)
             for k, f in enumerate(score.faces)]
    return boxes(rgb, items, note="" if score.faces else "no face")


# One scored thumbnail (`tile`): the look of the Identity Grid node, `likeness score`'s and the sweep's sheets
PAD, TEXT_H, BORDER = 6, 22, 4      # around each thumbnail; the label's strip below it; the verdict frame
FONT, FONT_SCALE = cv2.FONT_HERSHEY_SIMPLEX, 0.45
INK, DIM, BACKDROP, PLACEHOLDER = (235, 235, 235), (150, 150, 150), (32, 32, 32), (85, 85, 85)
PASS_FRAME = 2                      # thinner than the fail frame: red vs green is not the only difference


def text_width(text: str, scale: float = FONT_SCALE, thickness: int = 1) -> int:
    return cv2.getTextSize(text, FONT, scale, thickness)[0][0]


def fit_text(text: str, width: int, scale: float = FONT_SCALE) -> str:
    """`text` cut (with '..') to `width` pixels; what the font cannot draw becomes '?'."""
    text = "".join(c if 32 <= ord(c) < 127 else "?" for c in " ".join(str(text).split()))
    if text_width(text, scale) <= width:
        return text
    while text and text_width(text + "..", scale) > width:
        text = text[:-1]
    return text + ".." if text else ""


def put_text(canvas: np.ndarray, text: str, x: int, y: int, width: int, colour=INK, scale: float = FONT_SCALE,
             thickness: int = 1) -> None:
    """`text` with its baseline at y, cut to `width` pixels."""
    cv2.putText(canvas, fit_text(text, width, scale), (x, y), FONT, scale, colour, thickness, cv2.LINE_AA)


def wrap(text: str, width: int, lines: int, scale: float = FONT_SCALE) -> list[str]:
    """Up to `lines` lines of `text`, each within `width` pixels (the last cut with '..')."""
    words, out = " ".join(str(text).split()).split(" "), [""]
    for word in words:
        line = (out[-1] + " " + word).strip()
        if text_width(line, scale) <= width or not out[-1]:
            out[-1] = line
        else:
            out.append(word)
    if len(out) > lines:
        out = out[:lines - 1] + [" ".join(out[lines - 1:])]
    return [fit_text(line, width, scale) for line in out]


def tile_size(thumb: int) -> tuple[int, int]:
    """(width, height) of one tile: the thumbnail, its padding and its label strip."""
    return thumb + 2 * PAD, thumb + 2 * PAD + TEXT_H


def tile(canvas: np.ndarray, x: int, y: int, thumb: int, image: np.ndarray | None, label: str,
         verdict: str = "", note: str = "") -> tuple[int, int, int, int]:
    """One tile at (x, y) of `canvas`: the image scaled to fit a thumb x thumb square, framed red on 'fail' and
    thinly green on 'pass' (no frame otherwise), `label` below it. No image: a grey square with `note` inside.
    Returns the thumbnail's rectangle (x0, y0, x1, y1), frame not included."""
    if image is None:
        h = w = thumb
        oy, ox = y + PAD, x + PAD
        canvas[oy:oy + h, ox:ox + w] = PLACEHOLDER
        lines = wrap(note, thumb - 8, max(1, (thumb - 8) // 16))
        for k, line in enumerate(lines):
            cv2.putText(canvas, line, (ox + 4, oy + (thumb - 16 * len(lines)) // 2 + 16 * k + 12), FONT, FONT_SCALE,
                        INK, 1, cv2.LINE_AA)
    else:
        scale = thumb / max(image.shape[:2])
        small = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
        h, w = small.shape[:2]
        oy, ox = y + PAD + (thumb - h) // 2, x + PAD + (thumb - w) // 2
        frame = {"fail": (RED, BORDER), "pass": (GREEN, PASS_FRAME)}.get(verdict)
        if frame:
            colour, t = frame
            canvas[oy - t:oy + h + t, ox - t:ox + w + t] = colour
        canvas[oy:oy + h, ox:ox + w] = small
    put_text(canvas, label, x + PAD, y + thumb + 2 * PAD + TEXT_H - 7, thumb)
    return ox, oy, ox + w, oy + h


def contact_sheet_layout(images: list[np.ndarray], labels: list[str], passed: list[bool], thumb: int = 256,
                         columns: int | None = None) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """The contact sheet and each thumbnail's rectangle (x0, y0, x1, y1)."""
    columns = columns or max(1, min(len(images), int(np.ceil(np.sqrt(len(images))))))
    rows = max(1, -(-len(images) // columns))
    cell_w, cell_h = tile_size(thumb)
    sheet = np.full((rows * cell_h, columns * cell_w, 3), BACKDROP, np.uint8)
    rects = []
    for k, (img, label, ok) in enumerate(zip(images, labels, passed)):
        r, c = divmod(k, columns)
        rects.append(tile(sheet, c * cell_w, r * cell_h, thumb, img, label, "pass" if ok else "fail"))
    return sheet, rects


def contact_sheet(images: list[np.ndarray], labels: list[str], passed: list[bool], thumb: int = 256,
                  columns: int | None = None) -> np.ndarray:
    """Thumbnails in a grid, each labelled below, framed red on a fail (Identity Grid, `likeness score`)."""
    return contact_sheet_layout(images, labels, passed, thumb, columns)[0]
