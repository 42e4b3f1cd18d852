"""The identity matrix of a sweep: which settings keep the person, per axis value, per pair of axes, per cell.

Rows come from the runner's results and the identity reports the workflow wrote (one row per image); out of them:
sweep.csv, sweep.md, a self-contained sweep.html (cells coloured by pass rate, each linking its images, the contact
sheets shown below), a contact sheet per pair of axes (sheet.py: every image of every cell, scored and framed as the
Identity Grid frames them), and one verdict line per axis for the terminal.
"""
from __future__ import annotations

import csv
import html
import io
import itertools
import json
from pathlib import Path

import numpy as np

from ..fileio import atomic_write
from ..image import png_bytes

TARGET = 0.7      # the users' bar: at least 70 % of outputs keep the person
FEW = 5           # fewer images than this behind a figure: too few to tell two values apart
SCORED = ("pass", "fail", "no face")


def rows(results, cells: list[dict], out: Path) -> list[dict]:
    """One row per scored image (axis values, seed, score, leakage, verdict, file); a failed item is one row."""
    table = []
    for result, cell in zip(results, cells):
        base = {**cell, "item": result.index + 1}
        reports = [f for f in result.files if f.endswith("_identity.json")]
        if result.status != "done" or not reports:
            why = result.error if result.status != "done" else "the workflow wrote no identity report"
            table.append({**base, "verdict": result.status if result.status != "done" else "unscored",
                          "similarity": None, "leakage": None, "file": "", "error": why})
            continue
        for rel in reports:
            data = json.loads((out / rel).read_text(encoding="utf-8"))
            folder = Path(rel).parent
            for s, name in zip(data["scores"], data.get("files") or [""] * len(data["scores"])):
                table.append({**base, "verdict": s["verdict"], "similarity": s["similarity"],
                              "leakage": s.get("leakage"), "file": (folder / name).as_posix() if name else "",
                              "error": ""})
    return table


def stats(group: list[dict]) -> dict:
    scored = [r for r in group if r["verdict"] in SCORED]
    passed = sum(r["verdict"] == "pass" for r in scored)
    return {"n": len(scored), "passed": passed, "rate": passed / len(scored) if scored else None,
            "mean": float(np.mean([r["similarity"] for r in scored])) if scored else None,
            "failed": sum(r["verdict"] not in SCORED for r in group)}


def values(table: list[dict], axis: str) -> list[str]:
    return list(dict.fromkeys(str(r[axis]) for r in table if axis in r))


def group(table: list[dict], **where) -> list[dict]:
    return [r for r in table if all(str(r.get(k)) == v for k, v in where.items())]


def _pct(s: dict) -> str:
    return "–" if s["rate"] is None else f"{100 * s['rate']:.0f}% (n={s['n']})"


def _mean(s: dict) -> str:
    return "–" if s["mean"] is None else f"{s['mean']:.3f}"


def verdicts(table: list[dict], axes: list[str]) -> list[str]:
    """One line per axis, best value first, with the images behind each figure and a warning where too few."""
    lines = []
    for axis in axes:
        parts = sorted(((v, stats(group(table, **{axis: v}))) for v in values(table, axis)),
                       key=lambda p: -1 if p[1]["rate"] is None else -p[1]["rate"])
        text = " vs ".join(f"{v}: {_pct(s)}" for v, s in parts)
        few = [v for v, s in parts if s["n"] < FEW]
        lines.append(f"{axis}: {text}" + (f"  (too few images to tell apart behind {', '.join(few)}: add --seeds)"
                                          if few else ""))
    return lines


def markdown(table: list[dict], axes: list[str]) -> str:
    total = stats(table)
    out = ["# Sweep: identity pass rate", "",
           f"{total['passed']}/{total['n']} images kept the person ({_pct(total)}); target {100 * TARGET:.0f}%"
           + (f"; {total['failed']} item(s) failed to run" if total["failed"] else ""), ""]
    for axis in axes:
        out += [f"## {axis}", "", "| value | pass rate | mean score | failed items |", "|---|---|---|---|"]
        for v in values(table, axis):
            s = stats(group(table, **{axis: v}))
            out.append(f"| {v} | {_pct(s)} | {_mean(s)} | {s['failed']} |")
        out.append("")
    for a, b in itertools.combinations(axes, 2):
        bs = values(table, b)
        out += [f"## {a} × {b}", "", "| " + " | ".join([f"{a} \\ {b}"] + bs) + " |", "|---" * (len(bs) + 1) + "|"]
        for va in values(table, a):
            out.append("| " + " | ".join([va] + [_pct(stats(group(table, **{a: va, b: vb}))) for vb in bs]) + " |")
        out.append("")
    return "\n".join(out)


def _colour(rate: float | None) -> str:
    """Red below the target, through amber, to green at 100 %."""
    if rate is None:
        return "#eee"
    hue = 0 if rate < TARGET - 0.2 else 40 if rate < TARGET else 120
    return f"hsl({hue}, 60%, {85 - 25 * rate:.0f}%)"


def image_order(r: dict):
    """A cell's images in a stable order: by seed (numerically), then file."""
    seed = str(r.get("seed", ""))
    return (0, int(seed), "") if seed.lstrip("-").isdigit() else (1, 0, seed), str(r.get("file", ""))


def _rate(s: dict) -> str:
    return f"{s['passed']}/{s['n']} pass ({100 * s['rate']:.0f}%)" if s["n"] else "no image"


def _cell(table: list[dict], **where) -> str:
    """A table cell: the pass count on the pass rate's colour, failed runs, and a mark linking each image."""
    g = sorted(group(table, **where), key=image_order)
    s = stats(g)
    links = []
    for r in g:
        if not r["file"]:
            continue
        score = f"{r['similarity']:.2f} " if isinstance(r["similarity"], (int, float)) else ""
        seed = f", seed {r['seed']}" if str(r.get("seed", "")) else ""
        kept = r["verdict"] == "pass"
        links.append(f'<a class="{"pass" if kept else "fail"}" href="{html.escape(r["file"])}" '
                     f'title="{html.escape(score + r["verdict"] + seed)}">{"✓" if kept else "✗"}</a>')
    failed = f'<br><span class=failed>{s["failed"]} failed to run</span>' if s["failed"] else ""
    return (f'<td class=cell style="background:{_colour(s["rate"])}"><span class=rate>{_rate(s)}</span>{failed}'
            f'<br><span class=marks>{" ".join(links)}</span></td>')


STYLE = """
body{font:15px/1.4 system-ui,sans-serif;margin:2em;color:#222;background:#fff;max-width:100%}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #999;padding:6px 10px;text-align:center;vertical-align:middle}
th{background:#f3f3f3}
.v{display:inline-block;max-width:18em;overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%}
.rate{font-weight:600;white-space:nowrap}
.failed{color:#333;font-size:90%}
.marks a{text-decoration:none;font-weight:700;font-size:110%;padding:0 1px}
a.pass{color:#064d06}
a.fail{color:#a30000}
.legend{color:#444}
.sheet img{max-width:100%;border:1px solid #999}
"""


def html_page(table: list[dict], axes: list[str], sheets: list[str] = ()) -> str:
    """A self-contained page: no script, nothing from the network; its links and the contact sheets it shows are
    the files beside it."""
    total = stats(table)

    def v(text: str) -> str:
        return f'<span class=v title="{html.escape(text)}">{html.escape(text)}</span>'

    parts = ["<!doctype html><meta charset=utf-8><title>Sweep: identity pass rate</title>",
             f"<style>{STYLE}</style>",
             f"<h1>Sweep: identity pass rate</h1><p>{total['passed']}/{total['n']} images kept the person "
             f"({_pct(total)}); target {100 * TARGET:.0f}%"
             + (f"; {total['failed']} item(s) failed to run" if total["failed"] else "") + ".</p>",
             "<p class=legend>Each cell: images that kept the person / images scored, coloured green at or above the "
             "target, amber just under it, red well under it. <b>✓</b> kept, <b>✗</b> lost (or no face): each links "
             "its image; hover for the score and seed.</p>"]
    for axis in axes:
        parts.append(f"<h2>{html.escape(axis)}</h2><div class=scroll><table><tr><th>value</th><th>pass rate</th>"
                     "<th>mean score</th></tr>")
        for value in values(table, axis):
            s = stats(group(table, **{axis: value}))
            parts.append(f"<tr><th>{v(value)}</th>{_cell(table, **{axis: value})}<td>{_mean(s)}</td></tr>")
        parts.append("</table></div>")
    for a, b in itertools.combinations(axes, 2):
        bs = values(table, b)
        parts.append(f"<h2>{html.escape(a)} × {html.escape(b)}</h2><div class=scroll><table>"
                     f"<tr><th>{v(a)} \\ {v(b)}</th>" + "".join(f"<th>{v(x)}</th>" for x in bs) + "</tr>")
        for va in values(table, a):
            parts.append(f"<tr><th>{v(va)}</th>" + "".join(_cell(table, **{a: va, b: vb}) for vb in bs) + "</tr>")
        parts.append("</table></div>")
    if sheets:
        parts.append("<h2>Contact sheets</h2>")
        parts += [f'<p class=sheet><a href="{html.escape(name)}">{html.escape(name)}<br>'
                  f'<img src="{html.escape(name)}" alt="{html.escape(name)}"></a></p>' for name in sheets]
    return "\n".join(parts) + "\n"


def sheet(table: list[dict], out: Path, a: str, b: str | None) -> np.ndarray:
    """The contact sheet of a pair of axes: a block per (a, b) cell with every image of the cell, each labelled with
    its score and framed red on a fail (likeness/identity/sheet.py; the Identity Grid's thumbnails)."""
    from .sheet import pair_sheet

    return pair_sheet(table, out, a, b)[0]


def write(table: list[dict], axes: list[str], out: Path) -> list[str]:
    """sweep.csv, sweep.md, sweep.html and the contact sheets into `out`; returns the terminal's verdict lines."""
    columns = list(dict.fromkeys(k for r in table for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, columns)
    w.writeheader()
    w.writerows(table)
    atomic_write(out / "sweep.csv", buf.getvalue())
    atomic_write(out / "sweep.md", markdown(table, axes) + "\n")
    pairs = list(itertools.combinations(axes, 2)) or [(axes[0], None)]
    sheets = []
    for a, b in pairs:
        name = "sweep_" + "_x_".join(_slug(x) for x in (a, b) if x) + ".png"
        atomic_write(out / name, png_bytes(sheet(table, out, a, b)))
        sheets.append(name)
    atomic_write(out / "sweep.html", html_page(table, axes, sheets))
    total = stats(table)
    return verdicts(table, axes) + [f"overall: {_pct(total)} kept the person (target {100 * TARGET:.0f}%); matrix: "
                                    f"{out / 'sweep.html'}, {out / 'sweep.md'}, {out / 'sweep.csv'}, "
                                    f"{', '.join(sheets)}"]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower()[:40]
