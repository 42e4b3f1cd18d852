"""Per-backend thresholds: measured from labelled photos (same/different pairs, ROC, equal-error threshold).

    python -m likeness.identity.calibration PHOTO_DIR --backend dlib [--multi two_people.jpg=obama,biden]

Labels come from file names (obama_2.jpg -> "obama"); a photo with several people lists them left to right with
--multi. The result is merged into likeness/identity/calibration.json, which the identity nodes read.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..fileio import atomic_write

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")


@dataclass
class Threshold:
    value: float
    source: str


def label_of(path: Path) -> str:
    return re.sub(r"_\d+$", "", path.stem)


def pair_similarities(labelled: list[tuple[str, np.ndarray]], similarity) -> tuple[np.ndarray, np.ndarray]:
    same, diff = [], []
    for (la, ea), (lb, eb) in itertools.combinations(labelled, 2):
        (same if la == lb else diff).append(similarity(ea, eb))
    return np.array(same), np.array(diff)


def equal_error(same: np.ndarray, diff: np.ndarray) -> dict:
    """ROC over every candidate threshold; the threshold where false accepts = false rejects."""
    candidates = np.unique(np.concatenate([same, diff]))
    roc = []
    for t in candidates:
        far = float((diff >= t).mean()) if diff.size else 0.0
        frr = float((same < t).mean()) if same.size else 0.0
        roc.append((float(t), far, frr))
    t, far, frr = min(roc, key=lambda r: (abs(r[1] - r[2]), r[1] + r[2]))
    separable = same.size and diff.size and same.min() > diff.max()
    if separable:  # any threshold in the gap works: take its middle
        t, far, frr = float((same.min() + diff.max()) / 2), 0.0, 0.0
    return {"threshold": round(t, 4), "eer": round((far + frr) / 2, 4), "separable": bool(separable),
            "roc": [[round(a, 4), round(b, 4), round(c, 4)] for a, b, c in roc]}


def calibrate(backend, photos: list[Path], multi: dict[str, list[str]]) -> dict:
    from PIL import Image

    labelled = []
    for path in photos:
        rgb = np.array(Image.open(path).convert("RGB"))
        faces = sorted(backend.faces(rgb), key=lambda f: f.bbox[0])
        names = multi.get(path.name, [label_of(path)])
        if len(faces) < len(names):
            raise RuntimeError(f"{path.name}: expected {len(names)} face(s), found {len(faces)}")
        if len(names) == 1:
            faces = [max(faces, key=lambda f: f.area)]
        labelled += [(name, f.embedding) for name, f in zip(names, faces)]
    same, diff = pair_similarities(labelled, backend.similarity)
    result = equal_error(same, diff)
    result.update(metric=backend.metric, n_faces=len(labelled), n_same=int(same.size), n_diff=int(diff.size),
                  same_range=[round(float(same.min()), 4), round(float(same.max()), 4)] if same.size else None,
                  diff_range=[round(float(diff.min()), 4), round(float(diff.max()), 4)] if diff.size else None,
                  date=_dt.date.today().isoformat(),
                  source=f"equal-error threshold from {len(labelled)} labelled faces "
                         f"({same.size} same / {diff.size} different pairs)")
    return result


def read(path: Path = CALIBRATION_FILE) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def threshold_for(backend: str, override: float | None = None, path: Path = CALIBRATION_FILE) -> Threshold:
    if override is not None and override >= 0:
        return Threshold(float(override), "set on the node")
    entry = read(path).get(backend)
    if not entry:
        return Threshold(0.4, f"default 0.4 (no calibration for {backend})")
    return Threshold(float(entry["threshold"]), f"{backend}: {entry['source']}, {entry.get('date', '')}".strip(", "))


def write(backend: str, entry: dict, path: Path = CALIBRATION_FILE) -> None:
    data = read(path)
    data[backend] = entry
    atomic_write(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def main(argv=None) -> int:
    from .embed import BackendSpec, load

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("photos", help="folder of labelled photos")
    p.add_argument("--backend", default="dlib", help="dlib, buffalo_l or antelopev2")
    p.add_argument("--pack-dir", help="insightface pack folder for buffalo_l/antelopev2")
    p.add_argument("--multi", action="append", default=[], help="FILE=name1,name2 for photos of several people")
    p.add_argument("--out", default=str(CALIBRATION_FILE))
    args = p.parse_args(argv)
    multi = {k: v.split(",") for k, v in (m.split("=", 1) for m in args.multi)}
    photos = sorted(q for q in Path(args.photos).iterdir() if q.suffix.lower() in (".jpg", ".jpeg", ".png"))
    entry = calibrate(load(BackendSpec(args.backend, args.pack_dir)), photos, multi)
    write(args.backend, entry, Path(args.out))
    print(f"{args.backend}: threshold {entry['threshold']} (EER {entry['eer']}, separable {entry['separable']}); "
          f"same {entry['same_range']} different {entry['diff_range']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
