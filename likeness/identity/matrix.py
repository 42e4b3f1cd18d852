"""The identity matrix of a sweep: which settings keep the person, per axis value, per pair of axes, per cell.

Rows come from the runner's results and the identity reports the workflow wrote (one row per image); out of them:
sweep.csv, sweep.md, a self-contained sweep.html (cells coloured by pass rate, each linking its images), a
contact sheet per pair of axes, and one verdict line per axis for the terminal.
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


def _cell(table: list[dict], **where) -> str:
    g = group(table, **where)
    s = stats(g)
    mark = {"pass": "✓"}
    links = " ".join(f'<a href="{html.escape(r["file"])}" title="{r["similarity"]}">{mark.get(r["verdict"], "✗")}</a>'
                     for r in g if r["file"])
    return f'<td style="background:{_colour(s["rate"])}">{_pct(s)}<br>{links}</td>'


def html_page(table: list[dict], axes: list[str]) -> str:
    """A self-contained page: no script, no external file; links point at the images beside it."""
    total = stats(table)
    parts = ["<!doctype html><meta charset=utf-8><title>Sweep: identity pass rate</title>",
             "<style>body{font:14px sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #999;padding:4px 8px;text-align:center}a{text-decoration:none}</style>",
             f"<h1>Sweep: identity pass rate</h1><p>{total['passed']}/{total['n']} images kept the person "
             f"({_pct(total)}); target {100 * TARGET:.0f}%.</p>"]
    for axis in axes:
        parts.append(f"<h2>{html.escape(axis)}</h2><table><tr><th>value</th><th>pass rate</th><th>mean</th></tr>")
        for v in values(table, axis):
            s = stats(group(table, **{axis: v}))
            parts.append(f"<tr><td>{html.escape(v)}</td>{_cell(table, **{axis: v})}<td>{_mean(s)}</td></tr>")
        parts.append("</table>")
    for a, b in itertools.combinations(axes, 2):
        bs = values(table, b)
        parts.append(f"<h2>{html.escape(a)} × {html.escape(b)}</h2><table><tr><th></th>"
                     + "".join(f"<th>{html.escape(v)}</th>" for v in bs) + "</tr>")
        for va in values(table, a):
            parts.append(f"<tr><th>{html.escape(va)}</th>" + "".join(_cell(table, **{a: va, b: vb}) for vb in bs)
                         + "</tr>")
        parts.append("</table>")
    return "\n".join(parts) + "\n"


def sheet(table: list[dict], out: Path, a: str, b: str | None) -> np.ndarray:
    """A contact sheet: one thumbnail per (a, b) cell — its median-scoring image — labelled with the cell's pass
    count; a red border where the cell is under the target."""
    from PIL import Image

    from ..face.draw import contact_sheet

    images, labels, ok = [], [], []
    bs = values(table, b) if b else [None]
    for va in values(table, a):
        for vb in bs:
            g = [r for r in group(table, **({a: va, b: vb} if b else {a: va})) if r["file"]]
            s = stats(g)
            best = sorted(g, key=lambda r: r["similarity"])[len(g) // 2] if g else None
            images.append(np.array(Image.open(out / best["file"]).convert("RGB")) if best
                          else np.full((64, 64, 3), 90, np.uint8))
            labels.append(f"{va}" + (f" | {vb}" if b else "") + (f" {s['passed']}/{s['n']}" if s["n"] else " -"))
            ok.append(s["rate"] is not None and s["rate"] >= TARGET)
    return contact_sheet(images, labels, ok, thumb=192, columns=len(bs) if b else None)


def write(table: list[dict], axes: list[str], out: Path) -> list[str]:
    """sweep.csv, sweep.md, sweep.html and the contact sheets into `out`; returns the terminal's verdict lines."""
    columns = list(dict.fromkeys(k for r in table for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, columns)
    w.writeheader()
    w.writerows(table)
    atomic_write(out / "sweep.csv", buf.getvalue())
    atomic_write(out / "sweep.md", markdown(table, axes) + "\n")
    atomic_write(out / "sweep.html", html_page(table, axes))
    pairs = list(itertools.combinations(axes, 2)) or [(axes[0], None)]
    sheets = []
    for a, b in pairs:
        name = "sweep_" + "_x_".join(_slug(x) for x in (a, b) if x) + ".png"
        atomic_write(out / name, png_bytes(sheet(table, out, a, b)))
        sheets.append(name)
    total = stats(table)
    return verdicts(table, axes) + [f"overall: {_pct(total)} kept the person (target {100 * TARGET:.0f}%); matrix: "
                                    f"{out / 'sweep.html'}, {out / 'sweep.md'}, {out / 'sweep.csv'}, "
                                    f"{', '.join(sheets)}"]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower()[:40]
