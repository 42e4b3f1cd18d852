"""Identity reports: per-image scores and the pass rate as JSON and CSV, written atomically."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..errors import BadInputError
from ..fileio import atomic_write
from ..image import png_bytes
from .score import Score, pass_rate

REQUIRED = ("image", "similarity", "verdict", "threshold", "threshold_source", "backend")
COLUMNS = ["image", "file", "verdict", "similarity", "leakage", "id_gain", "threshold", "backend", "faces"]


def summary(scores: list[Score]) -> dict:
    return {"images": len(scores), "passed": sum(s.passed for s in scores), "pass_rate": round(pass_rate(scores), 4),
            "backend": scores[0].backend if scores else None,
            "threshold": scores[0].threshold if scores else None,
            "threshold_source": scores[0].threshold_source if scores else None,
            "scores": [s.as_dict() for s in scores]}


def headline(report: dict, detail: bool = False) -> str:
    """'3/4 kept the identity (75%)', with the backend and threshold when `detail`."""
    text = f"{report['passed']}/{report['images']} kept the identity ({100 * report['pass_rate']:.0f}%)"
    if detail:
        text += f" — {report['backend']}, threshold {report['threshold']} ({report['threshold_source']})"
    return text


def parse(text: str, images: int | None = None) -> dict:
    """An identity report string from Identity Score/Gate, checked; `images` = how many images came with it."""
    try:
        data = json.loads(text)
        data["scores"] = [dict(s) for s in data["scores"]]
        for s in data["scores"]:
            missing = [k for k in REQUIRED if k not in s]
            if missing or not isinstance(s["similarity"], (int, float)):
                raise KeyError(f"a score lacks {', '.join(missing) or 'a numeric similarity'}")
    except (TypeError, ValueError, KeyError) as e:
        raise BadInputError(f"report: not an identity report ({type(e).__name__}: {e}). Connect the `report` output "
                            "of Identity Score or Identity Gate.") from None
    if images is not None and len(data["scores"]) != images:
        raise BadInputError(f"The report scores {len(data['scores'])} image(s) but {images} arrived: connect the same "
                            "batch that Identity Score checked (or Identity Gate's images with its report).")
    return data


def rows_and_files(report: dict, files: list[str] | None) -> tuple[list[dict], list[str]]:
    """Every scored image's row, and the file each was saved as ("" if it was not). `files` belong to the report's
    `scores`: every image Identity Score scored, or the ones Identity Gate kept (its report keeps the rest in
    `tried`, and which were kept in `kept`)."""
    rows = report.get("tried", report["scores"])
    kept = report.get("kept", range(len(rows))) if "tried" in report else range(len(rows))
    names = [""] * len(rows)
    for row, name in zip(kept, files or []):
        names[row] = name
    return rows, names


def write(report: dict, directory: str | Path, stem: str, files: list[str] | None = None) -> tuple[Path, Path]:
    """<stem>.json and <stem>.csv in `directory`; `files` names the saved image of each of the report's scores."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    rows, names = rows_and_files(report, files)
    json_path, csv_path = d / f"{stem}.json", d / f"{stem}.csv"
    data = {k: v for k, v in report.items() if k not in ("tried", "kept")}
    atomic_write(json_path, json.dumps({**data, "scores": rows, "files": names}, indent=1))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for s, file in zip(rows, names):
        w.writerow([s["image"], file, s["verdict"], s["similarity"], s["leakage"], s["id_gain"], s["threshold"],
                    s["backend"], len(s["faces"])])
    atomic_write(csv_path, buf.getvalue())
    return json_path, csv_path


def save(report: dict, frames: list, directory: str | Path, name: str, counter: int,
         texts: dict[str, str] | None = None) -> tuple[list[str], Path, Path]:
    """The images as <name>_<counter+i>_.png and the report as <name>_<counter>_identity.json/.csv, so an image
    and the report that scores it share a number (no images: the report alone). Returns the image file names and
    the report paths."""
    if frames and len(frames) != len(report["scores"]):
        raise BadInputError(f"Identity Report got {len(frames)} image(s) for a report of {len(report['scores'])}: "
                            "connect the images and the report of the same node (Identity Score's, or Identity "
                            "Gate's).")
    d = Path(directory)
    files = [f"{name}_{counter + i:05}_.png" for i in range(len(frames))]
    for file, rgb in zip(files, frames):
        atomic_write(d / file, png_bytes(rgb, texts))
    return (files, *write(report, d, f"{name}_{counter:05}_identity", files))
