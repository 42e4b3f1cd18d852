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


def contact_sheet(images: list[np.ndarray], labels: list[str], passed: list[bool], thumb: int = 256,
                  columns: int | None = None) -> np.ndarray:
    """Thumbnails in a grid, each labelled below, with a red border on a fail (the look of Identity Grid)."""
    columns = columns or max(1, min(len(images), int(np.ceil(np.sqrt(len(images))))))
    rows = max(1, -(-len(images) // columns))
    pad, text_h = 6, 22
    cell_w, cell_h = thumb + 2 * pad, thumb + 2 * pad + text_h
    sheet = np.full((rows * cell_h, columns * cell_w, 3), 32, np.uint8)
    for k, (img, label, ok) in enumerate(zip(images, labels, passed)):
        r, c = divmod(k, columns)
        y, x = r * cell_h, c * cell_w
        scale = thumb / max(img.shape[:2])
        small = cv2.resize(img, (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
        h, w = small.shape[:2]
        oy, ox = y + pad + (thumb - h) // 2, x + pad + (thumb - w) // 2
        if not ok:
            sheet[oy - 4:oy + h + 4, ox - 4:ox + w + 4] = RED
        sheet[oy:oy + h, ox:ox + w] = small
        cv2.putText(sheet, label[:40], (x + pad, y + cell_h - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (235, 235, 235), 1)
    return sheet
