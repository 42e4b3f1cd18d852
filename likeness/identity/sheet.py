"""The sweep's contact sheet for a pair of axes: one block per (a, b) cell holding every image of that cell.

Rows are the values of one axis, columns those of the other (the title says which); each block is captioned with
its pass count ("3/4 pass") and holds its images in seed-then-file order, each drawn by `face.draw.tile` (the
Identity Grid's look): the score below, a red frame on a fail, a thin green one on a pass, a grey square naming the
reason where an item has no image. The sheet stays within MAX_SIDE pixels a side: thumbnails shrink (down to
MIN_THUMB), the axes may swap and the columns wrap into bands that each repeat the headers (whatever keeps the
thumbnails largest), then a cell shows fewer images and a "+N more" square, and only past that are trailing values
left off (the footer says how many).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..face import draw
from .matrix import SCORED, TARGET, image_order, stats, values

MAX_SIDE = 4096
MAX_THUMB, MIN_THUMB = 192, 64
MAX_PER_CELL = 16      # images per cell before the "+N more" square
MIN_PER_CELL = 4       # what a cell keeps (if it has them) before values are left off instead
GAP, LINE_H, MIN_WIDTH = 10, 18, 520
TITLE_H = 2 * LINE_H + GAP
BLOCK = (46, 46, 46)   # a cell's ground, a shade off the sheet's, so neighbouring cells stay apart


@dataclass
class Layout:
    """Where everything landed: `tiles` holds one dict per drawn tile (a, b, file, verdict, similarity, rect =
    the thumbnail's (x0, y0, x1, y1), frame not included; `more` > 0 on a "+N more" square)."""
    thumb: int
    per_cell: int
    transposed: bool = False                         # rows are b's values, columns a's
    bands: int = 1                                   # the columns wrapped into this many bands, stacked
    tiles: list[dict] = field(default_factory=list)
    blocks: dict = field(default_factory=dict)      # (a value, b value) -> the block's (x0, y0, x1, y1)
    hidden: tuple[int, int] = (0, 0)                 # values of a, of b left off the sheet


def _label(r: dict, thumb: int) -> str:
    """The score ("0.62"; "no face"), and the seed where it fits."""
    if r["verdict"] == "no face":
        text = "no face"
    else:
        text = f"{r['similarity']:.2f}" if r["verdict"] in SCORED and r.get("similarity") is not None else r["verdict"]
    seeded = f"{text}  seed {r['seed']}" if str(r.get("seed", "")) else text
    return seeded if draw.text_width(seeded) <= thumb else text


def _caption_colour(rate: float | None) -> tuple[int, int, int]:
    if rate is None:
        return draw.DIM
    return (90, 210, 90) if rate >= TARGET else (240, 170, 40) if rate >= TARGET - 0.2 else (255, 110, 110)


def _load(out: Path, rel: str) -> tuple[np.ndarray | None, str]:
    from PIL import Image

    try:
        with Image.open(out / rel) as im:
            return np.array(im.convert("RGB")), ""
    except FileNotFoundError:
        return None, "missing file"
    except OSError:
        return None, "unreadable file"


@dataclass
class _Plan:
    """Measurements: `rows` x `per_band` blocks a band, `bands` bands stacked; k tiles a block in q columns."""
    rows: int
    per_band: int
    bands: int
    k: int
    q: int
    thumb: int
    row_head: int
    col_head: int
    caption: int
    footer: int = 0

    def __post_init__(self):
        self.p = max(1, math.ceil(self.k / self.q))
        self.tile_w, self.tile_h = draw.tile_size(self.thumb)
        self.block_w, self.block_h = self.q * self.tile_w, self.caption + self.p * self.tile_h
        self.band_h = self.col_head + GAP + self.rows * (self.block_h + GAP)
        self.width = max(MIN_WIDTH, self.row_head + self.per_band * (self.block_w + GAP) + GAP)
        self.height = TITLE_H + self.bands * self.band_h + self.footer

    def band_top(self, band: int) -> int:
        return TITLE_H + band * self.band_h

    def block(self, r: int, c: int) -> tuple[int, int]:
        band, c = divmod(c, self.per_band)
        return (self.row_head + GAP + c * (self.block_w + GAP),
                self.band_top(band) + self.col_head + GAP + r * (self.block_h + GAP))


def _largest(n_rows: int | None, n_cols: int, k: int, row_head: int, col_head: int, caption: int) -> _Plan:
    """The plan with the largest thumbnail within MAX_SIDE (at most MAX_THUMB), over the block shapes and the
    ways to wrap: n_rows x n_cols blocks with the columns in bands; n_rows None: n_cols blocks flowing into rows."""
    pad_w, pad_h = 2 * draw.PAD, 2 * draw.PAD + draw.TEXT_H
    if n_rows is None:  # one axis: any number of blocks a row, one band
        shapes = [(math.ceil(n_cols / c), c, 1) for c in range(1, n_cols + 1)]
    else:
        shapes = list(dict.fromkeys((n_rows, math.ceil(n_cols / b), math.ceil(n_cols / math.ceil(n_cols / b)))
                                    for b in range(1, n_cols + 1)))
    best, best_key = None, None
    for q in range(1, k + 1):
        p = math.ceil(k / q)
        for rows, per_band, bands in shapes:
            by_w = ((MAX_SIDE - row_head - GAP) // per_band - GAP) // q - pad_w
            by_h = (((MAX_SIDE - TITLE_H) // bands - col_head - GAP) // rows - GAP - caption) // p - pad_h
            thumb = min(MAX_THUMB, by_w, by_h)
            plan = _Plan(rows, per_band, bands, k, q, max(1, thumb), row_head, col_head, caption)
            # largest thumbnails; then fewest bands, fewest empty slots, the shape nearest 4:3
            key = (thumb, -bands, -(q * p - k), -abs(math.log(plan.width / plan.height / (4 / 3))))
            if best_key is None or key > best_key:
                best, best_key = plan, key
    return best


def pair_sheet(table: list[dict], out: Path, a: str, b: str | None) -> tuple[np.ndarray, Layout]:
    """The contact sheet of axes a x b (b None: one axis, its values' blocks flowing into a square-ish grid)."""
    single = b is None
    a_values, b_values = values(table, a), (values(table, b) if b else [None])
    keys = [(va, None) for va in a_values] if single else [(va, vb) for va in a_values for vb in b_values]
    cells = {key: [] for key in keys}
    for r in table:  # one pass (a sweep of 10 000 images would spend minutes in group() per cell)
        key = (str(r[a]), None if single else str(r[b])) if a in r and (single or b in r) else None
        if key in cells:
            cells[key].append(r)
    for items in cells.values():
        items.sort(key=image_order)
    n_max = max([len(g) for g in cells.values()] + [1])
    caption = LINE_H * (2 if single else 1) + 6

    def head(vals):
        return min(240, max([draw.text_width(draw.fit_text(v, 10_000)) for v in vals] + [0]) + 16)

    def fit(k: int, transposed: bool) -> _Plan:
        if single:
            return _largest(None, max(1, len(a_values)), k, 0, 0, caption)
        rows, cols = (b_values, a_values) if transposed else (a_values, b_values)
        return _largest(max(1, len(rows)), max(1, len(cols)), k, head(rows), LINE_H + 8, caption)

    # the largest thumbnail that fits, either way round; then fewer images per cell; then fewer values
    k = min(n_max, MAX_PER_CELL)
    while True:
        plan, transposed = max(((fit(k, t), t) for t in ((False,) if single else (False, True))),
                               key=lambda pt: (pt[0].thumb, -pt[0].bands, not pt[1]))
        if plan.thumb >= MIN_THUMB or k <= min(n_max, MIN_PER_CELL):
            break
        k -= 1
    rows_v, cols_v = (b_values, a_values) if transposed else (a_values, b_values)
    shown_rows, shown_cols = (1, len(a_values)) if single else (len(rows_v), len(cols_v))
    if plan.thumb < MIN_THUMB:  # leave trailing values off, the sheet as it is laid out unwrapped
        transposed, rows_v, cols_v = False, a_values, b_values
        probe = _Plan(1, 1, 1, k, plan.q, MIN_THUMB, 0 if single else head(a_values), plan.col_head, caption,
                      LINE_H + 6)
        per_row = max(1, (MAX_SIDE - probe.row_head - GAP) // (probe.block_w + GAP))
        fit_rows = max(1, (MAX_SIDE - TITLE_H - probe.footer - probe.col_head - GAP) // (probe.block_h + GAP))
        if single:
            shown_rows, shown_cols = 1, min(len(a_values), per_row * fit_rows)
            plan = _Plan(min(fit_rows, math.ceil(shown_cols / per_row)), per_row, 1, k, plan.q, MIN_THUMB, 0, 0,
                         caption, probe.footer)
        else:
            shown_rows, shown_cols = min(len(a_values), fit_rows), min(len(b_values), per_row)
            plan = _Plan(shown_rows, shown_cols, 1, k, plan.q, MIN_THUMB, probe.row_head, probe.col_head, caption,
                         probe.footer)
    thumb = plan.thumb
    if single:  # blocks flow left to right, row by row
        places = {key: divmod(i, plan.per_band) for i, key in enumerate(keys[:shown_cols])}
    else:
        row_of, col_of = ({v: i for i, v in enumerate(vals)} for vals in (rows_v, cols_v))
        places = {}
        for key in keys:
            r, c = (row_of[key[1]], col_of[key[0]]) if transposed else (row_of[key[0]], col_of[key[1]])
            if r < shown_rows and c < shown_cols:
                places[key] = (r, c)
    canvas = np.full((plan.height, plan.width, 3), draw.BACKDROP, np.uint8)
    layout = Layout(thumb, k, transposed, plan.bands)

    rows_axis, cols_axis = (b, a) if transposed else (a, b)
    title = f"{a}: {len(a_values)} value(s)" if single else f"rows: {rows_axis}    columns: {cols_axis}"
    draw.put_text(canvas, title, GAP, LINE_H, plan.width - 2 * GAP, scale=0.5)
    draw.put_text(canvas, "score under each image; red frame: lost the person, thin green: kept", GAP,
                  2 * LINE_H + 2, plan.width - 2 * GAP, draw.DIM)
    if not single:
        for c, vc in enumerate(cols_v[:shown_cols]):
            x, y = plan.block(0, c)
            draw.put_text(canvas, vc, x + draw.PAD, y - GAP - 8, plan.block_w - draw.PAD)
        for band in range(plan.bands):
            for r, vr in enumerate(rows_v[:shown_rows]):
                draw.put_text(canvas, vr, GAP, plan.block(r, band * plan.per_band)[1] + LINE_H - 2,
                              plan.row_head - GAP)

    for key, (r, c) in places.items():
        items = cells[key]
        x, y = plan.block(r, c)
        layout.blocks[key] = (x, y, x + plan.block_w, y + plan.block_h)
        canvas[y:y + plan.block_h, x:x + plan.block_w] = BLOCK
        s = stats(items)
        count = (f"{s['passed']}/{s['n']} pass" if s["n"] else "no image") + (f", {s['failed']} failed"
                                                                               if s["failed"] else "")
        if single:
            draw.put_text(canvas, key[0], x + draw.PAD, y + LINE_H - 2, plan.block_w - draw.PAD)
        draw.put_text(canvas, count, x + draw.PAD, y + caption - 8, plan.block_w - draw.PAD,
                      _caption_colour(s["rate"]))
        shown = items if len(items) <= k else items[:k - 1]
        spots = [(x + (t % plan.q) * plan.tile_w, y + caption + (t // plan.q) * plan.tile_h) for t in range(k)]
        for (tx, ty), item in zip(spots, shown):
            verdict = item["verdict"]
            image, why = _load(out, item["file"]) if item.get("file") else (None, "")
            if image is None:  # the item failed to run, was not scored, or its file is gone
                rect = draw.tile(canvas, tx, ty, thumb, None, why or verdict, "",
                                 item.get("error") or why or verdict)
            else:
                frame = "pass" if verdict == "pass" else "fail" if verdict in SCORED else ""
                rect = draw.tile(canvas, tx, ty, thumb, image, _label(item, thumb), frame)
            layout.tiles.append({"a": key[0], "b": key[1], "file": item.get("file", ""), "verdict": verdict,
                                 "similarity": item.get("similarity"), "image": image is not None, "rect": rect,
                                 "more": 0})
        if len(items) > k:
            more = len(items) - len(shown)
            rect = draw.tile(canvas, *spots[len(shown)], thumb, None, "see sweep.html", "", f"+{more} more")
            layout.tiles.append({"a": key[0], "b": key[1], "file": "", "verdict": "", "similarity": None,
                                 "image": False, "rect": rect, "more": more})

    if single:
        layout.hidden = (len(a_values) - len(places), 0)
    else:
        layout.hidden = (len(a_values) - len({key[0] for key in places}),
                         len(b_values) - len({key[1] for key in places}))
    if plan.footer:
        left = [f"{n} more value(s) of {axis}" for n, axis in zip(layout.hidden, (a, b)) if n]
        draw.put_text(canvas, "not shown: " + ", ".join(left) + " (see sweep.html)", GAP, plan.height - 10,
                      plan.width - 2 * GAP, (240, 170, 40))
    return canvas, layout
