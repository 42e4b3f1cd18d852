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
"""
from __future__ import annotations

import hashlib
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
