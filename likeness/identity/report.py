"""Identity reports: per-image scores and the pass rate as JSON and CSV, written atomically."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..fileio import atomic_write
from .score import Score, pass_rate

COLUMNS = ["image", "file", "verdict", "similarity", "leakage", "id_gain", "threshold", "backend", "faces"]


def summary(scores: list[Score]) -> dict:
    return {"images": len(scores), "passed": sum(s.passed for s in scores), "pass_rate": round(pass_rate(scores), 4),
            "backend": scores[0].backend if scores else None,
            "threshold": scores[0].threshold if scores else None,
            "threshold_source": scores[0].threshold_source if scores else None,
            "scores": [s.as_dict() for s in scores]}


def write(report: dict, directory: str | Path, stem: str, files: list[str] | None = None) -> tuple[Path, Path]:
    """<stem>.json and <stem>.csv in `directory`; `files` names the saved image of each row when known."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = d / f"{stem}.json", d / f"{stem}.csv"
    atomic_write(json_path, json.dumps({**report, "files": files or []}, indent=1))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for s in report["scores"]:
        file = files[s["image"]] if files and s["image"] < len(files) else ""
        w.writerow([s["image"], file, s["verdict"], s["similarity"], s["leakage"], s["id_gain"], s["threshold"],
                    s["backend"], len(s["faces"])])
    atomic_write(csv_path, buf.getvalue())
    return json_path, csv_path
