"""Per-backend thresholds: measured from labelled photos (same/different pairs, ROC, equal-error threshold).

    python -m likeness.identity.calibration PHOTO_DIR --backend dlib [--multi two_people.jpg=obama,biden]

Labels come from file names (obama_2.jpg -> "obama"); a photo with several people lists them left to right with
--multi. The result is merged into likeness/identity/calibration.json, which the identity nodes read, with the
photos it came from (name, sha256, people), n, and the margins: how far the closest same-person and the closest
different-person pair lie from the threshold. Fit on photos that the tests do not score: the shipped dlib entry is

    python -m likeness.identity.calibration .cache/test-photos/heldout --backend dlib \\
        --multi friends.jpg=aniston,cox,schwimmer,perry,leblanc,kudrow

on the held-out photos that `python tests/photos.py heldout` fetches (tests/data/README.md), and
tests/test_calibration.py checks that it still comes out so.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import itertools
import json
import re
import shlex
from collections import Counter
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


def scored_pairs(faces: list[tuple[str, str, np.ndarray]], similarity) -> list[tuple[float, bool, str, str]]:
    """Every pair of (label, name, embedding) faces: (similarity, same person?, name a, name b)."""
    return [(float(similarity(ea, eb)), la == lb, na, nb)
            for (la, na, ea), (lb, nb, eb) in itertools.combinations(faces, 2)]


def margins(pairs: list[tuple[float, bool, str, str]], threshold: float) -> dict:
    """How far the closest pairs lie from a threshold (a pair passes at similarity >= threshold): positive margins
    on both sides mean every same-person pair passes and every different-person pair fails."""
    same = [p for p in pairs if p[1]]
    diff = [p for p in pairs if not p[1]]
    out = {}
    if same:
        s = min(same)
        out["same_person"] = {"margin": round(s[0] - threshold, 4), "closest_pair": [s[2], s[3]],
                              "similarity": round(s[0], 4)}
    if diff:
        d = max(diff)
        out["different_people"] = {"margin": round(threshold - d[0], 4), "closest_pair": [d[2], d[3]],
                                   "similarity": round(d[0], 4)}
    return out


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

    labelled, record = [], []
    for path in photos:
        rgb = np.array(Image.open(path).convert("RGB"))
        faces = sorted(backend.faces(rgb), key=lambda f: f.bbox[0])
        names = multi.get(path.name, [label_of(path)])
        if len(faces) < len(names):
            raise RuntimeError(f"{path.name}: expected {len(names)} face(s), found {len(faces)}")
        if len(names) == 1:
            faces = [max(faces, key=lambda f: f.area)]
        labelled += [(name, path.name if len(names) == 1 else f"{path.name} ({name})", f.embedding)
                     for name, f in zip(names, faces)]
        record.append({"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "people": names})
    pairs = scored_pairs(labelled, backend.similarity)
    same = np.array([p[0] for p in pairs if p[1]])
    diff = np.array([p[0] for p in pairs if not p[1]])
    result = equal_error(same, diff)
    del result["roc"]  # hundreds of rows; the margins and ranges say what matters
    t = result["threshold"]
    result["method"] = ("midpoint of the gap between the lowest same-person and the highest different-person "
                        "similarity (every threshold in the gap has equal error 0)" if result["separable"] else
                        "equal-error point of the ROC: the classes overlap, so no threshold separates them")
    result["margins"] = margins(pairs, t)
    faces_of = Counter(name for name, _, _ in labelled)
    people = sorted(faces_of)
    by_person = {p: faces_of[p] * (faces_of[p] - 1) // 2 for p in people if faces_of[p] > 1}
    result.update(metric=backend.metric, n_faces=len(labelled), n_people=len(people), n_same=int(same.size),
                  n_diff=int(diff.size), n_same_by_person=by_person,
                  same_range=[round(float(same.min()), 4), round(float(same.max()), 4)] if same.size else None,
                  diff_range=[round(float(diff.min()), 4), round(float(diff.max()), 4)] if diff.size else None,
                  photos=record, date=_dt.date.today().isoformat())
    m = result["margins"]
    told = " / ".join(f"{m[k]['margin']:+.4f} {k.replace('_', ' ')}" for k in ("same_person", "different_people")
                      if k in m)
    result["source"] = (f"equal-error threshold ({'midpoint of the gap' if result['separable'] else 'classes overlap'})"
                        f" from {len(labelled)} labelled faces of {len(people)} people ({same.size} same / {diff.size} "
                        f"different pairs; margins {told or 'n/a'})")
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
    p.add_argument("--note", default="", help="where the photos come from (kept in the entry)")
    p.add_argument("--out", default=str(CALIBRATION_FILE))
    args = p.parse_args(argv)
    multi = {k: v.split(",") for k, v in (m.split("=", 1) for m in args.multi)}
    photos = sorted(q for q in Path(args.photos).iterdir() if q.suffix.lower() in (".jpg", ".jpeg", ".png"))
    entry = calibrate(load(BackendSpec(args.backend, args.pack_dir)), photos, multi)
    entry["source"] += "; " + command(args)
    if args.note:
        entry["note"] = args.note
    write(args.backend, entry, Path(args.out))
    print(f"{args.backend}: threshold {entry['threshold']} (EER {entry['eer']}, separable {entry['separable']}); "
          f"same {entry['same_range']} different {entry['diff_range']}; margins "
          f"{json.dumps(entry['margins'])}")
    return 0


def command(args) -> str:
    """The command line that reproduces an entry (without --out and --note)."""
    parts = ["python -m likeness.identity.calibration", shlex.quote(args.photos), "--backend", args.backend]
    if args.pack_dir:
        parts += ["--pack-dir", shlex.quote(args.pack_dir)]
    for m in args.multi:
        parts += ["--multi", shlex.quote(m)]
    return " ".join(parts)


if __name__ == "__main__":
    raise SystemExit(main())
