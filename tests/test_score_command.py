"""`python -m likeness score`: real photos, real dlib weights, a subprocess as users run it, no ComfyUI."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def likeness(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "likeness", *map(str, args)], cwd=cwd or REPO, capture_output=True,
                          text=True, timeout=300)


def test_score_a_folder_keeps_the_person_and_reports_every_image(faces_dir, tmp_path):
    outputs = tmp_path / "outputs"
    (outputs / "more").mkdir(parents=True)
    for name in ("obama_2.jpg", "biden_1.jpg"):
        shutil.copy(faces_dir / name, outputs / name)
    shutil.copy(faces_dir / "obama_3.jpg", outputs / "more" / "obama_3.jpg")
    (outputs / "broken.png").write_bytes(b"not a png")
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(outputs / "blank.png")
    keep, out = tmp_path / "kept", tmp_path / "report"
    keep.mkdir()
    (keep / "obama_2.jpg").write_bytes(b"another item's file")  # must survive
    run = likeness("score", outputs, "--reference", faces_dir / "obama_1.jpg", "--keep", keep, "--out", out)
    assert run.returncode == 0, run.stderr
    report = json.loads((out / "identity.json").read_text())
    verdicts = {Path(f).name: s["verdict"] for f, s in zip(report["files"], report["scores"])}
    assert verdicts == {"obama_2.jpg": "pass", "obama_3.jpg": "pass", "biden_1.jpg": "fail", "blank.png": "no face",
                        "broken.png": "unreadable"}
    assert report["passed"] == 2 and report["backend"] == "dlib"
    assert "2/5 kept the identity (40%)" in run.stdout
    assert sorted(p.name for p in keep.iterdir()) == ["obama_2.jpg", "obama_2_1.jpg", "obama_3.jpg"]
    assert (keep / "obama_2.jpg").read_bytes() == b"another item's file"
    assert (keep / "obama_2_1.jpg").read_bytes() == (faces_dir / "obama_2.jpg").read_bytes()
    sheet = np.array(Image.open(out / "identity_sheet.png"))
    assert sheet.shape[0] > 256 and (sheet[..., 0] > 200).any()  # thumbnails, a red border for the fail
    assert (out / "identity.csv").read_text().count("\n") == 6


def test_bad_input_is_a_clear_error_before_any_work(faces_dir, tmp_path):
    run = likeness("score", tmp_path / "missing", "--reference", faces_dir / "obama_1.jpg")
    assert run.returncode == 2 and "missing: no such file or folder" in run.stderr
    (tmp_path / "ref.jpg").write_bytes(b"nope")
    run = likeness("score", faces_dir / "obama_2.jpg", "--reference", tmp_path / "ref.jpg")
    assert run.returncode == 2 and "--reference" in run.stderr and "not a readable image" in run.stderr
    run = likeness("score", faces_dir / "obama_2.jpg", "--reference", faces_dir / "obama_1.jpg", "--backend",
                   "antelopev2")
    assert run.returncode == 2 and "--models" in run.stderr and "--backend dlib" in run.stderr
