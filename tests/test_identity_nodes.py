"""Identity nodes through a live ComfyUI: score a batch, gate it, write the report."""
from __future__ import annotations

import csv
import json

import numpy as np
from PIL import Image


def same_size(faces_dir, tmp_path, names, size=800):
    """Letterbox each photo onto a size x size canvas (no distortion), so they form one IMAGE batch."""
    out = []
    for n in names:
        img = Image.open(faces_dir / n).convert("RGB")
        img.thumbnail((size, size))
        canvas = Image.new("RGB", (size, size))
        canvas.paste(img, (0, 0))
        p = tmp_path / f"{n.split('.')[0]}_sq.png"
        canvas.save(p)
        out.append(p)
    return out


def test_gate_keeps_only_the_outputs_that_kept_the_face(comfy, faces_dir, tmp_path):
    batch = [comfy.upload(p) for p in same_size(faces_dir, tmp_path, ["obama_2.jpg", "biden_1.jpg", "obama_3.jpg"])]
    ref = comfy.upload(faces_dir / "obama_1.jpg")
    graph = {
        "a": {"class_type": "LoadImage", "inputs": {"image": batch[0]}},
        "b": {"class_type": "LoadImage", "inputs": {"image": batch[1]}},
        "c": {"class_type": "LoadImage", "inputs": {"image": batch[2]}},
        "ab": {"class_type": "ImageBatch", "inputs": {"image1": ["a", 0], "image2": ["b", 0]}},
        "abc": {"class_type": "ImageBatch", "inputs": {"image1": ["ab", 0], "image2": ["c", 0]}},
        "ref": {"class_type": "LoadImage", "inputs": {"image": ref}},
        "scorer": {"class_type": "LikenessIdentityScorer", "inputs": {"backend": "dlib", "threshold": -1.0,
                                                                      "device": "auto"}},
        "score": {"class_type": "LikenessIdentityScore",
                  "inputs": {"images": ["abc", 0], "scorer": ["scorer", 0], "reference": ["ref", 0],
                             "reference_face": "single", "count": "most-similar"}},
        "gate": {"class_type": "LikenessIdentityGate",
                 "inputs": {"images": ["abc", 0], "report": ["score", 1], "mode": "pass", "k": 1,
                            "if_none_pass": "keep best"}},
        "save": {"class_type": "SaveImage", "inputs": {"images": ["gate", 0], "filename_prefix": "gated/img"}},
        "preview": {"class_type": "SaveImage", "inputs": {"images": ["score", 0], "filename_prefix": "gated/preview"}},
        "report": {"class_type": "LikenessIdentityReport", "inputs": {"report": ["score", 1],
                                                                      "filename_prefix": "gated/img"}},
        "saved": {"class_type": "LikenessIdentityReport", "inputs": {"report": ["gate", 2], "images": ["gate", 0],
                                                                     "filename_prefix": "gated/kept"}},
        "grid": {"class_type": "LikenessIdentityGrid", "inputs": {"images": ["abc", 0], "report": ["score", 1],
                                                                  "thumbnail": 128, "columns": 0}},
        "save_grid": {"class_type": "SaveImage", "inputs": {"images": ["grid", 0], "filename_prefix": "gated/grid"}},
        "mask": {"class_type": "MaskToImage", "inputs": {"mask": ["score", 4]}},
        "save_mask": {"class_type": "SaveImage", "inputs": {"images": ["mask", 0], "filename_prefix": "gated/mask"}},
    }
    out = comfy.run(graph)
    masks = comfy.images(out, "save_mask")
    assert [m.max() for m in masks] == [255, 0, 255], "the pass mask marks the passing images' faces"
    on = np.argwhere(masks[0][..., 0] > 0)
    assert 0 < len(on) < 0.5 * masks[0][..., 0].size  # a face box, not the whole frame
    [grid] = comfy.images(out, "save_grid")
    assert grid.shape[1] == 2 * (128 + 12)  # 3 thumbnails: 2 columns, 2 rows
    red = (grid[..., 0] > 200) & (grid[..., 1] < 40) & (grid[..., 2] < 40)
    cell_w = grid.shape[1] // 2
    assert red[:, cell_w:].sum() > 100 and red[:, :cell_w].sum() == 0, "a red border on biden_1 (the fail) only"
    kept = comfy.images(out, "save")
    assert len(kept) == 2, "obama_2 and obama_3 pass, biden_1 fails"
    assert len(comfy.images(out, "preview")) == 3
    assert "2/3 kept the identity (67%)" in out["report"]["text"][0]
    assert "dlib" in out["report"]["text"][0] and "equal-error" in out["report"]["text"][0]
    files = {f["filename"]: f for f in out["report"]["files"]}
    data = json.loads(comfy.client.fetch(next(f for n, f in files.items() if n.endswith(".json"))))
    assert [s["verdict"] for s in data["scores"]] == ["pass", "fail", "pass"]
    rows = list(csv.reader(comfy.client.fetch(next(f for n, f in files.items() if n.endswith(".csv")))
                           .decode().splitlines()))
    assert rows[0][:3] == ["image", "file", "verdict"] and len(rows) == 4
    assert np.isfinite(data["pass_rate"])
    # the gate's kept images saved with their report: same number, each row names its file, every try listed
    saved = [f["filename"] for f in out["saved"]["images"]]
    assert len(saved) == 2 and "2/3 kept the identity (67%)" in out["saved"]["text"][0]
    [report_ref] = [f for f in out["saved"]["files"] if f["filename"].endswith(".json")]
    assert report_ref["filename"] == saved[0].replace("_.png", "_identity.json")
    data = json.loads(comfy.client.fetch(report_ref))
    assert [s["verdict"] for s in data["scores"]] == ["pass", "fail", "pass"] and data["files"] == [saved[0], "",
                                                                                                    saved[1]]
    kept_pixels = comfy.images(out, "saved")
    assert all((a == b).all() for a, b in zip(kept_pixels, kept)), "the saved images are the kept ones"


def test_reference_with_two_faces_needs_a_rule(comfy, faces_dir):
    from likeness.runner.client import ExecutionFailed

    import pytest

    group = comfy.upload(faces_dir / "two_people.jpg")
    graph = {
        "img": {"class_type": "LoadImage", "inputs": {"image": group}},
        "scorer": {"class_type": "LikenessIdentityScorer", "inputs": {"backend": "dlib", "threshold": -1.0,
                                                                      "device": "auto"}},
        "score": {"class_type": "LikenessIdentityScore",
                  "inputs": {"images": ["img", 0], "scorer": ["scorer", 0], "reference": ["img", 0],
                             "reference_face": "single", "count": "most-similar"}},
        "out": {"class_type": "PreviewImage", "inputs": {"images": ["score", 0]}},
    }
    with pytest.raises(ExecutionFailed, match="shows 2 faces"):
        comfy.run(graph)
    graph["score"]["inputs"]["reference_face"] = "0"
    assert comfy.run(graph)["out"]["images"]


def test_a_malformed_report_names_the_input_and_the_fix(comfy, faces_dir):
    from likeness.runner.client import ExecutionFailed

    img = comfy.upload(faces_dir / "obama_1.jpg")
    for text in ("not json", '{"scores": [{"image": 0}]}'):
        graph = {"img": {"class_type": "LoadImage", "inputs": {"image": img}},
                 "txt": {"class_type": "PrimitiveString", "inputs": {"value": text}},
                 "gate": {"class_type": "LikenessIdentityGate",
                          "inputs": {"images": ["img", 0], "report": ["txt", 0], "mode": "pass", "k": 1,
                                     "if_none_pass": "keep best"}},
                 "save": {"class_type": "SaveImage", "inputs": {"images": ["gate", 0], "filename_prefix": "bad"}}}
        try:
            comfy.run(graph)
            raise AssertionError("a malformed report was accepted")
        except ExecutionFailed as e:
            assert "report: not an identity report" in str(e) and "Identity Score" in str(e)
