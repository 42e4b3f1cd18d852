"""A sweep's matrix as its user meets it, from synthetic rows (no workflow runs): sweep.html in headless Chromium, the
pair contact sheets' pixels, and the Identity Grid node drawing the same thumbnails as the sheets."""
from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from PIL import Image

from browser import CHROMIUM_FLAGS, need_chromium
from likeness.face import draw
from likeness.identity import matrix, sheet

LORA, PROMPT = "LoRA Stack.strength_1", "Prompt.text"
AXES = [LORA, PROMPT]
DARK = "The person from picture 1 stands in a dim temple lit by a few candles, full body, dark scene"
BRIGHT = "The person from picture 1 walks through a sunlit market at noon, full body, bright even daylight"
SIZE = (160, 120)  # h, w: every synthetic output the same size (the Identity Grid takes them as one batch)


def picture(k: int) -> np.ndarray:
    """Image k: its own flat colour under a seeded texture, so a thumbnail can be told from its neighbours."""
    rng = np.random.default_rng(k)
    base = np.array([(37 * k) % 200 + 30, (91 * k) % 200 + 30, (53 * k + 100) % 200 + 30])
    return np.clip(base + rng.integers(-20, 21, (*SIZE, 3)), 0, 255).astype(np.uint8)


def sweep_table(out: Path, cells: dict, failed: dict | None = None) -> list[dict]:
    """Rows as matrix.rows makes them: cells = {(lora, prompt): [verdict per seed]}; failed = {(lora, prompt):
    error} adds one item per cell that failed to run. Each image lands where the runner puts it (itemNNNNN/)."""
    table, n = [], 0
    for (lora, prompt), verdicts in cells.items():
        for k, verdict in enumerate(verdicts):
            n += 1
            rel = f"Likeness/item{n:05d}/out_00001_.png"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(picture(n)).save(out / rel)
            table.append({LORA: lora, PROMPT: prompt, "seed": str(9 + k), "item": n, "verdict": verdict,
                          "similarity": {"pass": 0.71, "fail": 0.18, "no face": 0.0}[verdict], "leakage": None,
                          "file": rel, "error": ""})
    for (lora, prompt), error in (failed or {}).items():
        n += 1
        table.append({LORA: lora, PROMPT: prompt, "seed": "99", "item": n, "verdict": "failed", "similarity": None,
                      "leakage": None, "file": "", "error": error})
    return table


# -- sweep.html in a browser --------------------------------------------------------------------------------------

@pytest.fixture
def chromium(tmp_path):
    need_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def served():
    """serve(folder) -> the URL of that folder on a loopback HTTP server (the page as a web server would give it)."""
    servers = []

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    def serve(folder: Path) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def path_of(url: str, root: Path, base: str | None = None) -> Path:
    """The file a URL of the page names: a file:// URL, or one under `base` served from `root`."""
    parsed = urlparse(url)
    if base and url.startswith(base):
        return root / unquote(url[len(base):])
    assert parsed.scheme == "file", url
    return Path(unquote(parsed.path))


def rgb(css: str) -> tuple[int, ...]:
    return tuple(int(float(v)) for v in css[css.index("(") + 1:css.index(")")].split(",")[:3])


def contrast(fg: tuple[int, ...], bg: tuple[int, ...]) -> float:
    """WCAG contrast ratio of two sRGB colours."""
    def lum(c):
        lin = [(v / 255) / 12.92 if v / 255 <= 0.04045 else ((v / 255 + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((lum(fg), lum(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


PAIR_CELLS = """
const table = [...document.querySelectorAll('h2')].find(h => h.textContent.includes('×'))
    .nextElementSibling.querySelector('table');
const heads = [...table.rows[0].cells].slice(1).map(c => c.textContent.trim());
const cells = [];
for (const row of [...table.rows].slice(1)) {
  const a = row.cells[0].textContent.trim();
  [...row.cells].slice(1).forEach((td, j) => {
    const rate = td.querySelector('.rate');
    cells.push({a, b: heads[j], text: td.innerText, rate: rate.textContent,
                background: getComputedStyle(td).backgroundColor, colour: getComputedStyle(rate).color,
                marks: [...td.querySelectorAll('a')].map(l => ({href: l.href, colour: getComputedStyle(l).color}))});
  });
}
return cells;
"""


def severe(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_sweep_html_in_a_browser_shows_the_rates_coloured_links_every_image_and_loads_nothing_remote(
        chromium, served, tmp_path):
    out = tmp_path / "sweep"
    table = sweep_table(out, {("0.5", DARK): ["fail", "fail"], ("1.0", DARK): ["pass", "pass"],
                              ("0.5", BRIGHT): ["pass", "no face"], ("1.0", BRIGHT): ["pass"]},
                        failed={("1.0", BRIGHT): "Face Swap: the image has only 1 face"})
    matrix.write(table, AXES, out)
    chromium.get((out / "sweep.html").as_uri())  # as its user opens it: the file, from disk
    chromium.set_window_size(1600, max(1000, chromium.execute_script("return document.body.scrollHeight") + 100))
    chromium.save_screenshot(str(tmp_path / "sweep_html.png"))
    assert not severe(chromium)
    assert chromium.title == "Sweep: identity pass rate"

    cells = {(c["a"], c["b"]): c for c in chromium.execute_script(PAIR_CELLS)}
    assert set(cells) == {(a, b) for a in ("0.5", "1.0") for b in (DARK, BRIGHT)}
    assert cells["1.0", DARK]["rate"] == "2/2 pass (100%)" and cells["0.5", DARK]["rate"] == "0/2 pass (0%)"
    assert cells["0.5", BRIGHT]["rate"] == "1/2 pass (50%)"  # "no face" counts as not kept
    assert cells["1.0", BRIGHT]["rate"] == "1/1 pass (100%)" and "1 failed to run" in cells["1.0", BRIGHT]["text"]
    full, none = rgb(cells["1.0", DARK]["background"]), rgb(cells["0.5", DARK]["background"])
    assert full != none and full[1] > full[0] and none[0] > none[1], (full, none)  # green at 100 %, red at 0 %
    for c in cells.values():  # every figure and mark readable on its cell's colour
        assert contrast(rgb(c["colour"]), rgb(c["background"])) >= 4.5, c
        for mark in c["marks"]:
            assert contrast(rgb(mark["colour"]), rgb(c["background"])) >= 4.5, (c["a"], c["b"], mark)

    # every cell links exactly its own images, and each link is a file beside the page
    for (a, b), c in cells.items():
        expected = {(out / r["file"]).resolve() for r in table if (r[LORA], r[PROMPT]) == (a, b) and r["file"]}
        linked = {path_of(m["href"], out).resolve() for m in c["marks"]}
        assert linked == expected, (a, b)
        assert all(p.is_file() for p in linked)
    # no horizontal scrolling, of the page or of a table: long prompt values wrap
    assert chromium.execute_script("return document.documentElement.scrollWidth <= window.innerWidth && "
                                   "[...document.querySelectorAll('table')].every(t => "
                                   "t.getBoundingClientRect().right <= window.innerWidth)")
    # the contact sheet is shown, and loaded
    sheets = chromium.execute_script("return [...document.images].map(i => [i.src, i.complete && i.naturalWidth])")
    assert [path_of(src, out).name for src, _ in sheets] == ["sweep_lora-stack-strength-1_x_prompt-text.png"]
    assert all(width > 0 for _, width in sheets), sheets
    remote = chromium.execute_script(
        "return [...document.querySelectorAll('[src],[href]')].map(e => e.getAttribute('src') || e.getAttribute("
        "'href')).filter(u => /^([a-z]+:)?\\/\\//i.test(u))")
    assert remote == []  # every reference is relative: the folder can move
    assert chromium.execute_script("return document.querySelectorAll('script,link,iframe,object,embed').length") == 0

    # following a mark opens the image in the browser
    for mark in (cells["1.0", DARK]["marks"][0], cells["0.5", BRIGHT]["marks"][-1]):
        chromium.get(mark["href"])
        size = chromium.execute_script("const i = document.images[0]; return i && i.complete && "
                                       "[i.naturalWidth, i.naturalHeight]")
        assert size == [SIZE[1], SIZE[0]], mark
    assert not severe(chromium)

    # served over HTTP (Chromium keeps no resource timing for file://): every request goes to the page's folder
    base = served(out)
    chromium.get(base + "sweep.html")
    chromium.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    assert chromium.execute_script("return [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    loaded = [url for url in chromium.execute_script("return performance.getEntriesByType('resource')"
                                                     ".map(e => e.name)") if url != base + "favicon.ico"]
    assert loaded and all(url.startswith(base) and path_of(url, out, base).is_file() for url in loaded), loaded
    assert not [e for e in severe(chromium) if "favicon.ico" not in e["message"]]  # the browser's ask, not the page's


# -- the pair contact sheet ---------------------------------------------------------------------------------------

RED = np.array(draw.RED)


def ring(img: np.ndarray, rect, width: int = draw.BORDER) -> np.ndarray:
    """The pixels of a `width`-wide frame just outside `rect` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = rect
    mask = np.zeros(img.shape[:2], bool)
    mask[y0 - width:y1 + width, x0 - width:x1 + width] = True
    mask[y0:y1, x0:x1] = False
    return img[mask]


def red_share(pixels: np.ndarray) -> float:
    return float(np.mean(np.all(np.abs(pixels.astype(int) - RED) <= 2, axis=-1)))


def crop(img: np.ndarray, rect, grow: int = 0) -> np.ndarray:
    x0, y0, x1, y1 = rect
    return img[y0 - grow:y1 + grow, x0 - grow:x1 + grow].astype(int)


def apart(img: np.ndarray, rects) -> bool:
    """Every rectangle inside the image, none overlapping another."""
    taken = np.zeros(img.shape[:2], np.int32)
    for x0, y0, x1, y1 in rects:
        assert 0 <= x0 < x1 <= img.shape[1] and 0 <= y0 < y1 <= img.shape[0], (x0, y0, x1, y1)
        taken[y0:y1, x0:x1] += 1
    return taken.max() == 1


def small_sweep(out: Path) -> list[dict]:
    """2 x 2 cells x 2 seeds (9 and 10: a string sort would put 10 first); one image fails, one cell is all pass."""
    return sweep_table(out, {("0.5", DARK): ["pass", "fail"], ("0.5", BRIGHT): ["pass", "pass"],
                             ("1.0", DARK): ["pass", "pass"], ("1.0", BRIGHT): ["pass", "pass"]})


def test_the_pair_sheet_holds_every_image_of_every_cell_labelled_and_framed(tmp_path):
    out = tmp_path / "sweep"
    table = small_sweep(out)
    matrix.write(table, AXES, out)
    written = np.array(Image.open(out / "sweep_lora-stack-strength-1_x_prompt-text.png"))
    img, layout = sheet.pair_sheet(table, out, LORA, PROMPT)
    assert np.array_equal(written, img)  # what the sweep writes is this drawing
    Image.fromarray(img).save(tmp_path / "pair_sheet.png")

    tiles = [t for t in layout.tiles if t["image"]]
    assert len(tiles) == len(layout.tiles) == 8
    assert sorted(t["file"] for t in tiles) == sorted(r["file"] for r in table)
    for t in tiles:  # each thumbnail shows its own image, at the layout's size
        x0, y0, x1, y1 = t["rect"]
        assert max(x1 - x0, y1 - y0) == layout.thumb
        source = np.array(Image.open(out / t["file"])).reshape(-1, 3).mean(0)
        assert np.abs(crop(img, t["rect"]).reshape(-1, 3).mean(0) - source).max() < 3, t["file"]
    for a in ("0.5", "1.0"):  # a block per cell, rows = strength, columns = prompt; in a cell seed 9 before 10
        for b in (DARK, BRIGHT):
            bx0, by0, bx1, by1 = layout.blocks[a, b]
            mine = [t for t in tiles if (t["a"], t["b"]) == (a, b)]
            assert [int(r["seed"]) for t in mine for r in table if r["file"] == t["file"]] == [9, 10]
            assert mine[0]["rect"][0] < mine[1]["rect"][0]
            assert all(bx0 <= t["rect"][0] and t["rect"][2] <= bx1 and by0 <= t["rect"][1] and t["rect"][3] <= by1
                       for t in mine)
    assert apart(img, layout.blocks.values()) and apart(img, [t["rect"] for t in tiles])
    assert layout.blocks["0.5", DARK][1] < layout.blocks["1.0", DARK][1]
    assert layout.blocks["0.5", DARK][0] < layout.blocks["0.5", BRIGHT][0]
    [failing] = [t for t in tiles if t["verdict"] == "fail"]
    assert red_share(ring(img, failing["rect"])) == 1.0, "a red frame all round the failed image"
    for t in tiles:
        if t is not failing:
            assert red_share(ring(img, t["rect"])) == 0.0, t["file"]


def test_the_pair_sheet_marks_failed_items_caps_crowded_cells_and_stays_bounded(tmp_path):
    out = tmp_path / "sweep"
    table = small_sweep(out) + [{LORA: "1.0", PROMPT: DARK, "seed": "11", "item": 99, "verdict": "failed",
                                 "similarity": None, "leakage": None, "file": "", "error": "only 1 face"}]
    img, layout = sheet.pair_sheet(table, out, LORA, PROMPT)
    [placeholder] = [t for t in layout.tiles if not t["image"]]
    assert (placeholder["a"], placeholder["b"], placeholder["verdict"]) == ("1.0", DARK, "failed")
    grey = crop(img, placeholder["rect"]).reshape(-1, 3)
    assert np.mean(np.all(grey == draw.PLACEHOLDER, axis=-1)) > 0.8  # a grey square (its reason written inside)
    assert red_share(ring(img, placeholder["rect"])) == 0.0

    crowded = sweep_table(tmp_path / "crowded", {("1.0", DARK): ["pass"] * 20})
    img, layout = sheet.pair_sheet(crowded, tmp_path / "crowded", LORA, PROMPT)
    shown = [t for t in layout.tiles if t["image"]]
    [more] = [t for t in layout.tiles if t["more"]]
    assert len(shown) == sheet.MAX_PER_CELL - 1 and more["more"] == 20 - len(shown)

    big = tmp_path / "big"  # a 500-item sweep: 100 strengths x 5 prompts, one image each
    big.mkdir()
    Image.fromarray(picture(1)).save(tmp_path / "one.png")
    rows = [{LORA: f"{i / 100:.2f}", PROMPT: f"scene {j}", "seed": "1", "verdict": "pass", "similarity": 0.7,
             "file": "../one.png"} for i in range(100) for j in range(5)]
    img, layout = sheet.pair_sheet(rows, big, LORA, PROMPT)
    assert max(img.shape[:2]) <= sheet.MAX_SIDE and layout.thumb >= sheet.MIN_THUMB
    assert len(layout.blocks) == 500 and layout.hidden == (0, 0)  # every cell, the long axis wrapped into bands
    assert len(layout.tiles) == 500 and apart(img, layout.blocks.values())
    huge = [{**r, LORA: f"{i}", PROMPT: f"scene {j}"} for i in range(200) for j in range(50) for r in rows[:1]]
    img, layout = sheet.pair_sheet(huge, big, LORA, PROMPT)  # 10 000 cells (past --max-items): values left off
    assert max(img.shape[:2]) <= sheet.MAX_SIDE and layout.thumb >= sheet.MIN_THUMB
    assert layout.hidden[0] > 0 and len(layout.blocks) == (200 - layout.hidden[0]) * (50 - layout.hidden[1])
    img, layout = sheet.pair_sheet(rows, big, LORA, None)
    # one axis of 100 values, 5 images each: the blocks wrap into a square-ish sheet, none left off
    assert max(img.shape[:2]) <= sheet.MAX_SIDE and layout.hidden == (0, 0) and layout.thumb >= sheet.MIN_THUMB
    assert len(layout.blocks) == 100 and 0.5 < img.shape[0] / img.shape[1] < 2
    assert len(layout.tiles) == 500 and apart(img, layout.blocks.values())


def test_the_identity_grid_node_draws_the_same_thumbnails_as_the_sweep_sheet(comfy, tmp_path):
    """The node through a live ComfyUI, on the images of one sweep cell with the sheet's thumbnail size: its
    thumbnails and frames are pixel for pixel the sheet's (one drawing helper)."""
    out = tmp_path / "sweep"
    table = small_sweep(out)
    img, layout = sheet.pair_sheet(table, out, LORA, PROMPT)
    assert layout.thumb in range(64, 1025, 32)  # a size the node's thumbnail input takes
    cell = [t for t in layout.tiles if (t["a"], t["b"]) == ("0.5", DARK)]  # seed 9 passes, seed 10 fails
    assert [t["verdict"] for t in cell] == ["pass", "fail"]
    names = [comfy.upload(out / t["file"], f"sweep_sheet_{k}.png") for k, t in enumerate(cell)]
    report = {"scores": [{"image": k + 1, "similarity": t["similarity"], "verdict": t["verdict"], "threshold": 0.5,
                          "threshold_source": "test", "backend": "dlib"} for k, t in enumerate(cell)]}
    graph = {
        "a": {"class_type": "LoadImage", "inputs": {"image": names[0]}},
        "b": {"class_type": "LoadImage", "inputs": {"image": names[1]}},
        "ab": {"class_type": "ImageBatch", "inputs": {"image1": ["a", 0], "image2": ["b", 0]}},
        "grid": {"class_type": "LikenessIdentityGrid", "inputs": {"images": ["ab", 0], "report": json.dumps(report),
                                                                  "thumbnail": layout.thumb, "columns": 0}},
        "save": {"class_type": "SaveImage", "inputs": {"images": ["grid", 0], "filename_prefix": "sweep/grid"}},
    }
    [grid] = comfy.images(comfy.run(graph), "save")
    Image.fromarray(grid).save(tmp_path / "identity_grid.png")
    sources = [np.array(Image.open(out / t["file"])) for t in cell]
    _, rects = draw.contact_sheet_layout(sources, ["", ""], [True, False], layout.thumb)
    assert grid.shape == draw.contact_sheet(sources, ["", ""], [True, False], layout.thumb).shape
    for t, rect in zip(cell, rects):  # the thumbnail and its frame; the labels differ (the node numbers them)
        frame = draw.BORDER if t["verdict"] == "fail" else draw.PASS_FRAME
        ours, theirs = crop(grid[..., :3], rect, frame), crop(img, t["rect"], frame)
        assert ours.shape == theirs.shape and np.abs(ours - theirs).max() <= 1, t["verdict"]
    assert red_share(ring(grid[..., :3], rects[1])) == 1.0 and red_share(ring(grid[..., :3], rects[0])) == 0.0
